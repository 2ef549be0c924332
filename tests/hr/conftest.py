"""Fixtures of the HR tests: default grades in POLICE and DM, valid employee data, factories."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from hr_data import contract_data, employee_data


@pytest.fixture
def hr_departments(departments: dict[str, Any], db_session: Any) -> dict[str, Any]:
    """POLICE and DM with the default grades, bands and allowance types."""
    from grp.tenancy import department_context
    from modules.hr.services.organisation import ensure_hr_defaults

    for code in ("POLICE", "DM"):
        with department_context(db_session, departments[code].id):
            ensure_hr_defaults(db_session)
            db_session.commit()
    return departments


@pytest.fixture
def in_department(db_session: Any, hr_departments: dict[str, Any]) -> Callable[..., Any]:
    """`with in_department("POLICE"):` acts for that department in the test's session."""
    from grp.tenancy import department_context

    @contextmanager
    def _in(code: str = "POLICE") -> Iterator[None]:
        with department_context(db_session, hr_departments[code].id):
            yield

    return _in


@pytest.fixture
def make_employee(db_session: Any, in_department: Callable[..., Any]) -> Callable[..., int]:
    """Create an employee (with a first contract unless `contract=None`); return its id."""
    from modules.hr.services.employees import create_employee

    counter = iter(range(1, 100_000))

    def _make(
        department: str = "POLICE",
        *,
        contract: dict[str, Any] | None | bool = True,
        **changes: Any,
    ) -> int:
        number = changes.pop("number", None) or next(counter)
        data = employee_data(number, **changes)
        with in_department(department):
            employee = create_employee(
                db_session,
                data,
                department_id=db_session.info["grp_department_id"],
                contract=contract_data() if contract is True else (contract or None),
            )
            db_session.commit()
            return employee.id

    return _make


@pytest.fixture
def today() -> date:
    return date.today()


@pytest.fixture
def leave_world(
    make_employee: Callable[..., int],
    create_user: Callable[..., Any],
    hr_departments: dict[str, Any],
    db_session: Any,
) -> Iterator[Any]:
    """A POLICE employee with a manager, an HR officer and the leave defaults (see leave_data)."""
    from leave_data import build_leave_world, open_balance

    from grp.tenancy import department_context

    world = build_leave_world(make_employee, create_user, hr_departments)
    with department_context(db_session, world.police.id):
        open_balance(world)
        yield world
