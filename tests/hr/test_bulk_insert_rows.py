"""grp.tenancy.bulk_insert writes what the ORM would: on PostgreSQL as column arrays
(INSERT ... SELECT FROM unnest), on SQLite row by row. Money, dates, UTC timestamps,
Python-side defaults, NULLs and the department stamp come out the same."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from grp.tenancy import array_literal, bulk_insert
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


AWKWARD_TEXTS = [
    "plain",
    "",
    "NULL",
    "null",
    " leading and trailing ",
    'a "quoted" word',
    "back\\slash\\",
    'comma, {braces} and \\"both\\"',
    "line\nbreak\ttab",
    "محمد بن راشد",
    "'single' quotes; --",
]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("values", "element_type"),
    [
        (AWKWARD_TEXTS + [None], "text"),
        ([1, -2, 0, 9_223_372_036_854_775_807, None], "bigint"),
        ([True, False, None], "boolean"),
        ([date(2026, 2, 28), date(1, 1, 1), None, date(9999, 12, 31)], "date"),
        (
            [
                datetime(2026, 12, 7, 14, 5, 6, 123456, tzinfo=UTC),
                datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=4))),
                None,
            ],
            "timestamptz",
        ),
        ([Decimal("12.50"), Decimal("-0.01"), Decimal("1E+3"), None], "numeric"),
    ],
    ids=["text", "bigint", "boolean", "date", "timestamptz", "numeric"],
)
def test_array_literals_read_back_as_the_values(db_session, values, element_type):
    literal = array_literal(values)
    assert literal is not None

    def read_back(value: object) -> list:
        statement = sa.text(f"SELECT CAST(:value AS {element_type}[])")
        return db_session.execute(
            statement.execution_options(grp_tenancy_reviewed=True), {"value": value}
        ).scalar_one()

    assert read_back(literal) == values
    # What psycopg's own list adapter sends reads back the same.
    assert read_back(values) == values


def test_array_literal_leaves_unknown_types_to_the_driver():
    assert array_literal([1.5, 2.0]) is None
    assert array_literal([1, {"a": 1}]) is None
    assert array_literal([None, None]) == "{NULL,NULL}"
    # bool is not written as an int, nor an int as a bool
    assert array_literal([True, 1, None]) == "{t,1,NULL}"


def test_bulk_insert_keeps_awkward_strings(make_employee, in_department, db_session):
    """Quotes, backslashes, commas, braces and the word NULL survive the column arrays."""
    first = make_employee(contract=None)
    with in_department("POLICE"):
        bulk_insert(
            db_session,
            EmployeeSearchWord,
            [
                {"employee_id": first, "word": f"w{n} {text}"}
                for n, text in enumerate(AWKWARD_TEXTS)
            ],
        )
        db_session.commit()
        words = set(
            db_session.scalars(
                sa.select(EmployeeSearchWord.word).where(EmployeeSearchWord.employee_id == first)
            )
        )
    assert {f"w{n} {text}" for n, text in enumerate(AWKWARD_TEXTS)} <= words


@pytest.mark.parametrize("count", [1, 3])
def test_bulk_insert_returns_the_columns_asked_for(make_employee, in_department, db_session, count):
    """One row (a plain INSERT) or several (column arrays on PostgreSQL): each inserted
    row's generated id comes back with the key it was inserted under."""
    owners = [make_employee(contract=None) for _ in range(count)]
    with in_department("POLICE"):
        returned = bulk_insert(
            db_session,
            EmployeeSearchWord,
            [{"employee_id": owner, "word": f"returned{n}"} for n, owner in enumerate(owners)],
            returning=(EmployeeSearchWord.word, EmployeeSearchWord.employee_id),
        )
        stored = dict(
            db_session.execute(
                sa.select(EmployeeSearchWord.word, EmployeeSearchWord.employee_id).where(
                    EmployeeSearchWord.word.startswith("returned")
                )
            ).all()
        )
        assert sorted(returned) == sorted(stored.items())
        assert dict(returned) == {f"returned{n}": owner for n, owner in enumerate(owners)}
        assert bulk_insert(db_session, EmployeeSearchWord, [], returning=(sa.column("x"),)) == []


@pytest.mark.postgres
def test_bulk_insert_refuses_to_return_another_tables_columns(
    make_employee, in_department, db_session
):
    owners = [make_employee(contract=None) for _ in range(2)]
    with in_department("POLICE"), pytest.raises(ValueError, match="not a column"):
        bulk_insert(
            db_session,
            EmployeeSearchWord,
            [{"employee_id": owner, "word": "other"} for owner in owners],
            returning=(Contract.id,),
        )
