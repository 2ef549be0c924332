"""Per-request identity: the user, the active department, and permission checks.

Before each request the user is loaded (session cookie or bearer token), the
active department chosen (browser: the one switched to; API: the
`X-GRP-Department` header, else the user's primary or only department), and the
database session is told both. Views then declare the permission they need with
`require_permission`.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import abort, current_app, g, request, session
from flask_login import current_user
from sqlalchemy.orm import joinedload

from grp.audit import REQUEST_ID_KEY, set_actor
from grp.auth import services
from grp.auth.callers import CachedCaller, CallerCache, detached_copy, fingerprint_of
from grp.auth.permissions import PERMISSION_ATTR, PermissionRegistry
from grp.db import db, utcnow
from grp.models import ApiToken, Department, User
from grp.tenancy import (
    current_department_id,
    drop_checks,
    set_current_department,
    set_department_checked,
    set_department_checked_later,
    settle_checks,
)

F = TypeVar("F", bound=Callable[..., Any])

DEPARTMENT_HEADER = "X-GRP-Department"
SESSION_DEPARTMENT_KEY = "department_id"


#: Requests that change nothing: their caller checks may wait for the first statement.
SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))


class StaleCallerError(Exception):
    """A cached caller the database contradicts was found after the request began: the
    request is answered afresh (`GrpFlask.full_dispatch_request`)."""


class DepartmentChoiceError(Exception):
    """The API request names a department the caller may not act in."""

    def __init__(self, message: str, status: int = 403) -> None:
        self.status = status
        super().__init__(message)


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def registry() -> PermissionRegistry:
    return current_app.extensions["grp"].permissions


def callers() -> CallerCache:
    return current_app.extensions["grp"].callers


class Caller:
    """The signed-in user of a request (`current_user`), answered from its cache entry.

    Merging the cached user's graph (user, role assignments, roles, departments) into
    the request's session cost about 0.1 ms of an authenticated API request's 1.2 ms in
    process (bench data, 2026-12-07), and most requests need none of it: the user's id
    and name and the role codes, which the entry worked out when it was loaded
    (`CachedCaller`). The ORM user is merged into the request's session the first time
    something needs it (`orm`, `acting_user`): a relationship, or a user to record as
    the actor of a change.

    Column attributes (`id`, `username`, `language`, ...) are the entry's values, which
    the request's checks confirm are current (`callers.Fingerprint`), unless the
    request's session has the user itself: then they are its.
    """

    is_authenticated = True
    is_anonymous = False

    def __init__(self, entry: CachedCaller, user: User | None = None) -> None:
        self.entry = entry
        self._user = user

    @property
    def id(self) -> int:
        return self.entry.user_id

    def get_id(self) -> str:
        return str(self.entry.user_id)

    def orm(self) -> User:
        """The user as an object of the request's session."""
        if self._user is None:
            self._user = db.session.merge(self.entry.user, load=False)
        return self._user

    def __getattr__(self, name: str) -> Any:
        # Only for what the class itself does not have.
        if name.startswith("_") or name == "entry":
            raise AttributeError(name)
        user = self._user
        if user is None:
            # A view that read or changed the user's row itself sees its own values.
            user = self._user = db.session.identity_map.get(self.entry.identity)
        if user is None and name in self.entry.columns:
            return self.entry.columns[name]
        return getattr(self.orm(), name)


class ActingDepartment:
    """The request's department (`g.department`) as the caller's cache entry has it:
    `id` and `code` without the request's session, everything else from the department
    merged into it the first time something asks (`orm`, `current_department`).

    Merging it on every request cost about 0.05 ms of an API request that reads only
    its id (bench data, in process); a view that hands the department to a service or a
    template gets the ORM object from `current_department`.
    """

    def __init__(self, cached: Department) -> None:
        self._cached = cached  # detached, shared by the requests of this process
        self._department: Department | None = None
        self.id: int = cached.id

    @property
    def code(self) -> str:
        # As the request's session has the department, if it does (a view changed it).
        department = self._department
        if department is None:
            department = self._department = db.session.identity_map.get(
                sa.inspect(self._cached).key
            )
        return self._cached.code if department is None else department.code

    def orm(self) -> Department:
        """The department as an object of the request's session."""
        if self._department is None:
            self._department = db.session.merge(self._cached, load=False)
        return self._department

    def __getattr__(self, name: str) -> Any:
        # Only for what the instance itself does not have.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.orm(), name)

    def __repr__(self) -> str:
        return f"<ActingDepartment {self.code}>"


def current_department() -> Department | None:
    """The request's department as an object of its session (None: none chosen)."""
    department = g.get("department")
    return department.orm() if isinstance(department, ActingDepartment) else department


def acting_user() -> User:
    """The signed-in user as an object of the request's session: for what records who
    acted, or reads more of the user than its columns."""
    user = current_user._get_current_object()
    return user.orm() if isinstance(user, Caller) else user


def load_user_from_bearer(req: Any) -> Caller | None:
    header = req.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    g.grp_auth_method = "token"
    plain = header[7:].strip()
    if not plain.startswith(services.TOKEN_PREFIX):
        return None

    def load() -> tuple[User, ApiToken | None] | None:
        token = services.token_with_user(db.session, plain)
        return None if token is None else (token.user, token)

    return _caller(("token", services.token_digest(plain)), load)


def _caller(
    key: tuple[str, Any], load: Callable[[], tuple[User, ApiToken | None] | None]
) -> Caller | None:
    """The caller under `key`: from this process's cache, else loaded with `load`.

    A cached caller is kept in `g` so that `begin_request` checks it against the
    database (grp/auth/callers.py) before the request does anything in its name.
    """
    cache = callers()
    now = utcnow()
    entry = cache.get(key) if cache.enabled else None
    if entry is not None and (entry.expires_at is None or entry.expires_at > now):
        caller = Caller(entry)
        g.grp_unchecked_caller = entry
    else:
        cache.drop(key)
        loaded = load()
        if loaded is None:
            return None
        user, token = loaded
        entry = CachedCaller(
            key=key,
            user=detached_copy(user),
            token_id=token.id if token else None,
            expires_at=token.expires_at if token else None,
            last_used_at=token.last_used_at if token else None,
            fingerprint=fingerprint_of(user),
        )
        cache.put(entry)
        caller = Caller(entry, user)
    if entry.token_id is not None:
        entry.last_used_at = services.record_token_use(
            db.session, entry.token_id, entry.last_used_at, now
        )
    return caller


def _allowed_departments(caller: Caller) -> list[Department]:
    """`services.departments_of` the caller, from the cache entry where it can be (the
    departments detached: `_attached` before a request keeps one)."""
    if caller.entry.system_admin:
        return services.active_departments(db.session)
    return services.held_departments(caller.entry.departments)


def _attached(department: Department) -> Department | ActingDepartment:
    """`department` for the request: a detached one (the cache entry's) as an
    `ActingDepartment`, which merges it into the session only where needed."""
    if sa.inspect(department).detached:
        return ActingDepartment(department)
    return department


def _choose_department(caller: Caller) -> Department | ActingDepartment | None:
    allowed = _allowed_departments(caller)
    by_id = {d.id: d for d in allowed}
    if is_api_request():
        code = request.headers.get(DEPARTMENT_HEADER)
        if code:
            for department in allowed:
                if department.code == code.strip().upper():
                    return _attached(department)
            raise DepartmentChoiceError(
                f"You cannot act in department {code!r} (header {DEPARTMENT_HEADER})."
            )
    else:
        chosen = session.get(SESSION_DEPARTMENT_KEY)
        if chosen in by_id:
            return _attached(by_id[chosen])
    default = services.default_department_id(
        caller.entry.columns.get("primary_department_id"), caller.entry.departments
    )
    if default in by_id:
        return _attached(by_id[default])
    if not is_api_request() and allowed:
        # A browser user without a primary department starts in the first one listed.
        return _attached(allowed[0])
    return None


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _request_id(offered: str | None) -> str:
    """Take a proxy's request id if it is short and plain, else make one.

    It is stored in the audit log and echoed in headers and logs: an arbitrary
    header value could overflow the column or forge log lines.
    """
    if offered and _REQUEST_ID.match(offered):
        return offered
    # 128 random bits as 32 hex digits, as uuid4().hex wrote them, without the UUID.
    return secrets.token_hex(16)


def begin_request() -> None:
    """Set request id, actor and active department on the database session."""
    if "request_id" not in g:  # answered afresh (`restart_request`): the same request
        g.request_id = _request_id(request.headers.get("X-Request-Id"))
    db.session.info[REQUEST_ID_KEY] = g.request_id
    g.department = None
    g.role_codes = set()
    if not current_user.is_authenticated:
        set_actor(db.session, None, None)
        set_current_department(db.session, None)
        return
    caller: Caller | None = current_user._get_current_object()
    cached = g.pop("grp_unchecked_caller", None)
    try:
        department = _choose_department(caller)
    except DepartmentChoiceError:
        if cached is None:
            raise
        # The cached roles may predate a role just granted there: ask the database.
        caller, department = _reload_caller(cached)
        cached = None
    if cached is not None:
        # Merged from the cache: set the department and check the caller in one statement.
        checks, params = cached.checks(utcnow())
        department_id = department.id if department else None
        if request.method in SAFE_METHODS and not g.get("grp_answer_afresh"):
            # A request that changes nothing: the checks ride with its first statement
            # (one round trip fewer); nothing leaves before they are answered
            # (`settle_caller`), and a stale caller's request is answered afresh.
            g.grp_unverified_caller = cached
            set_department_checked_later(db.session, department_id, checks, params, _verify)
        else:
            answer = set_department_checked(db.session, department_id, checks, params)
            if not cached.still_current(answer):
                caller, department = _reload_caller(cached)
    if caller is None:
        return
    set_actor(db.session, caller.id, caller.username)
    g.department = department
    g.role_codes = caller.entry.role_codes_in(department.id if department else None)
    set_current_department(db.session, department.id if department else None)


def _verify(answers: Mapping[str, Any]) -> None:
    """Check the cached caller of this request against the database's answers."""
    cached = g.pop("grp_unverified_caller", None)
    if cached is not None and not cached.still_current(answers):
        g.grp_stale_caller = cached
        raise StaleCallerError()


def settle_caller() -> None:
    """Before a response leaves: the caller's checks answered, and it was not stale.

    Raises StaleCallerError when it was (the request is then answered afresh).
    """
    if "grp_stale_caller" in g:
        raise StaleCallerError()
    if "grp_unverified_caller" not in g:
        return
    settle_checks(db.session)
    cached = g.get("grp_unverified_caller")
    if cached is not None:
        # The checks were never sent (the transaction they waited in was rolled back).
        if not db.session.is_active:  # a failed statement the view answered for itself
            db.session.rollback()
        checks, params = cached.checks(utcnow())
        _verify(
            set_department_checked(db.session, current_department_id(db.session), checks, params)
        )


def restart_request() -> None:
    """Forget a stale cached caller and what the request did in its name, to begin again
    with the caller loaded afresh (and its checks sent at once)."""
    stale = g.pop("grp_stale_caller", None) or g.pop("grp_unverified_caller", None)
    g.pop("grp_unverified_caller", None)
    if stale is not None:
        callers().drop(stale.key)
    drop_checks(db.session)
    db.session.rollback()
    set_current_department(db.session, None)
    g.pop("_login_user", None)  # Flask-Login runs its loaders again, now without the cache
    g.grp_answer_afresh = True


def _reload_caller(
    stale: CachedCaller,
) -> tuple[Caller | None, Department | ActingDepartment | None]:
    """Forget a cached caller the database contradicts and identify the caller afresh."""
    callers().drop(stale.key)
    db.session.rollback()
    set_current_department(db.session, None)
    g.pop("_login_user", None)  # Flask-Login runs its loaders again, now without the cache
    if not current_user.is_authenticated:
        set_actor(db.session, None, None)
        return None, None
    caller: Caller = current_user._get_current_object()
    return caller, _choose_department(caller)


def has_permission(permission: str) -> bool:
    if not current_user.is_authenticated:
        return False
    return registry().allows(g.get("role_codes", ()), permission)


def require_permission(permission: str) -> Callable[[F], F]:
    """Declare and enforce the permission a view needs.

    401 when not signed in (the browser is sent to the login page), 403 when
    signed in without the permission in the active department.
    """

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not registry().is_known(permission):
                raise RuntimeError(f"permission {permission!r} is not declared by any manifest")
            if not current_user.is_authenticated:
                if is_api_request():
                    abort(401)
                return current_app.login_manager.unauthorized()
            if not has_permission(permission):
                abort(403)
            return view(*args, **kwargs)

        setattr(wrapper, PERMISSION_ATTR, permission)
        return wrapper  # type: ignore[return-value]

    return decorator


def switch_department(department_id: int) -> Department | None:
    """Make `department_id` the browser session's active department if allowed."""
    for department in services.departments_of(db.session, acting_user()):
        if department.id == department_id:
            session[SESSION_DEPARTMENT_KEY] = department.id
            return department
    return None


def load_user(user_id: str) -> Caller | None:
    """The browser session's user (Flask-Login's user loader), through the caller cache."""
    if not user_id.isdigit():
        return None

    def load() -> tuple[User, ApiToken | None] | None:
        user = (
            db.session.scalars(
                sa.select(User)
                .where(User.id == int(user_id))
                .options(joinedload(User.role_assignments))
            )
            .unique()
            .first()
        )
        return (user, None) if user is not None and user.is_active else None

    return _caller(("user", int(user_id)), load)
