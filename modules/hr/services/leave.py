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
* Year end (`carry_forward_department`, the scheduled job on 1 January and
  `grp hr carry-forward --year Y`; the first accrual of a year does the same):
  each balance-limited or accruing type's balance at 31 December of Y-1 is
  closed by an "expiry" entry and the part up to the type's cap is carried by a
  "carry_forward" entry, both dated 1 January of Y with period "Y", once per
  employee and type. Negative or zero balances stay as they are.
* Public holidays are data per year; `copy_holidays` starts a new year from an
  earlier one: fixed-date holidays on the same day, Hijri ones moved by whole
  Hijri years (354.367 days) and flagged "to confirm" until an officer does.
* A leave type whose supporting document lifts its limits (sick leave beyond 2
  working days at a time or 6 a year) needs an attached document (a medical
  report uploaded with the request, checked like every HR document); without
  one the request is refused with the reason.
"""

from __future__ import annotations

import contextlib
import re
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
from modules.hr.models import Employee, EmployeeDocument, Grade
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
from modules.hr.services.values import local_today

DOCUMENT_TYPE = "hr.leave_request"
PERIOD_LOCK_KEY = "hr.leave.period_lock_checks"
ZERO = Decimal("0.00")
#: Employee ids per IN list of the bulk reads for payroll.
_IN_CHUNK = 1000

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

#: Default holidays that follow the Hijri calendar (they move about 11 days a year).
HIJRI_HOLIDAYS = frozenset(
    {"Eid al-Fitr", "Arafat Day", "Eid al-Adha", "Hijri New Year", "Prophet's Birthday"}
)
#: Mean length of a Hijri year in days.
HIJRI_YEAR_DAYS = 354.367

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
    existing_days = {h.day: h for h in session.scalars(sa.select(PublicHoliday))}
    for holidays in DEFAULT_HOLIDAYS.values():
        for day, name_en, name_ar in holidays:
            hijri = name_en in HIJRI_HOLIDAYS
            found = existing_days.get(day)
            if found is None:
                session.add(PublicHoliday(day=day, name_en=name_en, name_ar=name_ar, hijri=hijri))
                created = True
            elif hijri and not found.hijri and found.name_en == name_en:
                found.hijri = True  # seeded before holidays carried the flag
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


def _clean_leave_type(
    data: Mapping[str, Any], *, creating: bool
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Check a leave type's fields present in `data` (all names required when `creating`)."""
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}
    for name in LEAVE_TYPE_FIELDS:
        if name not in data:
            if creating and name in ("name_en", "name_ar"):
                errors[name] = [_("Enter a name of 1 to 100 characters.")]
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
    return changes, errors


def update_leave_type(session: Session, leave_type: LeaveType, data: Mapping[str, Any]) -> None:
    """Change a leave type's names, flags, limits or entitlement rules."""
    changes, errors = _clean_leave_type(data, creating=False)
    if errors:
        raise ValidationError(errors)
    for name, value in changes.items():
        setattr(leave_type, name, value)
    session.flush()


LEAVE_TYPE_CODE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


def create_leave_type(session: Session, data: Mapping[str, Any]) -> LeaveType:
    """Create a leave type: a new `code` (fixed afterwards) and the editable fields.

    Fields not given take the defaults: paid, working days, no balance limit,
    no accrual, no limits, active.
    """
    changes, errors = _clean_leave_type(data, creating=True)
    code = str(data.get("code") or "").strip().lower()
    if not LEAVE_TYPE_CODE.match(code):
        errors["code"] = [
            _("Use 2 to 32 small letters, digits or underscores, starting with a letter.")
        ]
    elif session.scalar(sa.select(LeaveType.id).where(LeaveType.code == code)) is not None:
        errors["code"] = [_("Another leave type has this code.")]
    if errors:
        raise ValidationError(errors)
    leave_type = LeaveType(code=code, **{"entitlement_rules": [], **changes})
    session.add(leave_type)
    session.flush()
    return leave_type


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
    if "hijri" in data and data["hijri"] is not None:
        values["hijri"] = bool(data["hijri"])
    if "to_confirm" in data and data["to_confirm"] is not None:
        values["to_confirm"] = bool(data["to_confirm"])
    elif holiday is not None and "day" in values:
        values["to_confirm"] = False  # an officer setting the date confirms it
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


def _next_hijri_date(day: date, year: int) -> date | None:
    """Return the day a Hijri-dated holiday on `day` falls on in `year` (an estimate)."""
    start = date(year, 1, 1)
    years = int((start - day).days // HIJRI_YEAR_DAYS)
    for k in range(years - 1, years + 3):
        moved = day + timedelta(days=round(k * HIJRI_YEAR_DAYS))
        if moved.year == year:
            return moved
    return None


def copy_holidays(session: Session, from_year: Any, to_year: Any) -> list[PublicHoliday]:
    """Start `to_year`'s calendar from `from_year`'s holidays; return the ones added.

    Fixed-date holidays keep their day and month; Hijri ones move by whole
    Hijri years and are flagged `to_confirm` for an officer to check against
    the moon sighting. Days `to_year` already has a holiday on are skipped.
    """
    errors: dict[str, list[str]] = {}
    years: dict[str, int] = {}
    for name, value in (("from_year", from_year), ("to_year", to_year)):
        try:
            years[name] = int(value)
            if not 2000 <= years[name] <= 2100:
                raise ValueError
        except (TypeError, ValueError):
            errors[name] = [_("Enter a year from 2000 to 2100.")]
    if not errors and years["from_year"] == years["to_year"]:
        errors["to_year"] = [_("Choose another year than the one copied.")]
    source = holidays_of(session, years["from_year"]) if "from_year" in years else []
    if "from_year" in years and not source:
        errors["from_year"] = [
            _("%(year)s has no public holidays to copy.", year=years["from_year"])
        ]
    if errors:
        raise ValidationError(errors)
    target = years["to_year"]
    taken = {h.day for h in holidays_of(session, target)}
    added = []
    for holiday in source:
        if holiday.hijri:
            day = _next_hijri_date(holiday.day, target)
        else:
            try:
                day = holiday.day.replace(year=target)
            except ValueError:  # 29 February
                day = None
        if day is None or day in taken:
            continue
        taken.add(day)
        copy = PublicHoliday(
            day=day,
            name_en=holiday.name_en,
            name_ar=holiday.name_ar,
            hijri=holiday.hijri,
            to_confirm=holiday.hijri,
        )
        session.add(copy)
        added.append(copy)
    session.flush()
    return added


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
    return _count_working_days(
        working_week(session), holidays_between(session, start, end), start, end
    )


def _count_working_days(week: str, holidays: set[date], start: date, end: date) -> int:
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


def add_balance_adjustment(
    session: Session, employee: Employee, data: Mapping[str, Any]
) -> LeaveLedgerEntry:
    """Record an HR adjustment from form or API input: `leave_type_id`, `days`, `note`, date.

    `days` is signed (negative takes days away) and not zero; `note` says why;
    `entry_date` defaults to today. Raises ValidationError naming the field.
    """
    errors: dict[str, list[str]] = {}
    leave_type = None
    with contextlib.suppress(TypeError, ValueError):
        leave_type = session.get(LeaveType, int(data.get("leave_type_id") or 0))
    if leave_type is None:
        errors["leave_type_id"] = [_("Choose a leave type.")]
    try:
        days = to_days(data.get("days"))
        if days == 0:
            errors["days"] = [_("Enter a number of days other than 0, such as 2.5 or -1.")]
    except (ArithmeticError, ValueError, TypeError):
        errors["days"] = [_("Enter a number of days, such as 2.5.")]
        days = ZERO
    note = str(data.get("note") or "").strip()
    if not note:
        errors["note"] = [_("Say why the balance is adjusted.")]
    elif len(note) > 500:
        errors["note"] = [_("Use at most %(num)d characters.", num=500)]
    entry_date = None
    if data.get("entry_date") not in (None, ""):
        entry_date = _parse_date(data.get("entry_date"), "entry_date", errors)
    if errors:
        raise ValidationError(errors)
    assert leave_type is not None
    lock_employee(session, employee.id)
    return adjust_balance(session, employee, leave_type, days, note, entry_date=entry_date)


def ledger_entries(
    session: Session, employee: Employee, *, limit: int = 200
) -> list[LeaveLedgerEntry]:
    """Return the employee's latest ledger entries, newest first."""
    return list(
        session.scalars(
            sa.select(LeaveLedgerEntry)
            .where(LeaveLedgerEntry.employee_id == employee.id)
            .order_by(LeaveLedgerEntry.entry_date.desc(), LeaveLedgerEntry.id.desc())
            .limit(limit)
        )
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


def _carries_forward(leave_type: LeaveType) -> bool:
    """Tell whether a type's balance is carried into the next year (it has one that matters)."""
    return leave_type.balance_limited or leave_type.accrual == "monthly"


def carry_forward_department(
    session: Session,
    year: int,
    *,
    employee_ids: Iterable[int] | None = None,
    leave_types: Iterable[LeaveType] | None = None,
) -> int:
    """Carry the balances at the end of `year - 1` into `year`, capped; return entries added.

    For each employee (not terminated) and each balance-limited or accruing
    type: an "expiry" entry closes the year's balance and a "carry_forward"
    entry brings back up to the type's `carry_forward_cap` (all of it without a
    cap), both dated 1 January `year`, period "`year`". Once per employee, type
    and year: a second run, or the year's first accrual after it, adds nothing.
    Balances of 0 or less are left as they are. Bulk: two queries per type.
    """
    if leave_types is None:
        leave_types = session.scalars(sa.select(LeaveType).where(LeaveType.is_active))
    types = [t for t in leave_types if _carries_forward(t)]
    close = date(year - 1, 12, 31)
    first_day = date(year, 1, 1)
    period = str(year)
    ids = list(employee_ids) if employee_ids is not None else None
    rows: list[dict[str, Any]] = []
    for leave_type in types:
        query = (
            sa.select(LeaveLedgerEntry.employee_id, _sum_of_days())
            .join(Employee, Employee.id == LeaveLedgerEntry.employee_id)
            .where(
                LeaveLedgerEntry.leave_type_id == leave_type.id,
                LeaveLedgerEntry.entry_date <= close,
                Employee.status != "terminated",
            )
            .group_by(LeaveLedgerEntry.employee_id)
        )
        done_query = sa.select(LeaveLedgerEntry.employee_id).where(
            LeaveLedgerEntry.leave_type_id == leave_type.id,
            LeaveLedgerEntry.kind.in_(("carry_forward", "expiry")),
            LeaveLedgerEntry.period == period,
        )
        if ids is not None:
            query = query.where(LeaveLedgerEntry.employee_id.in_(ids))
            done_query = done_query.where(LeaveLedgerEntry.employee_id.in_(ids))
        done = set(session.scalars(done_query))
        cap = leave_type.carry_forward_cap
        for employee_id, left in session.execute(query).all():
            if employee_id in done or left <= 0:
                continue
            carried = min(left, cap) if cap is not None else left
            common = {
                "employee_id": employee_id,
                "leave_type_id": leave_type.id,
                "entry_date": first_day,
                "period": period,
            }
            rows.append(
                {**common, "kind": "expiry", "days": -left, "note": f"balance of {year - 1} closed"}
            )
            note = f"carried into {year}" + (f" (cap {cap.normalize()})" if cap is not None else "")
            rows.append({**common, "kind": "carry_forward", "days": carried, "note": note})
    for start in range(0, len(rows), 1000):
        bulk_insert(session, LeaveLedgerEntry, rows[start : start + 1000])
    return len(rows)


def run_carry_forward(year: int | None = None) -> int:
    """Carry balances into `year` (default: this year) in every department: the scheduled job."""
    from grp.audit import set_actor
    from grp.db import db
    from grp.models import Department
    from grp.tenancy import department_context

    year = year or local_today().year
    session = db.session
    set_actor(session, None, "job:hr-carry-forward")
    added = 0
    for department_id in list(session.scalars(sa.select(Department.id).order_by(Department.id))):
        with department_context(session, department_id):
            added += carry_forward_department(session, year)
            session.commit()
    return added


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
                    carry_forward_department(
                        session, month.year, employee_ids=[employee.id], leave_types=[leave_type]
                    )
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
    `document_id` (a document of the employee supporting the request, such as
    a medical report: it lifts the limits of types whose document does).
    `actor` is the employee's user, or an HR officer entering it on their
    behalf (then the preparer, who may not approve it).
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
    document = None
    if data.get("document_id") not in (None, ""):
        with contextlib.suppress(TypeError, ValueError):
            document = session.scalar(
                sa.select(EmployeeDocument).where(
                    EmployeeDocument.id == int(data["document_id"]),
                    EmployeeDocument.employee_id == employee.id,
                )
            )
        if document is None:
            errors["document_id"] = [_("Choose a document of this employee.")]
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
    has_document = document is not None
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
        document_id=document.id if document is not None else None,
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

    The employee may cancel before the leave starts (in Dubai's calendar: a server in UTC
    is still on the day before until 04:00 there); HR at any time.
    """
    from grp.workflow.approvals import cancel_approval
    from grp.workflow.approvals.models import ApprovalRequest

    today = today or local_today()
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


def employees_on_unpaid_leave(session: Session, start: date, end: date) -> set[int]:
    """Return the ids of the employees with approved unpaid leave in `start`..`end` (for payroll).

    One query for the department: few employees take unpaid leave, so payroll
    counts the days (`unpaid_leave_days_by_employee`) of those only.
    """
    return set(
        session.scalars(
            sa.select(LeaveRequest.employee_id)
            .join(LeaveType, LeaveType.id == LeaveRequest.leave_type_id)
            .where(
                LeaveRequest.state == "approved",
                LeaveType.paid.is_(False),
                LeaveRequest.start_date <= end,
                LeaveRequest.end_date >= start,
            )
            .distinct()
        )
    )


def unpaid_leave_days_by_employee(
    session: Session, periods: Mapping[int, tuple[date, date]]
) -> dict[int, Decimal]:
    """Return each employee's approved unpaid leave days inside their own period (for payroll).

    `periods` maps employee ids to their (first, last) day, both included.
    Every employee of `periods` is in the result (zero without unpaid leave,
    or when last < first). Counted as `unpaid_leave_days` counts them: a leave
    crossing the period's edges counts only its days inside, by its type's
    counting basis. One query for the leave per thousand employees, and at
    most one for the working week and one for the public holidays of the
    whole span, never one per employee.
    """
    found = {employee_id: ZERO for employee_id in periods}
    wanted = {employee_id: span for employee_id, span in periods.items() if span[1] >= span[0]}
    if not wanted:
        return found
    span_start = min(first for first, _last in wanted.values())
    span_end = max(last for _first, last in wanted.values())
    ids = sorted(wanted)
    leaves = []
    for offset in range(0, len(ids), _IN_CHUNK):
        leaves.extend(
            session.execute(
                sa.select(
                    LeaveRequest.employee_id,
                    LeaveRequest.start_date,
                    LeaveRequest.end_date,
                    LeaveType.day_basis,
                )
                .join(LeaveType, LeaveType.id == LeaveRequest.leave_type_id)
                .where(
                    LeaveRequest.employee_id.in_(ids[offset : offset + _IN_CHUNK]),
                    LeaveRequest.state == "approved",
                    LeaveType.paid.is_(False),
                    LeaveRequest.start_date <= span_end,
                    LeaveRequest.end_date >= span_start,
                )
                .order_by(LeaveRequest.employee_id, LeaveRequest.start_date)
            ).all()
        )
    calendar: tuple[str, set[date]] | None = None  # read once, and only if needed
    for employee_id, leave_start, leave_end, day_basis in leaves:
        first, last = wanted[employee_id]
        start, end = max(leave_start, first), min(leave_end, last)
        if end < start:
            continue  # inside the whole span, outside this employee's period
        if day_basis == "calendar":
            days = to_days((end - start).days + 1)
        else:
            if calendar is None:
                calendar = (working_week(session), holidays_between(session, span_start, span_end))
            days = to_days(_count_working_days(*calendar, start, end))
        found[employee_id] += days
    return found


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
