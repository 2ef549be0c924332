"""Pooled connections are pinged before use only after sitting idle (grp/connections.py)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from grp.connections import IDLE_SINCE
from grp.db import db
from grp.tenancy import REVIEWED

#: Raw SQL is refused unless marked as reviewed (grp/tenancy.py).
SELECT_ONE = sa.text("SELECT 1").execution_options(**{REVIEWED: True})
BACKEND_PID = sa.text("SELECT pg_backend_pid()").execution_options(**{REVIEWED: True})


def count_pings(engine: sa.Engine, monkeypatch) -> list[object]:
    """The DBAPI connections `engine` pings from now on, in order."""
    seen: list[object] = []
    dialect = engine.dialect
    ping = dialect.do_ping

    def counting_ping(dbapi_connection):
        seen.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counting_ping)
    return seen


@pytest.fixture
def pings(app, monkeypatch):
    """The connections the app's engine pinged, in order."""
    return count_pings(db.engine, monkeypatch)


def use_a_connection() -> object:
    """Check a connection out, run one statement, check it back in; its DBAPI connection."""
    with db.engine.connect() as connection:
        connection.execute(SELECT_ONE)
        return connection.connection.dbapi_connection


def idle_for(seconds: float) -> None:
    """Make every connection now in the pool look idle for `seconds` longer."""
    for record in list(db.engine.pool._pool.queue):
        record.info[IDLE_SINCE] -= seconds


def test_a_connection_in_recent_use_is_not_pinged(app, pings):
    first = use_a_connection()
    for _ in range(5):
        assert use_a_connection() is first
    assert pings == []


def test_a_connection_idle_longer_than_the_setting_is_pinged_once(app, pings):
    first = use_a_connection()
    idle_for(app.config["GRP_DATABASE_PING_AFTER_SECONDS"] + 1)
    assert use_a_connection() is first
    assert use_a_connection() is first
    assert pings == [first]


def test_a_setting_of_zero_pings_before_every_use(app, monkeypatch):
    from grp.connections import install_idle_ping

    engine = sa.create_engine(db.engine.url)
    install_idle_ping(engine, 0)
    install_idle_ping(engine, 0)  # a second call adds nothing
    pings = count_pings(engine, monkeypatch)
    try:
        for _ in range(3):
            with engine.connect() as connection:
                connection.execute(SELECT_ONE)
        # The first checkout opens the connection (nothing to check); each later one pings.
        assert len(pings) == 2
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_an_idle_connection_the_server_closed_is_replaced_before_use(app, pings):
    first = use_a_connection()
    with db.engine.connect() as connection:
        backend = connection.execute(BACKEND_PID).scalar_one()
    owner = sa.create_engine(app.config["GRP_DATABASE_OWNER_URL"])
    try:
        with owner.connect() as connection:
            assert connection.execute(
                sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": backend}
            ).scalar_one()
    finally:
        owner.dispose()
    idle_for(app.config["GRP_DATABASE_PING_AFTER_SECONDS"] + 1)

    with db.engine.connect() as connection:  # no error: the dead one was swapped first
        assert connection.execute(BACKEND_PID).scalar_one() != backend
        assert connection.connection.dbapi_connection is not first
    assert pings == [first]
