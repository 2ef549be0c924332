"""Read-only requests end with COMMIT (prepared statements survive); writing ones never do.

On PostgreSQL a transaction is opened only before a statement that may write or lock.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from grp.auth.permissions import public
from grp.db import db, utcnow
from grp.models import LoginThrottle
from grp.transactions import finish_read_only, locks_rows, transaction_open


@pytest.fixture
def endings(app):
    """'commit' / 'rollback' for every transaction the app's engine ends, in order."""
    seen: list[str] = []
    engine = db.engine

    def commit(connection):
        seen.append("commit")

    def rollback(connection):
        seen.append("rollback")

    event.listen(engine, "commit", commit)
    event.listen(engine, "rollback", rollback)
    yield seen
    event.remove(engine, "commit", commit)
    event.remove(engine, "rollback", rollback)


@pytest.fixture
def routes(app):
    """Three test views: one reads, one writes and forgets to commit, one fails."""

    @public
    def reads():
        return {"count": db.session.scalar(sa.select(sa.func.count(LoginThrottle.username)))}

    @public
    def writes_without_commit():
        db.session.add(LoginThrottle(username="forgotten", failures=1, first_failure_at=utcnow()))
        db.session.flush()
        return {"written": True}

    @public
    def updates_in_core_without_commit():
        db.session.execute(sa.update(LoginThrottle).values(failures=99))
        return {"updated": True}

    app.add_url_rule("/_test/reads", view_func=reads)
    app.add_url_rule("/_test/writes", view_func=writes_without_commit)
    app.add_url_rule("/_test/updates", view_func=updates_in_core_without_commit)


def stored_throttles(db_session):
    db_session.rollback()
    return {t.username: t.failures for t in db_session.scalars(sa.select(LoginThrottle))}


def _on_demand(app) -> bool:
    """PostgreSQL with transactions on demand: a read-only request opens none."""
    return db.engine.dialect.name == "postgresql" and (
        app.config["GRP_DATABASE_TRANSACTIONS"] == "on-demand"
    )


#: How a read-only request's session ends: a COMMIT where a database transaction is open;
#: on demand there is none, and the session's close calls a rollback that psycopg does
#: not send (nothing to end), keeping the prepared statements alike
#: (test_statements_stay_prepared_across_read_only_requests).
def _read_only_ending(app) -> str:
    return "rollback" if _on_demand(app) else "commit"


def test_a_request_that_only_read_commits(app, client, routes, endings):
    assert client.get("/_test/reads").status_code == 200
    assert endings == [_read_only_ending(app)]


def test_a_request_that_wrote_without_committing_stores_nothing(
    client, routes, endings, db_session
):
    assert client.get("/_test/writes").status_code == 200
    assert "commit" not in endings
    assert "forgotten" not in stored_throttles(db_session)


def test_a_core_update_without_commit_is_rolled_back(client, routes, endings, db_session):
    db_session.add(LoginThrottle(username="kept", failures=1, first_failure_at=utcnow()))
    db_session.commit()
    endings.clear()
    assert client.get("/_test/updates").status_code == 200
    assert "commit" not in endings
    assert stored_throttles(db_session) == {"kept": 1}


def test_an_api_read_commits_and_its_answer_is_unchanged(app, api_as, endings):
    officer = api_as("hr_officer", "POLICE")
    endings.clear()
    first = officer.get("/api/v1/auth/me")
    assert first.status_code == 200
    assert endings[-1] == _read_only_ending(app)
    assert officer.get("/api/v1/auth/me").get_json() == first.get_json()


def test_pending_objects_are_never_committed_by_it(app, db_session):
    db_session.scalar(sa.select(sa.func.count(LoginThrottle.username)))
    db_session.add(LoginThrottle(username="pending", failures=1, first_failure_at=utcnow()))
    assert finish_read_only(db_session) is False
    db_session.rollback()
    assert "pending" not in stored_throttles(db_session)


def test_a_session_that_sent_nothing_has_nothing_to_end(app, db_session):
    db_session.rollback()
    assert finish_read_only(db_session) is False


@pytest.mark.postgres
def test_statements_stay_prepared_across_read_only_requests(api_as):
    """The point of committing (on demand: of opening no transaction to end): psycopg
    keeps the statements it prepared (after five runs on a connection); a ROLLBACK would
    make it deallocate them all."""
    officer = api_as("hr_officer", "POLICE")
    for _ in range(20):
        assert officer.get("/api/v1/auth/me").status_code == 200
    pool = db.engine.pool
    idle = pool.checkedin()
    assert idle >= 1
    connections = [db.engine.raw_connection() for _ in range(idle)]
    try:
        prepared = 0
        for connection in connections:
            cursor = connection.cursor()
            cursor.execute("SELECT count(*) FROM pg_prepared_statements")
            prepared += cursor.fetchone()[0]
            cursor.close()
            connection.rollback()
    finally:
        for connection in connections:
            connection.close()
    assert prepared >= 1


# ------------------------------------------------------------ transactions on demand (PostgreSQL)


def _open(session) -> bool:
    return transaction_open(session.connection())


@pytest.mark.postgres
def test_reads_run_outside_a_transaction_and_a_write_opens_one(app, db_session):
    db_session.scalar(sa.select(sa.func.count(LoginThrottle.username)))
    assert not _open(db_session)
    db_session.add(LoginThrottle(username="opened", failures=1, first_failure_at=utcnow()))
    db_session.flush()
    assert _open(db_session)
    db_session.rollback()
    assert "opened" not in stored_throttles(db_session)


@pytest.mark.postgres
def test_a_sessions_writes_stay_atomic(app, db_session):
    db_session.add(LoginThrottle(username="first", failures=1, first_failure_at=utcnow()))
    db_session.flush()
    db_session.scalar(sa.select(sa.func.count(LoginThrottle.username)))  # a read in between
    db_session.add(LoginThrottle(username="first", failures=2, first_failure_at=utcnow()))
    with pytest.raises(sa.exc.IntegrityError):
        db_session.flush()
    db_session.rollback()
    assert stored_throttles(db_session) == {}


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        sa.update(LoginThrottle).values(failures=5),
        sa.insert(LoginThrottle).from_select(
            ["username", "failures", "first_failure_at"],
            sa.select(sa.literal("copy"), LoginThrottle.failures, LoginThrottle.first_failure_at),
        ),
    ],
    ids=["update", "insert-select"],
)
def test_any_statement_but_a_plain_select_opens_a_transaction(app, db_session, statement):
    db_session.add(LoginThrottle(username="kept", failures=1, first_failure_at=utcnow()))
    db_session.commit()
    db_session.execute(statement)
    assert _open(db_session)
    db_session.rollback()
    assert stored_throttles(db_session) == {"kept": 1}


@pytest.mark.postgres
def test_a_row_lock_opens_a_transaction_that_holds_it(app, db_session):
    db_session.add(LoginThrottle(username="locked", failures=1, first_failure_at=utcnow()))
    db_session.commit()
    lock = sa.select(LoginThrottle.username).where(LoginThrottle.username == "locked")
    db_session.scalar(lock.with_for_update())
    assert _open(db_session)
    with db.engine.connect() as other:
        with pytest.raises(sa.exc.OperationalError, match="could not obtain lock"):
            other.execute(lock.with_for_update(nowait=True))
        other.rollback()
        db_session.rollback()
        assert other.scalar(lock.with_for_update(nowait=True)) == "locked"


@pytest.mark.postgres
def test_a_streamed_select_runs_in_a_transaction(app, db_session):
    """Rows read with yield_per come through a server-side cursor, which PostgreSQL
    refuses outside a transaction."""
    for number in range(5):
        db_session.add(
            LoginThrottle(username=f"s{number}", failures=number, first_failure_at=utcnow())
        )
    db_session.commit()
    streamed = db_session.execute(
        sa.select(LoginThrottle.username).execution_options(yield_per=2)
    ).scalars()
    assert sorted(streamed) == ["s0", "s1", "s2", "s3", "s4"]
    assert _open(db_session)
    db_session.rollback()


@pytest.mark.postgres
def test_a_session_asking_for_one_snapshot_gets_a_transaction_of_its_own(app, db_session):
    """Reads that must agree with each other ask for REPEATABLE READ (README, Transactions):
    psycopg then opens the transaction itself, and a row committed meanwhile stays unseen."""
    count = sa.select(sa.func.count(LoginThrottle.username))
    db_session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    assert db_session.scalar(count) == 0
    assert _open(db_session)
    with db.engine.begin() as other:
        other.execute(
            sa.insert(LoginThrottle).values(
                username="meanwhile", failures=1, first_failure_at=utcnow()
            )
        )
    assert db_session.scalar(count) == 0
    db_session.commit()
    assert db_session.scalar(count) == 1
    assert not _open(db_session)  # the connection is back in autocommit mode
    db_session.rollback()


@pytest.mark.postgres
def test_a_read_only_request_opens_no_transaction_and_a_writing_one_does(app, client):
    @public
    def reads_and_tells():
        db.session.scalar(sa.select(sa.func.count(LoginThrottle.username)))
        return {"open": _open(db.session)}

    @public
    def writes_and_tells():
        db.session.add(LoginThrottle(username="told", failures=1, first_failure_at=utcnow()))
        db.session.flush()
        return {"open": _open(db.session)}

    app.add_url_rule("/_test/reads-and-tells", view_func=reads_and_tells)
    app.add_url_rule("/_test/writes-and-tells", view_func=writes_and_tells)
    assert client.get("/_test/reads-and-tells").get_json() == {"open": False}
    assert client.get("/_test/writes-and-tells").get_json() == {"open": True}


def test_a_transaction_mode_that_does_not_exist_is_refused(tmp_path):
    from grp.config import ConfigurationError, load_config

    with pytest.raises(ConfigurationError, match="GRP_DATABASE_TRANSACTIONS"):
        load_config(tmp_path, {"GRP_DATABASE_TRANSACTIONS": "sometimes", "SECRET_KEY": "x"})


def test_connections_are_autocommit_only_on_demand_and_only_on_postgresql():
    from grp.transactions import engine_options

    postgres = "postgresql+psycopg://app@db/grp"
    assert engine_options(postgres, {}, on_demand=True) == {"isolation_level": "AUTOCOMMIT"}
    assert engine_options(postgres, {"pool_size": 3}, on_demand=False) == {"pool_size": 3}
    assert engine_options("sqlite:///grp.sqlite3", {}, on_demand=True) == {}


@pytest.mark.parametrize(
    ("sql", "locks"),
    [
        ("SELECT id FROM users WHERE id = 1 FOR UPDATE", True),
        ("select id from users where id = 1\n  for   no key update skip locked", True),
        ("SELECT id FROM users FOR KEY SHARE", True),
        ("SELECT id FROM users for share nowait", True),
        ("SELECT id, updated_at FROM users WHERE id = 1", False),
        ("SELECT format FROM exports WHERE purpose = 'update'", False),
    ],
)
def test_hand_written_sql_is_searched_for_row_locks_however_spelled(sql, locks):
    # Statements run on the driver come without SQLAlchemy's context: their text is
    # searched, once per text (the second answer comes from what was remembered).
    assert locks_rows(sql, None) is locks
    assert locks_rows(sql, None) is locks
