"""The approval engine's services: routing, maker-checker, decisions, delegation, escalation."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from test_approvals_helpers import DOC, expense_policy, world_fixture

from grp.db import db, utcnow
from grp.models import User
from grp.tenancy import REVIEWED, set_current_department
from grp.workflow.approvals import (
    CommentRequiredError,
    MakerCheckerError,
    NoApproverError,
    NoPolicyError,
    NotAnApproverError,
    cancel_approval,
    decide,
    escalate_overdue_approvals,
    pending_request_for,
    register_document_type,
    set_manager_resolver,
)
from grp.workflow.approvals.delegations import create_delegation
from grp.workflow.approvals.errors import (
    ApprovalValidationError,
    DuplicateRequestError,
    PolicyConflictError,
    RequestNotPendingError,
)
from grp.workflow.approvals.models import ApprovalHistoryEntry, ApprovalPolicy, ApprovalRequest
from grp.workflow.approvals.policies import create_policy, update_policy
from grp.workflow.approvals.registry import local_date
from grp.workflow.approvals.services import inbox_query


@pytest.fixture
def world(app, create_user, departments):
    yield from world_fixture(app, create_user, departments)


def pending_approvers(request: ApprovalRequest) -> list[str]:
    db.session.expire_all()
    request = db.session.get(ApprovalRequest, request.id)
    return sorted(t.approver.username for t in request.tasks if t.state == "pending")


def inbox_of(user: User) -> list[int]:
    return [t.request_id for t in db.session.scalars(inbox_query(db.session, user))]


# --------------------------------------------------------------------------- routing


@pytest.mark.parametrize("amount", ["500.00", "10000.00"])
def test_up_to_the_threshold_only_the_manager_approves(world, amount):
    request = world.submit(amount)
    assert [step["name"] for step in request.route] == ["Manager"]
    assert pending_approvers(request) == ["mgr"]
    decide(db.session, request, actor=world.mgr, approve=True, comment="Fine")
    db.session.commit()
    request = world.reload(request.id)
    assert request.state == "approved"
    assert world.decided == [(request.id, "approved")]
    assert world.signalled == [(request.id, "approved")]


def test_above_the_threshold_the_manager_then_one_hr_officer_approves(world):
    request = world.submit("10000.01")
    assert [step["name"] for step in request.route] == ["Manager", "HR"]
    assert pending_approvers(request) == ["mgr"]
    assert inbox_of(world.hr1) == []
    decide(db.session, request, actor=world.mgr, approve=True, comment="Within budget")
    db.session.commit()
    # The requester-side HR officer (hr.maker) holds the role too, but made no document here.
    assert pending_approvers(request) == ["hr.maker", "hr1", "hr2"]
    assert world.decided == []  # not final yet
    assert inbox_of(world.mgr) == []
    assert inbox_of(world.hr2) == [request.id]
    decide(db.session, request, actor=world.hr2, approve=True)
    db.session.commit()
    request = world.reload(request.id)
    assert request.state == "approved"
    assert {t.approver.username: t.state for t in request.tasks} == {
        "mgr": "approved",
        "hr.maker": "skipped",
        "hr1": "skipped",
        "hr2": "approved",
    }
    history = [(h.action, h.actor and h.actor.username, h.comment) for h in request.history]
    assert history == [
        ("submitted", "emp", ""),
        ("approved", "mgr", "Within budget"),
        ("approved", "hr2", ""),
    ]
    assert all(h.at is not None and h.at.tzinfo is not None for h in request.history)
    assert request.history[1].step_index == 0 and request.history[2].step_index == 1
    assert world.decided == world.signalled == [(request.id, "approved")]
    with pytest.raises(RequestNotPendingError):
        decide(db.session, request, actor=world.hr1, approve=True)
    db.session.rollback()
    assert world.decided == [(request.id, "approved")]  # once


def test_nobody_else_may_decide(world):
    request = world.submit("20000.00")
    for someone in (world.outsider, world.hr1, world.boss, world.police_admin):
        with pytest.raises(NotAnApproverError):
            decide(db.session, request, actor=someone, approve=True)
        db.session.rollback()
    with pytest.raises(MakerCheckerError):
        decide(db.session, request, actor=world.emp, approve=True)
    db.session.rollback()
    assert pending_approvers(request) == ["mgr"]
    assert [h.action for h in world.reload(request.id).history] == ["submitted"]


def test_a_requester_holding_the_role_never_approves_their_own_document(world):
    request = world.submit("20000.00", requester="hr.maker")
    decide(db.session, request, actor=world.mgr, approve=True)
    db.session.commit()
    # Maker-checker: hr.maker holds hr_officer but gets no task, and is refused outright.
    assert pending_approvers(request) == ["hr1", "hr2"]
    assert inbox_of(world.hr_maker) == []
    with pytest.raises(MakerCheckerError):
        decide(db.session, request, actor=world.hr_maker, approve=True)
    db.session.rollback()


def test_the_preparer_never_approves_either(world):
    request = world.submit("20000.00", preparer=world.hr1)
    assert request.preparer_id == world.hr1.id
    submitted = request.history[0]
    assert (submitted.actor_id, submitted.acting_for_id) == (world.hr1.id, world.emp.id)
    decide(db.session, request, actor=world.mgr, approve=True)
    db.session.commit()
    assert pending_approvers(request) == ["hr.maker", "hr2"]
    with pytest.raises(MakerCheckerError):
        decide(db.session, request, actor=world.hr1, approve=True)
    db.session.rollback()


def test_a_rejection_needs_a_comment_and_ends_the_request(world):
    request = world.submit("20000.00")
    with pytest.raises(CommentRequiredError) as refused:
        decide(db.session, request, actor=world.mgr, approve=False, comment="  ")
    assert "comment" in refused.value.errors
    db.session.rollback()
    decide(db.session, request, actor=world.mgr, approve=False, comment="No receipt attached")
    db.session.commit()
    request = world.reload(request.id)
    assert request.state == "rejected"
    assert [t.state for t in request.tasks] == ["rejected"]  # HR was never asked
    assert request.history[-1].comment == "No receipt attached"
    assert world.decided == world.signalled == [(request.id, "rejected")]


def test_attribute_conditions_skip_steps(world):
    data = expense_policy(name="Leave-like")
    data["steps"][1] = {**data["steps"][1], "min_amount": None}
    data["steps"][1]["conditions"] = {"category": ["travel", "training"]}
    policy = db.session.get(ApprovalPolicy, world.policy_id)
    update_policy(db.session, policy, data)
    db.session.commit()
    travel = world.submit(document_id="T-1", attributes={"category": "travel"})
    office = world.submit(document_id="O-1", attributes={"category": "office"})
    bare = world.submit(document_id="B-1")
    assert [s["name"] for s in travel.route] == ["Manager", "HR"]
    assert [s["name"] for s in office.route] == ["Manager"]
    assert [s["name"] for s in bare.route] == ["Manager"]


def test_policies_are_chosen_by_conditions_and_priority(world):
    create_policy(
        db.session,
        {
            "document_type": DOC,
            "name": "Small training",
            "priority": 10,
            "max_amount": "1000.00",
            "conditions": {"category": "training"},
            "steps": [{"name": "Boss", "approver_kind": "users", "user_ids": [world.boss.id]}],
        },
    )
    db.session.commit()
    training = world.submit("800.00", document_id="TR-1", attributes={"category": "training"})
    big_training = world.submit("5000.00", document_id="TR-2", attributes={"category": "training"})
    assert pending_approvers(training) == ["boss"]
    assert training.policy.name == "Small training"
    assert pending_approvers(big_training) == ["mgr"]


# --------------------------------------------------------------------------- the org chart


def test_manager_steps_walk_up_past_inactive_managers(world):
    world.mgr.is_active = False
    db.session.commit()
    request = world.submit()
    assert pending_approvers(request) == ["boss"]


def test_manager_levels_go_further_up(world):
    policy = db.session.get(ApprovalPolicy, world.policy_id)
    data = expense_policy()
    data["steps"][0]["manager_levels"] = 2
    update_policy(db.session, policy, data)
    db.session.commit()
    assert pending_approvers(world.submit()) == ["boss"]


def test_no_manager_falls_back_to_the_escalation_target_or_refuses(world, app):
    # boss has no manager: the step's escalation target (manager of...) finds nobody either.
    with pytest.raises(NoApproverError, match="no manager"):
        world.submit(requester="boss")
    db.session.rollback()
    assert pending_request_for(db.session, DOC, "EXP-1") is None  # nothing stored
    set_manager_resolver(app, None)
    data = expense_policy()
    data["steps"][0].update(escalation_kind="role", escalation_role_code="hr_officer")
    update_policy(db.session, db.session.get(ApprovalPolicy, world.policy_id), data)
    db.session.commit()
    request = world.submit()
    assert pending_approvers(request) == ["hr.maker", "hr1", "hr2"]


def test_no_policy_is_a_clear_error_and_auto_approval_only_when_the_policy_says(world):
    policy = db.session.get(ApprovalPolicy, world.policy_id)
    policy.active = False
    db.session.commit()
    with pytest.raises(NoPolicyError, match="no active approval policy"):
        world.submit()
    db.session.rollback()
    only_big = {
        "document_type": DOC,
        "name": "Only big",
        "steps": [
            {"name": "Boss", "approver_kind": "users", "user_ids": [world.boss.id]}
            | {"min_amount": "50000.00"}
        ],
    }
    created = create_policy(db.session, only_big)
    db.session.commit()
    with pytest.raises(NoApproverError, match="no step"):
        world.submit()
    db.session.rollback()
    update_policy(db.session, created, {**only_big, "auto_approve": True})
    db.session.commit()
    request = world.submit()
    assert request.state == "approved"
    assert [h.action for h in request.history] == ["submitted", "auto_approved"]
    assert world.decided == [(request.id, "approved")]


def test_a_document_waits_in_one_request_at_a_time(world):
    first = world.submit()
    with pytest.raises(DuplicateRequestError):
        world.submit()
    db.session.rollback()
    cancel_approval(db.session, first, actor=world.emp, comment="Wrong amount")
    db.session.commit()
    assert world.decided == [(first.id, "cancelled")]
    again = world.submit()
    assert again.id != first.id and again.state == "pending"


def test_only_the_makers_may_withdraw(world):
    request = world.submit()
    with pytest.raises(NotAnApproverError):
        cancel_approval(db.session, request, actor=world.mgr)
    db.session.rollback()


# --------------------------------------------------------------------------- parallel steps


@pytest.mark.parametrize(
    ("mode", "after_first", "final"),
    [("all", "pending", "approved"), ("any", "approved", None)],
)
def test_parallel_steps_need_all_or_any_approval(world, mode, after_first, final):
    create_policy(
        db.session,
        {
            "document_type": DOC,
            "name": f"Committee {mode}",
            "priority": 1,
            "steps": [
                {
                    "name": "Committee",
                    "approver_kind": "users",
                    "user_ids": [world.hr1.id, world.boss.id],
                    "mode": mode,
                }
            ],
        },
    )
    db.session.commit()
    request = world.submit()
    assert pending_approvers(request) == ["boss", "hr1"]
    decide(db.session, request, actor=world.hr1, approve=True)
    db.session.commit()
    assert world.reload(request.id).state == after_first
    if final is None:
        assert pending_approvers(request) == []
        with pytest.raises(RequestNotPendingError):
            decide(db.session, request, actor=world.boss, approve=True)
        db.session.rollback()
    else:
        assert world.decided == []
        assert pending_approvers(request) == ["boss"]
        decide(db.session, request, actor=world.boss, approve=True)
        db.session.commit()
        assert world.reload(request.id).state == final
    assert len(world.decided) == len(world.signalled) == 1


# --------------------------------------------------------------------------- delegation


def test_a_delegate_decides_inside_the_window_only(world):
    today = local_date()
    create_delegation(
        db.session,
        delegator=world.mgr,
        delegate=world.hr1,
        starts_on=today,
        ends_on=today + timedelta(days=3),
        actor=world.mgr,
    )
    db.session.commit()
    request = world.submit()
    assert inbox_of(world.hr1) == [request.id]
    after_window = utcnow() + timedelta(days=5)
    with pytest.raises(NotAnApproverError):
        decide(db.session, request, actor=world.hr1, approve=True, now=after_window)
    db.session.rollback()
    assert inbox_of(world.hr1) == [request.id]
    decide(db.session, request, actor=world.hr1, approve=True, comment="For mgr, on leave")
    db.session.commit()
    request = world.reload(request.id)
    assert request.state == "approved"
    entry = request.history[-1]
    assert (entry.actor.username, entry.acting_for.username) == ("hr1", "mgr")
    task = request.tasks[0]
    assert (task.approver.username, task.decided_by.username) == ("mgr", "hr1")


def test_a_future_delegation_and_other_document_types_do_not_count(world):
    register_document_type(world.app, "test.other", "Other", "أخرى")
    today = local_date()
    create_delegation(
        db.session,
        delegator=world.mgr,
        delegate=world.hr1,
        starts_on=today + timedelta(days=10),
        ends_on=today + timedelta(days=20),
        actor=world.mgr,
    )
    create_delegation(
        db.session,
        delegator=world.mgr,
        delegate=world.hr2,
        starts_on=today,
        ends_on=today,
        document_types=["test.other"],
        actor=world.mgr,
    )
    db.session.commit()
    request = world.submit()
    for delegate in (world.hr1, world.hr2):
        assert inbox_of(delegate) == []
        with pytest.raises(NotAnApproverError):
            decide(db.session, request, actor=delegate, approve=True)
        db.session.rollback()
    in_ten_days = utcnow() + timedelta(days=10)
    decide(db.session, request, actor=world.hr1, approve=True, now=in_ten_days)
    db.session.commit()
    assert world.reload(request.id).state == "approved"


def test_delegations_are_checked(world):
    today = local_date()
    with pytest.raises(ApprovalValidationError) as refused:
        create_delegation(
            db.session,
            delegator=world.mgr,
            delegate=world.mgr,
            starts_on=today,
            ends_on=today - timedelta(days=1),
            document_types=["nope"],
            actor=world.mgr,
        )
    assert set(refused.value.errors) == {"delegate_id", "ends_on", "document_types"}
    with pytest.raises(ApprovalValidationError) as not_mine:
        create_delegation(
            db.session,
            delegator=world.boss,
            delegate=world.hr1,
            starts_on=today,
            ends_on=today,
            actor=world.mgr,
        )
    assert set(not_mine.value.errors) == {"delegator_id"}
    with pytest.raises(ApprovalValidationError) as elsewhere:
        create_delegation(
            db.session,
            delegator=world.mgr,
            delegate=world.dm_mgr,
            starts_on=today,
            ends_on=today,
            actor=world.mgr,
        )
    assert set(elsewhere.value.errors) == {"delegate_id"}


def test_a_delegate_never_approves_their_own_document(world):
    today = local_date()
    create_delegation(
        db.session,
        delegator=world.mgr,
        delegate=world.emp,
        starts_on=today,
        ends_on=today,
        actor=world.mgr,
    )
    db.session.commit()
    request = world.submit()
    assert inbox_of(world.emp) == []
    with pytest.raises(MakerCheckerError):
        decide(db.session, request, actor=world.emp, approve=True)
    db.session.rollback()


# --------------------------------------------------------------------------- escalation


def test_overdue_tasks_move_to_the_escalation_target_once(world):
    request = world.submit()
    request_id, submitted = request.id, request.submitted_at
    assert escalate_overdue_approvals(db.session, submitted + timedelta(hours=47)) == 0
    db.session.commit()
    assert pending_approvers(world.reload(request_id)) == ["mgr"]
    assert escalate_overdue_approvals(db.session, submitted + timedelta(hours=49)) == 1
    db.session.commit()
    request = world.reload(request_id)  # escalation visited every department
    assert pending_approvers(request) == ["boss"]
    escalated = request.history[-1]
    assert escalated.action == "escalated" and escalated.actor is None
    assert escalated.details["from"]["id"] == world.mgr.id
    assert [p["id"] for p in escalated.details["to"]] == [world.boss.id]
    assert {t.approver.username: t.state for t in request.tasks} == {
        "mgr": "escalated",
        "boss": "pending",
    }
    # The moved task is no longer the manager's to decide.
    with pytest.raises(NotAnApproverError):
        decide(db.session, request, actor=world.mgr, approve=True)
    db.session.rollback()
    # boss's new task is due 48 hours after the escalation; boss has no manager: given up once.
    later = submitted + timedelta(hours=49 + 49)
    assert escalate_overdue_approvals(db.session, later) == 0
    assert escalate_overdue_approvals(db.session, later + timedelta(hours=1)) == 0
    db.session.commit()
    request = world.reload(request_id)
    assert [h.action for h in request.history] == ["submitted", "escalated", "escalation_failed"]
    decide(db.session, request, actor=world.boss, approve=True)
    db.session.commit()
    assert world.reload(request_id).state == "approved"


def test_escalation_runs_in_every_department_and_only_there(world, departments, create_user):
    set_current_department(db.session, world.dm.id)
    dm_emp = world.users["dm.emp"] = create_user("dm.emp", roles=[("DM", "employee")])
    world.managers[dm_emp.id] = world.dm_mgr.id
    dm_boss = create_user("dm.boss", roles=[("DM", "manager")])
    world.managers[world.dm_mgr.id] = dm_boss.id
    create_policy(db.session, expense_policy())
    db.session.commit()
    dm_request = world.submit(requester="dm.emp", document_id="DM-1").id
    set_current_department(db.session, world.police.id)
    police_request = world.submit().id
    later = utcnow() + timedelta(hours=49)
    assert escalate_overdue_approvals(db.session, later) == 2
    db.session.commit()
    assert pending_approvers(world.reload(police_request)) == ["boss"]
    set_current_department(db.session, world.dm.id)
    assert pending_approvers(world.reload(dm_request)) == ["dm.boss"]


# --------------------------------------------------------------------------- integrity


def test_history_is_append_only(world):
    request = world.submit()
    entry = request.history[0]
    entry.comment = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    statement = sa.text("UPDATE approval_history SET comment = 'x'").execution_options(
        **{REVIEWED: True}
    )
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        db.session.execute(statement)
    db.session.rollback()
    assert db.session.scalar(sa.select(ApprovalHistoryEntry.comment)) == ""


def test_a_stale_copy_cannot_complete_a_step_twice(world, app):
    """Two approvers of an "any" step at once: the second sees the step already decided."""
    create_policy(
        db.session,
        {
            "document_type": DOC,
            "name": "Either",
            "priority": 1,
            "steps": [
                {
                    "name": "Either",
                    "approver_kind": "users",
                    "user_ids": [world.hr1.id, world.hr2.id],
                    "mode": "any",
                }
            ],
        },
    )
    db.session.commit()
    request = world.submit()
    other = sa.orm.Session(db.engine)
    try:
        set_current_department(other, world.police.id)
        stale = other.get(ApprovalRequest, request.id)
        assert [t.state for t in stale.tasks] == ["pending", "pending"]
        decide(db.session, request, actor=world.hr1, approve=True)
        db.session.commit()
        with pytest.raises(RequestNotPendingError):
            decide(other, stale, actor=other.get(User, world.hr2.id), approve=True)
        other.rollback()
    finally:
        other.close()
    assert world.decided == [(request.id, "approved")]
    assert [h.action for h in world.reload(request.id).history] == ["submitted", "approved"]


@pytest.mark.postgres
def test_two_approvers_deciding_at_once_complete_the_step_once(world, app):
    """Row locking on PostgreSQL: the second approver waits, then finds the step decided."""
    create_policy(
        db.session,
        {
            "document_type": DOC,
            "name": "Either",
            "priority": 1,
            "steps": [
                {
                    "name": "Either",
                    "approver_kind": "users",
                    "user_ids": [world.hr1.id, world.hr2.id],
                    "mode": "any",
                }
            ],
        },
    )
    db.session.commit()
    request_id = world.submit().id
    ready = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def approve_as(username: str) -> None:
        with app.app_context():
            session = sa.orm.Session(db.engine)
            try:
                set_current_department(session, world.police.id)
                request = session.get(ApprovalRequest, request_id)
                actor = session.get(User, world.users[username].id)
                ready.wait(timeout=10)
                decide(session, request, actor=actor, approve=True)
                session.commit()
                outcomes[username] = "approved"
            except RequestNotPendingError:
                session.rollback()
                outcomes[username] = "too late"
            finally:
                session.close()

    threads = [threading.Thread(target=approve_as, args=(name,)) for name in ("hr1", "hr2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes.values()) == ["approved", "too late"]
    request = world.reload(request_id)
    assert [h.action for h in request.history] == ["submitted", "approved"]
    assert world.decided == world.signalled == [(request_id, "approved")]


def test_policy_edits_leave_submitted_requests_alone(world):
    request = world.submit("20000.00")
    policy = db.session.get(ApprovalPolicy, world.policy_id)
    version = policy.version
    update_policy(db.session, policy, expense_policy(steps=expense_policy()["steps"][:1]))
    db.session.commit()
    assert policy.version == version + 1
    assert request.policy_version == version
    with pytest.raises(PolicyConflictError):
        update_policy(db.session, policy, expense_policy(), expected_version=version)
    db.session.rollback()
    decide(db.session, request, actor=world.mgr, approve=True)
    db.session.commit()
    assert pending_approvers(request) == ["hr.maker", "hr1", "hr2"]  # its own route, two steps


def test_policy_errors_are_per_field(world):
    bad = {
        "document_type": "nope",
        "name": "Expenses",
        "min_amount": "100.005",
        "steps": [
            {"name": "HR", "approver_kind": "role"},
            {"name": "Named", "approver_kind": "users", "user_ids": [world.dm_mgr.id]},
            {
                "name": "Range",
                "approver_kind": "manager",
                "min_amount": "500",
                "max_amount": "100",
                "escalate_after_hours": 4,
            },
        ],
    }
    with pytest.raises(ApprovalValidationError) as refused:
        create_policy(db.session, bad)
    errors = refused.value.errors
    assert set(errors) == {"document_type", "min_amount", "steps"}
    assert set(errors["steps"]) == {0, 1, 2}
    assert set(errors["steps"][0]) == {"role_code"}
    assert set(errors["steps"][1]) == {"user_ids"}
    assert set(errors["steps"][2]) == {"max_amount", "escalation_kind"}
    duplicate = expense_policy()
    with pytest.raises(ApprovalValidationError) as clash:
        create_policy(db.session, duplicate)
    assert set(clash.value.errors) == {"name"}


def test_requests_stay_in_their_department(world):
    request_id = world.submit().id
    set_current_department(db.session, world.dm.id)
    assert db.session.get(ApprovalRequest, request_id) is None
    assert inbox_of(world.mgr) == []
    assert pending_request_for(db.session, DOC, "EXP-1") is None


def test_amounts_are_exact(world):
    with pytest.raises(ApprovalValidationError):
        world.submit("10.001")
    db.session.rollback()
    request = world.submit("10000.10")
    assert world.reload(request.id).amount == Decimal("10000.10")


def test_the_next_approvers_and_then_the_requester_are_notified(world, monkeypatch):
    sent: list[tuple[str, str, dict]] = []

    def record(session, *, recipient, event, context, department_id=None, link=None):
        assert department_id == world.police.id and link.startswith("/approvals/")
        sent.append((recipient.username, event, context))
        return []

    monkeypatch.setattr("grp.workflow.notifications.notify", record)
    today = local_date()
    create_delegation(
        db.session,
        delegator=world.hr2,
        delegate=world.boss,
        starts_on=today,
        ends_on=today,
        actor=world.hr2,
    )
    request = world.submit("20000.00")
    assert [(who, event) for who, event, _ in sent] == [("mgr", "approval.waiting")]
    assert sent[0][2]["summary"] == "Test expense EXP-1: Expense EXP-1"
    assert sent[0][2]["requester"] == "Emp"
    sent.clear()
    decide(db.session, request, actor=world.mgr, approve=True)
    assert [(who, event) for who, event, _ in sent] == [
        ("hr1", "approval.waiting"),
        ("hr2", "approval.waiting"),
        ("boss", "approval.waiting"),  # acting for hr2 today
        ("hr.maker", "approval.waiting"),
    ]
    assert sent[2][2]["acting_for"] == "Hr2"
    sent.clear()
    decide(db.session, request, actor=world.hr1, approve=True, comment="Yes")
    db.session.commit()
    assert [(who, event) for who, event, _ in sent] == [("emp", "approval.decided")]
    context = sent[0][2]
    assert (context["approved"], context["approver"], context["comment"]) == (True, "Hr1", "Yes")


def test_escalation_runs_hourly_from_the_scheduler(app):
    from grp.workflow.jobs.scheduler import declared_scheduled_jobs

    spec = {s.job_id: s for s in declared_scheduled_jobs(app)}["platform.approvals.escalate"]
    assert spec.func == "grp.workflow.approvals:run_escalation"
    assert (spec.trigger, spec.trigger_args) == ("interval", {"hours": 1})
