"""Demo data: every department filled, valid identifiers and salaries, logins linked, idempotent."""

from __future__ import annotations

import sqlalchemy as sa

from grp.db import db
from grp.demo import load_demo_users
from grp.identifiers import parse_emirates_id, parse_uae_iban
from grp.models import Department, User
from grp.tenancy import department_context
from modules.hr import seed_demo
from modules.hr.demo import spread
from modules.hr.models import Contract, Employee, Grade, OrgUnit
from modules.hr.services.contracts import band_problem


def snapshot(session) -> dict[str, tuple[int, int, int]]:
    """(employees, contracts, org units) per department code."""
    result = {}
    for department in session.scalars(sa.select(Department).order_by(Department.code)).all():
        with department_context(session, department.id):
            result[department.code] = tuple(
                session.scalar(sa.select(sa.func.count()).select_from(model))
                for model in (Employee, Contract, OrgUnit)
            )
    return result


def test_spread_gives_every_department_its_share_and_the_demo_ones_their_logins():
    counts = spread(60, ["A", "B", "POLICE"], {"POLICE": 25})
    assert counts == {"A": 20, "B": 20, "POLICE": 25}
    assert spread(0, ["A"], {"A": 7}) == {"A": 0}


def test_seed_demo_fills_every_department_validly_and_runs_twice(app, departments):
    session = db.session
    load_demo_users(session)
    seed_demo(app, session, employees=100)
    session.commit()
    first = snapshot(session)
    assert len(first) == 25
    assert all(employees >= 4 and units == 10 for employees, _, units in first.values())
    assert sum(employees for employees, _, _ in first.values()) == 100 + 3 + 3  # 7 logins each
    nationalities: set[str] = set()
    grades_seen: set[int] = set()
    for department in session.scalars(sa.select(Department)).all():
        with department_context(session, department.id):
            grades = {g.id: g for g in session.scalars(sa.select(Grade))}
            for employee in session.scalars(sa.select(Employee)):
                assert parse_emirates_id(employee.emirates_id) == employee.emirates_id
                assert parse_uae_iban(employee.iban) == employee.iban
                assert (employee.pension_scheme is not None) == (employee.nationality == "AE")
                nationalities.add(employee.nationality_category)
                grades_seen.add(grades[employee.grade_id].number)
            for contract in session.scalars(sa.select(Contract)):
                assert (
                    band_problem(grades[contract.grade_id], contract.band, contract.basic_salary)
                    is None
                )
    assert nationalities == {"uae", "gcc", "other"}
    assert len(grades_seen) >= 12

    # Demo logins are employees of their department (self-service later).
    users = {u.username: u.id for u in session.scalars(sa.select(User))}
    for code in ("POLICE", "DM"):
        with department_context(session, departments[code].id):
            linked = set(
                session.scalars(sa.select(Employee.user_id).where(Employee.user_id.is_not(None)))
            )
        assert users[f"{code.lower()}.employee"] in linked
        assert users[f"{code.lower()}.manager"] in linked
        assert len(linked) == 7

    seed_demo(app, session, employees=100)
    session.commit()
    assert snapshot(session) == first


def test_hr_defaults_command(runner, departments):
    result = runner.invoke(args=["hr", "defaults", "--department", "zakat"])
    assert result.exit_code == 0, result.output
    assert "ZAKAT: defaults created" in result.output
    again = runner.invoke(args=["hr", "defaults", "--department", "ZAKAT"])
    assert "ZAKAT: already complete" in again.output
    assert runner.invoke(args=["hr", "defaults", "--department", "NOPE"]).exit_code != 0
