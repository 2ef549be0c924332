"""Rows of a reusable SELECT read straight from the driver (PostgreSQL, psycopg).

A page of a list (an employee search: 50 rows of 30 columns) cost about 1 ms of CPU in
SQLAlchemy's execution and result handling against 0.25 ms for psycopg alone to run
the same SQL and fetch the same rows (bench, 2026-12-06): building the execution
context and the bound parameters, the ORM's result setup, a Row and its processing per
row. For a statement that is built once and run with new values many times
(`grp.tenancy.reusable`), all of that can be decided once. `run_reusable_rows` compiles
the statement, as the session would scope it for the current department, once per
department (its SQL, the values it fixes, the bind and result processors of its
columns) and then runs it on the session's own connection with the driver's cursor,
returning plain tuples with the same values SQLAlchemy would give.

What stays the same as through the session:

* the department scoping: the SQL is the compiled form of the statement the session
  would run (`grp.tenancy.scoped_reusable`: the department's criteria on every tenant
  table), and row-level security applies as to every statement;
* the transaction and department setting: the connection comes from
  `session.connection()`, which begins the session's transaction and sends the
  department as any statement does;
* the engine's `before_cursor_execute` / `after_cursor_execute` listeners run around
  it (transaction tracking, statement counters), with no execution context (None);
* errors: when the driver raises, `run_reusable_rows` answers None and the caller runs
  the statement through the session, so that an error is SQLAlchemy's, wrapped and
  handled (a broken connection invalidated) as always.

Only SELECTs that start with SELECT and lock nothing, on a driver with named
parameters (psycopg); anything else answers None and the caller runs the statement
through the session. So does reading across all departments.

It builds on SQLAlchemy 2.x internals of a compiled statement (`_bind_processors`,
`_result_columns`, a type's `_cached_result_processor`); if a release moves them, the
statements run through the session again (a warning is logged) and the equivalence
tests (tests/test_driver_rows.py, tests/hr/test_list_rows_from_the_driver.py) fail.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from grp.tenancy import scoped_reusable
from grp.transactions import locks_rows

Processor = Callable[[Any], Any]
_log = logging.getLogger(__name__)


@dataclass
class _Plan:
    """A scoped reusable statement, compiled for one dialect."""

    sql: str
    constants: dict[str, Any]  # values the statement fixes itself, bind-processed
    given: tuple[tuple[str, str, Processor | None], ...]  # (value key, SQL name, processor)
    keys: tuple[str, ...]  # the result columns' keys, as Row._mapping has them
    types: tuple[Any, ...]  # their SQLAlchemy types
    # (column index, result processor): made at the first run, from the driver's column
    # types (PostgreSQL's numeric processors depend on them).
    processors: tuple[tuple[int, Processor], ...] | None = None


#: Scoped statement -> {dialect: plan, or None when it cannot be run on the driver}. Weak
#: both ways: a statement dropped by its owner's cache, or an engine disposed of (tests
#: make many), takes its plans with it.
_PLANS: weakref.WeakKeyDictionary[Any, weakref.WeakKeyDictionary[Any, _Plan | None]] = (
    weakref.WeakKeyDictionary()
)


def _plan_for(statement: Any, dialect: sa.Dialect, values: Mapping[str, Any]) -> _Plan | None:
    compiled = statement.compile(dialect=dialect)
    if compiled.positional or compiled.escaped_bind_names:
        return None
    given_binds = {bind: name for bind, name in compiled.bind_names.items() if bind.key in values}
    if any(bind in compiled.post_compile_params for bind in given_binds):
        return None  # a list of the caller's would change the SQL with its length
    parameters = compiled.construct_params(values)
    processors = dict(compiled._bind_processors)
    sql = compiled.string
    if compiled.post_compile_params or compiled.literal_execute_params:
        # The statement's own lists (IN with constant values): expanded once, here.
        expanded = compiled.construct_expanded_state(parameters)
        sql, parameters = expanded.statement, dict(expanded.parameters)
        processors.update(expanded.processors)
    names = set(given_binds.values())
    if not names <= parameters.keys():
        return None
    constants = {
        name: (processors[name](value) if name in processors else value)
        for name, value in parameters.items()
        if name not in names
    }
    given = tuple((bind.key, name, processors.get(name)) for bind, name in given_binds.items())
    columns = compiled._result_columns
    keys = tuple(column.keyname for column in columns)
    if len(set(keys)) != len(keys):
        return None
    if sql.lstrip()[:6].upper() != "SELECT" or locks_rows(sql, None):
        return None
    return _Plan(
        sql=sql,
        constants=constants,
        given=given,
        keys=keys,
        types=tuple(column.type for column in columns),
    )


def _result_processors(plan: _Plan, dialect: sa.Dialect, description: Any) -> None:
    found = []
    for index, (type_, column) in enumerate(zip(plan.types, description, strict=True)):
        processor = type_._cached_result_processor(dialect, column.type_code)
        if processor is not None:
            found.append((index, processor))
    plan.processors = tuple(found)


def run_reusable_rows(
    session: Session, statement: sa.Select[Any], values: Mapping[str, Any]
) -> tuple[tuple[str, ...], list[list[Any]]] | None:
    """Run reusable `statement` with `values` on the driver: (column keys, rows).

    None when it cannot be (another driver, all departments, a statement of a kind
    not handled): run it through the session then. The rows' values are those the
    session's rows would hold, in the same order as the keys.
    """
    connection = session.connection()
    dialect = connection.dialect
    if dialect.driver != "psycopg":
        return None
    scoped = scoped_reusable(session, statement)
    if scoped is None:
        return None
    plans = _PLANS.get(scoped)
    if plans is None:
        plans = _PLANS.setdefault(scoped, weakref.WeakKeyDictionary())
    if dialect in plans:
        plan = plans[dialect]
    else:
        try:
            plan = _plan_for(scoped, dialect, values)
        except AttributeError:  # a SQLAlchemy release without the internals used here
            _log.warning("reusable statements run through the session", exc_info=True)
            plan = None
        plans[dialect] = plan
    if plan is None:
        return None
    parameters = dict(plan.constants)
    for key, name, processor in plan.given:
        value = values[key]
        parameters[name] = value if processor is None else processor(value)
    rows = _execute(connection, plan, parameters)
    return None if rows is None else (plan.keys, rows)


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


def _execute(
    connection: sa.Connection, plan: _Plan, parameters: dict[str, Any]
) -> list[list[Any]] | None:
    """The processed rows; None when the driver raised (the caller runs it again through
    the session, whose error handling then applies)."""
    fairy = connection.connection
    cursor = fairy.cursor()
    events = connection._has_events or connection.engine._has_events
    try:
        if events:
            for listener in connection.dispatch.before_cursor_execute:
                listener(connection, cursor, plan.sql, parameters, None, False)
        try:
            cursor.execute(plan.sql, parameters)
            fetched = cursor.fetchall()
        except Exception:
            return None
        if plan.processors is None:
            _result_processors(plan, connection.dialect, cursor.description)
        if events:
            for listener in connection.dispatch.after_cursor_execute:
                listener(connection, cursor, plan.sql, parameters, None, False)
    finally:
        cursor.close()
    processors = plan.processors
    if not processors:
        return [list(row) for row in fetched]
    rows = []
    for row in fetched:
        row = list(row)
        for index, processor in processors:
            row[index] = processor(row[index])
        rows.append(row)
    return rows
