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
import uuid
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


def load_user_from_bearer(req: Any) -> User | None:
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
) -> User | None:
    """The caller under `key`: merged from this process's cache, else loaded with `load`.

    A cached caller is kept in `g` so that `begin_request` checks it against the
    database (grp/auth/callers.py) before the request does anything in its name.
    """
    cache = callers()
    now = utcnow()
    entry = cache.get(key) if cache.enabled else None
    if entry is not None and (entry.expires_at is None or entry.expires_at > now):
        user = db.session.merge(entry.user, load=False)
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
    if entry.token_id is not None:
        entry.last_used_at = services.record_token_use(
            db.session, entry.token_id, entry.last_used_at, now
        )
    return user


def _choose_department(user: User) -> Department | None:
    allowed = services.departments_of(db.session, user)
    by_id = {d.id: d for d in allowed}
    if is_api_request():
        code = request.headers.get(DEPARTMENT_HEADER)
        if code:
            for department in allowed:
                if department.code == code.strip().upper():
                    return department
            raise DepartmentChoiceError(
                f"You cannot act in department {code!r} (header {DEPARTMENT_HEADER})."
            )
    else:
        chosen = session.get(SESSION_DEPARTMENT_KEY)
        if chosen in by_id:
            return by_id[chosen]
    default = services.default_department(db.session, user)
    if default is not None and default.id in by_id:
        return default
    if not is_api_request() and allowed:
        # A browser user without a primary department starts in the first one listed.
        return allowed[0]
    return None


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _request_id(offered: str | None) -> str:
    """Take a proxy's request id if it is short and plain, else make one.

    It is stored in the audit log and echoed in headers and logs: an arbitrary
    header value could overflow the column or forge log lines.
    """
    if offered and _REQUEST_ID.match(offered):
        return offered
    return uuid.uuid4().hex


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
    user: User = current_user._get_current_object()
    cached = g.pop("grp_unchecked_caller", None)
    try:
        department = _choose_department(user)
    except DepartmentChoiceError:
        if cached is None:
            raise
        # The cached roles may predate a role just granted there: ask the database.
        user, department = _reload_caller(cached)
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
                user, department = _reload_caller(cached)
    if user is None:
        return
    set_actor(db.session, user.id, user.username)
    g.department = department
    g.role_codes = services.role_codes_in(user, department.id if department else None)
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


def _reload_caller(stale: CachedCaller) -> tuple[User | None, Department | None]:
    """Forget a cached caller the database contradicts and identify the caller afresh."""
    callers().drop(stale.key)
    db.session.rollback()
    set_current_department(db.session, None)
    g.pop("_login_user", None)  # Flask-Login runs its loaders again, now without the cache
    if not current_user.is_authenticated:
        set_actor(db.session, None, None)
        return None, None
    user: User = current_user._get_current_object()
    return user, _choose_department(user)


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
    user = current_user._get_current_object()
    for department in services.departments_of(db.session, user):
        if department.id == department_id:
            session[SESSION_DEPARTMENT_KEY] = department.id
            return department
    return None


def load_user(user_id: str) -> User | None:
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
