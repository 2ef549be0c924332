"""Bulk employee look-ups for other modules (payroll): records, ids by number, existence, names.

Each reads a whole batch in one query per `_IN_CHUNK` ids or numbers, never one
per employee, and only the columns the caller needs; queries are scoped to the
current department like every other.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from modules.hr.models import Employee

#: Values per IN list (well below every database's parameter limit).
_IN_CHUNK = 500


class EmployeeName(NamedTuple):
    """An employee's number and names, for lists and reports."""

    id: int
    employee_no: str
    name_en: str
    name_ar: str


def employee_ids_by_number(session: Session, numbers: Iterable[str | None]) -> dict[str, int]:
    """Return {employee_no: employee id} for those of `numbers` in the department.

    Numbers are compared like `find_employee_by_number` does (stripped, upper
    case); the keys are the stored numbers. Blank numbers are ignored, unknown
    ones left out.
    """
    wanted = sorted({number.strip().upper() for number in numbers if number})
    found: dict[str, int] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        for number, employee_id in session.execute(
            sa.select(Employee.employee_no, Employee.id).where(
                Employee.employee_no.in_(wanted[start : start + _IN_CHUNK])
            )
        ):
            found[number] = employee_id
    return found


def employees_by_id(session: Session, employee_ids: Iterable[int]) -> dict[int, Employee]:
    """Return the department's employee records among `employee_ids`, by id (to read).

    For a chunk of a payroll run: the records of all its employees in one query per
    `_IN_CHUNK` ids.
    """
    wanted = sorted(set(employee_ids))
    found: dict[int, Employee] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        query = sa.select(Employee).where(Employee.id.in_(wanted[start : start + _IN_CHUNK]))
        found.update((employee.id, employee) for employee in session.scalars(query))
    return found


def employee_number_of(employee_id: sa.ColumnElement[int]) -> sa.ScalarSelect[str]:
    """The employee number of `employee_id` (a column of another module's table), as a
    correlated subquery: for sorting that module's rows by employee number in SQL."""
    return sa.select(Employee.employee_no).where(Employee.id == employee_id).scalar_subquery()


def existing_employee_ids(session: Session, employee_ids: Iterable[int]) -> set[int]:
    """Return those of `employee_ids` that are employees of the department."""
    wanted = sorted(set(employee_ids))
    found: set[int] = set()
    for start in range(0, len(wanted), _IN_CHUNK):
        found.update(
            session.scalars(
                sa.select(Employee.id).where(Employee.id.in_(wanted[start : start + _IN_CHUNK]))
            )
        )
    return found


def employee_names(session: Session, employee_ids: Iterable[int]) -> list[EmployeeName]:
    """Return the number and names of those of `employee_ids` in the department.

    Ordered by employee number (by the database, in one query: meant for the
    short lists of a page or a report, such as a run's excluded employees).
    """
    wanted = sorted(set(employee_ids))
    if not wanted:
        return []
    return [
        EmployeeName(*row)
        for row in session.execute(
            sa.select(Employee.id, Employee.employee_no, Employee.name_en, Employee.name_ar)
            .where(Employee.id.in_(wanted))
            .order_by(Employee.employee_no)
        )
    ]
