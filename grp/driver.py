"""Reviewed SELECTs run straight on the driver (PostgreSQL, psycopg), decided once.

SQLAlchemy's execution of a statement it has run before still costs, on every run, an
execution context, the bound parameters built from the compiled form, the result's
setup and a Row per row with its processing: for a page of 50 employees about 1 ms of
CPU against 0.25 ms for psycopg alone to run the same SQL and fetch the same rows
(bench, 2026-12-06), and about 0.1 ms for the one-row statement that sets a request's
department. For a statement built once and run with new values many times, all of that
can be decided once: `run_on_driver` compiles it once per dialect (its SQL, the values
it fixes itself, the bind and result processors of its columns) and then runs it on the
connection given, returning plain rows with the values SQLAlchemy would give: on libpq
itself, prepared once per connection (grp/wire.py), where the connection is idle
outside a transaction (a read-only request, grp/transactions.py); with the driver's
cursor inside one.

What stays the same as through SQLAlchemy:

* the connection, its transaction and its settings are the caller's;
* the engine's `before_cursor_execute` / `after_cursor_execute` listeners run around it
  (transaction tracking, the department guard, statement counters), with no execution
  context (None);
* errors: when the driver raises, `run_on_driver` answers None and the caller runs the
  statement through SQLAlchemy, so that an error is SQLAlchemy's, wrapped and handled
  (a broken connection invalidated) as always.

A statement can also be given to a connection to **ride along** with its next one
(`ride_along`): when that one runs here, both go to PostgreSQL in one round trip
(libpq's pipeline mode) and the rider's rows reach its callback first; before a
statement run through SQLAlchemy it is sent on its own (`send_rider`, from an engine
listener grp/tenancy.py installs, which also forgets a rider when its connection goes
back to the pool). The request's department setting and its caller's checks ride
along so (grp/auth/context.py): one round trip fewer for a request that only reads.

Only statements that start with SELECT and lock nothing, with unique column keys, on a
driver with named parameters (psycopg); anything else answers None. The statement must
be complete as given: nothing scopes it here (department-owned rows: grp/driver_rows.py
scopes them first).

It builds on SQLAlchemy 2.x internals of a compiled statement (`_bind_processors`,
`_result_columns`, a type's `_cached_result_processor`); if a release moves them, the
statements run through SQLAlchemy again (a warning is logged) and the equivalence
tests (tests/test_driver_rows.py, tests/hr/test_list_rows_from_the_driver.py) fail.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from grp import wire
from grp.transactions import locks_rows
from grp.wire import WireStatement

Processor = Callable[[Any], Any]
_log = logging.getLogger(__name__)


@dataclass
class _Plan:
    """A statement compiled for one dialect, with what running it needs."""

    sql: str
    constants: dict[str, Any]  # values the statement fixes itself, bind-processed
    given: tuple[tuple[str, str, Processor | None], ...]  # (value key, SQL name, processor)
    keys: tuple[str, ...]  # the result columns' keys, as Row._mapping has them
    types: tuple[Any, ...]  # their SQLAlchemy types
    wire: WireStatement  # the SQL in libpq's form (grp/wire.py)
    # (column index, result processor): made at the first run, from the driver's column
    # types (PostgreSQL's numeric processors depend on them).
    processors: tuple[tuple[int, Processor], ...] | None = None


#: Statement -> {dialect: plan, or None when it cannot be run on the driver}. Weak both
#: ways: a statement dropped by its owner's cache, or an engine disposed of (tests make
#: many), takes its plans with it.
_PLANS: weakref.WeakKeyDictionary[Any, weakref.WeakKeyDictionary[Any, _Plan | None]] = (
    weakref.WeakKeyDictionary()
)


def _plan_for(statement: Any, dialect: sa.Dialect, values: Mapping[str, Any]) -> _Plan | None:
    compiled = statement.compile(dialect=dialect)
    if compiled.positional or compiled.escaped_bind_names:
        return None
    if any(bind.callable is not None for bind in compiled.bind_names):
        return None  # a value computed at each execution cannot be fixed in the plan
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
        wire=WireStatement.from_pyformat(sql),
    )


#: Connection.info key: a statement to send ahead of the connection's next one, in the
#: same round trip (`ride_along`).
_RIDER = "grp_driver_rider"

OnRows = Callable[[tuple[str, ...], list[list[Any]]], None]


@dataclass(frozen=True)
class _Rider:
    statement: Any
    values: Mapping[str, Any]
    on_rows: OnRows
    plan: _Plan  # the statement's, made when it was given


def ride_along(
    connection: sa.Connection, statement: Any, values: Mapping[str, Any], on_rows: OnRows
) -> bool:
    """Send SELECT `statement` ahead of the next statement `connection` runs.

    Where the next statement runs on the driver (`run_on_driver`) both go in one round
    trip (psycopg's pipeline mode); any other statement is preceded by this one alone
    (`send_rider`, from an engine listener). `on_rows(keys, rows)` gets its rows before
    the next statement's rows are returned; what it raises is raised instead. False when
    `statement` cannot be run on the driver: run it now instead.
    """
    plan = _plan_of(statement, connection.dialect, values)
    if plan is None:
        return False
    connection.info[_RIDER] = _Rider(statement, values, on_rows, plan)
    return True


def drop_rider(info: dict[Any, Any]) -> None:
    """Forget the statement waiting to ride along on the connection of `info`."""
    info.pop(_RIDER, None)


def send_rider(connection: sa.Connection) -> None:
    """Send the statement waiting to ride along (if any) on its own, now."""
    rider = connection.info.pop(_RIDER, None)
    if rider is None:
        return
    found = run_on_driver(connection, rider.statement, rider.values)
    if found is None:
        result = connection.execute(rider.statement, rider.values)
        found = (tuple(result.keys()), [list(row) for row in result])
    rider.on_rows(*found)


def _result_processors(plan: _Plan, dialect: sa.Dialect, description: Any) -> None:
    found = []
    for index, (type_, column) in enumerate(zip(plan.types, description, strict=True)):
        processor = type_._cached_result_processor(dialect, column.type_code)
        if processor is not None:
            found.append((index, processor))
    plan.processors = tuple(found)


def run_on_driver(
    connection: sa.Connection, statement: Any, values: Mapping[str, Any]
) -> tuple[tuple[str, ...], list[list[Any]]] | None:
    """Run SELECT `statement` with `values` on `connection`'s driver: (column keys, rows).

    None when it cannot be (another driver, a statement of a kind not handled, a driver
    error): run it through SQLAlchemy then. The rows' values are those SQLAlchemy's rows
    would hold, in the order of the keys.
    """
    plan = _plan_of(statement, connection.dialect, values)
    if plan is None:
        return None
    rider = connection.info.pop(_RIDER, None)
    if rider is not None:
        return _execute_with_rider(connection, rider, plan, _parameters(plan, values))
    rows = _execute(connection, plan, _parameters(plan, values))
    return None if rows is None else (plan.keys, rows)


def _parameters(plan: _Plan, values: Mapping[str, Any]) -> dict[str, Any]:
    parameters = dict(plan.constants)
    for key, name, processor in plan.given:
        value = values[key]
        parameters[name] = value if processor is None else processor(value)
    return parameters


def _plan_of(statement: Any, dialect: sa.Dialect, values: Mapping[str, Any]) -> _Plan | None:
    if dialect.driver != "psycopg":
        return None
    plans = _PLANS.get(statement)
    if plans is None:
        plans = _PLANS.setdefault(statement, weakref.WeakKeyDictionary())
    if dialect in plans:
        plan = plans[dialect]
    else:
        try:
            plan = _plan_for(statement, dialect, values)
        except AttributeError:  # a SQLAlchemy release without the internals used here
            _log.warning("statements run through SQLAlchemy, not the driver", exc_info=True)
            plan = None
        plans[dialect] = plan
    return plan


def _execute(
    connection: sa.Connection, plan: _Plan, parameters: dict[str, Any]
) -> list[list[Any]] | None:
    """The processed rows; None when the driver raised (the caller runs it again through
    SQLAlchemy, whose error handling then applies)."""
    fairy = connection.connection
    if wire.usable(fairy.driver_connection):
        found = _run_on_wire(connection, ((plan, parameters),))
        return None if found is None else found[0]
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
    return _processed(plan, fetched)


def _execute_with_rider(
    connection: sa.Connection, rider: _Rider, plan: _Plan, parameters: dict[str, Any]
) -> tuple[tuple[str, ...], list[list[Any]]] | None:
    """The rider and then the statement, in one round trip; the rider's rows go to its
    `on_rows` first. On a driver error both are sent again the usual way (rider alone,
    statement through SQLAlchemy: None)."""
    rider_plan = rider.plan
    rider_parameters = _parameters(rider_plan, rider.values)
    fairy = connection.connection
    driver_connection = fairy.driver_connection
    if wire.usable(driver_connection):
        found = _run_on_wire(connection, ((rider_plan, rider_parameters), (plan, parameters)))
        if found is None:
            connection.info[_RIDER] = rider
            return None
        rider_rows, rows = found
        rider.on_rows(rider_plan.keys, rider_rows)
        return plan.keys, rows
    first, second = fairy.cursor(), fairy.cursor()
    events = connection._has_events or connection.engine._has_events
    try:
        sent = ((first, rider_plan.sql, rider_parameters), (second, plan.sql, parameters))
        if events:
            for cursor, sql, values in sent:
                for listener in connection.dispatch.before_cursor_execute:
                    listener(connection, cursor, sql, values, None, False)
        try:
            # Fetched after the block: leaving it sends the one Sync and reads both
            # results (a fetch inside would sync, and leaving sync again: two trips).
            with driver_connection.pipeline():
                first.execute(rider_plan.sql, rider_parameters)
                second.execute(plan.sql, parameters)
            first_fetched = first.fetchall()
            fetched = second.fetchall()
        except Exception:
            connection.info[_RIDER] = rider
            return None
        if rider_plan.processors is None:
            _result_processors(rider_plan, connection.dialect, first.description)
        if plan.processors is None:
            _result_processors(plan, connection.dialect, second.description)
        if events:
            for cursor, sql, values in sent:
                for listener in connection.dispatch.after_cursor_execute:
                    listener(connection, cursor, sql, values, None, False)
    finally:
        first.close()
        second.close()
    rider.on_rows(rider_plan.keys, _processed(rider_plan, first_fetched))
    return plan.keys, _processed(plan, fetched)


@dataclass(frozen=True)
class _Described:
    """A result column as `_result_processors` reads it (psycopg's `Column` has more)."""

    type_code: int


def _run_on_wire(
    connection: sa.Connection, sent: tuple[tuple[_Plan, dict[str, Any]], ...]
) -> list[list[list[Any]]] | None:
    """The processed rows of each statement, sent on libpq in one round trip
    (grp/wire.py), the engine's cursor listeners called around them; None when that
    failed (the caller runs them through SQLAlchemy, whose errors then apply)."""
    fairy = connection.connection
    events = connection._has_events or connection.engine._has_events
    cursor = fairy.cursor() if events else None
    try:
        if events:
            for plan, parameters in sent:
                for listener in connection.dispatch.before_cursor_execute:
                    listener(connection, cursor, plan.sql, parameters, None, False)
        results = wire.run_pipelined(
            fairy.driver_connection,
            fairy.info,
            [(plan.wire, parameters) for plan, parameters in sent],
        )
        if results is None:
            return None
        if events:
            for plan, parameters in sent:
                for listener in connection.dispatch.after_cursor_execute:
                    listener(connection, cursor, plan.sql, parameters, None, False)
    finally:
        if cursor is not None:
            cursor.close()
    found = []
    for (plan, _), result in zip(sent, results, strict=True):
        if plan.processors is None:
            described = [_Described(code) for code in result.type_codes]
            _result_processors(plan, connection.dialect, described)
        found.append(_processed(plan, result.rows))
    return found


def _processed(plan: _Plan, fetched: list[Any]) -> list[list[Any]]:
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
