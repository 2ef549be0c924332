"""The end of a run's life: approved → posted → paid, forward only, payslips untouched."""

from __future__ import annotations

import pytest
from runs_data import payslip_snapshot, run_in_state


@pytest.fixture
def people(create_user, payroll_departments):
    """A maker and a checker (payroll officers), a finance officer, an HR officer of POLICE."""
    return {
        "maker": create_user(username="life.maker", roles=[("POLICE", "payroll_officer")]),
        "checker": create_user(username="life.checker", roles=[("POLICE", "payroll_officer")]),
        "finance": create_user(username="life.finance", roles=[("POLICE", "finance_officer")]),
        "hr": create_user(username="life.hr", roles=[("POLICE", "hr_officer")]),
    }


def _run(db_session, run_id):
    from modules.payroll.services import find_run

    return find_run(db_session, run_id)


def test_post_and_mark_paid_record_who_and_when(db_session, in_department, make_employee, people):
    from modules.payroll.services import mark_run_paid, post_run
    from modules.payroll.services.lifecycle import run_paid, run_posted

    make_employee()
    run_id = run_in_state(
        db_session, in_department, "approved", maker=people["maker"], checker=people["checker"]
    )
    before = payslip_snapshot(db_session, in_department, run_id)
    seen = []

    def receiver(sender, **kwargs):
        seen.append((kwargs["run"].id, kwargs["run"].state, kwargs["actor"].username))

    with (
        run_posted.connected_to(receiver),
        run_paid.connected_to(receiver),
        in_department("POLICE"),
    ):
        run = _run(db_session, run_id)
        post_run(db_session, run, people["finance"])
        db_session.commit()
        assert run.state == "posted"
        assert run.posted_by_id == people["finance"].id and run.posted_at is not None
        assert run.paid_at is None
        mark_run_paid(db_session, run, people["finance"])
        db_session.commit()
        assert run.state == "paid"
        assert run.paid_by_id == people["finance"].id and run.paid_at >= run.posted_at
    assert seen == [(run_id, "posted", "life.finance"), (run_id, "paid", "life.finance")]
    assert payslip_snapshot(db_session, in_department, run_id) == before


@pytest.mark.parametrize(
    ("state", "step"),
    [
        ("draft", "post"),
        ("computed", "post"),
        ("posted", "post"),
        ("paid", "post"),
        ("draft", "pay"),
        ("computed", "pay"),
        ("approved", "pay"),
        ("paid", "pay"),
    ],
)
def test_states_only_move_forward_one_step(
    db_session, in_department, make_employee, people, state, step
):
    from modules.payroll.services import RunStateError, mark_run_paid, post_run

    make_employee()
    run_id = run_in_state(
        db_session, in_department, state, maker=people["maker"], checker=people["checker"]
    )
    move = post_run if step == "post" else mark_run_paid
    with in_department("POLICE"):
        run = _run(db_session, run_id)
        with pytest.raises(RunStateError):
            move(db_session, run, people["finance"])
        db_session.rollback()
        assert _run(db_session, run_id).state == state


def test_a_locked_run_cannot_go_back_even_through_the_orm(
    db_session, in_department, make_employee, people
):
    from modules.payroll.services import PayslipLocked

    make_employee()
    run_id = run_in_state(
        db_session, in_department, "posted", maker=people["maker"], checker=people["checker"]
    )
    with in_department("POLICE"):
        run = _run(db_session, run_id)
        run.state = "approved"
        with pytest.raises(PayslipLocked):
            db_session.flush()
        db_session.rollback()


def test_posting_needs_the_permission(db_session, in_department, make_employee, people):
    from modules.payroll.services import LifecycleRefused, post_run

    make_employee()
    run_id = run_in_state(
        db_session, in_department, "approved", maker=people["maker"], checker=people["checker"]
    )
    with in_department("POLICE"):
        with pytest.raises(LifecycleRefused):
            post_run(db_session, _run(db_session, run_id), people["hr"])
        db_session.rollback()
        assert _run(db_session, run_id).state == "approved"


# --------------------------------------------------------------------------- API


@pytest.fixture
def clients(people, api_client):
    return {name: api_client(user, "POLICE") for name, user in people.items()}


def test_api_posts_and_marks_paid(db_session, in_department, make_employee, people, clients):
    make_employee()
    run_id = run_in_state(
        db_session, in_department, "approved", maker=people["maker"], checker=people["checker"]
    )
    base = f"/api/v1/payroll/runs/{run_id}"
    assert clients["finance"].post(f"{base}/mark-paid").status_code == 409
    assert clients["hr"].post(f"{base}/post").status_code == 403
    posted = clients["finance"].post(f"{base}/post")
    assert posted.status_code == 200, posted.json
    assert posted.json["state"] == "posted"
    assert posted.json["posted_by_id"] == people["finance"].id and posted.json["posted_at"]
    assert clients["finance"].post(f"{base}/post").status_code == 409
    paid = clients["maker"].post(f"{base}/mark-paid")
    assert paid.status_code == 200, paid.json
    assert (paid.json["state"], paid.json["paid_by_id"]) == ("paid", people["maker"].id)
    assert clients["finance"].post(f"{base}/mark-paid").status_code == 409


def test_api_lifecycle_of_another_department_is_404(
    db_session, in_department, make_employee, people, api_as
):
    make_employee()
    run_id = run_in_state(
        db_session, in_department, "approved", maker=people["maker"], checker=people["checker"]
    )
    other = api_as("finance_officer", "DM")
    assert other.post(f"/api/v1/payroll/runs/{run_id}/post").status_code == 404
    assert other.post(f"/api/v1/payroll/runs/{run_id}/mark-paid").status_code == 404
    with in_department("POLICE"):
        assert _run(db_session, run_id).state == "approved"


def _write_rules(app):
    """Every payroll API route on a run that accepts a write method (besides post/mark-paid)."""
    rules = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/payroll/runs/<int:run_id>"):
            continue
        methods = rule.methods & {"POST", "PUT", "PATCH", "DELETE"}
        if not methods or rule.rule.endswith(("/post", "/mark-paid")):
            continue
        rules.append((rule, sorted(methods)))
    return rules


@pytest.mark.parametrize("state", ["approved", "posted", "paid"])
def test_no_endpoint_changes_the_payslips_of_a_locked_run(
    app, db_session, in_department, make_employee, people, clients, state
):
    employee = make_employee()
    make_employee()
    run_id = run_in_state(
        db_session, in_department, state, maker=people["maker"], checker=people["checker"]
    )
    before = payslip_snapshot(db_session, in_department, run_id)
    assert len(before[0]) == 2 and before[1]
    base = f"/api/v1/payroll/runs/{run_id}"
    bodies = ({"employee_id": employee}, {"employee_id": employee, "unpaid_days": 1})
    expected = {
        f"{base}/compute": ((409,), None),
        f"{base}/compute?sync=1": ((409,), None),
        f"{base}/exclude": ((409,), bodies[0]),
        f"{base}/unpaid-days": ((409,), bodies[1]),
        # The maker is refused as maker (403) before the state is looked at; the checker 409.
        f"{base}/approve": ((403, 409), None),
    }
    for path, (statuses, body) in expected.items():
        for who in ("maker", "checker"):
            response = clients[who].post(path, json=body)
            assert response.status_code in statuses, (who, path, response.json)
            assert payslip_snapshot(db_session, in_department, run_id) == before, path
    walked = _write_rules(app)
    assert {rule.rule.rsplit("/", 1)[-1] for rule, _ in walked} >= {
        "compute",
        "exclude",
        "unpaid-days",
        "approve",
    }
    for rule, methods in walked:
        if set(rule.arguments) != {"run_id"}:
            continue
        path = rule.rule.replace("<int:run_id>", str(run_id))
        for method in methods:
            for body in bodies:
                response = clients["checker"].open(method, path, json=body)
                assert response.status_code < 500, (method, path)
                assert payslip_snapshot(db_session, in_department, run_id) == before, path
    with in_department("POLICE"):
        assert _run(db_session, run_id).state == state
