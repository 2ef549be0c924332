"""Department tenancy: every department-owned row is visible only to its department.

The current department lives on the SQLAlchemy session (`session.info`), set
once per request, CLI command or job. From it:

* every ORM SELECT, UPDATE and DELETE on a tenant model gets
  `department_id = <current>` added (`do_orm_execute` + `with_loader_criteria`); a
  SELECT marked `reusable` (built once, its values bound at execution) keeps its scoped
  form per department instead of having it built on every run;
* every flushed insert takes the current department, and an object of another
  department (a foreign id given explicitly, or one left in the identity map)
  is refused at flush;
* `text()` and Core statements on tenant tables that bypass the ORM are refused
  unless explicitly marked as reviewed;
* switching department expunges department-owned objects, so `session.get()` cannot hand
  back a row of the previous department without asking the database;
* on PostgreSQL the session's department is set on its connection
  (`set_config('grp.department_id')`) before the first statement of every session
  transaction, and row-level security policies (see `rls_policy_sql`) enforce the
  same rule again for a role that does not own the tables. GRP's connections open a
  database transaction only when a statement may write (grp/transactions.py), so the
  setting is made for the connection, not for one transaction: the connection
  remembers what it holds (sent again only when it differs), and one returned to
  the pool still holding a department is cleared before anything but a session
  runs a statement on it (`_clear_unclaimed`). With checks answered later
  (`set_department_checked_later`, a GET's caller checks) the setting rides along with
  the transaction's first statement instead (grp/driver.py `ride_along`): in its round
  trip when that statement runs on the driver, alone just before it otherwise (an
  engine `before_execute` listener). Code that runs SQL on the DBAPI connection itself
  must call `settle_checks` first.

Reading across departments is the single audited, read-only call
`all_departments()`.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import ORMExecuteState, Session, scoped_session, with_loader_criteria
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.util import find_tables

from grp.db import TenantMixin
from grp.driver import drop_rider, ride_along, run_on_driver, send_rider
from grp.transactions import outside_transaction, transaction_open

DEPARTMENT_KEY = "grp_department_id"
ALL_DEPARTMENTS_KEY = "grp_all_departments"
#: Execution option that lets a statement pass the tenancy guards. Only for code
#: that has been reviewed to scope itself (bulk inserts through `bulk_insert`,
#: health checks, migrations helpers).
REVIEWED = "grp_tenancy_reviewed"
#: Execution option of a SELECT built once and run many times with bound parameters
#: (`reusable`): its department-scoped form is kept per department instead of being
#: built, and its cache key computed, on every execution.
REUSED = "grp_tenancy_reused"
_FLUSHING = "grp_flushing"
#: session.info keys: how many transactions `_on_begin` has started (so a sync right
#: after a begin does not send the settings twice), and the checks of
#: `set_department_checked` waiting for / answered by the settings statement.
_BEGUN = "grp_transactions_begun"
_PENDING_CHECKS = "grp_pending_checks"
_CHECKS_ANSWER = "grp_checks_answer"
#: Session.info key: the checks pending are answered later (`set_department_checked_later`),
#: to this callable.
_CHECKS_LATER = "grp_checks_later"
#: Session.info key: the connection its checks wait on to ride along.
_RIDING = "grp_checks_riding"


class TenancyError(RuntimeError):
    """An operation would cross the department boundary, or has no department."""


def _is_tenant_table(table: Any) -> bool:
    columns = getattr(table, "c", None)
    if columns is None:
        return False
    column = columns.get("department_id")
    return column is not None and bool(column.info.get("grp_tenant"))


def _tenant_tables(statement: Any) -> list[Any]:
    tables = find_tables(
        statement, include_aliases=True, include_joins=True, include_selects=True, include_crud=True
    )
    return [t for t in tables if _is_tenant_table(getattr(t, "element", t))]


# --------------------------------------------------------------------------- state


def _real(session: Session | scoped_session) -> Session:
    """The session itself, also when given Flask-SQLAlchemy's scoped `db.session`."""
    return session() if isinstance(session, scoped_session) else session


def current_department_id(session: Session) -> int | None:
    """The department the session acts for, or None."""
    session = _real(session)
    return session.info.get(DEPARTMENT_KEY)


def is_all_departments(session: Session) -> bool:
    session = _real(session)
    return bool(session.info.get(ALL_DEPARTMENTS_KEY))


def _sync_database_setting(session: Session) -> None:
    """Push the department to the session's PostgreSQL connection, if it has one."""
    if session.in_transaction():
        begun = session.info.get(_BEGUN, 0)
        connection = session.connection()
        if session.info.get(_BEGUN, 0) != begun:
            return  # the transaction started just now and `_on_begin` sent the settings
        if connection.dialect.name == "postgresql":
            _set_config(connection, session, may_skip=False)


_DEPARTMENT_PARAM = "grp_department_setting"
_ALL_DEPARTMENTS_PARAM = "grp_all_departments_setting"
_LOCAL_PARAM = "grp_settings_local"
_SETTINGS = (
    sa.func.set_config(
        "grp.department_id", sa.bindparam(_DEPARTMENT_PARAM), sa.bindparam(_LOCAL_PARAM)
    ).label("department_setting"),
    sa.func.set_config(
        "grp.all_departments", sa.bindparam(_ALL_DEPARTMENTS_PARAM), sa.bindparam(_LOCAL_PARAM)
    ).label("all_departments_setting"),
)
#: Connection.info key (it lives as long as the database connection): the settings the
#: connection holds for itself, beyond any transaction, as (department, all departments).
#: Absent: none, as a new connection, which no policy lets see a row.
_HELD = "grp_settings_held"
_NONE_HELD = ("", "off")
#: Connection.info key: a session has taken this connection since it left the pool (and
#: sets its department itself); cleared when the connection goes back.
_CLAIMED = "grp_settings_claimed"
#: The settings statement, alone and with each set of checks, built once: a statement
#: built afresh per transaction costs SQLAlchemy a cache-key walk every time.
_SETTINGS_STATEMENTS: dict[tuple[Any, ...], sa.Select[Any]] = {
    (): sa.select(*_SETTINGS).execution_options(**{REVIEWED: True})
}


def _settings_statement(checks: tuple[Any, ...]) -> sa.Select[Any]:
    statement = _SETTINGS_STATEMENTS.get(checks)
    if statement is None:
        statement = sa.select(*_SETTINGS, *checks)
        if _tenant_tables(statement):
            raise TenancyError("checks sent with the department setting must read global tables")
        # Reviewed here, once: the engine guard need not walk it on every transaction.
        statement = statement.execution_options(**{REVIEWED: True})
        _SETTINGS_STATEMENTS[checks] = statement
    return statement


def _set_config(connection: sa.Connection, session: Session, *, may_skip: bool) -> None:
    """Give `connection` the session's department settings.

    Outside a transaction (autocommit, grp/transactions.py) they are set for the
    connection and remembered; inside one, for that transaction only, which ends them
    with it. `may_skip`: no transaction-local setting can be in force (a session
    transaction is just beginning), so settings the connection already holds need not
    be sent again.
    """
    wanted = (
        str(session.info.get(DEPARTMENT_KEY) or ""),
        "on" if is_all_departments(session) else "off",
    )
    # Questions `set_department_checked` asks ride along in the same statement.
    checks, check_params = session.info.pop(_PENDING_CHECKS, ((), {}))
    answer_later = session.info.pop(_CHECKS_LATER, None) if checks else None
    info = connection.info
    if may_skip and not checks and wanted == info.get(_HELD, _NONE_HELD):
        return
    for_connection = outside_transaction(connection)
    statement = _settings_statement(checks)
    values = {
        _DEPARTMENT_PARAM: wanted[0],
        _ALL_DEPARTMENTS_PARAM: wanted[1],
        _LOCAL_PARAM: not for_connection,
        **check_params,
    }
    if answer_later is not None:

        def answered(keys: tuple[str, ...], rows: list[list[Any]]) -> None:
            if for_connection:
                info[_HELD] = wanted
            answer_later(dict(zip(keys, rows[0], strict=True)))

        # With the session's next statement, in its round trip (grp/driver.py).
        if ride_along(connection, statement, values, answered):
            session.info[_RIDING] = connection
            return
    # Sent by every request: straight on the driver where it can be (grp/driver.py),
    # it costs about two thirds of SQLAlchemy's execution.
    found = run_on_driver(connection, statement, values)
    if found is None:
        row: Mapping[str, Any] = connection.execute(statement, values).one()._mapping
    else:
        keys, rows = found
        row = dict(zip(keys, rows[0], strict=True))
    if for_connection:
        info[_HELD] = wanted
    if answer_later is not None:
        answer_later(row)
    elif checks:
        session.info[_CHECKS_ANSWER] = row


def set_department_checked(
    session: Session,
    department_id: int | None,
    checks: tuple[sa.ColumnElement[Any], ...],
    params: Mapping[str, Any],
) -> Mapping[str, Any]:
    """Act for `department_id` and answer `checks` (scalar columns) in the same round trip.

    On PostgreSQL the checks are added to the statement that sets the department for
    the transaction, so a request that re-validates cached data before its work
    (grp/auth/callers.py) spends no extra round trip on it. Elsewhere, or when that
    statement is not sent, they are asked in a statement of their own. The checks
    must read global tables only: they run before the department is known to hold.
    Pass the same `checks` tuple every time (a constant, values in `params`): the
    statement is built once per tuple. Returns the answers by the checks' labels.
    """
    session = _real(session)
    session.info[_PENDING_CHECKS] = (checks, params)
    try:
        set_current_department(session, department_id)
        session.connection()  # begins the transaction (and sends the settings) if needed
    finally:
        session.info.pop(_PENDING_CHECKS, None)
    row = session.info.pop(_CHECKS_ANSWER, None)
    if row is None:
        statement = _CHECK_STATEMENTS.get(checks)
        if statement is None:
            statement = _CHECK_STATEMENTS[checks] = sa.select(*checks)
        row = session.execute(statement, params).one()._mapping
    return row


def set_department_checked_later(
    session: Session,
    department_id: int | None,
    checks: tuple[sa.ColumnElement[Any], ...],
    params: Mapping[str, Any],
    answer: Callable[[Mapping[str, Any]], None],
) -> None:
    """`set_department_checked`, but `answer` gets the answers when they come: with the
    session's next statement, in its round trip, where that statement runs on the
    driver (grp/driver.py); before any other statement, on their own.

    Saves a read-only request one round trip. The caller must make sure the answers came
    before anything leaves the request (`settle_checks`); `answer` may raise, and the
    statement they rode with then returns nothing. Not on PostgreSQL through psycopg,
    `answer` is called before this returns.
    """
    session = _real(session)
    if session.get_bind().dialect.driver != "psycopg":
        answer(set_department_checked(session, department_id, checks, params))
        return
    session.info[_PENDING_CHECKS] = (checks, params)
    session.info[_CHECKS_LATER] = answer
    # Where this sends the settings (a connection is in use already), the checks ride
    # along with them to the next statement; otherwise the transaction's start does.
    set_current_department(session, department_id)


def drop_checks(session: Session) -> None:
    """Forget checks still waiting (`set_department_checked_later`) without sending them."""
    session = _real(session)
    for key in (_PENDING_CHECKS, _CHECKS_LATER):
        session.info.pop(key, None)
    connection = session.info.pop(_RIDING, None)
    if connection is not None and not connection.closed:
        drop_rider(connection.info)


def settle_checks(session: Session) -> None:
    """Send checks still waiting (`set_department_checked_later`) now, on their own."""
    session = _real(session)
    if _CHECKS_LATER in session.info:
        connection = session.connection()  # a new transaction takes them (`_on_begin`)
        if _CHECKS_LATER in session.info:
            _set_config(connection, session, may_skip=False)
    connection = session.info.pop(_RIDING, None)
    if connection is not None and not connection.closed:
        send_rider(connection)


#: The checks asked on their own (SQLite; a transaction already under way), per tuple.
_CHECK_STATEMENTS: dict[tuple[Any, ...], sa.Select[Any]] = {}


def _expunge_tenant_objects(session: Session) -> None:
    """Forget department-owned objects; global ones (users, departments) stay usable."""
    for obj in list(session.identity_map.values()):
        # An earlier expunge may have cascaded to this object (cascade="all").
        if isinstance(obj, TenantMixin) and obj in session:
            session.expunge(obj)


def set_current_department(session: Session, department_id: int | None) -> None:
    """Act for `department_id` from now on in this session.

    Switching to another department is refused while changes are unflushed, and
    removes department-owned objects from the identity map so none of the previous department can be
    returned from it.
    """
    session = _real(session)
    previous = session.info.get(DEPARTMENT_KEY)
    if previous == department_id:
        return
    if session.new or session.dirty or session.deleted:
        raise TenancyError(
            "cannot switch department with unflushed changes; commit or roll back first"
        )
    if previous is not None:
        _expunge_tenant_objects(session)
    session.info[DEPARTMENT_KEY] = department_id
    _sync_database_setting(session)


@contextmanager
def department_context(session: Session, department_id: int) -> Iterator[None]:
    """Act for `department_id` inside the block (CLI commands, jobs, tests)."""
    session = _real(session)
    previous = session.info.get(DEPARTMENT_KEY)
    set_current_department(session, department_id)
    try:
        yield
    finally:
        if session.new or session.dirty or session.deleted:
            session.rollback()
        set_current_department(session, previous)


@contextmanager
def all_departments(session: Session, *, reason: str, audit: Any) -> Iterator[None]:
    """Read every department's rows inside the block: read-only and audited.

    This is the only unscoped access. `audit` is a callable that records who did
    it and why (`grp.audit.record_cross_department_read` bound to the actor);
    the caller must already have checked that the actor is a system
    administrator. Department-owned objects loaded inside the block are
    expunged on exit.
    """
    session = _real(session)
    if not reason or not reason.strip():
        raise TenancyError("a reason is required to read across departments")
    if session.new or session.dirty or session.deleted:
        raise TenancyError("flush or roll back before reading across departments")
    audit(reason)
    session.flush()
    # The block runs in a savepoint that is always rolled back: it is read-only by
    # contract, and a failed write inside must not take the audit entry with it.
    savepoint = session.begin_nested()
    session.info[ALL_DEPARTMENTS_KEY] = True
    _sync_database_setting(session)
    try:
        yield
    finally:
        session.info[ALL_DEPARTMENTS_KEY] = False
        if savepoint.is_active:
            savepoint.rollback()
        _expunge_tenant_objects(session)
        _sync_database_setting(session)


# --------------------------------------------------------------------------- bulk


def bulk_insert(
    session: Session,
    model: type,
    rows: Sequence[Mapping[str, Any]],
    *,
    returning: Sequence[sa.ColumnElement[Any]] = (),
) -> list[tuple[Any, ...]]:
    """Insert many rows of a tenant model into the current department, fast.

    The department is stamped on every row here, so callers cannot forget it or
    pass another department's id. With `returning` (columns of the model's table), the
    inserted rows' values of those columns come back, one tuple per row, in no
    particular order: return a key with the generated id to match them up.
    """
    session = _real(session)
    department_id = current_department_id(session)
    if department_id is None or is_all_departments(session):
        raise TenancyError("bulk insert needs a current department (and not all-departments mode)")
    stamped = []
    for row in rows:
        if row.get("department_id", department_id) != department_id:
            raise TenancyError("bulk insert row carries another department's id")
        stamped.append({**row, "department_id": department_id})
    if not stamped:
        return []
    table = model.__table__
    columns, complete = _complete_rows(table, stamped)
    if len(complete) >= ARRAY_INSERT_MIN_ROWS and session.get_bind().dialect.name == "postgresql":
        return _insert_as_arrays(session, table, columns, complete, returning)
    statement = sa.insert(table).execution_options(**{REVIEWED: True})
    if not returning:
        session.execute(statement, complete)
        return []
    return [tuple(row) for row in session.execute(statement.returning(*returning), complete)]


#: From this many rows, `bulk_insert` on PostgreSQL sends one statement carrying an array
#: per column (`INSERT ... SELECT * FROM unnest(...)`) instead of an INSERT per row: the
#: server parses, plans and checks row-level security once per statement, not per row
#: (payroll's 50,000 payslips with their lines, the seeding of 50,000 employees).
ARRAY_INSERT_MIN_ROWS = 2
_COLLATE = re.compile(r"\s+COLLATE\s+\S+$")


def _complete_rows(
    table: sa.Table, rows: list[dict[str, Any]]
) -> tuple[list[sa.Column], list[dict[str, Any]]]:
    """Give every row the same keys: those any row names, plus the columns with a
    Python-side default (the default fills a row that does not name the column).

    An executemany takes its columns from the first row and would silently drop a key
    only later rows have; the column arrays need one value per row and column.
    """
    named = set().union(*(row.keys() for row in rows))
    columns = []
    fallbacks: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if default is not None and default.is_callable:
            # No-argument callables (utcnow): SQLAlchemy wraps them to take a context.
            fallbacks[column.key] = default.arg(None)
        elif default is not None and default.is_scalar:
            fallbacks[column.key] = default.arg
        elif column.key not in named:
            continue
        else:
            fallbacks[column.key] = None
        columns.append(column)
    complete = [
        {key: row.get(key, fallback) for key, fallback in fallbacks.items()} for row in rows
    ]
    return columns, complete


def _insert_as_arrays(
    session: Session,
    table: sa.Table,
    columns: list[sa.Column],
    rows: list[dict[str, Any]],
    returning: Sequence[sa.ColumnElement[Any]],
) -> list[tuple[Any, ...]]:
    """INSERT complete `rows` into `table` as one statement of column arrays (and return
    the `returning` columns of the rows inserted).

    Values go through each column's bind processing (Money to fils, UTC datetimes, JSON)
    as an executemany's would.
    """
    connection = session.connection()
    dialect = connection.dialect
    preparer = dialect.identifier_preparer
    parameters: dict[str, list[Any]] = {}
    selects = []
    for number, column in enumerate(columns):
        process = column.type._cached_bind_processor(dialect)
        values = [row[column.key] for row in rows]
        if process is not None:
            values = [process(value) for value in values]
        literal = array_literal(values)
        parameters[f"c{number}"] = values if literal is None else literal
        element_type = _COLLATE.sub("", column.type.compile(dialect=dialect))
        selects.append(f"%(c{number})s::{element_type}[]")
    names = ", ".join(preparer.quote(column.name) for column in columns)
    # Only the model's own table and column names and type names are spliced in; every
    # value travels as a bound parameter.
    statement = (
        f"INSERT INTO {preparer.format_table(table)} ({names}) "  # noqa: S608
        f"SELECT * FROM unnest({', '.join(selects)})"
    )
    if returning:
        for column in returning:
            if column.table is not table:  # type: ignore[attr-defined]
                raise ValueError(f"{column} is not a column of {table.name}")
        statement += " RETURNING " + ", ".join(preparer.quote(c.name) for c in returning)  # type: ignore[attr-defined]
    result = connection.exec_driver_sql(statement, parameters, execution_options={REVIEWED: True})
    return [tuple(row) for row in result] if returning else []


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _boolean(value: bool) -> str:
    return "t" if value else "f"


#: How `array_literal` writes an element of each (exact) Python type. A date, a
#: timestamp's ISO form and a number contain nothing an array literal must quote.
_ARRAY_ELEMENT: dict[type, Callable[[Any], str]] = {
    int: int.__repr__,
    bool: _boolean,
    str: _quoted,
    Decimal: Decimal.__str__,
    date: date.isoformat,
    datetime: datetime.isoformat,
}


def array_literal(values: Sequence[Any]) -> str | None:
    """PostgreSQL's text form of an array of `values` (`{1,NULL,"a \\"b\\""}`), or None
    when a value is of a type not written here (psycopg then adapts the list).

    psycopg's list adapter is written in Python and looks up a dumper and escapes every
    element: it was a quarter of the seeding's CPU. This writes the same text, one
    `str.join` per column; the server parses it as it parsed psycopg's (`array_in`).
    """
    kinds = set(map(type, values))
    has_null = type(None) in kinds
    kinds.discard(type(None))
    writers = [_ARRAY_ELEMENT.get(kind) for kind in kinds]
    if None in writers:
        return None
    if len(writers) == 1 and not has_null:
        return "{" + ",".join(map(writers[0], values)) + "}"
    write = _ARRAY_ELEMENT
    return (
        "{"
        + ",".join("NULL" if value is None else write[type(value)](value) for value in values)
        + "}"
    )


# --------------------------------------------------------------------------- guards


def _department_criteria(department_id: int):  # noqa: ANN202 - SQLAlchemy option
    return with_loader_criteria(
        TenantMixin,
        lambda cls: cls.department_id == department_id,
        include_aliases=True,
    )


#: Reusable statement -> {department id: its scoped form}. Weak: a statement dropped by
#: its owner's cache takes its scoped forms with it.
_SCOPED: weakref.WeakKeyDictionary[Any, dict[int, Any]] = weakref.WeakKeyDictionary()


def reusable(statement: sa.Select[Any]) -> sa.Select[Any]:
    """Mark a SELECT that is kept and run many times, its values given at execution.

    Build it once with named bound parameters (`sa.bindparam("name", value)`) and pass
    the values to `session.execute(statement, {"name": ...})`. Scoping it to the
    department then costs a dictionary lookup: the scoped form is built, and its cache
    key computed, once per department rather than on every execution (for a search,
    a quarter of a millisecond). Only for statements that live as long as the process
    (a module-level constant, a bounded cache): each keeps its scoped forms.
    """
    return statement.execution_options(**{REUSED: True})


def _scoped(statement: Any, department_id: int, reused: bool) -> Any:
    if not reused:
        return statement.options(_department_criteria(department_id))
    forms = _SCOPED.get(statement)
    if forms is None:
        forms = _SCOPED.setdefault(statement, {})
    scoped = forms.get(department_id)
    if scoped is None:
        scoped = forms[department_id] = statement.options(_department_criteria(department_id))
    return scoped


def scoped_reusable(session: Session | scoped_session, statement: Any) -> Any | None:
    """The form of reusable SELECT `statement` the session runs for its current department.

    The statement `_scope_orm_execute` would send, for code that runs it on the driver
    (grp/driver_rows.py). None when the session reads across all departments or acts
    for none, or the statement is not a reusable ORM SELECT: run it through the session.
    """
    session = _real(session)
    department_id = session.info.get(DEPARTMENT_KEY)
    if (
        not isinstance(statement, sa.Select)
        or department_id is None
        or is_all_departments(session)
        or not statement._execution_options.get(REUSED)
        or statement._execution_options.get(REVIEWED)
        or statement._propagate_attrs.get("compile_state_plugin") != "orm"
    ):
        return None
    return _scoped(statement, department_id, True)


def _scope_orm_execute(state: ORMExecuteState) -> None:
    session = state.session
    statement = state.statement
    options = state.local_execution_options
    if options.get(REVIEWED) or state.execution_options.get(REVIEWED):
        return
    if isinstance(statement, TextClause):
        raise TenancyError(
            "raw SQL through the session bypasses department scoping; use the ORM, or mark "
            f"a reviewed statement with execution_options({REVIEWED}=True)"
        )
    if statement._propagate_attrs.get("compile_state_plugin") != "orm":
        # A Core statement (tables, no ORM entities) bypasses with_loader_criteria.
        tables = _tenant_tables(statement)
        if tables:
            raise TenancyError(
                f"Core statement on tenant table {tables[0].name!r} is not department-scoped; "
                "use the ORM entity or grp.tenancy.bulk_insert"
            )
        return
    all_mode = is_all_departments(session)
    department_id = current_department_id(session)
    if state.is_select:
        if all_mode:
            state.update_execution_options(**{REVIEWED: True})
            return
        if department_id is None:
            if _tenant_tables(statement):
                raise TenancyError("no current department: tenant data cannot be read")
            return
        reused = bool(state.execution_options.get(REUSED))
        state.statement = _scoped(statement, department_id, reused)
        state.update_execution_options(**{REVIEWED: True})
        return
    if not _tenant_tables(statement):
        return
    if all_mode:
        raise TenancyError("reading across departments is read-only")
    if department_id is None:
        raise TenancyError("no current department: tenant data cannot be changed")
    if state.is_insert:
        _check_insert_parameters(state, department_id)
    elif state.is_update or state.is_delete:
        if state.is_update and "department_id" in {
            getattr(key, "key", key) for key in (statement._values or {})
        }:
            raise TenancyError("a record cannot be moved to another department")
        state.statement = statement.options(_department_criteria(department_id))
    state.update_execution_options(**{REVIEWED: True})


def _check_insert_parameters(state: ORMExecuteState, department_id: int) -> None:
    parameters = state.parameters
    rows = parameters if isinstance(parameters, list) else [parameters or {}]
    values = state.statement._values or {}
    for row in rows:
        given = row.get("department_id") if row else None
        if given is None and values:
            for key, value in values.items():
                if getattr(key, "key", key) == "department_id":
                    given = getattr(value, "value", value)
        if given != department_id:
            raise TenancyError(
                "insert into a tenant table must carry the current department; "
                "use grp.tenancy.bulk_insert"
            )


def _guard_flush(session: Session, flush_context: Any, instances: Any) -> None:
    department_id = current_department_id(session)
    all_mode = is_all_departments(session)
    for obj in session.new:
        if not isinstance(obj, TenantMixin):
            continue
        if all_mode or department_id is None:
            raise TenancyError(
                f"cannot create {type(obj).__name__}: no current department"
                if department_id is None
                else "reading across departments is read-only"
            )
        if obj.department_id is None:
            obj.department_id = department_id
        elif obj.department_id != department_id:
            raise TenancyError(
                f"refusing to insert {type(obj).__name__} into department {obj.department_id} "
                f"while acting for department {department_id}"
            )
    for obj in list(session.dirty) + list(session.deleted):
        if not isinstance(obj, TenantMixin):
            continue
        history = sa.inspect(obj).attrs.department_id.history
        original = history.deleted[0] if history.deleted else obj.department_id
        if all_mode:
            raise TenancyError("reading across departments is read-only")
        if history.has_changes() and history.deleted:
            raise TenancyError("a record cannot be moved to another department")
        if original != department_id:
            raise TenancyError(
                f"refusing to change {type(obj).__name__} of department {original} "
                f"while acting for department {department_id}"
            )
    session.connection().info[_FLUSHING] = True


def _end_flush(session: Session, flush_context: Any) -> None:
    session.connection().info[_FLUSHING] = False


def _on_begin(session: Session, transaction: Any, connection: sa.Connection) -> None:
    info = connection.info
    info[_FLUSHING] = False
    session.info[_BEGUN] = session.info.get(_BEGUN, 0) + 1
    if connection.dialect.name != "postgresql":
        return
    info[_CLAIMED] = True
    # A connection that already holds what the session wants is not sent it again (a
    # worker serving one department's pages sets it once per connection). A connection
    # still holding another session's department is cleared even when this one has none.
    _set_config(connection, session, may_skip=not transaction_open(connection))


def _release_claim(dbapi_connection: Any, record: Any) -> None:
    record.info.pop(_CLAIMED, None)
    drop_rider(record.info)  # of a request that ended without it: never sent


_CLEAR_SETTINGS = (
    "SELECT set_config('grp.department_id', '', false), "
    "set_config('grp.all_departments', 'off', false)"
)


def _clear_unclaimed(
    connection: sa.Connection,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: Any,
    executemany: bool,
) -> None:
    """Clear a department the connection still holds from its previous user before a
    statement that no session has set the department for (engine.connect(), a job's
    own short transaction): it must see what a new connection would."""
    info = connection.info
    if info.get(_CLAIMED) or info.get(_HELD, _NONE_HELD) == _NONE_HELD:
        return
    # First among the engine's listeners, so this runs before a transaction is opened:
    # it holds for the connection. (Inside one, a rollback could undo it: not noted.)
    settled = outside_transaction(connection)
    # On the connection, not `cursor`: that may be a server-side cursor (yield_per).
    cursor.connection.execute(_CLEAR_SETTINGS, prepare=False)
    if settled:
        info[_HELD] = _NONE_HELD


def _guard_engine_execute(
    connection: sa.Connection,
    clause: Any,
    multiparams: Any,
    params: Any,
    execution_options: Mapping[str, Any],
) -> None:
    """Refuse statements that reach tenant tables without going through the session.

    Statements from the session's own flush and from `do_orm_execute` (which
    marks them reviewed after scoping) pass; `Connection.execute(text(...))`
    and Core statements on tenant tables do not.
    """
    if execution_options.get(REVIEWED) or connection._execution_options.get(REVIEWED):
        return
    if connection.info.get(_FLUSHING):
        return
    if isinstance(clause, TextClause):
        raise TenancyError(
            "raw SQL bypasses department scoping; mark a reviewed statement with "
            f"execution_options({REVIEWED}=True)"
        )
    if isinstance(clause, sa.sql.ClauseElement):
        tables = _tenant_tables(clause)
        if tables:
            raise TenancyError(
                f"statement on tenant table {tables[0].name!r} bypasses department scoping"
            )


def install_session_guards() -> None:
    """Attach the ORM-level guards to every SQLAlchemy session (idempotent)."""
    if not event.contains(Session, "do_orm_execute", _scope_orm_execute):
        event.listen(Session, "do_orm_execute", _scope_orm_execute)
        event.listen(Session, "before_flush", _guard_flush)
        event.listen(Session, "after_flush_postexec", _end_flush)
        event.listen(Session, "after_begin", _on_begin)


def install_engine_guard(engine: Engine) -> None:
    """Attach the connection-level guards to the application's engine (idempotent)."""
    if not event.contains(engine, "before_execute", _guard_engine_execute):
        event.listen(engine, "before_execute", _guard_engine_execute)
    if engine.dialect.name == "postgresql" and not event.contains(
        engine, "before_cursor_execute", _clear_unclaimed
    ):
        event.listen(engine, "before_cursor_execute", _clear_unclaimed, insert=True)
        event.listen(engine, "checkin", _release_claim)
        # Checks waiting to ride along with a statement run on the driver go first, on
        # their own, when the statement goes through SQLAlchemy instead.
        event.listen(engine, "before_execute", _send_rider_first, insert=True)


def _send_rider_first(connection: sa.Connection, *args: Any) -> None:
    send_rider(connection)


# --------------------------------------------------------------------------- PostgreSQL


def rls_policy_sql(table: str) -> list[str]:
    """The statements that put a tenant table under row-level security.

    Rows are visible and writable only when their department is the one set for
    the connection (or the transaction); `grp.all_departments` opens reading (never
    writing) for the audited cross-department call. FORCE applies the policies to the table owner
    too; superusers and BYPASSRLS roles are still exempt, which is why the app
    must not run as one.
    """
    # Each setting is read in a scalar subquery, which PostgreSQL evaluates once per
    # statement (an InitPlan) instead of once per row: a scan of a 10,000-employee
    # department under the policy took 7.4 ms with per-row calls, 5.1 ms like this.
    department = "(SELECT NULLIF(current_setting('grp.department_id', true), '')::integer)"
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY {table}_department ON {table} "
        f"USING (department_id = {department}) WITH CHECK (department_id = {department})",
        f"CREATE POLICY {table}_all_departments_read ON {table} FOR SELECT "
        "USING ((SELECT current_setting('grp.all_departments', true)) = 'on')",
    ]


def drop_rls_policy_sql(table: str) -> list[str]:
    return [
        f"DROP POLICY IF EXISTS {table}_all_departments_read ON {table}",
        f"DROP POLICY IF EXISTS {table}_department ON {table}",
        f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]
