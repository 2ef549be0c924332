"""What a run pays besides the rules: one-off inputs, loans, HR's unpaid leave and settlements.

* An input (`PayrollInput`) is an amount of one employee's month for a
  component with an "input" rule: overtime, another earning or deduction, a
  one-off loan recovery. It is entered on a page, through the API or imported
  from CSV/XLSX (`employee_no, component, amount, note`; a dry run reports
  every bad row with its line number; nothing is stored from a file with
  errors unless the valid rows are asked for).
* A loan (`PayrollLoan`) yields its instalment each month from its first
  period (the line says "instalment 3 of 10" and the balance left); in the
  leaving month of the employee the whole remaining balance is deducted.
* A leaver's end-of-service settlement (HR's `settlements_in_period`) is paid
  as the lines `gratuity` and `leave_encashment` of the month of the last
  working day.
* Once the regular run of a month is approved (posted, paid) the month is
  locked: its inputs cannot change (`InputsLocked`), and HR refuses leave
  requests touching it (`payroll_period_lock`, registered with HR at start-up).

Everything a run needs is read per chunk of employees in one query per kind.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from grp.errors import ValidationError
from grp.imports import DEFAULT_MAX_ROWS, read_rows
from grp.imports import ImportFileError as ImportFileError  # raised by read_rows; callers catch it
from grp.models import User
from grp.money import round_money
from modules.hr.services import (
    employee_ids_by_number,
    employees_on_unpaid_leave,
    existing_employee_ids,
)
from modules.hr.services.values import Invalid, as_money, as_text
from modules.payroll.calculation import InputAmount, days_in_month
from modules.payroll.i18n import _
from modules.payroll.models import (
    LOCKED_STATES,
    PayComponent,
    PayrollInput,
    PayrollLoan,
    PayrollRun,
    PayRule,
)
from modules.payroll.services.defaults import GRATUITY, LEAVE_ENCASHMENT, LOAN, SETTLEMENT_CODES

IMPORT_COLUMNS = ("employee_no", "component", "amount", "note")
REQUIRED_COLUMNS = ("employee_no", "component", "amount")
IMPORT_MODES = ("dry_run", "all", "valid_rows")
MAX_INSTALMENTS = 600  # 50 years of months: anything longer is a typing error


class InputsLocked(RuntimeError):
    """The month's regular run is approved: its inputs cannot change (API 409)."""


# --------------------------------------------------------------------------- periods and locks


def month_of(value: Any, field_name: str = "period") -> date:
    """Return the 1st of the month named by "YYYY-MM" (or a date); ValidationError otherwise."""
    if isinstance(value, date):
        return value.replace(day=1)
    text = str(value or "").strip()
    try:
        year_text, month_text = text.split("-")[:2]
        if len(year_text) != 4:
            raise ValueError(text)
        return date(int(year_text), int(month_text), 1)
    except ValueError:
        raise ValidationError({field_name: [_("A month such as 2026-11.")]}) from None


def _months(start: date, end: date) -> list[date]:
    months, month = [], start.replace(day=1)
    while month <= end:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def locked_months(session: Session, months: Iterable[date]) -> list[date]:
    """Return those of `months` whose regular run is approved, posted or paid."""
    wanted = sorted(set(months))
    if not wanted:
        return []
    return list(
        session.scalars(
            sa.select(PayrollRun.period)
            .where(
                PayrollRun.period.in_(wanted),
                PayrollRun.sequence == 0,
                PayrollRun.state.in_(LOCKED_STATES),
            )
            .order_by(PayrollRun.period)
        )
    )


def payroll_period_lock(session: Session, employee: Any, start: date, end: date) -> str | None:
    """Return why `start`..`end` touches a locked payroll month, or None (HR's lock check).

    The lock is the department's: once a month's regular run is approved,
    leave changing that month's pay would need an adjustment run instead.
    """
    locked = locked_months(session, _months(start, end))
    if not locked:
        return None
    months = ", ".join(month.strftime("%Y-%m") for month in locked)
    return _("the payroll of %(months)s is approved.", months=months)


def _refuse_if_locked(session: Session, period: date) -> None:
    if locked_months(session, [period]):
        month = period.strftime("%Y-%m")
        raise InputsLocked(
            _(
                "The payroll of %(month)s is approved; its inputs can no longer change. "
                "Enter the amount in a later month.",
                month=month,
            )
        )


# --------------------------------------------------------------------------- components


def input_components(session: Session) -> dict[str, PayComponent]:
    """Return the active components an officer may give one-off amounts for, by code.

    Those with an active "input" rule, except the settlement components
    (gratuity, leave encashment) that only HR's end of service feeds.
    """
    components = session.scalars(
        sa.select(PayComponent)
        .where(
            PayComponent.is_active.is_(True),
            PayComponent.id.in_(
                sa.select(PayRule.component_id).where(
                    PayRule.kind == "input", PayRule.is_active.is_(True)
                )
            ),
        )
        .order_by(PayComponent.display_order, PayComponent.code)
    )
    return {c.code: c for c in components if c.code not in SETTLEMENT_CODES}


# --------------------------------------------------------------------------- inputs


def list_inputs_query(period: date | None = None, employee_id: int | None = None) -> sa.Select:
    """Return the query of the department's inputs (a month's, an employee's), latest first."""
    query = sa.select(PayrollInput).order_by(
        PayrollInput.period.desc(), PayrollInput.employee_id, PayrollInput.id
    )
    if period is not None:
        query = query.where(PayrollInput.period == period)
    if employee_id is not None:
        query = query.where(PayrollInput.employee_id == employee_id)
    return query


def find_input(session: Session, input_id: int) -> PayrollInput | None:
    return session.scalar(sa.select(PayrollInput).where(PayrollInput.id == input_id))


@dataclass
class _CheckedInput:
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)


def _check_input(
    data: Mapping[str, Any],
    components: Mapping[str, PayComponent],
    employees: Mapping[str, int],
    employee_ids: set[int] | None = None,
) -> _CheckedInput:
    """Check one input's employee, component, amount and note (no period: the caller's).

    `employees` maps the employee numbers in use to ids (HR's `employee_ids_by_number`);
    `employee_ids`, when the input names the employee by id, are the ids that exist.
    """
    checked = _CheckedInput()
    employee_id = data.get("employee_id")
    number = as_text(data.get("employee_no"))
    if employee_id not in (None, "") and employee_ids is not None:
        try:
            employee_id = int(employee_id)
        except (TypeError, ValueError):
            employee_id = None
        if employee_id not in employee_ids:
            checked.add("employee_id", _("No such employee."))
        checked.values["employee_id"] = employee_id
    elif number is None:
        checked.add("employee_no", _("Enter the employee number."))
    elif number.upper() not in employees:
        checked.add("employee_no", _("No employee has the number %(number)s.", number=number))
    else:
        checked.values["employee_id"] = employees[number.upper()]
    code = (as_text(data.get("component")) or as_text(data.get("component_code")) or "").lower()
    if not code:
        checked.add("component", _("Enter the component code."))
    elif code not in components:
        checked.add(
            "component",
            _(
                "%(code)s is not an input component; use one of: %(choices)s.",
                code=code,
                choices=", ".join(components) or "—",
            ),
        )
    checked.values["component_code"] = code
    try:
        amount = as_money(data.get("amount"))
    except Invalid as exc:
        checked.add("amount", str(exc))
    else:
        if amount is None:
            checked.add("amount", _("Enter the amount."))
        elif amount <= 0:
            checked.add("amount", _("The amount must be above zero."))
        checked.values["amount"] = amount
    note = as_text(data.get("note")) or ""
    if len(note) > 500:
        checked.add("note", _("At most %(count)d characters.", count=500))
    checked.values["note"] = note
    return checked


def add_input(
    session: Session, data: Mapping[str, Any], *, actor: User | None, source: str = "manual"
) -> PayrollInput:
    """Validate and add one input: `period`, `employee_no` (or `employee_id`), `component`,
    `amount`, `note`.

    Raises ValidationError with the fields' messages, InputsLocked when the
    month's regular run is approved.
    """
    errors: dict[str, list[str]] = {}
    period = None
    try:
        period = month_of(data.get("period"))
    except ValidationError as exc:
        errors.update(exc.errors)
    components = input_components(session)
    employee_ids = None
    if data.get("employee_id") not in (None, ""):
        try:
            wanted = int(data["employee_id"])
        except (TypeError, ValueError):
            wanted = 0
        employee_ids = existing_employee_ids(session, [wanted])
        employees: dict[str, int] = {}
    else:
        employees = employee_ids_by_number(session, [as_text(data.get("employee_no")) or ""])
    checked = _check_input(data, components, employees, employee_ids)
    for name, messages in checked.errors.items():
        errors.setdefault(name, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    assert period is not None
    _refuse_if_locked(session, period)
    item = PayrollInput(
        period=period,
        source=source,
        created_by_id=actor.id if actor is not None else None,
        **checked.values,
    )
    session.add(item)
    session.flush()
    return item


def delete_input(session: Session, item: PayrollInput) -> None:
    """Remove an input of a month that is not locked (InputsLocked otherwise)."""
    _refuse_if_locked(session, item.period)
    session.delete(item)
    session.flush()


# --------------------------------------------------------------------------- import


@dataclass
class RowProblem:
    """A bad row: its line in the file and every field error."""

    line: int
    employee_no: str | None
    errors: dict[str, list[str]]


@dataclass
class InputImportReport:
    """What an input import found and did."""

    period: date
    rows: int = 0
    valid: int = 0
    stored: int = 0
    mode: str = "dry_run"
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def has_errors(self) -> bool:
        return bool(self.problems)


def read_input_rows(
    file_name: str, stream: IO[bytes], *, max_rows: int = DEFAULT_MAX_ROWS
) -> list[tuple[int, dict[str, Any]]]:
    """Return (line number, {column: value}) of each non-blank data row of a CSV or XLSX file."""
    return read_rows(
        file_name, stream, columns=IMPORT_COLUMNS, required=REQUIRED_COLUMNS, max_rows=max_rows
    )


def import_inputs(
    session: Session,
    period: Any,
    file_name: str,
    stream: IO[bytes],
    *,
    mode: str = "dry_run",
    actor: User | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> InputImportReport:
    """Check (and unless `mode` is "dry_run", store) a month's inputs from a CSV or XLSX file.

    Modes: "dry_run" stores nothing; "all" stores every row only when no row
    has errors; "valid_rows" stores the rows without errors. Raises
    ValidationError for a bad period, InputsLocked for a locked month,
    ImportFileError when the file itself cannot be read.
    """
    if mode not in IMPORT_MODES:
        raise ValueError(f"mode must be one of {IMPORT_MODES}")
    month = month_of(period)
    _refuse_if_locked(session, month)
    raw_rows = read_input_rows(file_name, stream, max_rows=max_rows)
    components = input_components(session)
    employees = employee_ids_by_number(
        session, (as_text(raw.get("employee_no")) or "" for _line, raw in raw_rows)
    )
    report = InputImportReport(period=month, rows=len(raw_rows), mode=mode)
    valid: list[dict[str, Any]] = []
    for line, raw in raw_rows:
        checked = _check_input(raw, components, employees)
        if checked.errors:
            number = as_text(raw.get("employee_no"))
            report.problems.append(RowProblem(line, number, checked.errors))
        else:
            valid.append(checked.values)
    report.valid = len(valid)
    if mode == "dry_run" or (mode == "all" and report.problems) or not valid:
        return report
    created_by = actor.id if actor is not None else None
    session.add_all(
        PayrollInput(period=month, source="import", created_by_id=created_by, **values)
        for values in valid
    )
    session.flush()
    report.stored = len(valid)
    return report


# --------------------------------------------------------------------------- loans


def list_loans_query(employee_id: int | None = None) -> sa.Select:
    """Return the query of the department's loans (an employee's), newest first."""
    query = sa.select(PayrollLoan).order_by(PayrollLoan.first_period.desc(), PayrollLoan.id.desc())
    if employee_id is not None:
        query = query.where(PayrollLoan.employee_id == employee_id)
    return query


def find_loan(session: Session, loan_id: int) -> PayrollLoan | None:
    return session.scalar(sa.select(PayrollLoan).where(PayrollLoan.id == loan_id))


def create_loan(session: Session, data: Mapping[str, Any], *, actor: User | None) -> PayrollLoan:
    """Validate and add a loan: `employee_no` (or `employee_id`), `principal`, `first_period`,
    and either `instalment` (the monthly amount) or `instalments` (their number).

    The number of instalments follows from the instalment (the last one is the
    rest); from a number, the instalment is the principal divided by it,
    rounded up to the fils. The first period must not be locked.
    """
    errors: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    employee_id: int | None = None
    if data.get("employee_id") not in (None, ""):
        wanted: int | None
        try:
            wanted = int(data["employee_id"])
        except (TypeError, ValueError):
            wanted = None
        if wanted is not None and existing_employee_ids(session, [wanted]):
            employee_id = wanted
        else:
            add("employee_id", _("No such employee."))
    else:
        number = as_text(data.get("employee_no"))
        if number is None:
            add("employee_no", _("Enter the employee number."))
        else:
            employee_id = employee_ids_by_number(session, [number]).get(number.upper())
            if employee_id is None:
                add("employee_no", _("No employee has the number %(number)s.", number=number))
    first_period = None
    try:
        first_period = month_of(data.get("first_period"), "first_period")
    except ValidationError as exc:
        errors.update(exc.errors)

    def money(name: str) -> Decimal | None:
        try:
            amount = as_money(data.get(name))
        except Invalid as exc:
            add(name, str(exc))
            return None
        if amount is not None and amount <= 0:
            add(name, _("The amount must be above zero."))
            return None
        return amount

    principal = money("principal")
    if principal is None and "principal" not in errors:
        add("principal", _("Enter the amount."))
    instalment = money("instalment")
    count = None
    if data.get("instalments") not in (None, ""):
        try:
            count = int(data["instalments"])
        except (TypeError, ValueError):
            count = 0
        if not 1 <= count <= MAX_INSTALMENTS:
            add("instalments", _("Between 1 and %(max)d instalments.", max=MAX_INSTALMENTS))
            count = None
    if instalment is None and count is None and not errors.keys() & {"instalment", "instalments"}:
        add("instalment", _("Enter the monthly instalment or the number of instalments."))
    if principal is not None and instalment is None and count is not None:
        instalment = (principal / count).quantize(Decimal("0.01"), rounding=ROUND_CEILING)
    if principal is not None and instalment is not None:
        if instalment > principal:
            add("instalment", _("The instalment cannot exceed the principal."))
        else:
            count = math.ceil(principal / instalment)
            if count > MAX_INSTALMENTS:
                add("instalment", _("Between 1 and %(max)d instalments.", max=MAX_INSTALMENTS))
    note = as_text(data.get("note")) or ""
    if len(note) > 500:
        add("note", _("At most %(count)d characters.", count=500))
    if errors:
        raise ValidationError(errors)
    assert employee_id is not None and first_period is not None and count is not None
    _refuse_if_locked(session, first_period)
    loan = PayrollLoan(
        employee_id=employee_id,
        principal=principal,
        instalment=instalment,
        instalment_count=count,
        first_period=first_period,
        note=note,
        created_by_id=actor.id if actor is not None else None,
    )
    session.add(loan)
    session.flush()
    return loan


# --------------------------------------------------------------------------- what a run pays


def _money_text(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _join(parts: list[InputAmount]) -> InputAmount:
    amount = sum((part.amount for part in parts), Decimal("0.00"))
    return InputAmount(amount, "; ".join(p.explanation for p in parts if p.explanation)[:500])


def month_inputs(
    session: Session,
    period: date,
    employee_ids: list[int],
    *,
    leavers: Mapping[int, Any] | None = None,
) -> dict[int, dict[str, InputAmount]]:
    """Return what the "input" components pay each of `employee_ids` in `period`, by code.

    One query for the inputs, one for the loans, of the chunk; `leavers`
    (HR settlements by employee id) add the gratuity and leave encashment and
    recover the rest of a loan in the leaving month.
    """
    found: dict[int, dict[str, list[InputAmount]]] = {}

    def add(employee_id: int, code: str, amount: Decimal, explanation: str) -> None:
        if amount > 0:
            found.setdefault(employee_id, {}).setdefault(code, []).append(
                InputAmount(amount, explanation)
            )

    if not employee_ids:
        return {}
    for item in session.scalars(
        sa.select(PayrollInput)
        .where(PayrollInput.period == period, PayrollInput.employee_id.in_(employee_ids))
        .order_by(PayrollInput.id)
    ):
        add(item.employee_id, item.component_code, item.amount, item.note)
    leavers = leavers or {}
    for loan in session.scalars(
        sa.select(PayrollLoan)
        .where(
            PayrollLoan.employee_id.in_(employee_ids),
            PayrollLoan.is_active.is_(True),
            PayrollLoan.first_period <= period,
        )
        .order_by(PayrollLoan.id)
    ):
        number = loan.instalment_number(period)
        if number > loan.instalment_count:
            continue
        if loan.employee_id in leavers and number < loan.instalment_count:
            amount = loan.balance_after(number - 1)
            text = (
                f"Loan {loan.id}: instalments {number} to {loan.instalment_count} of "
                f"{loan.instalment_count}, the remaining balance recovered on leaving"
            )
        else:
            amount = loan.amount_of(number)
            text = (
                f"Loan {loan.id}: instalment {number} of {loan.instalment_count}, "
                f"balance after {_money_text(loan.balance_after(number))}"
            )
        add(loan.employee_id, LOAN, amount, text)
    for employee_id in employee_ids:
        settlement = leavers.get(employee_id)
        if settlement is not None:
            for code, value in settlement_inputs(settlement).items():
                add(employee_id, code, value.amount, value.explanation)
    return {
        employee_id: {code: _join(parts) for code, parts in codes.items()}
        for employee_id, codes in found.items()
    }


def settlement_inputs(settlement: Any) -> dict[str, InputAmount]:
    """Return what a leaver's settlement pays: the gratuity and the leave encashment (if any).

    The explanations are stored on the payslip lines in English, like the
    lines' other working (the line names are bilingual).
    """
    last_day = settlement.last_working_day.isoformat()
    found = {}
    gratuity = round_money(settlement.gratuity)
    if gratuity > 0:
        found[GRATUITY] = InputAmount(
            gratuity, f"End-of-service gratuity, last working day {last_day}"
        )
    encashment = round_money(settlement.leave_encashment)
    if encashment > 0:
        days = f"{Decimal(settlement.leave_days).normalize():f}"
        found[LEAVE_ENCASHMENT] = InputAmount(
            encashment, f"{days} days of annual leave not taken, last working day {last_day}"
        )
    return found


def settlements_of(session: Session, start: date, end: date) -> dict[int, Any]:
    """Return HR's end-of-service settlements with a last working day in `start`..`end`.

    Empty while HR does not provide `settlements_in_period` (the module works
    without end of service).
    """
    from modules.hr import services as hr_services

    find = getattr(hr_services, "settlements_in_period", None)
    return dict(find(session, start, end)) if find is not None else {}


def on_unpaid_leave(session: Session, start: date, end: date) -> set[int]:
    """Return the employees with approved unpaid leave in `start`..`end`.

    One query for the department's month (HR's `employees_on_unpaid_leave`;
    few employees take unpaid leave): only their days are then counted.
    """
    return employees_on_unpaid_leave(session, start, end)


def month_end(period: date) -> date:
    return period + timedelta(days=days_in_month(period) - 1)
