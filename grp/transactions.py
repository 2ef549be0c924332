"""Ending read-only request transactions with COMMIT, so PostgreSQL keeps its plans.

psycopg 3 prepares a statement on the server once a connection has run it five times,
and PostgreSQL then reuses its plan. But psycopg forgets every prepared statement when
a transaction ends with ROLLBACK (it cannot tell what the rollback undid), and every
read-only request used to end that way: the session is closed without a commit. So no
statement was ever prepared, and PostgreSQL planned each one on every request, which
cost more than running it (1.5 to 3 ms of planning against 0.5 ms of execution for a
search or a list of payslips, bench/results/plans.txt).

A transaction that has only read loses nothing by committing instead: nothing is
written either way, and locks and transaction-local settings end alike. So the
connection notes every statement that is not a plain SELECT, and at the end of a
request (`finish_read_only`) a transaction that ran none is committed. One that wrote
anything is left to the session's usual rollback: a view that did not commit its
changes keeps them from being stored, as before.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, scoped_session

#: Connection.info key: the open transaction ran a statement other than a plain SELECT.
WROTE = "grp_transaction_wrote"
#: Session.info key: the connection of the session's latest transaction.
_CONNECTION = "grp_transaction_connection"


def _note_statement(
    connection: sa.Connection,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: Any,
    executemany: bool,
) -> None:
    # WITH may hold an INSERT or UPDATE, and anything else may write: only a statement
    # that starts with SELECT counts as reading. (A SELECT ... FOR UPDATE only locks,
    # and COMMIT releases its locks as ROLLBACK does.)
    if executemany or statement.lstrip()[:6].upper() != "SELECT":
        connection.info[WROTE] = True


def _on_begin(session: Session, transaction: Any, connection: sa.Connection) -> None:
    connection.info[WROTE] = False
    session.info[_CONNECTION] = connection


def install_read_only_tracking(engine: Engine) -> None:
    """Note writes on `engine`'s connections, per transaction (idempotent)."""
    if not event.contains(engine, "before_cursor_execute", _note_statement):
        event.listen(engine, "before_cursor_execute", _note_statement)
    if not event.contains(Session, "after_begin", _on_begin):
        event.listen(Session, "after_begin", _on_begin)


def finish_read_only(session: Session | scoped_session) -> bool:
    """Commit the session's transaction if it only read; True when it did.

    Anything else (no transaction, a write, a failed commit) is left for the
    session's close to roll back.
    """
    real = session() if isinstance(session, scoped_session) else session
    if not real.in_transaction() or real.new or real.dirty or real.deleted:
        return False
    connection = real.info.get(_CONNECTION)
    if connection is None or connection.closed or not connection.in_transaction():
        return False  # nothing was sent to the database in this transaction
    if connection.info.get(WROTE, True):
        return False
    try:
        real.commit()
    except SQLAlchemyError:
        real.rollback()
        return False
    return True
