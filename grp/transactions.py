"""Transactions: opened on PostgreSQL only when a statement may write; read-only ones committed.

**On demand (PostgreSQL).** Most requests only read. In PostgreSQL's READ COMMITTED
(GRP's level) every statement takes its own snapshot, so a transaction of plain SELECTs
reads nothing a series of single statements would not: what it adds is two round
trips, BEGIN and COMMIT, each costing both processes a wake-up (a detail request made
four round trips, two of them these). So GRP's connections run in autocommit mode
(`engine_options`), and a transaction is opened, by sending BEGIN just before the
statement, only when a statement may write or lock: anything but a plain SELECT, a
SELECT ... FOR UPDATE / FOR SHARE, or a SELECT streamed through a server-side cursor
(`yield_per`: PostgreSQL keeps one only inside a transaction). See
`install_transaction_tracking`. From there on the connection is in an ordinary
transaction that the session commits or rolls back: a service's writes stay atomic,
and its locks are held to the end. A read-only request sends no BEGIN and no COMMIT at
all. The department setting then lives on the connection rather than in the
transaction (grp/tenancy.py, `outside_transaction`).

**Read-only requests end with COMMIT** (where a transaction is open: SQLite, or an
engine given an explicit isolation level). psycopg 3 prepares a statement on the server
once a connection has run it five times, and PostgreSQL then reuses its plan. But
psycopg forgets every prepared statement when a transaction ends with ROLLBACK (it
cannot tell what the rollback undid), and every read-only request used to end that
way: the session is closed without a commit. So no statement was ever prepared, and
PostgreSQL planned each one on every request, which cost more than running it (1.5 to
3 ms of planning against 0.5 ms of execution for a search or a list of payslips,
bench/results/plans.txt).

A transaction that has only read loses nothing by committing instead: nothing is
written either way, and locks and transaction-local settings end alike. So the
connection notes every statement that is not a plain SELECT, and at the end of a
request (`finish_read_only`) a transaction that ran none is committed. One that wrote
anything is left to the session's usual rollback: a view that did not commit its
changes keeps them from being stored, as before.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from psycopg import ServerCursor
from psycopg.pq import TransactionStatus
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.sql.elements import TextClause

#: Connection.info key: the open transaction ran a statement other than a plain SELECT.
WROTE = "grp_transaction_wrote"
#: Session.info key: the connection of the session's latest transaction.
_CONNECTION = "grp_transaction_connection"
#: A SELECT that locks rows needs a transaction to hold its locks. SQLAlchemy writes the
#: locking clause exactly so; SQL written by hand is searched for it more loosely.
_LOCKING_CLAUSES = ("FOR UPDATE", "FOR NO KEY UPDATE", "FOR SHARE", "FOR KEY SHARE")
_ROW_LOCK = re.compile(r"\bFOR\s+(?:NO\s+KEY\s+UPDATE|UPDATE|KEY\s+SHARE|SHARE)\b", re.IGNORECASE)


def locks_rows(statement: str, context: Any) -> bool:
    """Whether SELECT `statement` locks the rows it reads (FOR UPDATE, FOR SHARE, ...)."""
    compiled = getattr(context, "compiled", None)
    if compiled is not None and not isinstance(compiled.statement, TextClause):
        # Substring tests: the regular expression cost 25 us on every SELECT.
        return any(clause in statement for clause in _LOCKING_CLAUSES)
    return _text_locks_rows(statement)


@functools.lru_cache(maxsize=2048)
def _text_locks_rows(statement: str) -> bool:
    # Asked before every SELECT run outside a transaction, and a process runs the same
    # few statement texts over and over: statements run on the driver (no SQLAlchemy
    # context) were searched afresh each time, 40 us for a caller-checks statement.
    return _ROW_LOCK.search(statement) is not None


def engine_options(url: str, options: Mapping[str, Any], *, on_demand: bool) -> dict[str, Any]:
    """`options` for an engine of `url`: autocommit connections when `on_demand` on
    PostgreSQL (psycopg).

    Only for an engine that then gets `install_transaction_tracking`, which opens the
    transactions: without it every statement would commit on its own.
    """
    options = dict(options)
    if on_demand and sa.engine.make_url(url).get_dialect().driver == "psycopg":
        options.setdefault("isolation_level", "AUTOCOMMIT")
    return options


def _is_plain_read(statement: str, executemany: bool) -> bool:
    # WITH may hold an INSERT or UPDATE, and anything else may write: only a statement
    # that starts with SELECT counts as reading.
    return not executemany and statement.lstrip()[:6].upper() == "SELECT"


def _note_statement(
    connection: sa.Connection,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: Any,
    executemany: bool,
) -> None:
    # (A SELECT ... FOR UPDATE only locks, and COMMIT releases its locks as ROLLBACK does.)
    if not _is_plain_read(statement, executemany):
        connection.info[WROTE] = True


def _note_statement_and_begin(
    connection: sa.Connection,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: Any,
    executemany: bool,
) -> None:
    reads = _is_plain_read(statement, executemany)
    if not reads:
        connection.info[WROTE] = True
    driver_connection = cursor.connection
    if (
        driver_connection.autocommit
        and driver_connection.info.transaction_status == TransactionStatus.IDLE
        and (not reads or isinstance(cursor, ServerCursor) or locks_rows(statement, context))
    ):
        # The statement may write or lock, or streams its rows through a server-side
        # cursor (which lives in a transaction): from here on, an ordinary transaction.
        driver_connection.execute("BEGIN", prepare=False)


def transaction_open(connection: sa.Connection) -> bool:
    """Whether the PostgreSQL (psycopg) `connection` is inside a database transaction."""
    return connection.connection.driver_connection.info.transaction_status != TransactionStatus.IDLE


def outside_transaction(connection: sa.Connection) -> bool:
    """Whether the PostgreSQL `connection` is in autocommit mode with no transaction open.

    What it runs now commits at once, and a transaction-local setting would end with
    the statement.
    """
    return bool(connection.connection.driver_connection.autocommit) and not transaction_open(
        connection
    )


def _on_begin(session: Session, transaction: Any, connection: sa.Connection) -> None:
    connection.info[WROTE] = False
    session.info[_CONNECTION] = connection


def install_transaction_tracking(engine: Engine) -> None:
    """Note writes on `engine`'s connections, per transaction; on psycopg, also open a
    transaction before a statement that may write or lock (idempotent)."""
    listener = _note_statement_and_begin if engine.dialect.driver == "psycopg" else _note_statement
    if not event.contains(engine, "before_cursor_execute", listener):
        event.listen(engine, "before_cursor_execute", listener)
    if not event.contains(Session, "after_begin", _on_begin):
        event.listen(Session, "after_begin", _on_begin)


def finish_read_only(session: Session | scoped_session) -> bool:
    """Commit the session's transaction if it only read; True when it did.

    Anything else (no transaction, a write, a failed commit) is left for the
    session's close to roll back; so is a read-only one that opened no database
    transaction (on demand), whose rollback psycopg does not even send.
    """
    real = session() if isinstance(session, scoped_session) else session
    if not real.in_transaction() or real.new or real.dirty or real.deleted:
        return False
    connection = real.info.get(_CONNECTION)
    if connection is None or connection.closed or not connection.in_transaction():
        return False  # nothing was sent to the database in this transaction
    if connection.info.get(WROTE, True):
        return False
    if connection.dialect.name == "postgresql" and outside_transaction(connection):
        # On demand: no database transaction was opened, so there is none to end, and
        # the session's close (a rollback psycopg does not send) keeps the prepared
        # statements as well. A commit through the session would only cost time.
        return False
    try:
        real.commit()
    except SQLAlchemyError:
        real.rollback()
        return False
    return True
