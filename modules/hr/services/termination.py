"""End of service: terminate an employee with the gratuity and leave settlement; payroll's feed.

Rules and choices (DOMAIN.md, Payroll / gratuity; tested in tests/hr/test_termination*.py):

* Gratuity (modules.hr.gratuity) for employees who are not UAE nationals, GCC
  nationals included (DOMAIN.md: "non-nationals"); UAE nationals are in the
  GPSSA pension and get 0, with that reason in the working. Under one year of
  counted service: 0, with that reason.
* Service runs from the hire date to the last working day, both included.
  Unpaid absence is the calendar days of approved leave of unpaid types
  inside the service (service is counted in calendar days, so its exclusion
  is too), whatever basis the leave type counts its own days in.
* The basic wage is the contract version in force on the last working day
  (else the latest version started before it, e.g. a fixed-term contract that
  ended earlier); with no contract at all the termination is refused.
* Remaining annual leave (leave type code "annual") is the ledger balance as of
  the last working day **plus the monthly accrual the scheduled job has not yet
  credited, up to and including the month of the last working day** (each month
  its full share, as the job credits it on the 1st; no proration of the last
  month, no year-end cap on projected months). A negative balance is shown but
  encashes to 0. The ledger itself is not changed.
* Encashment = basic x remaining days / `HR_LEAVE_ENCASHMENT_DIVISOR` (a
  setting, default 30: a day's wage as for the gratuity), rounded half-up to
  fils. Basic only, not allowances (an assumption; change the divisor or
  extend here if a department pays otherwise).
* The contract version in force on the last working day ends on it; versions
  starting later are removed (kept in the record so that undo restores them).
  The employee's grade and band follow the version left in force.
* Leave requests (pending or approved) starting after the last working day
  are cancelled (approved days come back to the ledger); a request running
  across the last working day refuses the termination: shorten it first.
* The employee's status becomes "terminated" at once (also for a last working
  day in the future; payroll reads contracts and settlements, not the status).
* Undo restores the status and the contracts and deletes the record; leave
  requests cancelled stay cancelled. It is refused once a payroll period lock
  check (`modules.hr.services.leave.register_period_lock_check`) reports the
  last working day's period locked, i.e. once payroll approved or paid it.

Payroll reads `settlements_in_period(session, start, end)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from grp.errors import ValidationError
from grp.models import User
from grp.money import round_money
from modules.hr.gratuity import GratuityWorking, gratuity_between
from modules.hr.i18n import _
from modules.hr.models import (
    ALLOWANCE_CODES,
    TERMINATION_REASONS,
    Contract,
    Employee,
    LeaveLedgerEntry,
    LeaveRequest,
    LeaveType,
    Termination,
)
from modules.hr.models.leave import ACTIVE_STATES, to_days
from modules.hr.services.values import FieldErrors, Invalid, as_date

#: The leave type whose remaining balance is paid out at the end of service.
ANNUAL_LEAVE_CODE = "annual"
DEFAULT_ENCASHMENT_DIVISOR = Decimal(30)
ZERO_MONEY = Decimal("0.00")

#: Contract columns copied into the record when a later version is removed (for undo).
_CONTRACT_COLUMNS = (
    "version",
    "start_date",
    "end_date",
    "contract_type",
    "grade_id",
    "band",
    "basic_salary",
    *(f"{code}_allowance" for code in ALLOWANCE_CODES),
)


@dataclass(frozen=True)
class Settlement:
    """What payroll pays a leaver in their last run (amounts exact, AED)."""

    employee_id: int
    last_working_day: date
    gratuity: Decimal  # 0 for UAE nationals and under one year of service
    leave_days: Decimal
    leave_encashment: Decimal


@dataclass
class TerminationPreview:
    """A termination computed but not stored: what the screen shows before confirming.

    Attribute names are the stored record's, so one API schema shows both.
    """

    employee_id: int
    reason: str
    reason_text: str
    last_working_day: date
    notice_date: date | None
    basic_salary: Decimal
    gratuity: Decimal
    gratuity_working: dict[str, Any]
    leave_days: Decimal
    leave_encashment: Decimal
    leave_working: dict[str, Any]
    cancelled_requests: list[int] = field(default_factory=list)


# --------------------------------------------------------------------------- computing


def _text(value: Decimal) -> str:
    return format(value, "f")


def unpaid_absence_days(session: Session, employee_id: int, first: date, last: date) -> int:
    """Return the calendar days of approved unpaid leave between `first` and `last` inclusive."""
    spans = session.execute(
        sa.select(LeaveRequest.start_date, LeaveRequest.end_date)
        .join(LeaveType, LeaveType.id == LeaveRequest.leave_type_id)
        .where(
            LeaveRequest.employee_id == employee_id,
            LeaveRequest.state == "approved",
            LeaveType.paid.is_(False),
            LeaveRequest.start_date <= last,
            LeaveRequest.end_date >= first,
        )
    ).all()
    return sum((min(end, last) - max(start, first)).days + 1 for start, end in spans)


def _basic_contract(session: Session, employee: Employee, last_day: date) -> Contract | None:
    """The version in force on `last_day`, else the latest one started on or before it."""
    return session.scalar(
        sa.select(Contract)
        .where(Contract.employee_id == employee.id, Contract.start_date <= last_day)
        .order_by(Contract.start_date.desc())
        .limit(1)
    )


def gratuity_working(
    employee: Employee, basic: Decimal, last_day: date, unpaid_days: int
) -> tuple[Decimal, dict[str, Any]]:
    """Return the gratuity and its working (JSON-ready) for a leaver on `last_day`."""
    working: GratuityWorking = gratuity_between(basic, employee.hire_date, last_day, unpaid_days)
    national = employee.is_uae_national
    if national:
        note = "uae_national"
    elif not working.eligible:
        note = "under_one_year"
    else:
        note = None
    amount = ZERO_MONEY if national else working.amount
    return amount, {
        "first_day": employee.hire_date.isoformat(),
        "last_working_day": last_day.isoformat(),
        "calendar_days": (last_day - employee.hire_date).days + 1,
        "unpaid_days": working.unpaid_days,
        "service_days": working.service_days,
        "years": _text(working.years.quantize(Decimal("0.0001"))),
        "basic": _text(working.basic),
        "daily_wage": _text(working.daily_wage),
        "days_first_years": _text(working.days_first_years.quantize(Decimal("0.01"))),
        "days_later_years": _text(working.days_later_years.quantize(Decimal("0.01"))),
        "entitlement_days": _text(working.entitlement_days.quantize(Decimal("0.01"))),
        "rate": "21 days a year for the first 5 years, 30 days a year after",
        "uncapped": _text(working.uncapped),
        "cap": _text(working.cap),
        "capped": working.capped and not national,
        "eligible": working.eligible and not national,
        "not_paid_because": note,
        "amount": _text(amount),
    }


def _encashment_divisor() -> Decimal:
    if has_app_context():
        return Decimal(
            str(current_app.config.get("HR_LEAVE_ENCASHMENT_DIVISOR", DEFAULT_ENCASHMENT_DIVISOR))
        )
    return DEFAULT_ENCASHMENT_DIVISOR


def remaining_annual_leave(
    session: Session, employee: Employee, last_day: date, basic: Decimal
) -> tuple[Decimal, Decimal, dict[str, Any]]:
    """Return (remaining days, encashment, working) of the annual leave on `last_day`."""
    from modules.hr.services.leave import _months, balance, monthly_share

    divisor = _encashment_divisor()
    leave_type = session.scalar(sa.select(LeaveType).where(LeaveType.code == ANNUAL_LEAVE_CODE))
    if leave_type is None:
        return (
            to_days(0),
            ZERO_MONEY,
            {"leave_type": None, "ledger_days": "0.00", "projected_days": "0.00"},
        )
    ledger = balance(session, employee.id, leave_type.id, as_of=last_day)
    projected = to_days(0)
    months: list[str] = []
    if leave_type.is_active and leave_type.accrual == "monthly":
        yearly = leave_type.yearly_days(employee.grade.number)
        last_period = session.scalar(
            sa.select(sa.func.max(LeaveLedgerEntry.period)).where(
                LeaveLedgerEntry.employee_id == employee.id,
                LeaveLedgerEntry.leave_type_id == leave_type.id,
                LeaveLedgerEntry.kind == "accrual",
            )
        )
        if last_period:
            year, month = map(int, last_period.split("-"))
            first = (date(year, month, 28) + timedelta(days=4)).replace(day=1)
        else:
            first = max(employee.hire_date.replace(day=1), date(last_day.year, 1, 1))
        if yearly > 0:
            for month_start in _months(first, last_day):
                projected += monthly_share(yearly, month_start.month)
                months.append(month_start.strftime("%Y-%m"))
    days = to_days(ledger + projected)
    encashment = round_money(basic * days / divisor) if days > 0 else ZERO_MONEY
    return (
        days,
        encashment,
        {
            "leave_type": leave_type.code,
            "as_of": last_day.isoformat(),
            "ledger_days": _text(ledger),
            "projected_days": _text(projected),
            "projected_months": months,
            "days": _text(days),
            "basic": _text(basic),
            "divisor": _text(divisor),
            "encashment": _text(encashment),
        },
    )


# --------------------------------------------------------------------------- checking


def _clean(
    session: Session,
    employee: Employee,
    *,
    reason: Any,
    last_working_day: Any,
    reason_text: Any,
    notice_date: Any,
) -> tuple[str, date, str, date | None, Contract]:
    """Check the input and the employee's state; raise ValidationError with every problem."""
    errors = FieldErrors()
    code = str(reason or "").strip().lower()
    if code not in TERMINATION_REASONS:
        errors.add(
            "reason", _("Choose one of: %(choices)s.", choices=", ".join(TERMINATION_REASONS))
        )
    text = str(reason_text or "").strip()
    if len(text) > 2000:
        errors.add("reason_text", _("Use at most %(num)d characters.", num=2000))
    elif code == "other" and not text:
        errors.add("reason_text", _("Say why the employment ends."))
    last_day: date | None = None
    notice: date | None = None
    try:
        last_day = as_date(last_working_day)
    except Invalid as exc:
        errors.add("last_working_day", str(exc))
    if last_day is None and "last_working_day" not in errors:
        errors.add("last_working_day", _("This field is required."))
    try:
        notice = as_date(notice_date)
    except Invalid as exc:
        errors.add("notice_date", str(exc))
    existing = session.scalar(
        sa.select(Termination.id).where(Termination.employee_id == employee.id)
    )
    if existing is not None or employee.status == "terminated":
        errors.add("employee", _("This employee is already terminated."))
    contract = None
    if last_day is not None:
        if last_day < employee.hire_date:
            errors.add(
                "last_working_day",
                _(
                    "The last working day cannot be before the hire date (%(date)s).",
                    date=employee.hire_date.isoformat(),
                ),
            )
        else:
            contract = _basic_contract(session, employee, last_day)
            if contract is None:
                errors.add(
                    "last_working_day",
                    _("The employee has no contract on or before this day to settle on."),
                )
            across = session.scalar(
                sa.select(LeaveRequest).where(
                    LeaveRequest.employee_id == employee.id,
                    LeaveRequest.state.in_(ACTIVE_STATES),
                    LeaveRequest.start_date <= last_day,
                    LeaveRequest.end_date > last_day,
                )
            )
            if across is not None:
                errors.add(
                    "last_working_day",
                    _(
                        "A leave from %(start)s to %(end)s runs past this day; "
                        "cancel or shorten it first.",
                        start=across.start_date.isoformat(),
                        end=across.end_date.isoformat(),
                    ),
                )
        if notice is not None and notice > last_day:
            errors.add("notice_date", _("The notice date cannot be after the last working day."))
    if errors:
        raise ValidationError(dict(errors))
    assert last_day is not None and contract is not None
    return code, last_day, text, notice, contract


def preview_termination(
    session: Session,
    employee: Employee,
    *,
    reason: Any,
    last_working_day: Any,
    reason_text: Any = "",
    notice_date: Any = None,
) -> TerminationPreview:
    """Compute a termination without storing anything; raise ValidationError when refused."""
    code, last_day, text, notice, contract = _clean(
        session,
        employee,
        reason=reason,
        last_working_day=last_working_day,
        reason_text=reason_text,
        notice_date=notice_date,
    )
    basic = contract.basic_salary
    unpaid = unpaid_absence_days(session, employee.id, employee.hire_date, last_day)
    gratuity, gratuity_detail = gratuity_working(employee, basic, last_day, unpaid)
    days, encashment, leave_detail = remaining_annual_leave(session, employee, last_day, basic)
    later = session.scalars(
        sa.select(LeaveRequest.id).where(
            LeaveRequest.employee_id == employee.id,
            LeaveRequest.state.in_(ACTIVE_STATES),
            LeaveRequest.start_date > last_day,
        )
    )
    return TerminationPreview(
        employee_id=employee.id,
        reason=code,
        reason_text=text,
        last_working_day=last_day,
        notice_date=notice,
        basic_salary=basic,
        gratuity=gratuity,
        gratuity_working=gratuity_detail,
        leave_days=days,
        leave_encashment=encashment,
        leave_working=leave_detail,
        cancelled_requests=list(later),
    )


# --------------------------------------------------------------------------- recording


def _snapshot(contract: Contract) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in _CONTRACT_COLUMNS:
        value = getattr(contract, name)
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = _text(value)
        values[name] = value
    return values


def _settle_contracts(session: Session, employee: Employee, last_day: date) -> dict[str, Any]:
    """End the version in force on `last_day`, remove later ones; return what changed."""
    changes: dict[str, Any] = {
        "ended": [],
        "removed": [],
        "grade": [employee.grade_id, employee.band],
    }
    versions = session.scalars(
        sa.select(Contract).where(Contract.employee_id == employee.id).order_by(Contract.start_date)
    ).all()
    kept: Contract | None = None
    for contract in versions:
        if contract.start_date > last_day:
            changes["removed"].append(_snapshot(contract))
            session.delete(contract)
            continue
        kept = contract
        if contract.end_date is None or contract.end_date > last_day:
            changes["ended"].append(
                {
                    "id": contract.id,
                    "end_date": contract.end_date.isoformat() if contract.end_date else None,
                }
            )
            contract.end_date = last_day
    if kept is not None and (employee.grade_id, employee.band) != (kept.grade_id, kept.band):
        employee.grade_id, employee.band = kept.grade_id, kept.band
    session.flush()
    return changes


def terminate_employee(
    session: Session,
    employee: Employee,
    *,
    reason: Any,
    last_working_day: Any,
    reason_text: Any = "",
    notice_date: Any = None,
    actor: User,
) -> Termination:
    """Record the end of `employee`'s service with its settlement; return the record.

    Raises ValidationError (fields `reason`, `reason_text`, `last_working_day`,
    `notice_date`, `employee`). See the module docstring for what it changes.
    """
    from modules.hr.services.leave import cancel_leave_request, lock_employee

    lock_employee(session, employee.id)
    preview = preview_termination(
        session,
        employee,
        reason=reason,
        last_working_day=last_working_day,
        reason_text=reason_text,
        notice_date=notice_date,
    )
    last_day = preview.last_working_day
    for request_id in preview.cancelled_requests:
        request = session.get(LeaveRequest, request_id)
        if request is not None and request.state in ACTIVE_STATES:
            # The reversal is dated like the days it gives back (after the last
            # working day), so the balance as of that day stays what was settled.
            cancel_leave_request(
                session, request, actor=actor, is_hr=True, today=request.start_date
            )
    contract_changes = _settle_contracts(session, employee, last_day)
    contract_changes["cancelled_requests"] = preview.cancelled_requests
    termination = Termination(
        employee_id=employee.id,
        reason=preview.reason,
        reason_text=preview.reason_text,
        last_working_day=last_day,
        notice_date=preview.notice_date,
        recorded_by_id=actor.id,
        basic_salary=preview.basic_salary,
        gratuity=preview.gratuity,
        gratuity_working=preview.gratuity_working,
        leave_days=preview.leave_days,
        leave_encashment=preview.leave_encashment,
        leave_working=preview.leave_working,
        previous_status=employee.status,
        contract_changes=contract_changes,
    )
    session.add(termination)
    employee.status = "terminated"
    session.flush()
    return termination


def find_termination(session: Session, employee: Employee) -> Termination | None:
    """Return the employee's termination record, if any."""
    return session.scalar(sa.select(Termination).where(Termination.employee_id == employee.id))


def undo_termination(session: Session, termination: Termination) -> Employee:
    """Undo a termination payroll has not settled: restore status and contracts, drop the record.

    Refused (ValidationError on `termination`) once a payroll period lock
    check reports the last working day's period locked.
    """
    from modules.hr.services.leave import lock_employee, locked_period_reason

    employee = termination.employee
    lock_employee(session, employee.id)
    last_day = termination.last_working_day
    reason = locked_period_reason(session, employee, last_day, last_day)
    if reason:
        raise ValidationError(
            {
                "termination": [
                    _(
                        "Payroll has settled this termination, so it cannot be undone: %(reason)s",
                        reason=reason,
                    )
                ]
            }
        )
    changes = termination.contract_changes or {}
    for ended in changes.get("ended", []):
        contract = session.get(Contract, ended["id"])
        if contract is not None:
            contract.end_date = date.fromisoformat(ended["end_date"]) if ended["end_date"] else None
    for removed in changes.get("removed", []):
        values = dict(removed)
        for name in ("start_date", "end_date"):
            values[name] = date.fromisoformat(values[name]) if values[name] else None
        for name in _CONTRACT_COLUMNS:
            if name.endswith("_allowance") or name == "basic_salary":
                values[name] = Decimal(values[name])
        session.add(Contract(employee_id=employee.id, **values))
    grade = changes.get("grade")
    if grade:
        employee.grade_id, employee.band = grade[0], grade[1]
    employee.status = termination.previous_status or "active"
    session.delete(termination)
    session.flush()
    return employee


# --------------------------------------------------------------------------- payroll


def settlements_in_period(session: Session, start: date, end: date) -> dict[int, Settlement]:
    """Return the settlements of leavers whose last working day is in `start`..`end`, by employee.

    One query for the current department, for payroll's run of the period.
    """
    rows = session.execute(
        sa.select(
            Termination.employee_id,
            Termination.last_working_day,
            Termination.gratuity,
            Termination.leave_days,
            Termination.leave_encashment,
        ).where(Termination.last_working_day.between(start, end))
    ).all()
    return {
        row.employee_id: Settlement(
            employee_id=row.employee_id,
            last_working_day=row.last_working_day,
            gratuity=row.gratuity,
            leave_days=row.leave_days,
            leave_encashment=row.leave_encashment,
        )
        for row in rows
    }


def termination_input(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return the keyword arguments of `terminate_employee` found in `data` (form or JSON)."""
    return {
        name: data.get(name)
        for name in ("reason", "reason_text", "last_working_day", "notice_date")
    }
