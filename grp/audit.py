"""Append-only audit log: who, when, department, what, before and after.

Changes to models with `AuditedMixin` are captured at flush and written in the
same transaction, so a rolled-back change leaves no audit entry and a committed
one always has its entry. Database triggers (see the platform migration) refuse
UPDATE and DELETE on the table.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from grp.db import AuditedMixin, utcnow
from grp.models import AuditEntry, Department
from grp.tenancy import current_department_id

ACTOR_KEY = "grp_actor"  # session.info: (user id, username)
REQUEST_ID_KEY = "grp_request_id"


def set_actor(session: Session, user_id: int | None, username: str | None) -> None:
    session.info[ACTOR_KEY] = (user_id, username)


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def _columns(obj: Any) -> list[str]:
    mapper = sa.inspect(type(obj))
    excluded = set(getattr(obj, "__audit_exclude__", ()))
    return [a.key for a in mapper.column_attrs if a.key not in excluded]


def _snapshot(obj: Any) -> dict[str, Any]:
    return {key: _json_value(getattr(obj, key)) for key in _columns(obj)}


def _department_of(session: Session, obj: Any) -> int | None:
    if isinstance(obj, Department):
        return obj.id
    department_id = getattr(obj, "department_id", None)
    return department_id if department_id is not None else current_department_id(session)


def _entity_id(obj: Any) -> str | None:
    # Not the identity key: new objects get that only after after_flush.
    key = sa.inspect(type(obj)).primary_key_from_instance(obj)
    if all(part is None for part in key):
        return None
    return ",".join(str(part) for part in key)


def _entry(session: Session, **values: Any) -> dict[str, Any]:
    actor_id, actor_name = session.info.get(ACTOR_KEY, (None, None))
    return {
        "at": utcnow(),
        "actor_id": actor_id,
        "actor_name": actor_name,
        "request_id": session.info.get(REQUEST_ID_KEY),
        **values,
    }


def _collect_changes(session: Session, flush_context: Any) -> None:
    rows: list[dict[str, Any]] = []
    for obj in session.new:
        if isinstance(obj, AuditedMixin):
            rows.append(
                _entry(
                    session,
                    department_id=_department_of(session, obj),
                    action="create",
                    entity=type(obj).__name__,
                    entity_id=_entity_id(obj),
                    before=None,
                    after=_snapshot(obj),
                )
            )
    for obj in session.dirty:
        if not isinstance(obj, AuditedMixin) or not session.is_modified(obj):
            continue
        state = sa.inspect(obj)
        before, after = {}, {}
        for key in _columns(obj):
            history = state.attrs[key].history
            if history.has_changes():
                before[key] = _json_value(history.deleted[0]) if history.deleted else None
                after[key] = _json_value(history.added[0]) if history.added else None
        if after:
            rows.append(
                _entry(
                    session,
                    department_id=_department_of(session, obj),
                    action="update",
                    entity=type(obj).__name__,
                    entity_id=_entity_id(obj),
                    before=before,
                    after=after,
                )
            )
    for obj in session.deleted:
        if isinstance(obj, AuditedMixin):
            rows.append(
                _entry(
                    session,
                    department_id=_department_of(session, obj),
                    action="delete",
                    entity=type(obj).__name__,
                    entity_id=_entity_id(obj),
                    before=_snapshot(obj),
                    after=None,
                )
            )
    if rows:
        # Core insert inside the flush: adding ORM objects here is not allowed.
        session.connection().execute(sa.insert(AuditEntry.__table__), rows)


def _keep_old_values(mapper: sa.orm.Mapper, cls: type) -> None:
    """Load an expired attribute's old value before it is overwritten.

    Without active history, changing an attribute of an object expired by a
    commit records no old value, and the audit entry would say "before: None".
    """
    if not issubclass(cls, AuditedMixin):
        return
    for attribute in mapper.column_attrs:
        instrumented = getattr(cls, attribute.key)
        if not event.contains(instrumented, "set", _ignore_set):
            event.listen(instrumented, "set", _ignore_set, active_history=True)


def _ignore_set(target: Any, value: Any, oldvalue: Any, initiator: Any) -> None:
    return None


def install_audit_listener() -> None:
    if not event.contains(Session, "after_flush", _collect_changes):
        event.listen(Session, "after_flush", _collect_changes)
        event.listen(sa.orm.Mapper, "mapper_configured", _keep_old_values)
    # Mappers configured before the listener existed get it here.
    from grp.db import Base

    sa.orm.configure_mappers()
    for mapper in Base.registry.mappers:
        _keep_old_values(mapper, mapper.class_)


def record_event(
    session: Session,
    action: str,
    *,
    entity: str,
    entity_id: str | None = None,
    department_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Log something that is not a row change (a cross-department read, a revoked token)."""
    session.execute(
        sa.insert(AuditEntry.__table__).values(
            **_entry(
                session,
                department_id=department_id
                if department_id is not None
                else current_department_id(session),
                action=action,
                entity=entity,
                entity_id=entity_id,
                before=None,
                after={k: _json_value(v) for k, v in (details or {}).items()},
            )
        )
    )


def audit_entries_query(department_id: int | None) -> sa.Select:
    """Entries of one department, newest first (None: all, for system administrators).

    The department filter is explicit here because the audit log is a global
    table; this function is the only reader.
    """
    query = sa.select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if department_id is not None:
        query = query.where(AuditEntry.department_id == department_id)
    return query
