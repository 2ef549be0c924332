"""Leave: defaults, working days, the balance ledger, accrual, requests and their approval.

Rules and choices (DOMAIN.md, Leave; tested in tests/hr/test_leave*.py):

* Days are counted in working days (the department's working week, public
  holidays excluded) or calendar days, as the leave type says.
* A balance is the sum of the ledger entries of an employee and type (SQL).
  The days of *pending* requests are held: a new request of a balance-limited
  type must fit in the balance less what other pending requests ask.
* Refused with a field error: overlapping a pending or approved request,
  beyond the balance, beyond a per-request / per-year limit (unless the type's
  document lifts them and one is provided), a once-in-service type taken
  before, and a day in a payroll period a registered lock check says is locked.
* Approval goes through the approval engine ("hr.leave_request"). On the final
  approval the employee row is locked (SELECT ... FOR UPDATE) and the balance
  checked again, so two approvals racing for the same days never overdraw it:
  the second one fails and its decision is undone.
* Accrual is monthly, idempotent (one entry per employee, type and month) and
  catches up months missed since the employee's last accrual (at most back to
  January of the current year, or the hire month). Before a new year's first
  accrual, days above the type's carry-forward cap expire; with
  `carry_forward_expiry_months` N, carried days not taken by the end of month N
  expire when month N+1 accrues (leave taken uses carried days first).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session

from grp.db import utcnow
from grp.errors import ValidationError
from grp.models import User
from grp.tenancy import bulk_insert
from modules.hr.i18n import _
from modules.hr.models import Employee, Grade
from modules.hr.models.leave import (
    ACTIVE_STATES,
    DEFAULT_WORKING_WEEK,
    Days,
    LeaveLedgerEntry,
    LeaveRequest,
    LeaveType,
    PublicHoliday,
    WorkingWeek,
    to_days,
)

DOCUMENT_TYPE = "hr.leave_request"
PERIOD_LOCK_KEY = "hr.leave.period_lock_checks"
ZERO = Decimal("0.00")

#: A payroll period lock check: `check(session, employee, start, end)` returns why
#: the span touches a locked period, or None.
PeriodLockCheck = Callable[[Session, Employee, date, date], "str | None"]

_YEARLY = [
    {"min_grade": 12, "max_grade": 16, "days": 30},
    {"min_grade": 4, "max_grade": 11, "days": 25},
    {"min_grade": 1, "max_grade": 3, "days": 18},
]
#: DOMAIN.md's leave types: code -> settings.
DEFAULT_LEAVE_TYPES: dict[str, dict[str, Any]] = {
    "annual": {
        "name_en": "Annual leave",
        "name_ar": "إجازة سنوية",
        "balance_limited": True,
        "accrual": "monthly",
        "entitlement_rules": _YEARLY,
        "carry_forward_cap": Decimal("30"),
    },
    "sick": {
        "name_en": "Sick leave",
        "name_ar": "إجازة مرضية",
        "max_days_per_request": Decimal("2"),
        "max_days_per_year": Decimal("6"),
        "document_lifts_limits": True,
    },
    "maternity": {
        "name_en": "Maternity leave",
        "name_ar": "إجازة أمومة",
        "day_basis": "calendar",
        "max_days_per_request": Decimal("90"),
    },
    "bereavement_spouse": {
        "name_en": "Bereavement leave (spouse)",
        "name_ar": "إجازة حداد (الزوج أو الزوجة)",
        "max_days_per_request": Decimal("10"),
    },
    "bereavement": {
        "name_en": "Bereavement leave (second-degree relative)",
        "name_ar": "إجازة حداد (قريب من الدرجة الثانية)",
        "max_days_per_request": Decimal("5"),
    },
    "study": {
        "name_en": "Study / exam leave",
        "name_ar": "إجازة دراسية / امتحانات",
        "max_days_per_request": Decimal("5"),
    },
    "hajj": {
        "name_en": "Hajj leave",
        "name_ar": "إجازة الحج",
        "day_basis": "calendar",
        "max_days_per_request": Decimal("30"),
        "once_in_service": True,
    },
    "unpaid": {"name_en": "Unpaid leave", "name_ar": "إجازة بدون راتب", "paid": False},
}

#: DOMAIN.md's 2026 public holidays (Hijri dates are estimates officers correct).
DEFAULT_HOLIDAYS: dict[int, list[tuple[date, str, str]]] = {
    2026: [
        (date(2026, 1, 1), "New Year's Day", "رأس السنة الميلادية"),
        *[(date(2026, 3, d), "Eid al-Fitr", "عيد الفطر") for d in (20, 21, 22)],
        (date(2026, 5, 26), "Arafat Day", "يوم عرفة"),
        *[(date(2026, 5, d), "Eid al-Adha", "عيد الأضحى") for d in (27, 28, 29)],
        (date(2026, 6, 15), "Hijri New Year", "رأس السنة الهجرية"),
        (date(2026, 8, 24), "Prophet's Birthday", "المولد النبوي الشريف"),
        *[(date(2026, 12, d), "National Day", "عيد الاتحاد") for d in (2, 3)],
    ]
}


# --------------------------------------------------------------------------- defaults


def ensure_leave_defaults(session: Session, *, approval_policy: bool = True) -> bool:
    """Create the default leave types, 2026 holidays, working week and approval policy missing.

    What the department has (edited rows included) is kept. Returns True when
    anything was created.
    """
    created = False
    existing = set(session.scalars(sa.select(LeaveType.code)))
    for code, settings in DEFAULT_LEAVE_TYPES.items():
        if code not in existing:
            session.add(LeaveType(code=code, **settings))
            created = True
    days = set(session.scalars(sa.select(PublicHoliday.day)))
    for holidays in DEFAULT_HOLIDAYS.values():
        for day, name_en, name_ar in holidays:
            if day not in days:
                session.add(PublicHoliday(day=day, name_en=name_en, name_ar=name_ar))
                created = True
    if session.scalar(sa.select(WorkingWeek.id)) is None:
        session.add(WorkingWeek(working_days=DEFAULT_WORKING_WEEK))
        created = True
    session.flush()
    if approval_policy:
        created = ensure_leave_policy(session) or created
    return created


def ensure_leave_policy(session: Session) -> bool:
    """Create the policy "manager, then an HR officer" for leave requests when none exists."""
    from grp.workflow.approvals.models import ApprovalPolicy
    from grp.workflow.approvals.policies import create_policy

    if session.scalar(
        sa.select(ApprovalPolicy.id).where(ApprovalPolicy.document_type == DOCUMENT_TYPE)
    ):
        return False
    create_policy(
        session,
        {
            "document_type": DOCUMENT_TYPE,
            "name": "Leave: manager, then HR",
            "steps": [
                {"name": "Manager", "approver_kind": "manager"},
                {"name": "HR", "approver_kind": "role", "role_code": "hr_officer", "mode": "any"},
            ],
        },
    )
    session.flush()
    return True


# --------------------------------------------------------------------------- administration

#: What an officer may change on a leave type (the code is fixed: rules refer to it).
LEAVE_TYPE_FIELDS = (
    "name_en",
    "name_ar",
    "paid",
    "day_basis",
    "balance_limited",
    "accrual",
    "entitlement_rules",
    "carry_forward_cap",
    "carry_forward_expiry_months",
    "max_days_per_request",
    "max_days_per_year",
    "document_lifts_limits",
    "once_in_service",
    "is_active",
)
_OPTIONAL_DAYS = ("carry_forward_cap", "max_days_per_request", "max_days_per_year")


def _clean_rules(value: Any, errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    rules = []
    try:
        for rule in value or []:
            low, high = int(rule.get("min_grade", 1)), int(rule.get("max_grade", 16))
            days = to_days(rule["days"])
            if not (1 <= low <= high <= 16) or days < 0:
                raise ValueError
            rules.append({"min_grade": low, "max_grade": high, "days": float(days)})
    except (AttributeError, KeyError, TypeError, ValueError, ArithmeticError):
        errors["entitlement_rules"] = [
            _("Give each rule a grade range within 1-16 and a number of days.")
        ]
    return rules


def update_leave_type(session: Session, leave_type: LeaveType, data: Mapping[str, Any]) -> None:
    """Change a leave type's names, flags, limits or entitlement rules."""
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}
    for name in LEAVE_TYPE_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if name in ("name_en", "name_ar"):
            value = str(value or "").strip()
            if not value or len(value) > 100:
                errors[name] = [_("Enter a name of 1 to 100 characters.")]
        elif name == "day_basis":
            if value not in ("working", "calendar"):
                errors[name] = [_("Choose working or calendar days.")]
        elif name == "accrual":
            if value not in ("none", "monthly"):
                errors[name] = [_("Choose no accrual or monthly accrual.")]
        elif name == "entitlement_rules":
            value = _clean_rules(value, errors)
        elif name == "carry_forward_expiry_months":
            if value in (None, ""):
                value = None
            else:
                try:
                    value = int(value)
                    if not 1 <= value <= 11:
                        raise ValueError
                except (TypeError, ValueError):
                    errors[name] = [_("Enter a number of months from 1 to 11, or leave it empty.")]
        elif name in _OPTIONAL_DAYS:
            if value in (None, ""):
                value = None
            else:
                try:
                    value = to_days(value)
                    if value < 0:
                        raise ValueError
                except (ArithmeticError, ValueError):
                    errors[name] = [_("Enter a number of days, such as 2.5.")]
        else:
            value = bool(value)
        changes[name] = value
    if errors:
        raise ValidationError(errors)
    for name, value in changes.items():
        setattr(leave_type, name, value)
    session.flush()


def holidays_of(session: Session, year: int | None = None) -> list[PublicHoliday]:
    """Return the department's public holidays in date order (of `year` when given)."""
    query = sa.select(PublicHoliday).order_by(PublicHoliday.day)
    if year is not None:
        query = query.where(PublicHoliday.day.between(date(year, 1, 1), date(year, 12, 31)))
    return list(session.scalars(query))


def save_holiday(
    session: Session, holiday: PublicHoliday | None, data: Mapping[str, Any]
) -> PublicHoliday:
    """Create (`holiday` None) or change a public holiday; one holiday a day."""
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    if holiday is None or "day" in data:
        day = _parse_date(data.get("day"), "day", errors)
        if day is not None:
            clash = session.scalar(
                sa.select(PublicHoliday.id).where(
                    PublicHoliday.day == day, PublicHoliday.id != (holiday.id if holiday else 0)
                )
            )
            if clash:
                errors["day"] = [_("There is already a holiday on this day.")]
            values["day"] = day
    for name in ("name_en", "name_ar"):
        if holiday is None or name in data:
            value = str(data.get(name) or "").strip()
            if not value or len(value) > 100:
                errors[name] = [_("Enter a name of 1 to 100 characters.")]
            values[name] = value
    if errors:
        raise ValidationError(errors)
    if holiday is None:
        holiday = PublicHoliday(**values)
        session.add(holiday)
    else:
        for name, value in values.items():
            setattr(holiday, name, value)
    session.flush()
    return holiday


def set_working_week(session: Session, working_days: str) -> WorkingWeek:
    """Set the department's working weekdays ("1111100": Monday to Friday)."""
    if len(working_days) != 7 or set(working_days) - {"0", "1"} or "1" not in working_days:
        raise ValidationError({"working_days": [_("Choose at least one working day.")]})
    week = session.scalar(sa.select(WorkingWeek))
    if week is None:
        week = WorkingWeek()
        session.add(week)
    week.working_days = working_days
    session.flush()
    return week


# --------------------------------------------------------------------------- working days


def working_week(session: Session) -> str:
    """Return the department's working weekdays as "1111100" (Monday..Sunday)."""
    return session.scalar(sa.select(WorkingWeek.working_days)) or DEFAULT_WORKING_WEEK


def holidays_between(session: Session, start: date, end: date) -> set[date]:
    """Return the department's public holidays from `start` to `end` inclusive."""
    return set(
        session.scalars(sa.select(PublicHoliday.day).where(PublicHoliday.day.between(start, end)))
    )


def working_days(session: Session, start: date, end: date) -> int:
    """Count the working days from `start` to `end` inclusive (weekends, holidays excluded)."""
    if end < start:
        return 0
    week = working_week(session)
    holidays = holidays_between(session, start, end)
    count = 0
    day = start
    while day <= end:
        if week[day.weekday()] == "1" and day not in holidays:
            count += 1
        day += timedelta(days=1)
    return count


def counted_days(session: Session, leave_type: LeaveType, start: date, end: date) -> Decimal:
    """Return the days a leave of `leave_type` from `start` to `end` takes."""
    if leave_type.day_basis == "calendar":
        return to_days(max((end - start).days + 1, 0))
    return to_days(working_days(session, start, end))


# --------------------------------------------------------------------------- ledger


def _sum_of_days() -> sa.ColumnElement[Decimal]:
    """SUM of ledger days in SQL (of the stored hundredths), read back as days."""
    return sa.type_coerce(sa.func.coalesce(sa.func.sum(LeaveLedgerEntry.days), 0), Days())


def balance(
    session: Session, employee_id: int, leave_type_id: int, *, as_of: date | None = None
) -> Decimal:
    """Return the employee's balance of a leave type: the sum of its ledger entries."""
    query = sa.select(_sum_of_days()).where(
        LeaveLedgerEntry.employee_id == employee_id,
        LeaveLedgerEntry.leave_type_id == leave_type_id,
    )
    if as_of is not None:
        query = query.where(LeaveLedgerEntry.entry_date <= as_of)
    return session.scalar(query)


def pending_days(
    session: Session, employee_id: int, leave_type_id: int, *, exclude: int | None = None
) -> Decimal:
    """Return the days the employee's pending requests of a type ask for (held from the balance)."""
    query = sa.select(LeaveRequest.days).where(
        LeaveRequest.employee_id == employee_id,
        LeaveRequest.leave_type_id == leave_type_id,
        LeaveRequest.state == "pending",
    )
    if exclude is not None:
        query = query.where(LeaveRequest.id != exclude)
    return sum(session.scalars(query), ZERO)


@dataclass
class Balance:
    """An employee's standing in one leave type."""

    leave_type: LeaveType
    balance: Decimal
    pending: Decimal
    taken_this_year: Decimal

    @property
    def available(self) -> Decimal:
        return self.balance - self.pending


def balances(session: Session, employee: Employee, *, today: date | None = None) -> list[Balance]:
    """Return the employee's balance, held and taken days of every active leave type."""
    today = today or date.today()
    types = list(
        session.scalars(sa.select(LeaveType).where(LeaveType.is_active).order_by(LeaveType.id))
    )
    sums = dict(
        session.execute(
            sa.select(LeaveLedgerEntry.leave_type_id, _sum_of_days())
            .where(LeaveLedgerEntry.employee_id == employee.id)
            .group_by(LeaveLedgerEntry.leave_type_id)
        ).all()
    )
    return [
        Balance(
            leave_type=t,
            balance=sums.get(t.id, ZERO),
            pending=pending_days(session, employee.id, t.id),
            taken_this_year=days_in_year(session, employee.id, t.id, today.year),
        )
        for t in types
    ]


def days_in_year(
    session: Session, employee_id: int, leave_type_id: int, year: int, *, exclude: int | None = None
) -> Decimal:
    """Return the days of the employee's active requests of a type starting in `year`."""
    query = sa.select(LeaveRequest.days).where(
        LeaveRequest.employee_id == employee_id,
        LeaveRequest.leave_type_id == leave_type_id,
        LeaveRequest.state.in_(ACTIVE_STATES),
        LeaveRequest.start_date.between(date(year, 1, 1), date(year, 12, 31)),
    )
    if exclude is not None:
        query = query.where(LeaveRequest.id != exclude)
    return sum(session.scalars(query), ZERO)


def add_entry(
    session: Session,
    employee: Employee,
    leave_type: LeaveType,
    kind: str,
    days: Decimal,
    *,
    entry_date: date | None = None,
    period: str | None = None,
    request: LeaveRequest | None = None,
    note: str = "",
) -> LeaveLedgerEntry:
    """Add a ledger entry (`days` signed: negative takes days away)."""
    entry = LeaveLedgerEntry(
        employee_id=employee.id,
        leave_type_id=leave_type.id,
        kind=kind,
        days=to_days(days),
        entry_date=entry_date or date.today(),
        period=period,
        request_id=request.id if request is not None else None,
        note=note,
    )
    session.add(entry)
    session.flush()
    return entry


def adjust_balance(
    session: Session,
    employee: Employee,
    leave_type: LeaveType,
    days: Any,
    note: str,
    *,
    entry_date: date | None = None,
) -> LeaveLedgerEntry:
    """Record an HR correction of a balance (an opening balance, a correction)."""
    try:
        value = to_days(days)
    except ArithmeticError as exc:
        raise ValidationError({"days": [_("Enter a number of days, such as 2.5.")]}) from exc
    if not (note or "").strip():
        raise ValidationError({"note": [_("Say why the balance is adjusted.")]})
    return add_entry(
        session, employee, leave_type, "adjustment", value, entry_date=entry_date, note=note.strip()
    )


# --------------------------------------------------------------------------- accrual


def _months(first: date, last: date) -> Iterable[date]:
    month = first.replace(day=1)
    while month <= last:
        yield month
        month = (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def monthly_share(yearly: Decimal, month: int) -> Decimal:
    """Return month `month`'s accrual of `yearly` days so that the twelve add up exactly."""
    return to_days(yearly * month / 12) - to_days(yearly * (month - 1) / 12)


def _expire_above_cap(
    session: Session, employee: Employee, leave_type: LeaveType, year: int
) -> None:
    """Forfeit the days above the carry-forward cap left at the end of `year - 1`, once."""
    if leave_type.carry_forward_cap is None:
        return
    done = session.scalar(
        sa.select(LeaveLedgerEntry.id).where(
            LeaveLedgerEntry.employee_id == employee.id,
            LeaveLedgerEntry.leave_type_id == leave_type.id,
            LeaveLedgerEntry.kind == "expiry",
            LeaveLedgerEntry.period == str(year),
        )
    )
    if done:
        return
    left = balance(session, employee.id, leave_type.id, as_of=date(year - 1, 12, 31))
    if left > leave_type.carry_forward_cap:
        add_entry(
            session,
            employee,
            leave_type,
            "expiry",
            leave_type.carry_forward_cap - left,
            entry_date=date(year, 1, 1),
            period=str(year),
            note=f"above the carry-forward cap of {leave_type.carry_forward_cap}",
        )


def _expire_unused_carry_forward(
    session: Session, employee: Employee, leave_type: LeaveType, year: int
) -> None:
    """Forfeit the days carried into `year` not taken in its first N months, once.

    Leave taken early in the year uses the carried days first.
    """
    months = leave_type.carry_forward_expiry_months
    if not months:
        return
    period = f"{year}-CF"
    done = session.scalar(
        sa.select(LeaveLedgerEntry.id).where(
            LeaveLedgerEntry.employee_id == employee.id,
            LeaveLedgerEntry.leave_type_id == leave_type.id,
            LeaveLedgerEntry.kind == "expiry",
            LeaveLedgerEntry.period == period,
        )
    )
    if done:
        return
    carried = balance(session, employee.id, leave_type.id, as_of=date(year - 1, 12, 31))
    if leave_type.carry_forward_cap is not None:
        carried = min(carried, leave_type.carry_forward_cap)
    cutoff = date(year, months + 1, 1)
    used = -session.scalar(
        sa.select(_sum_of_days()).where(
            LeaveLedgerEntry.employee_id == employee.id,
            LeaveLedgerEntry.leave_type_id == leave_type.id,
            LeaveLedgerEntry.kind.in_(("taken", "reversal")),
            LeaveLedgerEntry.entry_date >= date(year, 1, 1),
            LeaveLedgerEntry.entry_date < cutoff,
        )
    )
    unused = carried - max(used, ZERO)
    if unused > 0:
        add_entry(
            session,
            employee,
            leave_type,
            "expiry",
            -unused,
            entry_date=cutoff,
            period=period,
            note=f"carried-forward days not taken within {months} months",
        )


def accrue_department(
    session: Session, today: date | None = None, *, employee_ids: Iterable[int] | None = None
) -> int:
    """Accrue monthly leave in the current department up to `today`'s month; return entries added.

    Safe to run twice (an entry per employee, type and month) and catches up
    missed months since each employee's last accrual. `employee_ids` limits it
    to those employees.
    """
    today = today or date.today()
    types = list(
        session.scalars(
            sa.select(LeaveType).where(LeaveType.is_active, LeaveType.accrual == "monthly")
        )
    )
    if not types:
        return 0
    query = (
        sa.select(Employee, Grade.number)
        .join(Grade, Employee.grade_id == Grade.id)
        .where(Employee.status == "active", Employee.hire_date <= today)
        .order_by(Employee.id)
    )
    if employee_ids is not None:
        query = query.where(Employee.id.in_(list(employee_ids)))
    employees = session.execute(query).all()
    added = 0
    # Accruals go in as multi-row INSERTs (no per-row flush): a department may have
    # tens of thousands of employees. The ledger itself is the record of them.
    rows: list[dict[str, Any]] = []
    for leave_type in types:
        last = dict(
            session.execute(
                sa.select(LeaveLedgerEntry.employee_id, sa.func.max(LeaveLedgerEntry.period))
                .where(
                    LeaveLedgerEntry.leave_type_id == leave_type.id,
                    LeaveLedgerEntry.kind == "accrual",
                )
                .group_by(LeaveLedgerEntry.employee_id)
            ).all()
        )
        for employee, grade_number in employees:
            yearly = leave_type.yearly_days(grade_number)
            if yearly <= 0:
                continue
            if employee.id in last:
                year, month = map(int, last[employee.id].split("-"))
                first = (date(year, month, 28) + timedelta(days=4)).replace(day=1)
            else:
                first = max(employee.hire_date.replace(day=1), date(today.year, 1, 1))
            for month in _months(first, today):
                if month.month == 1 or month == first:
                    # The year-end balance must include the months queued so far.
                    bulk_insert(session, LeaveLedgerEntry, rows)
                    rows = []
                    _expire_above_cap(session, employee, leave_type, month.year)
                if month.month == (leave_type.carry_forward_expiry_months or 0) + 1:
                    bulk_insert(session, LeaveLedgerEntry, rows)
                    rows = []
                    _expire_unused_carry_forward(session, employee, leave_type, month.year)
                rows.append(
                    {
                        "employee_id": employee.id,
                        "leave_type_id": leave_type.id,
                        "kind": "accrual",
                        "days": monthly_share(yearly, month.month),
                        "entry_date": month,
                        "period": month.strftime("%Y-%m"),
                        "note": "",
                    }
                )
                added += 1
                if len(rows) >= 1000:
                    bulk_insert(session, LeaveLedgerEntry, rows)
                    rows = []
    bulk_insert(session, LeaveLedgerEntry, rows)
    return added


def run_monthly_accrual() -> int:
    """Accrue leave in every department: the function the scheduler calls (it commits after)."""
    from grp.db import db
    from grp.models import Department
    from grp.tenancy import department_context

    session = db.session
    added = 0
    for department_id in list(session.scalars(sa.select(Department.id).order_by(Department.id))):
        with department_context(session, department_id):
            added += accrue_department(session)
            # Commit per department: department_context rolls back what is left unflushed.
            session.commit()
    return added


# --------------------------------------------------------------------------- payroll locks


def register_period_lock_check(app: Flask, check: PeriodLockCheck) -> None:
    """Register `check(session, employee, start, end) -> reason | None` (payroll implements it).

    A leave request touching a period some check reports locked is refused
    with that reason. By default nothing is locked.
    """
    app.extensions.setdefault(PERIOD_LOCK_KEY, []).append(check)


def locked_period_reason(
    session: Session, employee: Employee, start: date, end: date
) -> str | None:
    """Return why the span touches a locked payroll period, or None."""
    if not has_app_context():
        return None
    for check in current_app.extensions.get(PERIOD_LOCK_KEY, []):
        reason = check(session, employee, start, end)
        if reason:
            return reason
    return None


# --------------------------------------------------------------------------- requests


def _parse_date(value: Any, field: str, errors: dict[str, list[str]]) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value or ""))
    except ValueError:
        errors.setdefault(field, []).append(_("Enter a date as YYYY-MM-DD."))
        return None


def _check_request(
    session: Session,
    employee: Employee,
    leave_type: LeaveType,
    start: date,
    end: date,
    days: Decimal,
    has_document: bool,
    *,
    exclude: int | None = None,
) -> dict[str, list[str]]:
    """Return the reasons a request cannot be made (empty: it can)."""
    errors: dict[str, list[str]] = {}
    if days <= 0:
        errors["end_date"] = [_("These dates include no working day.")]
        return errors
    overlap = session.scalar(
        sa.select(LeaveRequest).where(
            LeaveRequest.employee_id == employee.id,
            LeaveRequest.state.in_(ACTIVE_STATES),
            LeaveRequest.start_date <= end,
            LeaveRequest.end_date >= start,
            LeaveRequest.id != (exclude or 0),
        )
    )
    if overlap is not None:
        errors["start_date"] = [
            _(
                "These dates overlap your %(state)s leave from %(start)s to %(end)s.",
                state=_("approved") if overlap.state == "approved" else _("pending"),
                start=overlap.start_date.isoformat(),
                end=overlap.end_date.isoformat(),
            )
        ]
    limits = not (leave_type.document_lifts_limits and has_document)
    per_request = leave_type.max_days_per_request
    if limits and per_request is not None and days > per_request:
        if leave_type.document_lifts_limits:
            message = _(
                "At most %(limit)s days of this leave may be requested at a time "
                "without a supporting document.",
                limit=per_request.normalize(),
            )
        else:
            message = _(
                "At most %(limit)s days of this leave may be requested at a time.",
                limit=per_request.normalize(),
            )
        errors.setdefault("end_date", []).append(message)
    if limits and leave_type.max_days_per_year is not None:
        used = days_in_year(session, employee.id, leave_type.id, start.year, exclude=exclude)
        if used + days > leave_type.max_days_per_year:
            errors.setdefault("days", []).append(
                _(
                    "At most %(limit)s days of this leave a year; %(used)s are already "
                    "requested or taken.",
                    limit=leave_type.max_days_per_year.normalize(),
                    used=used.normalize(),
                )
            )
    if leave_type.once_in_service:
        before = session.scalar(
            sa.select(LeaveRequest.id).where(
                LeaveRequest.employee_id == employee.id,
                LeaveRequest.leave_type_id == leave_type.id,
                LeaveRequest.state.in_(ACTIVE_STATES),
                LeaveRequest.id != (exclude or 0),
            )
        )
        if before:
            errors.setdefault("leave_type_id", []).append(
                _("This leave is granted once in service and was already requested.")
            )
    if leave_type.balance_limited:
        available = balance(session, employee.id, leave_type.id) - pending_days(
            session, employee.id, leave_type.id, exclude=exclude
        )
        if days > available:
            errors.setdefault("days", []).append(
                _(
                    "This request takes %(days)s days but only %(available)s are available.",
                    days=days.normalize(),
                    available=max(available, ZERO),
                )
            )
    reason = locked_period_reason(session, employee, start, end)
    if reason:
        errors.setdefault("start_date", []).append(
            _("These dates fall in a locked payroll period: %(reason)s", reason=reason)
        )
    return errors


def user_of(session: Session, employee: Employee) -> User | None:
    """Return the platform user who is `employee`, if any."""
    return session.get(User, employee.user_id) if employee.user_id else None


def create_leave_request(
    session: Session, employee: Employee, data: Mapping[str, Any], *, actor: User
) -> LeaveRequest:
    """Create a leave request for `employee` and send it for approval; return it.

    `data`: `leave_type_id`, `start_date`, `end_date`, optional `reason` and
    `has_document`. `actor` is the employee's user, or an HR officer entering
    it on their behalf (then the preparer, who may not approve it).
    """
    from grp.workflow.approvals import submit_for_approval
    from grp.workflow.approvals.errors import ApprovalError

    errors: dict[str, list[str]] = {}
    leave_type = None
    with contextlib.suppress(TypeError, ValueError):
        leave_type = session.get(LeaveType, int(data.get("leave_type_id") or 0))
    if leave_type is None or not leave_type.is_active:
        errors["leave_type_id"] = [_("Choose a leave type.")]
    start = _parse_date(data.get("start_date"), "start_date", errors)
    end = _parse_date(data.get("end_date"), "end_date", errors)
    if start and end and end < start:
        errors.setdefault("end_date", []).append(_("The leave cannot end before it starts."))
    if employee.status != "active":
        errors.setdefault("employee_id", []).append(_("Only an active employee may take leave."))
    requester = user_of(session, employee)
    if requester is None:
        errors.setdefault("employee_id", []).append(
            _("This employee has no user account, so the request cannot be routed for approval.")
        )
    if errors:
        raise ValidationError(errors)
    assert leave_type is not None and start is not None and end is not None
    assert requester is not None
    has_document = bool(data.get("has_document"))
    # Lock the employee so that two requests made at once cannot both fit the same balance.
    lock_employee(session, employee.id)
    days = counted_days(session, leave_type, start, end)
    errors = _check_request(session, employee, leave_type, start, end, days, has_document)
    if errors:
        raise ValidationError(errors)
    request = LeaveRequest(
        employee_id=employee.id,
        leave_type_id=leave_type.id,
        start_date=start,
        end_date=end,
        days=days,
        reason=str(data.get("reason") or "").strip()[:2000],
        has_document=has_document,
        state="pending",
        requested_by_id=actor.id,
    )
    session.add(request)
    session.flush()
    try:
        approval = submit_for_approval(
            session,
            document_type=DOCUMENT_TYPE,
            document_id=str(request.id),
            requester=requester,
            preparer=actor if actor.id != requester.id else None,
            attributes={"leave_type": leave_type.code, "days": str(days)},
            summary=f"{leave_type.name_en} {start.isoformat()} - {end.isoformat()} "
            f"({days.normalize()} days): {employee.name_en}",
        )
    except ApprovalError as exc:
        raise ValidationError({"leave_type_id": [str(exc)]}) from exc
    # The engine may approve at once (a policy with no applicable step and auto-approve):
    # then on_decided has run and set the state already.
    request.approval_request_id = approval.id
    session.flush()
    return request


def lock_employee(session: Session, employee_id: int) -> None:
    """Lock the employee's row until the transaction ends.

    PostgreSQL: SELECT ... FOR UPDATE; SQLite has no row locks but serialises writers.
    """
    session.execute(
        sa.select(Employee.id).where(Employee.id == employee_id).with_for_update()
    ).all()


def leave_decided(session: Session, approval: Any) -> None:
    """Apply the approval engine's final decision on a leave request (its `on_decided`)."""
    request = session.get(LeaveRequest, int(approval.document_id))
    if request is None or request.state != "pending":
        return
    request.decided_at = utcnow()
    if approval.state == "approved":
        lock_employee(session, request.employee_id)
        leave_type = request.leave_type
        if leave_type.balance_limited:
            # Read afresh under the lock: a concurrent approval may have just taken days.
            left = balance(session, request.employee_id, leave_type.id)
            if request.days > left:
                raise ValidationError(
                    {
                        "days": [
                            _(
                                "The balance no longer covers this request: %(days)s days "
                                "asked, %(left)s left.",
                                days=request.days.normalize(),
                                left=left,
                            )
                        ]
                    }
                )
        request.state = "approved"
        add_entry(
            session,
            request.employee,
            leave_type,
            "taken",
            -request.days,
            entry_date=request.start_date,
            request=request,
        )
    elif approval.state == "rejected":
        request.state = "rejected"
        request.decision_comment = _last_comment(approval)
    else:
        request.state = "cancelled"
    session.flush()
    if request.state in ("approved", "rejected"):
        _notify_employee(session, request)


def _last_comment(approval: Any) -> str:
    comments = [h for h in approval.history if h.comment]
    return max(comments, key=lambda h: (h.at, h.id)).comment if comments else ""


def _notify_employee(session: Session, request: LeaveRequest) -> None:
    from grp.workflow.notifications import notify

    user = user_of(session, request.employee)
    if user is None:
        return
    notify(
        session,
        recipient=user,
        event="leave.decided",
        context={
            "approved": request.state == "approved",
            "leave_type": request.leave_type.name_en,
            "start": request.start_date.isoformat(),
            "end": request.end_date.isoformat(),
            "comment": request.decision_comment,
        },
        link=f"/hr/leave/requests/{request.id}",
    )


def cancel_leave_request(
    session: Session,
    request: LeaveRequest,
    *,
    actor: User,
    is_hr: bool,
    today: date | None = None,
) -> LeaveRequest:
    """Cancel a pending or approved request; approved days go back to the balance.

    The employee may cancel before the leave starts; HR at any time.
    """
    from grp.workflow.approvals import cancel_approval
    from grp.workflow.approvals.models import ApprovalRequest

    today = today or date.today()
    if request.state not in ACTIVE_STATES:
        raise ValidationError(
            {"state": [_("Only a pending or approved request can be cancelled.")]}
        )
    if not is_hr and request.start_date <= today:
        raise ValidationError(
            {"start_date": [_("A leave that has started can only be cancelled by HR.")]}
        )
    if request.state == "pending":
        approval = (
            session.get(ApprovalRequest, request.approval_request_id)
            if request.approval_request_id
            else None
        )
        if approval is not None and approval.state == "pending":
            # The module withdraws it (actor None): HR is not a maker of the approval.
            cancel_approval(session, approval, actor=None, comment=f"cancelled by {actor.name}")
        request.state = "cancelled"
    else:
        lock_employee(session, request.employee_id)
        add_entry(
            session,
            request.employee,
            request.leave_type,
            "reversal",
            request.days,
            entry_date=today,
            request=request,
            note=f"cancelled by {actor.name}",
        )
        request.state = "cancelled"
    session.flush()
    return request


def unpaid_leave_days(session: Session, employee_id: int, start: date, end: date) -> Decimal:
    """Return the employee's approved unpaid leave days from `start` to `end` (for payroll).

    A leave crossing the period's edges counts only its days inside the
    period, by its type's counting basis.
    """
    leaves = session.scalars(
        sa.select(LeaveRequest)
        .join(LeaveType, LeaveType.id == LeaveRequest.leave_type_id)
        .where(
            LeaveRequest.employee_id == employee_id,
            LeaveRequest.state == "approved",
            LeaveType.paid.is_(False),
            LeaveRequest.start_date <= end,
            LeaveRequest.end_date >= start,
        )
    )
    return sum(
        (
            counted_days(
                session, item.leave_type, max(item.start_date, start), min(item.end_date, end)
            )
            for item in leaves
        ),
        ZERO,
    )


def resolve_manager(session: Session, user: User) -> User | None:
    """Return the user of `user`'s manager, walking up past managers without an account.

    The approval engine's manager resolver: the org chart is HR's employee records.
    """
    employee = session.scalar(sa.select(Employee).where(Employee.user_id == user.id))
    seen: set[int] = set()
    while employee is not None and employee.manager_id and employee.manager_id not in seen:
        seen.add(employee.id)
        manager = session.get(Employee, employee.manager_id)
        if manager is None:
            return None
        if manager.user_id and manager.status == "active":
            found = session.get(User, manager.user_id)
            if found is not None and found.is_active:
                return found
        employee = manager
    return None
