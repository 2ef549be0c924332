"""Approval pages: awaiting my decision, a request's page, delegations, policy administration."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_approvals_helpers import DOC, world_fixture

from grp.db import db
from grp.workflow.approvals.models import ApprovalDelegation, ApprovalPolicy
from grp.workflow.approvals.registry import local_date


@pytest.fixture
def world(app, create_user, departments):
    yield from world_fixture(app, create_user, departments)


@pytest.fixture
def browser(world, app, login):
    """`browser("mgr")`: a signed-in browser of that user of the world."""

    def _browser(username: str, language: str = "en") -> object:
        client = app.test_client()
        login(client, world.users[username])
        if language != "en":
            client.post("/language", data={"language": language, "next": "/"})
        return client

    return _browser


def test_the_inbox_page_lists_my_pending_tasks_with_history(world, browser):
    mine = world.submit("25000.00", document_id="EXP-7")
    page = browser("mgr").get("/approvals")
    assert page.status_code == 200
    assert "Test expense" in page.text and "EXP-7" in page.text
    assert "25,000.00" in page.text and "Emp" in page.text  # the requester's name
    assert f'action="/approvals/{mine.id}/decide"' in page.text
    assert "Submitted" in page.text  # the history of the request
    assert 'name="comment"' in page.text and 'name="approve"' in page.text
    for username in ("hr1", "outsider", "emp"):
        other = browser(username).get("/approvals")
        assert "EXP-7" not in other.text
        assert "Nothing awaits your decision." in other.text


def test_approving_and_rejecting_from_the_page(world, browser):
    request_id = world.submit("25000.00").id
    manager = browser("mgr")
    approved = manager.post(
        f"/approvals/{request_id}/decide", data={"comment": "Fine", "approve": "y"}
    )
    assert approved.status_code == 303
    assert approved.headers["Location"].endswith("/approvals")
    assert "You approved Test expense EXP-1." in manager.get("/approvals").text
    hr = browser("hr1")
    refused = hr.post(f"/approvals/{request_id}/decide", data={"comment": "", "reject": "y"})
    assert refused.status_code == 422
    assert "Say why you reject the request." in refused.text
    assert world.reload(request_id).state == "pending"
    rejected = hr.post(
        f"/approvals/{request_id}/decide", data={"comment": "Too much", "reject": "y"}
    )
    assert rejected.status_code == 303
    request = world.reload(request_id)
    assert request.state == "rejected"
    assert [(h.action, h.actor.username, h.comment) for h in request.history[1:]] == [
        ("approved", "mgr", "Fine"),
        ("rejected", "hr1", "Too much"),
    ]
    assert world.decided == [(request_id, "rejected")]


def test_deciding_without_a_task_is_forbidden(world, browser):
    request_id = world.submit().id
    for username in ("outsider", "emp", "police.admin"):
        response = browser(username).post(f"/approvals/{request_id}/decide", data={"approve": "y"})
        assert response.status_code == 403, username
    assert (
        browser("dm.admin")
        .post(f"/approvals/{request_id}/decide", data={"approve": "y"})
        .status_code
        == 404
    )


def test_the_request_page_shows_the_history_to_those_concerned(world, browser):
    request_id = world.submit().id
    page = browser("emp").get(f"/approvals/{request_id}")
    assert page.status_code == 200
    assert "Submitted" in page.text and "Withdraw the request" in page.text
    assert "Your decision" not in page.text
    manager_view = browser("mgr").get(f"/approvals/{request_id}")
    assert "Your decision" in manager_view.text
    assert browser("police.admin").get(f"/approvals/{request_id}").status_code == 200
    assert browser("outsider").get(f"/approvals/{request_id}").status_code == 404
    assert browser("dm.admin").get(f"/approvals/{request_id}").status_code == 404


def test_the_requester_withdraws_from_the_page(world, browser):
    request_id = world.submit().id
    response = browser("emp").post(f"/approvals/{request_id}/cancel", data={"comment": "Oops"})
    assert response.status_code == 303
    assert world.reload(request_id).state == "cancelled"
    assert world.decided == [(request_id, "cancelled")]


def test_the_pages_speak_arabic(world, browser):
    world.submit()
    page = browser("mgr", language="ar").get("/approvals")
    assert page.status_code == 200
    assert 'dir="rtl"' in page.text
    assert "بانتظار قراري" in page.text and "مصروف تجريبي" in page.text


# --------------------------------------------------------------------------- delegations


def test_delegating_from_the_page(world, browser):
    today = local_date()
    manager = browser("mgr")
    page = manager.get("/approvals/delegations")
    assert page.status_code == 200 and "New delegation" in page.text
    created = manager.post(
        "/approvals/delegations",
        data={
            "delegate_id": world.boss.id,
            "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=2)).isoformat(),
            "reason": "Travel",
        },
    )
    assert created.status_code == 303, created.text[:2000]
    assert "Boss" in manager.get("/approvals/delegations").text
    request_id = world.submit().id
    assert "EXP-1" in browser("boss").get("/approvals").text
    backwards = manager.post(
        "/approvals/delegations",
        data={
            "delegate_id": world.boss.id,
            "starts_on": today.isoformat(),
            "ends_on": (today - timedelta(days=2)).isoformat(),
        },
    )
    assert backwards.status_code == 422
    assert "The last day cannot be before the first day." in backwards.text
    delegation = db.session.query(ApprovalDelegation).one()
    assert (
        browser("outsider").post(f"/approvals/delegations/{delegation.id}/revoke").status_code
        == 404
    )
    assert manager.post(f"/approvals/delegations/{delegation.id}/revoke").status_code == 303
    assert "EXP-1" not in browser("boss").get("/approvals").text
    assert world.reload(request_id).state == "pending"


# --------------------------------------------------------------------------- policies


def policy_form(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "document_type": DOC,
        "name": "Training",
        "priority": "50",
        "active": "y",
        "conditions": "category = training, conference",
        "steps-0-name": "Manager",
        "steps-0-approver_kind": "manager",
        "steps-0-manager_levels": "1",
        "steps-0-mode": "all",
        "steps-0-escalation_kind": "",
        "steps-1-name": "Committee",
        "steps-1-approver_kind": "users",
        "steps-1-usernames": "hr1, boss",
        "steps-1-mode": "any",
        "steps-1-min_amount": "5000.00",
        "steps-1-escalation_kind": "",
        "steps-2-name": "",
        "steps-2-approver_kind": "manager",
        "steps-2-mode": "all",
        "steps-2-escalation_kind": "",
    }
    data.update(changes)
    return data


def test_department_admins_create_and_edit_policies_on_pages(world, browser):
    admin = browser("police.admin")
    listing = admin.get("/approvals/policies")
    assert listing.status_code == 200 and "Expenses" in listing.text
    assert admin.get("/approvals/policies/new").status_code == 200
    created = admin.post("/approvals/policies/new", data=policy_form())
    assert created.status_code == 303, created.text[:3000]
    policy = db.session.query(ApprovalPolicy).filter_by(name="Training").one()
    assert policy.conditions == {"category": ["training", "conference"]}
    assert [(s.name, s.approver_kind, s.user_ids, s.mode) for s in policy.steps] == [
        ("Manager", "manager", None, "all"),
        ("Committee", "users", [world.hr1.id, world.boss.id], "any"),
    ]
    edit = admin.get(f"/approvals/policies/{policy.id}/edit")
    assert edit.status_code == 200
    assert "hr1, boss" in edit.text and "category = training, conference" in edit.text
    changed = admin.post(
        f"/approvals/policies/{policy.id}/edit",
        data=policy_form(**{"steps-1-name": "", "name": "Training v2"}),
    )
    assert changed.status_code == 303
    db.session.expire_all()
    policy = db.session.get(ApprovalPolicy, policy.id)
    assert policy.name == "Training v2" and [s.name for s in policy.steps] == ["Manager"]


def test_policy_form_errors_are_shown_on_their_fields(world, browser):
    admin = browser("police.admin")
    response = admin.post(
        "/approvals/policies/new",
        data=policy_form(
            **{
                "steps-0-approver_kind": "role",
                "steps-1-usernames": "hr1, nobody",
                "steps-1-max_amount": "100.00",
            }
        ),
    )
    assert response.status_code == 422
    assert "Unknown users: nobody" in response.text
    response = admin.post(
        "/approvals/policies/new",
        data=policy_form(**{"steps-0-approver_kind": "role", "steps-1-max_amount": "100.00"}),
    )
    assert response.status_code == 422
    assert "Choose a role" in response.text
    assert "The maximum must be above the minimum." in response.text
    assert db.session.query(ApprovalPolicy).count() == 1


def test_policy_pages_are_for_department_admins(world, browser):
    assert browser("mgr").get("/approvals/policies").status_code == 403
    assert browser("mgr").post("/approvals/policies/new", data=policy_form()).status_code == 403
    dm_admin = browser("dm.admin")
    assert "Expenses" not in dm_admin.get("/approvals/policies").text
    assert dm_admin.get(f"/approvals/policies/{world.policy_id}/edit").status_code == 404


def test_the_menu_offers_the_approval_pages_by_permission(world, browser):
    employee_home = browser("emp").get("/").text
    assert "Awaiting my decision" in employee_home and "Approval policies" not in employee_home
    assert "Approval policies" in browser("police.admin").get("/").text


def test_escalation_runs_from_the_command_line(world, runner):
    request_id = world.submit().id
    later = (world.reload(request_id).submitted_at + timedelta(hours=49)).strftime(
        "%Y-%m-%dT%H:%M:%S"
    )
    result = runner.invoke(args=["approvals", "escalate", "--now", later])
    assert result.exit_code == 0, result.output
    assert "Escalated 1 overdue approval task." in result.output
    request = world.reload(request_id)
    assert [h.action for h in request.history] == ["submitted", "escalated"]
