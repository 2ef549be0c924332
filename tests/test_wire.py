"""SELECTs sent on libpq itself (grp/wire.py): a cursor's rows, prepared once, recovered."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from grp import wire
from grp.wire import WireStatement

#: Values of the types GRP reads, each given as a parameter and read back.
TYPED = WireStatement.from_pyformat(
    "SELECT %(number)s::int AS number, %(money)s::numeric(14, 3) AS money, "
    "%(day)s::date AS day, %(moment)s::timestamptz AS moment, %(name)s::text AS name, "
    "%(flag)s::boolean AS flag, %(nothing)s::text AS nothing, %(number)s + 1 AS next, "
    "'100%%' AS percent"
)
VALUES = {
    "number": 41,
    "money": Decimal("12345.678"),
    "day": date(2026, 11, 30),
    "moment": datetime(2026, 11, 30, 8, 15, tzinfo=UTC),
    "name": "محمد Al Mansoori",
    "flag": True,
    "nothing": None,
}


def test_named_placeholders_become_numbered_ones_each_name_once():
    statement = WireStatement.from_pyformat("SELECT %(b)s, %(a)s, %(b)s, '5%%' WHERE x LIKE 'a%%'")
    assert statement.sql == b"SELECT $1, $2, $1, '5%' WHERE x LIKE 'a%'"
    assert statement.names == ("b", "a")


@pytest.fixture
def driver_connection(db_session):
    connection = db_session.connection()
    yield connection.connection.driver_connection, connection.connection.info
    db_session.rollback()


def prepared_names(driver_connection) -> set[str]:
    with driver_connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'grp_w%%'")
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.postgres
def test_rows_are_a_cursors_rows_and_the_statement_is_prepared_once(driver_connection):
    connection, info = driver_connection
    assert wire.usable(connection)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %(number)s::int, %(money)s::numeric(14, 3), %(day)s::date, "
            "%(moment)s::timestamptz, %(name)s::text, %(flag)s::boolean, %(nothing)s::text, "
            "%(number)s + 1, '100%%'",
            VALUES,
        )
        expected = cursor.fetchall()
    for _ in range(3):
        (result,) = wire.run_pipelined(connection, info, [(TYPED, VALUES)])
        assert result.rows == expected
        assert result.rows[0][:3] == (41, Decimal("12345.678"), date(2026, 11, 30))
        assert result.rows[0][4] == "محمد Al Mansoori" and result.rows[0][-1] == "100%"
    assert len(prepared_names(connection)) == 1


@pytest.mark.postgres
def test_statements_go_in_order_in_one_batch(driver_connection):
    connection, info = driver_connection
    mark = WireStatement.from_pyformat(
        "SELECT set_config('grp.test_mark', %(mark)s, false) AS mark"
    )
    read = WireStatement.from_pyformat("SELECT current_setting('grp.test_mark', true)")
    first, second = wire.run_pipelined(connection, info, [(mark, {"mark": "wire"}), (read, {})])
    assert first.rows == [("wire",)] and second.rows == [("wire",)]


@pytest.mark.postgres
def test_statements_psycopg_deallocated_are_prepared_again(driver_connection):
    connection, info = driver_connection
    wire.run_pipelined(connection, info, [(TYPED, VALUES)])
    before = prepared_names(connection)
    connection.execute("DEALLOCATE ALL")  # what psycopg sends after a rollback
    assert prepared_names(connection) == set()
    (result,) = wire.run_pipelined(connection, info, [(TYPED, VALUES)])
    assert result.rows[0][0] == 41
    after = prepared_names(connection)
    assert len(after) == 1 and after != before  # a new name: an old one is never reused


@pytest.mark.postgres
def test_a_failed_statement_answers_none_and_the_connection_goes_on(driver_connection):
    connection, info = driver_connection
    failing = WireStatement.from_pyformat("SELECT %(number)s::int / 0")
    assert wire.run_pipelined(connection, info, [(failing, {"number": 1})]) is None
    # Prepared, then failed at execution: kept; a statement that failed to prepare is not.
    broken = WireStatement.from_pyformat("SELECT no_such_column FROM users")
    assert wire.run_pipelined(connection, info, [(broken, {})]) is None
    assert not any(key[0] == broken.sql for key in info["grp_wire_prepared"] if key != "counter")
    (result,) = wire.run_pipelined(connection, info, [(TYPED, VALUES)])
    assert result.rows[0][0] == 41


@pytest.mark.postgres
def test_not_used_inside_a_transaction(driver_connection):
    connection, info = driver_connection
    connection.execute("BEGIN")
    try:
        assert not wire.usable(connection)
        assert wire.run_pipelined(connection, info, [(TYPED, VALUES)]) is None
    finally:
        connection.execute("ROLLBACK")
    assert wire.usable(connection)


@pytest.mark.postgres
def test_not_used_where_prepared_statements_are_turned_off(driver_connection):
    connection, _ = driver_connection
    threshold = connection.prepare_threshold
    connection.prepare_threshold = None  # as behind a transaction-pooling pgbouncer
    try:
        assert not wire.usable(connection)
    finally:
        connection.prepare_threshold = threshold
