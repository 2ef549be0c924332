"""Fixtures of the payroll tests: HR departments with payroll defaults, employee factories."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

# The HR tests' valid employee and contract data (tests/hr/hr_data.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hr"))

from hr_data import contract_data, employee_data  # noqa: E402


@pytest.fixture
def payroll_departments(departments: dict[str, Any], db_session: Any) -> dict[str, Any]:
    """POLICE and DM with the HR defaults (grades, bands) and the payroll defaults."""
    from grp.tenancy import department_context
    from modules.hr.services.organisation import ensure_hr_defaults
    from modules.payroll.services import seed_payroll_defaults

    for code in ("POLICE", "DM"):
        with department_context(db_session, departments[code].id):
            ensure_hr_defaults(db_session)
            seed_payroll_defaults(db_session)
            db_session.commit()
    return departments


@pytest.fixture
def in_department(db_session: Any, payroll_departments: dict[str, Any]) -> Callable[..., Any]:
    """`with in_department("POLICE"):` acts for that department in the test's session."""
    from grp.tenancy import department_context

    @contextmanager
    def _in(code: str = "POLICE") -> Iterator[None]:
        with department_context(db_session, payroll_departments[code].id):
            yield

    return _in


@pytest.fixture
def make_employee(db_session: Any, in_department: Callable[..., Any]) -> Callable[..., int]:
    """Create an employee with a contract (`contract=` changes to the HR test contract)."""
    from modules.hr.services.employees import create_employee

    counter = iter(range(1, 100_000))

    def _make(
        department: str = "POLICE", *, contract: dict[str, Any] | None = None, **changes: Any
    ) -> int:
        number = changes.pop("number", None) or next(counter)
        data = employee_data(number, **changes)
        with in_department(department):
            employee = create_employee(
                db_session,
                data,
                department_id=db_session.info["grp_department_id"],
                contract=contract_data(**(contract or {})),
            )
            db_session.commit()
            return employee.id

    return _make
