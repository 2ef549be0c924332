"""psycopg cursors build `description` only when it is read, and it reads as psycopg's own."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from grp.db import db
from grp.descriptions import LazyDescription, install_lazy_descriptions

COLUMNS = (
    "SELECT 1::integer AS one, 'x'::varchar(12) AS label, now() AS at, NULL::numeric(10, 2) AS n"
)


@pytest.fixture
def raw_connection(app):
    """A pooled DBAPI connection of the app's engine, rolled back and returned after."""
    connection = db.engine.raw_connection()
    try:
        yield connection
    finally:
        connection.rollback()
        connection.close()


@pytest.mark.postgres
def test_the_installed_psycopg_has_what_the_lazy_cursor_builds_on():
    from grp.descriptions import psycopg_internals_present

    # Fails on a psycopg release that moved them: the app then runs on the plain cursor.
    assert psycopg_internals_present()


@pytest.mark.postgres
def test_without_those_internals_the_engine_keeps_psycopg_cursor(app, monkeypatch):
    import psycopg

    from grp import descriptions

    monkeypatch.setattr(descriptions, "psycopg_internals_present", lambda: False)
    engine = sa.create_engine(db.engine.url, poolclass=sa.NullPool)
    install_lazy_descriptions(engine)
    with engine.connect() as connection:
        assert type(connection.connection.driver_connection.cursor()) is psycopg.Cursor
    engine.dispose()


@pytest.mark.postgres
def test_app_connections_get_the_lazy_cursor_and_it_describes_as_psycopg_does(raw_connection):
    import psycopg

    lazy = raw_connection.cursor()
    assert type(lazy).__name__ == "LazyDescriptionCursor"
    lazy.execute(COLUMNS)
    described = lazy.description
    assert isinstance(described, LazyDescription)
    plain = psycopg.Cursor(raw_connection.driver_connection)
    plain.execute(COLUMNS)
    expected = plain.description
    assert len(described) == 4
    assert [tuple(c) for c in described] == [tuple(c) for c in expected]
    assert [c.name for c in described] == ["one", "label", "at", "n"]
    assert described[1].internal_size == expected[1].internal_size
    assert [c.type_display for c in described[2:]] == [c.type_display for c in expected[2:]]
    assert lazy.fetchone()[0] == 1
    plain.close()
    lazy.close()


@pytest.mark.postgres
def test_a_description_stays_with_its_result_after_the_cursor_moves_on(raw_connection):
    cursor = raw_connection.cursor()
    cursor.execute("SELECT 1 AS first_one")
    first = cursor.description  # not read yet
    cursor.execute("SELECT 2 AS a, 3 AS b")
    assert [c.name for c in first] == ["first_one"]
    assert [c.name for c in cursor.description] == ["a", "b"]
    cursor.execute("SET LOCAL statement_timeout = 0")  # no rows: no description
    assert cursor.description is None
    cursor.execute("SELECT WHERE false")  # no columns, but a result of rows
    assert cursor.description is not None and len(cursor.description) == 0
    cursor.close()


@pytest.mark.postgres
def test_sqlalchemy_reads_rows_by_name_through_it(app, db_session):
    statement = sa.text(COLUMNS).execution_options(grp_tenancy_reviewed=True)
    for _ in range(3):  # first run builds the result metadata, later ones reuse it
        row = db_session.execute(statement).one()
        assert (row.one, row.label, row.n) == (1, "x", None)
    mapped = db_session.execute(statement).mappings().one()
    assert list(mapped) == ["one", "label", "at", "n"]


@pytest.mark.postgres
def test_a_configured_cursor_class_stays(app):
    import psycopg

    engine = sa.create_engine(
        db.engine.url, connect_args={"cursor_factory": psycopg.ClientCursor}, poolclass=sa.NullPool
    )
    install_lazy_descriptions(engine)
    install_lazy_descriptions(engine)  # once per engine
    with engine.connect() as connection:
        assert type(connection.connection.driver_connection.cursor()) is psycopg.ClientCursor
        assert connection.exec_driver_sql("SELECT 7 AS seven").one().seven == 7
    engine.dispose()


def test_other_drivers_are_left_alone():
    from grp import descriptions

    engine = sa.create_engine("sqlite://")
    install_lazy_descriptions(engine)
    assert engine not in descriptions._INSTALLED
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT 7 AS seven").one().seven == 7
