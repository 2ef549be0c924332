"""grp.tenancy.bulk_insert writes what the ORM would: on PostgreSQL as column arrays
(INSERT ... SELECT FROM unnest), on SQLite row by row. Money, dates, UTC timestamps,
Python-side defaults, NULLs and the department stamp come out the same."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from grp.tenancy import bulk_insert
from modules.hr.models import Contract, EmployeeSearchWord, Grade


def test_bulk_insert_writes_what_the_orm_writes(make_employee, in_department, db_session):
    first = make_employee(contract=None)
    second = make_employee(contract=None)
    with in_department("POLICE"):
        grade = db_session.scalar(sa.select(Grade).where(Grade.number == 8))
        started = datetime.now(UTC) - timedelta(seconds=1)
        rows = [
            {
                "employee_id": first,
                "version": 1,
                "start_date": date(2026, 1, 1),
                "end_date": None,
                "contract_type": "permanent",
                "grade_id": grade.id,
                "band": 2,
                "basic_salary": Decimal("9500.50"),
            },
            {
                "employee_id": second,
                "version": 1,
                "start_date": date(2026, 2, 15),
                "end_date": date(2026, 12, 31),
                "contract_type": "fixed_term",
                "grade_id": grade.id,
                "band": 1,
                "basic_salary": Decimal("12000"),
                "housing_allowance": Decimal("2500.25"),
            },
        ]
        bulk_insert(db_session, Contract, rows)
        bulk_insert(
            db_session,
            EmployeeSearchWord,
            [{"employee_id": first, "word": "zeta"}, {"employee_id": first, "word": "زيد"}],
        )
        db_session.commit()
        department_id = db_session.info["grp_department_id"]
        contracts = {
            c.employee_id: c
            for c in db_session.scalars(
                sa.select(Contract).where(Contract.employee_id.in_([first, second]))
            )
        }
        words = set(
            db_session.scalars(
                sa.select(EmployeeSearchWord.word).where(EmployeeSearchWord.employee_id == first)
            )
        )
    one, two = contracts[first], contracts[second]
    assert (one.basic_salary, one.housing_allowance, one.end_date) == (
        Decimal("9500.50"),
        Decimal("0.00"),  # the column's Python-side default
        None,
    )
    assert (two.basic_salary, two.housing_allowance, two.end_date, two.contract_type) == (
        Decimal("12000.00"),
        Decimal("2500.25"),
        date(2026, 12, 31),
        "fixed_term",
    )
    assert one.department_id == two.department_id == department_id
    for contract in (one, two):
        assert contract.created_at.tzinfo is not None
        assert started <= contract.created_at <= datetime.now(UTC)
    assert {"zeta", "زيد"} <= words
