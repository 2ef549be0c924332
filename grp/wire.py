"""SELECTs sent on libpq itself: prepared once per connection, pipelined in one trip.

psycopg's cursors cost more client CPU than the statements they send: a request's two
statements (the caller's checks riding with its query, grp/driver.py) took 230 to 340 µs
of the app's CPU through `Connection.pipeline()` and two cursors, of which libpq's own
work and the round trip are about a third (the same two statements sent here: 100 to
115 µs; one statement through a cursor: 120 to 160 µs; bench VM, 2026-12-07). The
difference is psycopg's Python layers around each execute: the cursor, its generators,
the prepared-statement manager, and a poll and a flush per statement.

`run_pipelined` sends statements through psycopg's libpq wrapper (`psycopg.pq`, its
documented low-level interface): each statement is prepared on the connection the first
time it is sent there (the Parse goes in the same trip), then executed by name; one Sync
ends the batch, and the rows are loaded by psycopg's own loaders (`psycopg.adapt
.Transformer`), so they are the values a cursor would give.

Only where nothing is in the way: the connection idle outside a transaction (autocommit,
grp/transactions.py; a failed statement then rolls back nothing but itself) and not in a
pipeline of psycopg's. When psycopg discards prepared statements (it sends DEALLOCATE
ALL after a rollback), a statement missing on the server is prepared again and the batch
sent once more. Any other failure answers None, and the caller runs the statements the
usual way, whose errors are then psycopg's and SQLAlchemy's.
"""

from __future__ import annotations

import itertools
import re
import select
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import pq
from psycopg.adapt import PyFormat, Transformer

#: Connection-record info key (lives as long as the database connection): the names of
#: the statements prepared on it, by (SQL, parameter types).
_PREPARED = "grp_wire_prepared"
#: SQLSTATE of "prepared statement does not exist".
_NO_SUCH_STATEMENT = "26000"
#: Key in the prepared map of the connection's name counter.
_COUNTER = "counter"
_PYFORMAT = re.compile(r"%\(([^)]+)\)s|%%")


@dataclass(frozen=True)
class WireStatement:
    """A statement in libpq's form: `$n` placeholders, the parameter names in order."""

    sql: bytes
    names: tuple[str, ...]

    @classmethod
    def from_pyformat(cls, sql: str) -> WireStatement:
        """From SQL with psycopg's named placeholders (`%(name)s`, `%%` for a percent)."""
        names: list[str] = []
        numbers: dict[str, int] = {}

        def placeholder(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return "%"
            if name not in numbers:
                names.append(name)
                numbers[name] = len(names)
            return f"${numbers[name]}"

        return cls(_PYFORMAT.sub(placeholder, sql).encode(), tuple(names))


@dataclass(frozen=True)
class WireResult:
    """A statement's rows (tuples, as a cursor's `fetchall`) and its columns' type oids."""

    type_codes: tuple[int, ...]
    rows: list[tuple[Any, ...]]


class _Failed(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        self.sqlstate = sqlstate


def usable(driver_connection: Any) -> bool:
    """Whether statements can be sent here: idle outside a transaction, no pipeline, and
    prepared statements allowed (psycopg's `prepare_threshold=None` turns them off, as
    behind a pooler that cannot keep them)."""
    pgconn = driver_connection.pgconn
    return (
        driver_connection.autocommit
        and driver_connection.prepare_threshold is not None
        and pgconn.transaction_status == pq.TransactionStatus.IDLE
        and pgconn.pipeline_status == pq.PipelineStatus.OFF
    )


def run_pipelined(
    driver_connection: Any,
    info: dict[Any, Any],
    statements: Sequence[tuple[WireStatement, Mapping[str, Any]]],
) -> list[WireResult] | None:
    """Run `statements` (SELECTs with their values by name) in one round trip: their
    results in order, or None when they could not be (see the module's docstring).

    `info` keeps, for as long as the database connection lives, what is prepared on it.
    """
    if not usable(driver_connection):
        return None
    prepared = info.setdefault(_PREPARED, {})
    for _attempt in range(2):
        try:
            return _send(driver_connection, prepared, statements)
        except _Failed as failure:
            if failure.sqlstate != _NO_SUCH_STATEMENT:
                return None
            # Deallocated since (psycopg's DEALLOCATE ALL): prepare them again, under
            # new names.
            for key in [key for key in prepared if key != _COUNTER]:
                del prepared[key]
        except Exception:  # noqa: BLE001 - the caller runs them the usual way
            return None
    return None


def _send(
    driver_connection: Any,
    prepared: dict[Any, Any],
    statements: Sequence[tuple[WireStatement, Mapping[str, Any]]],
) -> list[WireResult]:
    pgconn = driver_connection.pgconn
    transformer = Transformer(driver_connection)
    # Values dumped before anything is queued: what cannot be adapted raises here.
    dumped = []
    for statement, values in statements:
        parameters = [values[name] for name in statement.names]
        buffers = transformer.dump_sequence(parameters, [PyFormat.AUTO] * len(parameters))
        dumped.append((statement.sql, buffers, tuple(transformer.types), transformer.formats))
    # Per command sent: the key of the statement it prepares, or None for an execution.
    commands: list[tuple[bytes, tuple[int, ...]] | None] = []
    pgconn.enter_pipeline_mode()
    try:
        for sql, buffers, types, formats in dumped:
            key = (sql, types)
            name = prepared.get(key)
            if name is None:
                name = prepared[key] = f"grp_w{next(_names(prepared))}".encode()
                pgconn.send_prepare(name, sql, param_types=types)
                commands.append(key)
            pgconn.send_query_prepared(name, buffers, param_formats=formats)
            commands.append(None)
        pgconn.pipeline_sync()
        _flush(pgconn)
        results = _collect(pgconn)
    finally:
        if pgconn.pipeline_status != pq.PipelineStatus.OFF:
            pgconn.exit_pipeline_mode()
    ok = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
    for index, key in enumerate(commands):
        if key is not None and (index >= len(results) or results[index].status not in ok):
            prepared.pop(key, None)  # not prepared after all
    failed = next((result for result in results if result.status not in ok), None)
    if failed is not None or len(results) != len(commands):
        sqlstate = failed.error_field(pq.DiagnosticField.SQLSTATE) if failed else None
        raise _Failed(sqlstate.decode() if sqlstate else None)
    found = []
    for result, key in zip(results, commands, strict=True):
        if key is None:
            transformer.set_pgresult(result)
            found.append(
                WireResult(
                    type_codes=tuple(result.ftype(i) for i in range(result.nfields)),
                    rows=transformer.load_rows(0, result.ntuples, tuple),
                )
            )
    return found


def _names(prepared: dict[Any, Any]) -> Iterator[int]:
    """Numbers for the statements prepared on a connection, never used twice (a name
    dropped from `prepared` may still exist on the server)."""
    counter = prepared.get(_COUNTER)
    if counter is None:
        counter = prepared[_COUNTER] = itertools.count()
    return counter


def _wait(pgconn: Any, events: int) -> None:
    poller = select.poll()  # poll, not select: any descriptor number
    poller.register(pgconn.socket, events)
    poller.poll()


def _flush(pgconn: Any) -> None:
    while pgconn.flush():
        _wait(pgconn, select.POLLIN | select.POLLOUT)
        pgconn.consume_input()


def _collect(pgconn: Any) -> list[Any]:
    """The first result of each command sent, up to the Sync."""
    results: list[Any] = []
    current: list[Any] = []
    while True:
        while pgconn.is_busy():
            _wait(pgconn, select.POLLIN)
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None:  # the end of one command's results
            if current:
                results.append(current[0])
                current = []
            continue
        if result.status == pq.ExecStatus.PIPELINE_SYNC:
            break
        current.append(result)
    return results
