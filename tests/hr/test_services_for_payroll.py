"""HR's bulk services for other modules (payroll): same answers as the one-by-one ones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hr_data import contract_data

from grp.db import db
from grp.workflow.approvals import decide
from grp.workflow.approvals.models import ApprovalRequest
from modules.hr.models import Employee
from modules.hr.services import (
    contract_versions,
    contracts_changed_since,
    create_contract_version,
    employee_ids_by_number,
    employee_names,
    employees_on_unpaid_leave,
    existing_employee_ids,
    unpaid_leave_days,
    unpaid_leave_days_by_employee,
)

D = Decimal


def _approve(world, request) -> None:
    for approver in ("mgr", "hr1"):
        db.session.expire_all()
        approval = db.session.get(ApprovalRequest, request.approval_request_id)
        decide(db.session, approval, actor=world.user(approver), approve=True)
        db.session.commit()


def test_unpaid_leave_days_in_bulk_count_like_one_by_one(leave_world):
    world = leave_world
    _approve(world, world.request(date(2026, 11, 30), date(2026, 12, 4), code="unpaid"))
    _approve(world, world.request(date(2026, 12, 14), date(2026, 12, 15), code="unpaid"))
    employee_id, manager_id = world.employee_id, world.manager_id
    windows = [
        (date(2026, 12, 1), date(2026, 12, 31)),
        (date(2026, 11, 1), date(2026, 11, 30)),
        (date(2026, 12, 3), date(2026, 12, 14)),
        (date(2027, 1, 1), date(2027, 1, 31)),
    ]
    for basis in ("working", "calendar"):
        world.leave_type("unpaid").day_basis = basis
        db.session.flush()
        for first, last in windows:
            found = unpaid_leave_days_by_employee(
                db.session, {employee_id: (first, last), manager_id: (first, last)}
            )
            assert found == {
                employee_id: unpaid_leave_days(db.session, employee_id, first, last),
                manager_id: D("0.00"),
            }
    # Each employee's own period; an empty one counts nothing.
    world.leave_type("unpaid").day_basis = "working"
    db.session.flush()
    assert unpaid_leave_days_by_employee(
        db.session, {employee_id: (date(2026, 12, 1), date(2026, 12, 31))}
    ) == {employee_id: D("4.00")}  # Tue 1, Fri 4 (2-3 National Day), Mon 14, Tue 15
    assert unpaid_leave_days_by_employee(
        db.session, {employee_id: (date(2026, 12, 5), date(2026, 12, 1))}
    ) == {employee_id: D("0.00")}
    assert unpaid_leave_days_by_employee(db.session, {}) == {}

    assert employees_on_unpaid_leave(db.session, date(2026, 11, 1), date(2026, 11, 30)) == {
        employee_id
    }
    assert employees_on_unpaid_leave(db.session, date(2027, 1, 1), date(2027, 1, 31)) == set()


def test_contract_versions_and_changes_of_a_chunk(db_session, in_department, make_employee):
    first = make_employee(number=1)  # from 2015-03-01
    second = make_employee(number=2)
    without = make_employee(number=3, contract=None)
    with in_department("POLICE"):
        create_contract_version(
            db_session, db_session.get(Employee, first), contract_data(start_date="2020-01-02")
        )
        db_session.commit()
        ids = [first, second, without]
        versions = contract_versions(db_session, ids, date(2019, 12, 1), date(2020, 1, 31))
        assert {key: [c.version for c in value] for key, value in versions.items()} == {
            first: [1, 2],
            second: [1],
        }
        versions = contract_versions(db_session, ids, date(2020, 2, 1), date(2020, 2, 29))
        assert {key: [c.version for c in value] for key, value in versions.items()} == {
            first: [2],
            second: [1],
        }
        assert contract_versions(db_session, ids, date(2010, 1, 1), date(2010, 1, 31)) == {}
        assert contract_versions(db_session, [], date(2020, 1, 1), date(2020, 1, 31)) == {}

        an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
        changed = contracts_changed_since(db_session, ids, an_hour_ago)
        assert set(changed) == {first, second}
        assert all(at >= an_hour_ago for at in changed.values())
        assert (
            contracts_changed_since(db_session, ids, datetime.now(UTC) + timedelta(hours=1)) == {}
        )
    with in_department("DM"):
        assert contract_versions(db_session, ids, date(2019, 12, 1), date(2020, 1, 31)) == {}


def test_employee_lookups_in_bulk(db_session, in_department, make_employee):
    first = make_employee(number=2)
    second = make_employee(number=1)
    other = make_employee("DM", number=3)
    with in_department("POLICE"):
        assert employee_ids_by_number(db_session, [" e00002 ", "E00001", "", None, "E00003"]) == {
            "E00002": first,
            "E00001": second,
        }
        assert employee_ids_by_number(db_session, []) == {}
        assert existing_employee_ids(db_session, [first, other, 0]) == {first}
        names = employee_names(db_session, [first, second, other])
        assert [(n.id, n.employee_no) for n in names] == [(second, "E00001"), (first, "E00002")]
        assert names[0].name_en == "Test Person 1" and names[0].name_ar == "موظف تجريبي 1"
        assert employee_names(db_session, []) == []
    with in_department("DM"):
        assert employee_ids_by_number(db_session, ["E00002", "E00003"]) == {"E00003": other}
