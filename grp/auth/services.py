"""Authentication and user administration services. They flush; the caller commits."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, joinedload

from grp.auth.permissions import BUILT_IN_ROLES, SYSTEM_ADMIN, role_codes_in_force
from grp.db import utcnow
from grp.errors import ValidationError
from grp.models import ApiToken, Department, LoginThrottle, Role, RoleAssignment, User

log = logging.getLogger(__name__)

_hasher = PasswordHasher()  # Argon2id with the library's current recommended parameters
TOKEN_PREFIX = "grp_"  # noqa: S105 - a marker, not a secret
MIN_PASSWORD_LENGTH = 10


class AuthError(Exception):
    """Sign-in refused."""


class InvalidCredentials(AuthError):
    pass


class LoginLocked(AuthError):
    def __init__(self, until: datetime) -> None:
        self.until = until
        minutes = max(1, int((until - utcnow()).total_seconds() // 60) + 1)
        self.minutes = minutes
        super().__init__(
            f"Too many failed sign-in attempts. Sign-in is locked for {minutes} more "
            f"minute{'s' if minutes != 1 else ''}."
        )


class UserValidationError(ValidationError):
    """Bad input for a user; `errors` maps field names to messages."""


# --------------------------------------------------------------------------- passwords


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problems(password: str) -> list[str]:
    if len(password) < MIN_PASSWORD_LENGTH:
        return [f"Use at least {MIN_PASSWORD_LENGTH} characters."]
    return []


# --------------------------------------------------------------------------- sign-in


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int = 5
    lock_minutes: int = 15


def _normalise(username: str) -> str:
    return username.strip().lower()


def authenticate(
    session: Session, username: str, password: str, policy: ThrottlePolicy = ThrottlePolicy()
) -> User:
    """Return the active user with these credentials, or raise.

    After `policy.max_failures` wrong passwords for one username, sign-in for it
    is locked for `policy.lock_minutes`, even with the right password.
    """
    key = _normalise(username)
    now = utcnow()
    throttle = session.get(LoginThrottle, key)
    if throttle is not None and throttle.locked_until is not None:
        if throttle.locked_until > now:
            raise LoginLocked(throttle.locked_until)
        throttle.failures = 0
        throttle.locked_until = None
    user = session.scalar(sa.select(User).where(sa.func.lower(User.username) == key))
    if user is not None and user.is_active and verify_password(user.password_hash, password):
        if throttle is not None:
            session.delete(throttle)
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        session.flush()
        return user
    if user is None:
        # Spend the same time as a real check so timing does not reveal unknown names.
        verify_password(_DUMMY_HASH, password)
    if throttle is None:
        throttle = LoginThrottle(username=key, failures=0, first_failure_at=now)
        session.add(throttle)
    throttle.failures += 1
    if throttle.failures >= policy.max_failures:
        throttle.locked_until = now + timedelta(minutes=policy.lock_minutes)
        session.flush()
        raise LoginLocked(throttle.locked_until)
    session.flush()
    raise InvalidCredentials("Wrong username or password.")


_DUMMY_HASH = _hasher.hash("not a real password, only for constant timing")


# --------------------------------------------------------------------------- tokens


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(
    session: Session, user: User, *, lifetime: timedelta, name: str = "api"
) -> tuple[str, ApiToken]:
    """Create a bearer token; the plain token is returned once and never stored."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=name[:100] or "api",
        prefix=plain[:12],
        token_hash=_digest(plain),
        expires_at=utcnow() + lifetime,
    )
    session.add(token)
    session.flush()
    return plain, token


def token_digest(plain: str) -> str:
    """The stored form of a bearer token (and the caller cache's key for it)."""
    return _digest(plain)


def token_with_user(session: Session, plain: str) -> ApiToken | None:
    """The valid (unexpired, unrevoked) token of an active user, with that user loaded.

    One statement: the token, its user and the user's roles with their departments
    (RoleAssignment joins its role and department), which is all a request needs to
    choose its department and check permissions. Its use is not recorded here.
    """
    if not plain.startswith(TOKEN_PREFIX):
        return None
    token = (
        session.scalars(
            sa.select(ApiToken)
            .where(ApiToken.token_hash == _digest(plain))
            .options(joinedload(ApiToken.user).joinedload(User.role_assignments))
        )
        .unique()
        .first()
    )
    if token is None or not token.is_valid() or not token.user.is_active:
        return None
    return token


#: How precisely a token's last use is recorded. Writing it on every request would make
#: clients sharing a token queue on the row lock for the whole of each request.
TOKEN_USE_RESOLUTION = timedelta(minutes=1)


def record_token_use(
    session: Session, token_id: int, last_used_at: datetime | None, now: datetime | None = None
) -> datetime | None:
    """Write a token's `last_used_at` when the last record is older than a minute.

    It is written in its own short transaction, since a GET's rollback must not lose
    it. Returns the last use now on record (`last_used_at` when nothing was written).
    """
    now = now or utcnow()
    if last_used_at is not None and now - last_used_at < TOKEN_USE_RESOLUTION:
        return last_used_at
    table = ApiToken.__table__
    try:
        with session.get_bind().begin() as connection:
            connection.execute(
                sa.update(table)
                .where(
                    table.c.id == token_id,
                    sa.or_(
                        table.c.last_used_at.is_(None),
                        table.c.last_used_at < now - TOKEN_USE_RESOLUTION,
                    ),
                )
                .values(last_used_at=now)
            )
    except SQLAlchemyError:
        # Bookkeeping only: a busy database must not refuse an otherwise valid request.
        log.warning("could not record the use of API token %s", token_id, exc_info=True)
        return last_used_at
    return now


def revoke_api_token(session: Session, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()


# --------------------------------------------------------------------------- roles


def ensure_built_in_roles(session: Session) -> dict[str, Role]:
    """Create the DOMAIN.md roles that are missing; return all by code."""
    existing = {r.code: r for r in session.scalars(sa.select(Role))}
    for code, (name_en, name_ar) in BUILT_IN_ROLES.items():
        if code not in existing:
            existing[code] = Role(code=code, name_en=name_en, name_ar=name_ar)
            session.add(existing[code])
    session.flush()
    return existing


def role_codes_in(user: User, department_id: int | None) -> set[str]:
    """The role codes `user` holds in a department (system_admin counts everywhere)."""
    held = (a.role.code for a in user.role_assignments if a.department_id == department_id)
    return role_codes_in_force(held, is_system_admin(user))


def is_system_admin(user: User) -> bool:
    return any(a.role.code == SYSTEM_ADMIN for a in user.role_assignments)


def departments_of(session: Session, user: User) -> list[Department]:
    """The departments `user` may act in: all of them for a system administrator."""
    if is_system_admin(user):
        return active_departments(session)
    # The assignments carry their departments (joined when they are loaded): no query.
    return held_departments({a.department.id: a.department for a in user.role_assignments})


def active_departments(session: Session) -> list[Department]:
    """Every active department, by code: where a system administrator may act."""
    query = sa.select(Department).where(Department.is_active).order_by(Department.code)
    return list(session.scalars(query))


def held_departments(held: dict[int, Department]) -> list[Department]:
    """Of the departments a user holds roles in (by id), those they may act in, by code."""
    return sorted((d for d in held.values() if d.is_active), key=lambda d: d.code)


def default_department(session: Session, user: User) -> Department | None:
    """The primary department, else the only one; None when the choice is ambiguous."""
    chosen = default_department_id(
        user.primary_department_id, {a.department_id for a in user.role_assignments}
    )
    return None if chosen is None else session.get(Department, chosen)


def default_department_id(primary_id: int | None, held_ids: Iterable[int]) -> int | None:
    """`default_department`'s choice by id: the primary department, else the only one
    held; None when the choice is ambiguous."""
    if primary_id is not None:
        return primary_id
    held = set(held_ids)
    return next(iter(held)) if len(held) == 1 else None


# --------------------------------------------------------------------------- users


def _resolve_roles(
    session: Session, roles: Iterable[tuple[str, str]]
) -> tuple[list[tuple[Department, Role]], list[str]]:
    departments = {d.code: d for d in session.scalars(sa.select(Department))}
    role_rows = ensure_built_in_roles(session)
    resolved, errors = [], []
    for department_code, role_code in roles:
        department = departments.get(str(department_code).upper())
        role = role_rows.get(role_code)
        if department is None:
            errors.append(f"Unknown department {department_code!r}.")
        if role is None:
            errors.append(f"Unknown role {role_code!r}; use one of {', '.join(BUILT_IN_ROLES)}.")
        if department is not None and role is not None:
            resolved.append((department, role))
    return resolved, errors


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    name: str,
    roles: Iterable[tuple[str, str]] = (),
    email: str | None = None,
    language: str = "en",
) -> User:
    """Create a user with roles given as (department code, role code) pairs."""
    errors: dict[str, list[str]] = {}
    username = username.strip()
    if not username:
        errors["username"] = ["Enter a username."]
    elif session.scalar(sa.select(User.id).where(sa.func.lower(User.username) == username.lower())):
        errors["username"] = [f"The username {username!r} is taken."]
    if problems := password_problems(password):
        errors["password"] = problems
    if not name.strip():
        errors["name"] = ["Enter the person's name."]
    resolved, role_errors = _resolve_roles(session, roles)
    if role_errors:
        errors["roles"] = role_errors
    if errors:
        raise UserValidationError(errors)
    user = User(
        username=username,
        name=name.strip(),
        email=email,
        language=language if language in ("en", "ar") else "en",
        password_hash=hash_password(password),
    )
    session.add(user)
    for department, role in resolved:
        user.role_assignments.append(RoleAssignment(department=department, role=role))
    departments = {d.id for d, _ in resolved}
    if len(departments) == 1:
        user.primary_department_id = next(iter(departments))
    session.flush()
    return user


def check_role_grant(
    pairs: Iterable[tuple[str, str]], *, actor_is_system_admin: bool, department: Department | None
) -> None:
    """Refuse roles the actor may not grant.

    A department administrator grants roles in their active `department` only,
    and never `system_admin`; a system administrator grants anything.
    """
    if actor_is_system_admin:
        return
    pairs = list(pairs)
    if department is None:
        raise UserValidationError({"roles": ["Choose a department first."]})
    outside = sorted({d.upper() for d, _ in pairs if d.upper() != department.code})
    if outside:
        raise UserValidationError(
            {
                "roles": [
                    f"You can assign roles in {department.code} only, not {', '.join(outside)}."
                ]
            }
        )
    if any(role == SYSTEM_ADMIN for _, role in pairs):
        raise UserValidationError(
            {"roles": ["Only a system administrator can grant system_admin."]}
        )


def may_change_user(user: User, *, actor_is_system_admin: bool) -> bool:
    """Only a system administrator may change one: department admins must not demote them."""
    return actor_is_system_admin or not is_system_admin(user)


def set_user_roles(
    session: Session,
    user: User,
    roles: Iterable[tuple[str, str]],
    *,
    only_department: Department | None = None,
) -> None:
    """Replace the user's roles; with `only_department`, only the roles held there."""
    roles = list(roles)
    resolved, role_errors = _resolve_roles(session, roles)
    if role_errors:
        raise UserValidationError({"roles": role_errors})
    if only_department is not None and any(d.id != only_department.id for d, _ in resolved):
        raise UserValidationError(
            {"roles": [f"You can assign roles in {only_department.code} only."]}
        )
    keep = {(d.id, r.id) for d, r in resolved}
    for assignment in list(user.role_assignments):
        in_scope = only_department is None or assignment.department_id == only_department.id
        if in_scope and (assignment.department_id, assignment.role_id) not in keep:
            user.role_assignments.remove(assignment)
    held = {(a.department_id, a.role_id) for a in user.role_assignments}
    for department, role in resolved:
        if (department.id, role.id) not in held:
            user.role_assignments.append(RoleAssignment(department=department, role=role))
    session.flush()


# --------------------------------------------------------------------------- across departments


@contextmanager
def read_across_departments(session: Session, actor: User, reason: str) -> Iterator[None]:
    """Read every department's records inside the block: system administrators only.

    The one unscoped access in GRP. It is read-only, and it writes an audit entry
    (who, when, why) in the actor's current department before anything is read.
    """
    from grp.audit import record_event
    from grp.tenancy import all_departments

    if not is_system_admin(actor):
        raise PermissionError("only system administrators may read across departments")

    def audit(text: str) -> None:
        record_event(session, "cross_department_read", entity="*", details={"reason": text})

    with all_departments(session, reason=reason, audit=audit):
        yield
