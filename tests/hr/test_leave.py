"""Leave (DOMAIN.md): working days, refusals with reasons, accrual, approval, cancellation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from leave_data import BEFORE, SPAN, medical_report

from grp.db import db
from grp.errors import ValidationError
from grp.workflow.approvals import decide
from grp.workflow.approvals.models import ApprovalRequest
from grp.workflow.notifications.models import Notification
from modules.hr.models import LeaveLedgerEntry, LeaveType, PublicHoliday, WorkingWeek
from modules.hr.services.leave import (
    accrue_department,
    cancel_leave_request,
    ensure_leave_defaults,
    monthly_share,
    register_period_lock_check,
    working_days,
)

D = Decimal


def approval_of(request) -> ApprovalRequest:
    db.session.expire_all()
    return db.session.get(ApprovalRequest, request.approval_request_id)


def pending_approvers(request) -> list[str]:
    approval = approval_of(request)
    return sorted(t.approver.username for t in approval.tasks if t.state == "pending")


# --------------------------------------------------------------------------- working days


def test_working_days_skip_the_weekend_and_public_holidays(leave_world):
    assert working_days(db.session, *SPAN) == 5  # 9 calendar days, 2 weekend, 2 National Day
    assert working_days(db.session, date(2026, 12, 5), date(2026, 12, 6)) == 0
    assert working_days(db.session, date(2026, 12, 10), date(2026, 12, 9)) == 0


def test_the_working_week_and_holidays_are_the_departments_data(leave_world):
    db.session.scalar(sa.select(WorkingWeek)).working_days = "1111010"  # Saturday works, Friday not
    db.session.add(PublicHoliday(day=date(2026, 12, 7), name_en="Extra", name_ar="إضافي"))
    db.session.flush()
    # 2 Dec - 10 Dec: Sat 5 now works, Fri 4 and Mon 7 do not.
    assert working_days(db.session, *SPAN) == 4


def test_defaults_follow_domain_and_are_seeded_once(leave_world):
    annual = leave_world.leave_type("annual")
    assert (annual.yearly_days(12), annual.yearly_days(8), annual.yearly_days(3)) == (
        D("30.00"),
        D("25.00"),
        D("18.00"),
    )
    assert annual.balance_limited and annual.accrual == "monthly"
    sick = leave_world.leave_type("sick")
    assert (sick.max_days_per_request, sick.max_days_per_year) == (D("2.00"), D("6.00"))
    assert leave_world.leave_type("maternity").day_basis == "calendar"
    assert leave_world.leave_type("hajj").once_in_service
    assert not leave_world.leave_type("unpaid").paid
    holidays = set(db.session.scalars(sa.select(PublicHoliday.day)))
    assert {date(2026, 12, 2), date(2026, 12, 3), date(2026, 1, 1)} <= holidays
    assert ensure_leave_defaults(db.session) is False


# --------------------------------------------------------------------------- requests


def test_a_five_working_day_request_takes_five_days(leave_world):
    request = leave_world.request()
    assert request.days == D("5.00")
    assert request.state == "pending"
    assert pending_approvers(request) == ["mgr"]


def test_calendar_day_types_count_every_day(leave_world):
    request = leave_world.request(code="maternity")
    assert request.days == D("9.00")


def test_overlapping_requests_are_refused_with_the_reason(leave_world):
    leave_world.request()
    with pytest.raises(ValidationError) as refused:
        leave_world.request(date(2026, 12, 10), date(2026, 12, 14), code="unpaid")
    assert "overlap" in refused.value.errors["start_date"][0]
    assert "2026-12-02" in refused.value.errors["start_date"][0]


def test_requests_beyond_the_balance_are_refused_with_the_reason(leave_world):
    with pytest.raises(ValidationError) as refused:
        leave_world.request(date(2026, 12, 14), date(2027, 1, 29))  # 35 working days
    assert refused.value.errors["days"] == [
        "This request takes 35 days but only 20.00 are available."
    ]
    # Pending requests hold their days: 5 held, 15 left.
    leave_world.request()
    with pytest.raises(ValidationError) as refused:
        leave_world.request(date(2026, 12, 14), date(2027, 1, 4))  # 16 working days
    assert "only 15.00 are available" in refused.value.errors["days"][0]


def test_limits_per_request_and_year_without_a_medical_report(leave_world):
    with pytest.raises(ValidationError) as refused:
        leave_world.request(date(2026, 12, 7), date(2026, 12, 9), code="sick")
    assert "without a supporting document" in refused.value.errors["end_date"][0]
    report = medical_report(leave_world)
    with_report = leave_world.request(
        date(2026, 12, 7), date(2026, 12, 9), code="sick", document_id=report
    )
    assert with_report.days == D("3.00") and with_report.has_document
    assert with_report.document.doc_type == "medical_report"
    leave_world.request(date(2026, 12, 14), date(2026, 12, 15), code="sick")
    with pytest.raises(ValidationError) as refused:
        leave_world.request(date(2026, 12, 16), date(2026, 12, 17), code="sick")
    assert "At most 6 days of this leave a year" in refused.value.errors["days"][0]


def test_a_locked_payroll_period_refuses_the_request(leave_world, app):
    def november_locked(session, employee, start, end):
        return "November 2026 is paid" if start <= date(2026, 11, 30) else None

    register_period_lock_check(app, november_locked)
    with pytest.raises(ValidationError) as refused:
        leave_world.request(date(2026, 11, 30), date(2026, 12, 1))
    assert refused.value.errors["start_date"] == [
        "These dates fall in a locked payroll period: November 2026 is paid"
    ]
    assert leave_world.request().state == "pending"  # December is open


# --------------------------------------------------------------------------- approval


def test_manager_then_hr_approve_and_the_days_are_taken(leave_world):
    request = leave_world.request()
    decide(db.session, approval_of(request), actor=leave_world.user("mgr"), approve=True)
    db.session.commit()
    assert pending_approvers(request) == ["hr1", "hr2"]  # any one HR officer
    assert leave_world.annual_balance() == D("20.00")  # nothing taken before the last step
    decide(db.session, approval_of(request), actor=leave_world.user("hr1"), approve=True)
    db.session.commit()
    db.session.refresh(request)
    assert request.state == "approved"
    assert leave_world.annual_balance() == D("15.00")
    notice = db.session.scalar(
        sa.select(Notification).where(
            Notification.user_id == leave_world.users["emp"].id,
            Notification.event == "leave.decided",
        )
    )
    assert notice is not None and "approved" in notice.title


def test_a_rejection_keeps_its_reason_and_takes_nothing(leave_world):
    request = leave_world.request()
    decide(
        db.session,
        approval_of(request),
        actor=leave_world.user("mgr"),
        approve=False,
        comment="Year-end audit needs you",
    )
    db.session.commit()
    db.session.refresh(request)
    assert (request.state, request.decision_comment) == ("rejected", "Year-end audit needs you")
    assert leave_world.annual_balance() == D("20.00")
    # The dates are free again.
    assert leave_world.request().state == "pending"


def test_cancelling_an_approved_leave_restores_the_balance(leave_world):
    request = leave_world.request()
    for approver in ("mgr", "hr1"):
        decide(db.session, approval_of(request), actor=leave_world.user(approver), approve=True)
        db.session.commit()
    assert leave_world.annual_balance() == D("15.00")
    cancel_leave_request(
        db.session, request, actor=leave_world.user("emp"), is_hr=False, today=BEFORE
    )
    db.session.commit()
    assert request.state == "cancelled"
    assert leave_world.annual_balance() == D("20.00")
    kinds = db.session.scalars(
        sa.select(LeaveLedgerEntry.kind).where(LeaveLedgerEntry.request_id == request.id)
    )
    assert sorted(kinds) == ["reversal", "taken"]


def test_the_employee_cannot_cancel_a_started_leave_but_hr_can(leave_world):
    request = leave_world.request()
    with pytest.raises(ValidationError) as refused:
        cancel_leave_request(
            db.session, request, actor=leave_world.user("emp"), is_hr=False, today=SPAN[0]
        )
    assert "started" in refused.value.errors["start_date"][0]
    cancel_leave_request(db.session, request, actor=leave_world.user("hr1"), is_hr=True)
    db.session.commit()
    assert request.state == "cancelled"
    assert approval_of(request).state == "cancelled"
    assert leave_world.annual_balance() == D("20.00")


def test_hr_requests_on_behalf_and_may_not_approve_it(leave_world):
    from grp.workflow.approvals import MakerCheckerError

    request = leave_world.request(actor=leave_world.user("hr1"))
    assert request.requested_by_id == leave_world.users["hr1"].id
    decide(db.session, approval_of(request), actor=leave_world.user("mgr"), approve=True)
    db.session.commit()
    assert pending_approvers(request) == ["hr2"]
    with pytest.raises(MakerCheckerError):
        decide(db.session, approval_of(request), actor=leave_world.user("hr1"), approve=True)
    db.session.rollback()
    decide(db.session, approval_of(request), actor=leave_world.user("hr2"), approve=True)
    db.session.commit()
    assert leave_world.annual_balance() == D("15.00")


def test_the_manager_resolver_walks_past_managers_without_an_account(
    leave_world, make_employee, create_user
):
    from modules.hr.services.leave import resolve_manager

    junior_user = create_user("junior", roles=[("POLICE", "employee")])
    middle = make_employee(manager_id=leave_world.manager_id)  # no user account
    make_employee(user_id=junior_user.id, manager_id=middle)
    assert resolve_manager(db.session, junior_user).username == "mgr"
    assert resolve_manager(db.session, leave_world.user("mgr")) is None


# --------------------------------------------------------------------------- accrual


def annual_entries(world) -> list[tuple[str, Decimal]]:
    annual = world.leave_type("annual")
    return list(
        db.session.execute(
            sa.select(LeaveLedgerEntry.period, LeaveLedgerEntry.days)
            .where(
                LeaveLedgerEntry.employee_id == world.employee_id,
                LeaveLedgerEntry.leave_type_id == annual.id,
                LeaveLedgerEntry.kind == "accrual",
            )
            .order_by(LeaveLedgerEntry.period)
        ).all()
    )


def test_accrual_twice_in_a_month_adds_once_and_missed_months_are_caught_up(leave_world):
    accrue_department(db.session, date(2026, 1, 15), employee_ids=[leave_world.employee_id])
    db.session.commit()
    assert accrue_department(db.session, date(2026, 1, 31)) == 1  # only the manager's January
    db.session.commit()
    assert annual_entries(leave_world) == [("2026-01", D("2.08"))]
    # February was missed: March's run catches it up.
    accrue_department(db.session, date(2026, 3, 2))
    db.session.commit()
    assert annual_entries(leave_world) == [
        ("2026-01", D("2.08")),
        ("2026-02", D("2.09")),
        ("2026-03", D("2.08")),
    ]
    assert leave_world.annual_balance() == D("26.25")  # 20 opening + 25 x 3/12


def test_twelve_monthly_shares_add_up_to_the_year():
    for yearly in (D("30"), D("25"), D("18")):
        assert sum(monthly_share(yearly, m) for m in range(1, 13)) == yearly


def test_days_above_the_carry_forward_cap_expire_at_the_year_end(leave_world):
    annual = leave_world.leave_type("annual")
    assert annual.carry_forward_cap == D("30.00")
    db.session.add(
        LeaveLedgerEntry(
            employee_id=leave_world.employee_id,
            leave_type_id=annual.id,
            kind="adjustment",
            days=D("15"),
            entry_date=date(2026, 6, 1),
        )
    )
    db.session.flush()
    accrue_department(db.session, date(2027, 1, 5), employee_ids=[leave_world.employee_id])
    accrue_department(db.session, date(2027, 1, 20), employee_ids=[leave_world.employee_id])
    db.session.commit()
    # 35 at the end of 2026, capped to 30, plus January 2027's 2.08.
    assert leave_world.annual_balance() == D("32.08")


def test_leave_types_are_per_department(leave_world, in_department):
    with in_department("DM"):
        assert db.session.scalar(sa.select(sa.func.count(LeaveType.id))) == 0


def test_payroll_reads_unpaid_leave_days_inside_its_period(leave_world):
    from modules.hr.services.leave import unpaid_leave_days

    request = leave_world.request(date(2026, 11, 30), date(2026, 12, 4), code="unpaid")
    assert request.days == D("3.00")  # Mon 30 Nov, Tue 1 Dec, Fri 4 Dec
    for approver in ("mgr", "hr1"):
        decide(db.session, approval_of(request), actor=leave_world.user(approver), approve=True)
        db.session.commit()
    employee_id = leave_world.employee_id
    assert unpaid_leave_days(db.session, employee_id, date(2026, 12, 1), date(2026, 12, 31)) == 2
    assert unpaid_leave_days(db.session, employee_id, date(2026, 11, 1), date(2026, 11, 30)) == 1
    assert unpaid_leave_days(db.session, employee_id, date(2027, 1, 1), date(2027, 1, 31)) == 0


def test_carried_days_not_taken_in_time_expire(leave_world):
    annual = leave_world.leave_type("annual")
    annual.carry_forward_expiry_months = 3
    # 20 days carried into 2027; 5 taken in February use carried days first.
    db.session.add(
        LeaveLedgerEntry(
            employee_id=leave_world.employee_id,
            leave_type_id=annual.id,
            kind="taken",
            days=D("-5"),
            entry_date=date(2027, 2, 10),
        )
    )
    db.session.flush()
    ids = [leave_world.employee_id]
    accrue_department(db.session, date(2027, 3, 31), employee_ids=ids)
    assert leave_world.annual_balance() == D("21.25")  # 20 - 5 + 6.25 accrued
    accrue_department(db.session, date(2027, 4, 1), employee_ids=ids)
    accrue_department(db.session, date(2027, 4, 20), employee_ids=ids)
    db.session.commit()
    # April: the 15 carried days left unused expire; 25 x 4/12 = 8.33 accrued stay.
    assert leave_world.annual_balance() == D("8.33")
