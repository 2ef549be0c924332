"""Who is calling: a per-process cache of signed-in callers, checked against the database.

Identifying the caller (token → user → role assignments with their roles and
departments) used to be the first statement of every request and built five ORM
objects from a joined row. A process now keeps that graph, detached, per bearer token
(and per user for browser sessions), and a request merges it into its own session
without a query.

A cached caller is never trusted on its own: every request checks it against the
database in the statement that sets the request's department (`tenancy.
set_department_checked`, one round trip either way), before any view runs; a GET
(`context.SAFE_METHODS`) sends that statement with its first query instead, in the same
round trip, and its answers are read before the query's rows or any answer leave
(`tenancy.set_department_checked_later`, `context.settle_caller`):

* the token still exists, is not revoked and has not expired;
* the user is still active and their row is unchanged (`updated_at`);
* their role assignments are the same: how many, which ids, the latest change;
* the departments they hold roles in are unchanged (`updated_at`: codes, activity).

When any of it differs the entry is dropped, the transaction rolled back and the
caller loaded afresh, as if nothing had been cached (a GET found out after its view
began is answered again from the start: `context.restart_request`). Revoking a token, deactivating a
user or taking a role away therefore takes effect on the next request, as before.

Each gunicorn worker has its own cache; nothing is shared between processes.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from grp.auth.permissions import SYSTEM_ADMIN, role_codes_in_force
from grp.db import UTCDateTime
from grp.models import ApiToken, Department, RoleAssignment, User

#: How many callers a process keeps (least recently used go first).
DEFAULT_CAPACITY = 2048
#: After this many seconds an entry is loaded afresh even when every check passed.
DEFAULT_LIFETIME_SECONDS = 300.0


@dataclass(frozen=True)
class Fingerprint:
    """What the database must still say about a cached caller."""

    token_valid: bool
    user_updated_at: datetime | None
    assignment_count: int
    assignment_id_sum: int
    assignments_updated_at: datetime | None
    departments_updated_at: datetime | None


@dataclass
class CachedCaller:
    """A caller as loaded: the detached user graph and what to check it against."""

    key: tuple[str, Any]
    user: User  # detached: its role assignments, their roles and departments loaded
    token_id: int | None
    expires_at: datetime | None
    last_used_at: datetime | None
    fingerprint: Fingerprint
    loaded_at: float = field(default_factory=time.monotonic)
    #: Worked out from `user` once, when the caller is loaded, so that a request reads
    #: them instead of merging the user's graph into its session (`context.Caller`):
    columns: dict[str, Any] = field(init=False)  # the user's column values
    role_codes: dict[int, frozenset[str]] = field(init=False)  # held, by department id
    system_admin: bool = field(init=False)
    departments: dict[int, Department] = field(init=False)  # held (detached), by id
    identity: Any = field(init=False)  # the user's identity key (a session's identity map)

    def __post_init__(self) -> None:
        state = sa.inspect(self.user)
        self.identity = state.key
        self.columns = {
            attribute.key: state.dict[attribute.key]
            for attribute in state.mapper.column_attrs
            if attribute.key in state.dict
        }
        if "role_assignments" not in state.dict:
            # Never answered from the database here: a detached copy has no session.
            raise ValueError("a cached caller needs its role assignments loaded")
        held: dict[int, set[str]] = {}
        self.departments = {}
        for assignment in self.user.role_assignments:
            held.setdefault(assignment.department_id, set()).add(assignment.role.code)
            self.departments[assignment.department_id] = assignment.department
        self.role_codes = {department: frozenset(codes) for department, codes in held.items()}
        self.system_admin = any(SYSTEM_ADMIN in codes for codes in held.values())

    @property
    def user_id(self) -> int:
        return self.columns["id"]

    def role_codes_in(self, department_id: int | None) -> set[str]:
        """As `services.role_codes_in` answers for the user."""
        return role_codes_in_force(self.role_codes.get(department_id, ()), self.system_admin)

    def checks(self, now: datetime) -> tuple[tuple[sa.ColumnElement[Any], ...], dict[str, Any]]:
        """The check columns (a constant) and their values for this caller."""
        params = {_USER_ID.key: self.user.id}
        if self.token_id is None:
            return SESSION_CHECKS, params
        params[_TOKEN_ID.key] = self.token_id
        params[_NOW.key] = now
        return TOKEN_CHECKS, params

    def still_current(self, answers: Mapping[str, Any]) -> bool:
        """Whether the answers of `checks` (by their labels) match what was loaded."""
        found = Fingerprint(
            token_valid=bool(answers["token_valid"]),
            user_updated_at=answers["user_updated_at"],
            assignment_count=int(answers["assignment_count"] or 0),
            assignment_id_sum=int(answers["assignment_id_sum"] or 0),
            assignments_updated_at=answers["assignments_updated_at"],
            departments_updated_at=answers["departments_updated_at"],
        )
        return found == self.fingerprint


_USER_ID = sa.bindparam("grp_caller_user_id", type_=sa.Integer)
_TOKEN_ID = sa.bindparam("grp_caller_token_id", type_=sa.Integer)
_NOW = sa.bindparam("grp_caller_now", type_=UTCDateTime())


def _check_columns(*, with_token: bool) -> tuple[sa.ColumnElement[Any], ...]:
    """Scalar subqueries answering a fingerprint's fields, labelled by them.

    Built once (module constants below) with bound parameters: tenancy caches the
    statement they are part of per tuple, and PostgreSQL plans it once per connection.
    """
    held_by_user = RoleAssignment.user_id == _USER_ID
    if with_token:
        token_valid: sa.ColumnElement[Any] = sa.exists().where(
            ApiToken.id == _TOKEN_ID,
            ApiToken.user_id == _USER_ID,
            ApiToken.revoked_at.is_(None),
            ApiToken.expires_at > _NOW,
        )
    else:
        token_valid = sa.true()
    return (
        token_valid.label("token_valid"),
        sa.select(User.updated_at)
        .where(User.id == _USER_ID, User.is_active)
        .scalar_subquery()
        .label("user_updated_at"),
        sa.select(sa.func.count(RoleAssignment.id))
        .where(held_by_user)
        .scalar_subquery()
        .label("assignment_count"),
        sa.select(sa.func.coalesce(sa.func.sum(RoleAssignment.id), 0))
        .where(held_by_user)
        .scalar_subquery()
        .label("assignment_id_sum"),
        sa.select(sa.func.max(RoleAssignment.updated_at))
        .where(held_by_user)
        .scalar_subquery()
        .label("assignments_updated_at"),
        sa.select(sa.func.max(Department.updated_at))
        .where(Department.id.in_(sa.select(RoleAssignment.department_id).where(held_by_user)))
        .scalar_subquery()
        .label("departments_updated_at"),
    )


TOKEN_CHECKS = _check_columns(with_token=True)
SESSION_CHECKS = _check_columns(with_token=False)


def fingerprint_of(user: User) -> Fingerprint:
    """The fingerprint of a freshly loaded user graph (assignments, roles, departments)."""
    assignments = list(user.role_assignments)
    return Fingerprint(
        token_valid=True,
        user_updated_at=user.updated_at,
        assignment_count=len(assignments),
        assignment_id_sum=sum(a.id for a in assignments),
        assignments_updated_at=max((a.updated_at for a in assignments), default=None),
        departments_updated_at=max((a.department.updated_at for a in assignments), default=None),
    )


def detached_copy(user: User) -> User:
    """A copy of `user` with its assignments, roles and departments, bound to no session.

    `merge(load=False)` copies the loaded state without touching the database; the
    scratch session has no connection at all.
    """
    scratch = Session()
    try:
        copy = scratch.merge(user, load=False)
        scratch.expunge_all()
    finally:
        scratch.close()
    return copy


class CallerCache:
    """A bounded, thread-safe map of cached callers (least recently used dropped first)."""

    def __init__(
        self, capacity: int = DEFAULT_CAPACITY, lifetime: float = DEFAULT_LIFETIME_SECONDS
    ) -> None:
        self.capacity = capacity
        self.lifetime = lifetime
        self._entries: OrderedDict[tuple[str, Any], CachedCaller] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def get(self, key: tuple[str, Any]) -> CachedCaller | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if time.monotonic() - entry.loaded_at > self.lifetime:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, entry: CachedCaller) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._entries[entry.key] = entry
            self._entries.move_to_end(entry.key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def drop(self, key: tuple[str, Any]) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)
