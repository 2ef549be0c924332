"""Contract services: effective-dated versions, the band rule, and what payroll reads.

Payroll calls:

* `contract_in_force(session, employee, on_date)`: the version in force on a day;
* `contracts_in_period(session, start, end)`: every version overlapping a
  period (a month), streamed in chunks, for proration of joiners, leavers and
  mid-month salary changes;
* `contract_versions(session, employee_ids, start, end)`: the versions of a
  chunk of employees overlapping a span (retro pay's look-back);
* `contracts_changed_since(session, employee_ids, since)`: when each employee
  of a chunk last had a version created or changed, if at or after `since`;
* `pensionable_allowances(session)` (services.organisation): which allowance
  codes count towards the GPSSA contribution salary.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from grp.errors import ValidationError
from modules.hr.i18n import _
from modules.hr.models import ALLOWANCE_CODES, CONTRACT_TYPES, Contract, Employee, Grade
from modules.hr.services.values import FieldErrors, Invalid, as_date, as_int, as_money, format_money

#: Input fields of a contract version (API and form names).
CONTRACT_FIELDS = (
    "start_date",
    "end_date",
    "contract_type",
    "grade",
    "band",
    "basic_salary",
    *(f"{code}_allowance" for code in ALLOWANCE_CODES),
)
#: Contract types that must say when they end.
ENDING_TYPES = ("fixed_term", "temporary")
#: Employee ids per IN list of the bulk reads (well below every database's parameter limit).
_IN_CHUNK = 1000


def band_problem(grade: Grade, band: int, basic: Decimal) -> str | None:
    """Return why `basic` is outside the grade's band (the band shown), or None if inside."""
    pay_band = grade.band_range(band)
    if pay_band is None:
        return _("Grade %(grade)d has no band %(band)d.", grade=grade.number, band=band)
    if pay_band.contains(basic):
        return None
    return _(
        "Basic %(amount)s is outside grade %(grade)d band %(band)d (%(low)s–%(high)s).",
        amount=format_money(basic),
        grade=grade.number,
        band=band,
        low=format_money(pay_band.min_basic),
        high=format_money(pay_band.max_basic),
    )


def clean_contract(
    data: Mapping[str, Any], *, grade: Grade | None, band: int | None
) -> tuple[dict[str, Any], FieldErrors]:
    """Check a contract version's fields against `grade` and `band`; return values and errors.

    `grade`/`band` are the version's (None when the employee's grade is itself
    invalid: the band check is then skipped, the grade error is reported elsewhere).
    """
    errors = FieldErrors()
    values: dict[str, Any] = {}

    def read(reader: Any, name: str) -> Any:
        try:
            return reader(data.get(name))
        except Invalid as exc:
            errors.add(name, str(exc))
            return None

    contract_type = (str(data.get("contract_type") or "").strip().lower()) or "permanent"
    if contract_type not in CONTRACT_TYPES:
        errors.add(
            "contract_type", _("Choose one of: %(choices)s.", choices=", ".join(CONTRACT_TYPES))
        )
    values["contract_type"] = contract_type
    start, end = read(as_date, "start_date"), read(as_date, "end_date")
    if start is None and "start_date" not in errors:
        errors.add("start_date", _("This field is required."))
    if start is not None and end is not None and end < start:
        errors.add("end_date", _("The end date cannot be before the start date."))
    if end is None and contract_type in ENDING_TYPES and "end_date" not in errors:
        errors.add("end_date", _("A fixed-term or temporary contract needs an end date."))
    values["start_date"], values["end_date"] = start, end

    basic = read(as_money, "basic_salary")
    if basic is None and "basic_salary" not in errors:
        errors.add("basic_salary", _("This field is required."))
    elif basic is not None and basic <= 0:
        errors.add("basic_salary", _("The basic salary must be above zero."))
    elif basic is not None and grade is not None and band is not None:
        problem = band_problem(grade, band, basic)
        if problem:
            errors.add("basic_salary", problem)
    values["basic_salary"] = basic
    for code in ALLOWANCE_CODES:
        name = f"{code}_allowance"
        amount = read(as_money, name)
        if amount is not None and amount < 0:
            errors.add(name, _("An allowance cannot be negative."))
        values[name] = amount if amount is not None else Decimal("0.00")
    return values, errors


def contract_history(session: Session, employee: Employee | int) -> list[Contract]:
    """Return an employee's contract versions, newest first."""
    employee_id = employee if isinstance(employee, int) else employee.id
    return list(
        session.scalars(
            sa.select(Contract)
            .where(Contract.employee_id == employee_id)
            .order_by(Contract.start_date.desc())
        )
    )


def create_contract_version(
    session: Session, employee: Employee, data: Mapping[str, Any]
) -> Contract:
    """Add a contract version effective from `start_date`; the previous one ends the day before.

    A version must start after the latest one started (versions never
    overlap) and, for the first, not before the hire date. `grade` (number)
    and `band` default to the employee's; a version with another grade or
    band moves the employee to it (a promotion). The basic salary must lie in
    the band. Raises ValidationError.
    """
    from modules.hr.services.organisation import load_reference

    # Serialise concurrent versions of one employee (PostgreSQL row lock; no-op on SQLite).
    session.execute(
        sa.select(Employee.id).where(Employee.id == employee.id).with_for_update()
    ).all()
    errors = FieldErrors()
    reference = load_reference(session)
    grade_number = employee.grade.number
    band = employee.band
    try:
        grade_number = as_int(data.get("grade")) or grade_number
        band = as_int(data.get("band")) or band
    except Invalid as exc:
        errors.add("grade", str(exc))
    grade = reference.grades.get(grade_number)
    if grade is None:
        errors.add("grade", _("Choose a grade from 1 to 16."))
    elif grade.band_range(band) is None:
        errors.add(
            "band",
            _(
                "Grade %(grade)d has bands 1 to %(count)d.",
                grade=grade_number,
                count=len(grade.bands),
            ),
        )
        grade = None
    values, field_errors = clean_contract(data, grade=grade, band=band)
    for name, messages in field_errors.items():
        for message in messages:
            errors.add(name, message)
    start = values.get("start_date")
    history = contract_history(session, employee)
    latest = history[0] if history else None
    if start is not None:
        if latest is not None and start <= latest.start_date:
            errors.add(
                "start_date",
                _(
                    "Version %(version)d starts on %(date)s; a new version must start after it.",
                    version=latest.version,
                    date=latest.start_date.isoformat(),
                ),
            )
        elif latest is None and start < employee.hire_date:
            errors.add(
                "start_date",
                _(
                    "The first contract cannot start before the hire date (%(date)s).",
                    date=employee.hire_date.isoformat(),
                ),
            )
    if errors:
        raise ValidationError(dict(errors))
    if latest is not None and (latest.end_date is None or latest.end_date >= start):
        latest.end_date = start - timedelta(days=1)
    contract = Contract(
        employee_id=employee.id,
        version=(latest.version + 1) if latest else 1,
        grade_id=grade.id,
        band=band,
        **values,
    )
    session.add(contract)
    if (employee.grade_id, employee.band) != (grade.id, band):
        employee.grade_id, employee.band = grade.id, band
    session.flush()
    return contract


def contract_in_force(session: Session, employee: Employee | int, on_date: date) -> Contract | None:
    """Return the employee's contract version in force on `on_date`, or None.

    None before the first contract starts, after the last one ended, or in a
    gap between an ended fixed-term contract and the next one.
    """
    employee_id = employee if isinstance(employee, int) else employee.id
    return session.scalar(
        sa.select(Contract)
        .where(
            Contract.employee_id == employee_id,
            Contract.start_date <= on_date,
            sa.or_(Contract.end_date.is_(None), Contract.end_date >= on_date),
        )
        .order_by(Contract.start_date.desc())
        .limit(1)
    )


def contracts_in_period(
    session: Session, start: date, end: date, *, chunk_size: int = 1000
) -> Iterator[Contract]:
    """Yield every contract version overlapping `start`..`end`, by employee then start date.

    Streams in chunks of `chunk_size` (server-side cursor on PostgreSQL), so
    a department's payroll never loads every contract at once. An employee
    with a salary change in the period appears once per version.
    """
    query = (
        sa.select(Contract)
        .where(
            Contract.start_date <= end,
            sa.or_(Contract.end_date.is_(None), Contract.end_date >= start),
        )
        .order_by(Contract.employee_id, Contract.start_date)
        .execution_options(yield_per=chunk_size)
    )
    yield from session.scalars(query)


def _id_chunks(employee_ids: Iterable[int]) -> Iterator[list[int]]:
    wanted = sorted(set(employee_ids))
    for start in range(0, len(wanted), _IN_CHUNK):
        yield wanted[start : start + _IN_CHUNK]


def contract_versions(
    session: Session, employee_ids: Iterable[int], start: date, end: date
) -> dict[int, list[Contract]]:
    """Return the contract versions of `employee_ids` overlapping `start`..`end`, by employee.

    Each employee's versions come in start date order; an employee without one
    is left out. One query per thousand employees (callers pass a chunk).
    """
    found: dict[int, list[Contract]] = {}
    for chunk in _id_chunks(employee_ids):
        for contract in session.scalars(
            sa.select(Contract)
            .where(
                Contract.employee_id.in_(chunk),
                Contract.start_date <= end,
                sa.or_(Contract.end_date.is_(None), Contract.end_date >= start),
            )
            .order_by(Contract.employee_id, Contract.start_date)
        ):
            found.setdefault(contract.employee_id, []).append(contract)
    return found


def contracts_changed_since(
    session: Session, employee_ids: Iterable[int], since: datetime
) -> dict[int, datetime]:
    """Return when each of `employee_ids` last had a contract version changed, if since `since`.

    {employee_id: latest `updated_at` of their versions}, for the employees
    with a version created or changed at or after `since` only. One query per
    thousand employees.
    """
    found: dict[int, datetime] = {}
    for chunk in _id_chunks(employee_ids):
        for employee_id, at in session.execute(
            sa.select(Contract.employee_id, sa.func.max(Contract.updated_at))
            .where(Contract.employee_id.in_(chunk), Contract.updated_at >= since)
            .group_by(Contract.employee_id)
        ):
            found[employee_id] = at
    return found
