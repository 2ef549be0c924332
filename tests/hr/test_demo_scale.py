"""Demo data for the scale benchmark: a sized largest department, progress, leave history, events.

`grp seed-demo --employees N --largest L` gives POLICE L employees and spreads the
rest; the leave history written in bulk must be what the services would have written
(the monthly accrual job adds nothing twice, every approved request has its taken
entry, balances never go below zero); the demo month has joiners, leavers and
mid-month raises for payroll to prorate.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from grp.cli import DEMO_OPTIONS
from grp.db import db
from grp.demo import load_demo_users
from grp.models import Department
from grp.tenancy import department_context
from modules.hr.demo import DEMO_MONTH_END, OPENING, TODAY, seed, spread
from modules.hr.models import (
    Contract,
    Employee,
    LeaveLedgerEntry,
    LeaveRequest,
    LeaveType,
    OrgUnit,
    Position,
)


def test_spread_sizes_the_largest_department_and_shares_the_rest():
    assert spread(100, ["A", "POLICE", "B"], {}, largest=40) == {"A": 30, "POLICE": 40, "B": 30}
    assert spread(100, ["A", "POLICE"], {"POLICE": 7}, largest=3) == {"A": 97, "POLICE": 7}
    assert spread(10, ["POLICE"], {}, largest=4) == {"POLICE": 10}
    assert spread(90, ["A", "B", "C"], {}, largest=50) == {"A": 30, "B": 30, "C": 30}


@pytest.fixture
def seeded(app, departments):
    """600 demo employees, 300 of them in POLICE, with the progress reported."""
    session = db.session
    load_demo_users(session)
    reports: list[tuple[int, int]] = []
    session.info[DEMO_OPTIONS] = {
        "largest": 300,
        "progress": lambda done, total: reports.append((done, total)),
    }
    try:
        seed(session, employees=600)
    finally:
        session.info.pop(DEMO_OPTIONS)
    session.commit()
    return reports


def _count(session, model, *where) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_the_largest_department_and_the_progress(seeded, departments):
    session = db.session
    with department_context(session, departments["POLICE"].id):
        assert _count(session, Employee) == 300
    counts = {}
    for department in session.scalars(sa.select(Department)).all():
        with department_context(session, department.id):
            counts[department.code] = _count(session, Employee)
    session.rollback()
    # The other 300 over 24 departments: 12 or 13 each (at least the 7 demo logins).
    assert counts["POLICE"] == 300
    assert {n for code, n in counts.items() if code != "POLICE"} == {12, 13}
    total = sum(counts.values())
    assert total == 600
    done, expected = seeded[-1]
    assert done == expected == total
    assert [d for d, _ in seeded] == sorted(d for d, _ in seeded)  # only forward


def test_leave_history_is_what_the_services_would_write(seeded, departments):
    from modules.hr.services.leave import accrue_department, balance

    session = db.session
    with department_context(session, departments["POLICE"].id):
        annual = session.scalar(sa.select(LeaveType).where(LeaveType.code == "annual"))
        requests = list(session.scalars(sa.select(LeaveRequest)))
        assert len(requests) > 150 and {r.state for r in requests} == {"approved"}
        assert {r.leave_type.code for r in requests} >= {"annual", "sick"}
        taken = {
            entry.request_id: entry
            for entry in session.scalars(
                sa.select(LeaveLedgerEntry).where(LeaveLedgerEntry.kind == "taken")
            )
        }
        for request in requests:
            entry = taken[request.id]
            assert entry.days == -request.days and entry.employee_id == request.employee_id
            assert request.start_date <= request.end_date <= DEMO_MONTH_END
        # This month's accrual is there for every active employee hired by TODAY ...
        active = set(
            session.scalars(
                sa.select(Employee.id).where(
                    Employee.status == "active", Employee.hire_date <= TODAY
                )
            )
        )
        accrued = set(
            session.scalars(
                sa.select(LeaveLedgerEntry.employee_id).where(
                    LeaveLedgerEntry.kind == "accrual", LeaveLedgerEntry.period == "2026-11"
                )
            )
        )
        assert accrued == active
        assert _count(session, LeaveLedgerEntry, LeaveLedgerEntry.note == OPENING) > 200
        # ... so the monthly job adds nothing twice, and no annual balance is overdrawn.
        assert accrue_department(session, TODAY) == 0
        for employee_id in list(active)[:60]:
            assert balance(session, employee_id, annual.id) >= Decimal("0.00")
        session.rollback()


@pytest.mark.parametrize(("code", "heads_with_staff"), [("POLICE", 8), ("DHA", 1)])
def test_everyone_reports_to_the_nearest_head_above_them(
    seeded, departments, code, heads_with_staff
):
    """Each employee's manager holds the head position (code -01) of their unit, else of
    the nearest unit above with one; heads report to the head above; the DG to nobody.
    (The demo logins are set apart: the demo employee reports to the demo manager.)"""
    session = db.session
    with department_context(session, departments[code].id):
        parent = dict(session.execute(sa.select(OrgUnit.id, OrgUnit.parent_id)).all())
        staff = session.execute(
            sa.select(
                Employee.id,
                Employee.org_unit_id,
                Employee.position_id,
                Employee.manager_id,
                Employee.user_id,
            )
        ).all()
        head_positions = {
            position.org_unit_id: position.id
            for position in session.scalars(sa.select(Position))
            if position.code.endswith("-01")
        }
        dg_position = session.scalar(sa.select(Position.id).where(Position.code == "DG-01"))
        session.rollback()
    holder: dict[int, int] = {}
    for employee_id, _unit, position_id, _manager, _user in sorted(staff):
        holder.setdefault(position_id, employee_id)
    director_general = holder[dg_position]

    def nearest_head(unit: int | None, employee_id: int) -> int | None:
        while unit is not None:
            head = holder.get(head_positions.get(unit))
            if head is not None and head != employee_id:
                return head
            unit = parent[unit]
        return None

    managers = {employee_id: manager for employee_id, _u, _p, manager, _user in staff}
    assert [e for e, m in managers.items() if m is None] == [director_general]
    checked = 0
    for employee_id, unit, _position, manager, user_id in staff:
        if employee_id != director_general and user_id is None:
            assert manager == (nearest_head(unit, employee_id) or director_general), employee_id
            checked += 1
    assert checked >= len(staff) - 8
    # POLICE (300) fills its 8 head positions; DHA (12) only the DG's, the rest vacant.
    assert len({m for m in managers.values() if m is not None}) == heads_with_staff


def test_the_demo_month_has_joiners_leavers_and_raises(seeded, departments):
    session = db.session
    with department_context(session, departments["POLICE"].id):
        month = (date(2026, 11, 1), DEMO_MONTH_END)
        joiners = _count(session, Employee, Employee.hire_date.between(*month))
        leavers = _count(
            session,
            Contract,
            Contract.end_date.between(*month),
            Contract.contract_type == "fixed_term",
        )
        raises = _count(session, Contract, Contract.start_date == date(2026, 11, 16))
        unpaid = _count(
            session,
            LeaveRequest,
            LeaveRequest.leave_type_id.in_(
                sa.select(LeaveType.id).where(LeaveType.code == "unpaid")
            ),
        )
        session.rollback()
    assert joiners >= 1 and leavers >= 1 and raises >= 1 and unpaid >= 1


def test_seed_demo_largest_option(app, departments):
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["seed-demo", "--employees", "10", "--largest", "11"])
    assert refused.exit_code != 0 and "--largest" in refused.output
    result = runner.invoke(args=["seed-demo", "--employees", "60", "--largest", "30"])
    assert result.exit_code == 0, result.output
    with department_context(db.session, departments["POLICE"].id):
        assert _count(db.session, Employee) == 30
        db.session.rollback()
