"""Leave wiring: `grp hr defaults`, the demo's manager link, the scheduled monthly accrual."""

from __future__ import annotations

import sqlalchemy as sa

from grp.db import db
from grp.models import User
from grp.tenancy import department_context
from grp.workflow.approvals.models import ApprovalPolicy
from modules.hr.models import Employee, LeaveLedgerEntry, LeaveType, PublicHoliday


def test_hr_defaults_command_seeds_leave_and_the_policy(runner, hr_departments):
    result = runner.invoke(args=["hr", "defaults", "--department", "POLICE"])
    assert result.exit_code == 0, result.output
    with department_context(db.session, hr_departments["POLICE"].id):
        assert db.session.scalar(sa.select(sa.func.count(LeaveType.id))) == 8
        assert db.session.scalar(sa.select(sa.func.count(PublicHoliday.id))) == 12
        policy = db.session.scalar(
            sa.select(ApprovalPolicy).where(ApprovalPolicy.document_type == "hr.leave_request")
        )
        assert [s.approver_kind for s in policy.steps] == ["manager", "role"]
    again = runner.invoke(args=["hr", "defaults", "--department", "POLICE"])
    assert "already complete" in again.output


def test_demo_employee_reports_to_the_demo_manager_and_has_a_balance(app, departments):
    from grp.demo import load_demo_users
    from modules.hr.demo import seed

    load_demo_users(db.session)
    db.session.commit()
    seed(db.session, employees=40)
    db.session.commit()
    users = {u.username: u.id for u in db.session.scalars(sa.select(User))}
    with department_context(db.session, departments["POLICE"].id):
        employee = db.session.scalar(
            sa.select(Employee).where(Employee.user_id == users["police.employee"])
        )
        manager = db.session.scalar(
            sa.select(Employee).where(Employee.user_id == users["police.manager"])
        )
        assert employee.manager_id == manager.id
        accrued = db.session.scalar(
            sa.select(sa.func.count(LeaveLedgerEntry.id)).where(
                LeaveLedgerEntry.employee_id == employee.id
            )
        )
        assert accrued == 11  # January to November 2026 (the demo's fixed "today")


def test_the_monthly_accrual_is_scheduled_and_safe_to_run_twice(app, leave_world):
    from grp.workflow.jobs.registry import state_of
    from modules.hr.services.leave import run_monthly_accrual

    assert "hr.leave.monthly_accrual" in state_of(app).scheduled
    with app.app_context():
        first = run_monthly_accrual()
        assert first > 0
        assert run_monthly_accrual() == 0
