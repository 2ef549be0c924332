"""Exact money: Decimal in Python, integer fils in the database, one rounding rule."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask

from grp.db import Money
from grp.migrate import owner_engine
from grp.money import MoneyError, from_fils, round_money, to_decimal, to_fils


@pytest.mark.parametrize("value", [1.5, 0.1, float("nan"), True])
def test_floats_and_booleans_are_refused(value: object) -> None:
    with pytest.raises(MoneyError):
        to_decimal(value)
    with pytest.raises(MoneyError):
        round_money(value)
    with pytest.raises(MoneyError):
        to_fils(value)


@pytest.mark.parametrize("value", ["abc", "", "NaN", "Infinity", "-inf", None, [1]])
def test_non_amounts_are_refused(value: object) -> None:
    with pytest.raises(MoneyError):
        to_decimal(value)


def test_exact_inputs_are_accepted() -> None:
    assert to_decimal(7) == Decimal(7)
    assert to_decimal("12.50") == Decimal("12.50")
    assert to_decimal(Decimal("0.01")) == Decimal("0.01")


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        ("0.005", "0.01"),
        ("2.675", "2.68"),  # 2.675 as a float is 2.67499..., as a string it rounds up
        ("2.665", "2.67"),  # half-up, not banker's rounding (which gives 2.66)
        ("1.004", "1.00"),
        ("1.0049999", "1.00"),
        ("-0.005", "-0.01"),  # half away from zero
        ("12345.675", "12345.68"),
        (10, "10.00"),
    ],
)
def test_round_money_is_half_up_to_two_places(value: object, rounded: str) -> None:
    result = round_money(value)
    assert result == Decimal(rounded)
    assert str(result) == rounded


def test_to_fils_refuses_more_than_two_decimals() -> None:
    with pytest.raises(MoneyError, match="more than two decimals"):
        to_fils("1.234")
    with pytest.raises(MoneyError):
        to_fils(Decimal("0.005"))
    assert to_fils(round_money("1.234")) == 123  # rounding is explicit, then it fits


@pytest.mark.parametrize(
    ("value", "fils"),
    [("12345.67", 1234567), ("0.01", 1), (5, 500), ("1.5", 150), ("1.230", 123), ("-7.25", -725)],
)
def test_to_fils(value: object, fils: int) -> None:
    assert to_fils(value) == fils


@pytest.mark.parametrize(
    "amount", ["0.00", "0.01", "0.10", "1.00", "12345.67", "-99.99", "92233720368547758.07"]
)
def test_round_trip_through_fils_is_exact(amount: str) -> None:
    fils = to_fils(amount)
    assert isinstance(fils, int)
    back = from_fils(fils)
    assert back == Decimal(amount)
    assert str(back) == amount
    assert to_fils(back) == fils


# --------------------------------------------------------------------------- column type


@pytest.fixture
def money_table(app: Flask) -> Iterator[tuple[sa.Engine, sa.Table]]:
    """A throw-away table with a Money column, created as the owner of the test database."""
    table = sa.Table(
        f"money_probe_{uuid.uuid4().hex[:8]}",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("amount", Money()),
    )
    engine = owner_engine(app)
    table.create(engine)
    try:
        yield engine, table
    finally:
        table.drop(engine)
        engine.dispose()


def test_money_column_stores_integer_fils_and_reads_exact_decimals(
    money_table: tuple[sa.Engine, sa.Table],
) -> None:
    engine, table = money_table
    amounts = [Decimal("12345.67"), Decimal("0.01"), Decimal("-250.50"), None]
    with engine.begin() as connection:
        connection.execute(table.insert(), [{"id": i, "amount": a} for i, a in enumerate(amounts)])
    with engine.connect() as connection:
        read = connection.scalars(sa.select(table.c.amount).order_by(table.c.id)).all()
        raw = connection.exec_driver_sql(f"SELECT amount FROM {table.name} ORDER BY id").all()
    assert read == amounts
    assert str(read[0]) == "12345.67"
    assert all(isinstance(a, Decimal) for a in read[:3])
    assert [r[0] for r in raw] == [1234567, 1, -25050, None]
    column = next(c for c in sa.inspect(engine).get_columns(table.name) if c["name"] == "amount")
    assert isinstance(column["type"], sa.BigInteger)


def test_money_column_refuses_floats_and_extra_decimals(
    money_table: tuple[sa.Engine, sa.Table],
) -> None:
    engine, table = money_table
    for bad in (12345.67, Decimal("1.005")):
        with pytest.raises(sa.exc.StatementError) as refused, engine.begin() as connection:
            connection.execute(table.insert(), {"id": 1, "amount": bad})
        assert isinstance(refused.value.orig, MoneyError)
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(table)) == 0
