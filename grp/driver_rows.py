"""Department-owned rows of a reusable SELECT read straight from the driver.

A page of a list (an employee search: 50 rows of 30 columns), a list of one's
payslips, an employee's detail: statements built once (`grp.tenancy.reusable`) and run
with new values on every request. `run_reusable_rows` takes the form of the statement
the session would run for its current department (`grp.tenancy.scoped_reusable`: the
department's criteria on every tenant table) and runs it on the session's connection
through `grp.driver.run_on_driver`, whose plan is then kept per department. What stays
the same as through the session:

* the department scoping: the SQL is the scoped statement's, and row-level security
  applies to it as to every statement;
* the transaction and department setting: the connection comes from
  `session.connection()`, which begins the session's transaction and sends the
  department as any statement does;
* the engine's cursor listeners, and error handling (grp/driver.py).

Reading across all departments, or for none, and what `run_on_driver` does not handle,
answer None: the caller runs the statement through the session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from grp.driver import run_on_driver
from grp.tenancy import scoped_reusable


def run_reusable_rows(
    session: Session, statement: sa.Select[Any], values: Mapping[str, Any]
) -> tuple[tuple[str, ...], list[list[Any]]] | None:
    """Run reusable `statement` with `values` on the driver: (column keys, rows).

    None when it cannot be (another driver, all departments, a statement of a kind
    not handled): run it through the session then. The rows' values are those the
    session's rows would hold, in the same order as the keys.
    """
    connection = session.connection()
    if connection.dialect.driver != "psycopg":
        return None
    scoped = scoped_reusable(session, statement)
    if scoped is None:
        return None
    return run_on_driver(connection, scoped, values)


def reusable_mappings(
    session: Session, statement: sa.Select[Any], values: Mapping[str, Any]
) -> list[Mapping[str, Any]]:
    """The rows of reusable `statement` with `values`, each a mapping by column key.

    From the driver where `run_reusable_rows` can (dicts), else through the session
    (its RowMappings): the same keys and values either way.
    """
    found = run_reusable_rows(session, statement, values)
    if found is None:
        return list(session.execute(statement, values).mappings())
    keys, rows = found
    return [dict(zip(keys, row, strict=True)) for row in rows]


def reusable_rows(
    session: Session, statement: sa.Select[Any], values: Mapping[str, Any]
) -> tuple[tuple[str, ...], Sequence[Sequence[Any]]]:
    """The rows of reusable `statement` with `values` as sequences of values, and their
    column keys: `reusable_mappings` without making a mapping of each row (for
    `grp.serialisation.compile_row_dump`)."""
    found = run_reusable_rows(session, statement, values)
    if found is None:
        result = session.execute(statement, values)
        return tuple(result.keys()), result.all()
    keys, rows = found
    return tuple(keys), rows
