"""Checking a pooled database connection only when it has sat idle.

SQLAlchemy's `pool_pre_ping` sends a round trip before every checkout. A web request
checks a connection out once, so that was one round trip in five for every API call
(ping, BEGIN, department setting, the query, COMMIT), and under load, with the app's
workers and PostgreSQL sharing the cores, each round trip costs a wait for the other
side to be scheduled: a sixth of a busy worker's time went to pinging (py-spy on the
benchmark's `me/payslips`).

A connection that was in use a few seconds ago is almost certainly still there. So
the ping is sent only when the connection has been back in the pool for longer than
`GRP_DATABASE_PING_AFTER_SECONDS`, which is what catches the cases the ping is for (a
database restart or a proxy closing idle connections while the app was quiet). A
dead connection found that way is replaced before the request uses it. One that dies
within the window fails its request's first statement; SQLAlchemy then recognises
the disconnect and discards every connection of the pool opened before it, so the
next requests get fresh ones.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

#: ConnectionPoolEntry.info key: time.monotonic() when the connection was checked in.
#: The dictionary lives as long as its DBAPI connection, so a new connection has none
#: (it has just been opened: there is nothing to check).
IDLE_SINCE = "grp_idle_since"

_INSTALLED: weakref.WeakSet[Engine] = weakref.WeakSet()


def install_idle_ping(engine: Engine, after_seconds: float) -> None:
    """Ping `engine`'s connections at checkout when idle for `after_seconds` or more.

    Once per engine: a second call changes nothing.
    """
    if engine in _INSTALLED:
        return
    _INSTALLED.add(engine)
    dialect = engine.dialect

    def checked_in(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            record.info[IDLE_SINCE] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.pop(IDLE_SINCE, None)
        if idle_since is None or time.monotonic() - idle_since < after_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out another (a new one).
            raise DisconnectionError(f"idle database connection is gone: {exc}") from exc

    event.listen(engine, "checkin", checked_in)
    event.listen(engine, "checkout", checked_out)
