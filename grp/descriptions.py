"""psycopg cursors whose result description is built only when something reads it.

psycopg builds `cursor.description` afresh on every access: one `Column` object per
result column, each decoding its name and looking up its type. SQLAlchemy asks for it
after every statement, but for a statement it has run before (its compiled form
cached, as for every statement of a busy request) it only checks that the answer is
not None: it already knows the result's columns. On the benchmark's employee detail
that was about 40 `Column` objects a request (the department setting and the
employee's 30 columns), built and thrown away.

`LazyDescriptionCursor.description` answers with a sequence that holds the result it
describes and builds psycopg's own `Column` objects, once, the first time it is
indexed or iterated; until then it costs one object. Anything that does
read it (SQLAlchemy for a new statement, `dict_row`, our own code) sees exactly what
psycopg would have given. `install_lazy_descriptions(engine)` makes it the cursor of
the engine's psycopg connections unless another cursor class was configured (for
example `ClientCursor` behind a pooler).
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

try:  # psycopg is the PostgreSQL driver; SQLite-only installs run without it.
    import psycopg
    from psycopg import Column
    from psycopg.pq import ExecStatus
except ImportError:  # pragma: no cover - psycopg is a declared dependency
    psycopg = None  # type: ignore[assignment]

_INSTALLED: weakref.WeakSet[Engine] = weakref.WeakSet()


class _ResultOf:
    """What psycopg's `Column` reads from its cursor, as it was for one result."""

    __slots__ = ("_encoding", "adapters", "pgresult")

    def __init__(self, cursor: Any) -> None:
        self.pgresult = cursor.pgresult
        self._encoding = cursor._encoding
        self.adapters = cursor.adapters


class LazyDescription(Sequence[Any]):
    """The description of one result; its `Column` objects are built when first read."""

    __slots__ = ("_columns", "_result")

    def __init__(self, result: _ResultOf) -> None:
        self._result: _ResultOf | None = result
        self._columns: list[Any] | None = None

    def _built(self) -> list[Any]:
        if self._columns is None:
            result = self._result
            assert result is not None
            self._columns = [Column(result, i) for i in range(result.pgresult.nfields)]  # type: ignore[arg-type]
            self._result = None  # the columns hold what they need
        return self._columns

    def __getitem__(self, index: Any) -> Any:
        return self._built()[index]

    def __len__(self) -> int:
        if self._result is not None:  # not built yet: the result knows its field count
            return self._result.pgresult.nfields
        return len(self._built())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._built())

    def __repr__(self) -> str:
        return repr(self._built())


if psycopg is not None:
    _ROWS = (ExecStatus.TUPLES_OK, ExecStatus.SINGLE_TUPLE, ExecStatus.TUPLES_CHUNK)

    class LazyDescriptionCursor(psycopg.Cursor):  # type: ignore[type-arg]
        """A psycopg cursor whose `description` builds its columns when they are read."""

        @property
        def description(self) -> LazyDescription | None:  # type: ignore[override]
            result = self.pgresult
            # As psycopg: columns when the result has fields or says it returned rows.
            if result and (result.nfields or result.status in _ROWS):
                return LazyDescription(_ResultOf(self))
            return None


def psycopg_internals_present() -> bool:
    """Whether this psycopg has what `LazyDescription` builds its columns from.

    `Column(cursor, index)` reading `pgresult`, `_encoding` and `adapters` is psycopg's
    own (3.2 and 3.3), not a documented interface: a release that changes it leaves
    the engine on psycopg's plain cursor rather than failing (the PostgreSQL tests of
    tests/test_descriptions.py say so when it happens).
    """
    if psycopg is None:
        return False
    try:
        parameters = list(inspect.signature(Column.__init__).parameters)
    except (TypeError, ValueError):  # pragma: no cover - a compiled Column
        return False
    return parameters[1:] == ["cursor", "index"] and hasattr(psycopg.Cursor, "_encoding")


def install_lazy_descriptions(engine: Engine) -> None:
    """Give `engine`'s psycopg connections `LazyDescriptionCursor` (once per engine)."""
    if engine.dialect.driver != "psycopg" or engine in _INSTALLED:
        return
    if not psycopg_internals_present():
        return
    _INSTALLED.add(engine)

    def connected(dbapi_connection: Any, record: Any) -> None:
        # Another cursor class chosen in the connection settings stays.
        if getattr(dbapi_connection, "cursor_factory", None) is psycopg.Cursor:
            dbapi_connection.cursor_factory = LazyDescriptionCursor

    event.listen(engine, "connect", connected)
