"""Platform API: tokens, departments, users, the audit log (`/api/v1/...`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, g
from flask_smorest import Api, abort
from marshmallow import Schema, fields, validate, validates_schema
from marshmallow import ValidationError as SchemaValidationError

from grp import organisation
from grp.api import Blueprint, PaginationQuerySchema, page_of, paginate, problem_response
from grp.audit import audit_entries_query, record_event
from grp.auth import services
from grp.auth.context import acting_user, current_department, require_permission
from grp.auth.permissions import BUILT_IN_ROLES, SYSTEM_ADMIN, public
from grp.db import db
from grp.errors import ValidationError
from grp.models import ApiToken, AuditEntry, Department, RoleAssignment, User

auth_blp = Blueprint("auth_api", __name__, url_prefix="/api/v1/auth", description="Sign-in tokens")
org_blp = Blueprint(
    "departments_api",
    __name__,
    url_prefix="/api/v1/departments",
    description="Departments (tenants)",
)
users_blp = Blueprint(
    "users_api",
    __name__,
    url_prefix="/api/v1/users",
    description="Users and their roles per department",
)
audit_blp = Blueprint(
    "audit_api",
    __name__,
    url_prefix="/api/v1/audit",
    description="The audit log of the active department",
)


# --------------------------------------------------------------------------- schemas


class TokenRequestSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=150))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1))
    name = fields.String(load_default="api", validate=validate.Length(max=100))
    lifetime_hours = fields.Integer(load_default=None, validate=validate.Range(min=1, max=720))


class DepartmentRefSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name_en = fields.String()
    name_ar = fields.String()


class TokenSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    prefix = fields.String()
    created_at = fields.DateTime()
    expires_at = fields.DateTime()
    last_used_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


class NewTokenSchema(TokenSchema):
    token = fields.String(metadata={"description": "The bearer token; shown only once."})
    departments = fields.List(fields.Nested(DepartmentRefSchema))
    default_department = fields.String(allow_none=True)


class DepartmentSchema(Schema):
    id = fields.Integer(dump_only=True)
    code = fields.String(dump_only=True)
    name_en = fields.String(validate=validate.Length(min=1, max=200))
    name_ar = fields.String(validate=validate.Length(min=1, max=200))
    sector = fields.Function(lambda d: d.sector.code, dump_only=True)
    # Validated by grp.organisation.update_department, the one place for the rule.
    wps_employer_id = fields.String(allow_none=True)
    bank_routing_code = fields.String(allow_none=True)
    is_active = fields.Boolean()


class DepartmentUpdateSchema(DepartmentSchema):
    """Fields a system administrator may change; all optional."""


class RoleRefSchema(Schema):
    department = fields.String(required=True, validate=validate.Length(min=1, max=32))
    role = fields.String(required=True, validate=validate.OneOf(list(BUILT_IN_ROLES)))


class UserSchema(Schema):
    id = fields.Integer(dump_only=True)
    username = fields.String()
    name = fields.String()
    email = fields.String(allow_none=True)
    language = fields.String()
    is_active = fields.Boolean()
    primary_department = fields.Function(
        lambda u: u.primary_department.code if u.primary_department else None
    )
    roles = fields.Function(
        lambda u: [
            {"department": a.department.code, "role": a.role.code}
            for a in sorted(u.role_assignments, key=lambda a: (a.department.code, a.role.code))
        ]
    )
    created_at = fields.DateTime()


class UserCreateSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=150))
    password = fields.String(required=True, load_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(load_default=None, allow_none=True)
    language = fields.String(load_default="en", validate=validate.OneOf(["en", "ar"]))
    roles = fields.List(fields.Nested(RoleRefSchema), load_default=list)


class UserUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    email = fields.Email(allow_none=True)
    language = fields.String(validate=validate.OneOf(["en", "ar"]))
    is_active = fields.Boolean()
    password = fields.String(load_only=True)
    primary_department = fields.String(allow_none=True)
    roles = fields.List(fields.Nested(RoleRefSchema))

    @validates_schema
    def _not_empty(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise SchemaValidationError("Send at least one field to change.")


class UserQuerySchema(PaginationQuerySchema):
    q = fields.String(load_default=None, metadata={"description": "Username or name contains"})
    department = fields.String(
        load_default=None, metadata={"description": "System administrators: department code"}
    )


class AuditEntrySchema(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    department_id = fields.Integer(allow_none=True)
    actor_id = fields.Integer(allow_none=True)
    actor_name = fields.String(allow_none=True)
    action = fields.String()
    entity = fields.String()
    entity_id = fields.String(allow_none=True)
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)
    request_id = fields.String(allow_none=True)


class AuditQuerySchema(PaginationQuerySchema):
    entity = fields.String(load_default=None)
    department = fields.String(
        load_default=None, metadata={"description": "System administrators: department code"}
    )


# --------------------------------------------------------------------------- helpers


def _actor() -> User:
    return acting_user()


def _is_system_admin() -> bool:
    return SYSTEM_ADMIN in g.get("role_codes", set())


def _department_by_code(code: str) -> Department:
    department = db.session.scalar(sa.select(Department).where(Department.code == code.upper()))
    if department is None:
        abort(404, message=f"No department {code!r}.")
    return department


def _users_in_scope() -> sa.Select:
    """Users the caller administers: all (system admin) or those with roles in their department."""
    query = sa.select(User).order_by(User.username)
    if not _is_system_admin():
        if g.department is None:
            abort(403, message="Choose a department first (X-GRP-Department header).")
        members = sa.select(RoleAssignment.user_id).where(
            RoleAssignment.department_id == g.department.id
        )
        query = query.where(User.id.in_(members))
    return query


def _user_in_scope(user_id: int) -> User:
    user = db.session.scalar(_users_in_scope().where(User.id == user_id))
    if user is None:
        abort(404, message="No such user.")
    return user


def _role_pairs(roles: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(r["department"], r["role"]) for r in roles]


def _check_role_scope(pairs: list[tuple[str, str]]) -> None:
    services.check_role_grant(
        pairs, actor_is_system_admin=_is_system_admin(), department=current_department()
    )


# --------------------------------------------------------------------------- tokens


@auth_blp.route("/tokens", methods=["POST"])
@auth_blp.arguments(TokenRequestSchema)
@auth_blp.response(201, NewTokenSchema)
@auth_blp.alt_response(401, description="Wrong username or password")
@auth_blp.alt_response(429, description="Too many failed attempts; sign-in locked")
@public
def create_token(data: dict[str, Any]) -> Any:
    """Exchange a username and password for a bearer token."""
    policy = services.ThrottlePolicy(
        current_app.config["GRP_LOGIN_MAX_FAILURES"], current_app.config["GRP_LOGIN_LOCK_MINUTES"]
    )
    try:
        user = services.authenticate(db.session, data["username"], data["password"], policy)
    except services.LoginLocked as exc:
        db.session.commit()  # keep the failure count
        response = problem_response(429, str(exc))
        response.headers["Retry-After"] = str(exc.minutes * 60)
        return response
    except services.InvalidCredentials as exc:
        db.session.commit()
        return problem_response(401, str(exc))
    hours = data["lifetime_hours"] or current_app.config["GRP_TOKEN_LIFETIME_HOURS"]
    plain, token = services.create_api_token(
        db.session, user, lifetime=timedelta(hours=hours), name=data["name"]
    )
    departments = services.departments_of(db.session, user)
    default = services.default_department(db.session, user)
    db.session.commit()
    return {
        **{key: getattr(token, key) for key in TokenSchema().fields},
        "token": plain,
        "departments": departments,
        "default_department": default.code if default else None,
    }


@auth_blp.route("/tokens", methods=["GET"])
@auth_blp.response(200, page_of(TokenSchema))
@auth_blp.arguments(PaginationQuerySchema, location="query")
@require_permission("platform.token.manage")
def list_tokens(query: dict[str, Any]) -> Any:
    """List my API tokens (never their secret part)."""
    select = (
        sa.select(ApiToken)
        .where(ApiToken.user_id == _actor().id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return paginate(select, query["page"], query["per_page"])


@auth_blp.route("/tokens/<int:token_id>", methods=["DELETE"])
@auth_blp.response(204)
@require_permission("platform.token.manage")
def revoke_token(token_id: int) -> None:
    """Revoke one of my tokens."""
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != _actor().id:
        abort(404, message="No such token.")
    services.revoke_api_token(db.session, token)
    record_event(db.session, "revoke", entity="ApiToken", entity_id=str(token.id))
    db.session.commit()


class WhoAmISchema(Schema):
    id = fields.Integer()
    username = fields.String()
    name = fields.String()
    language = fields.String()
    department = fields.Nested(DepartmentRefSchema, allow_none=True)
    roles = fields.List(fields.String())
    permissions = fields.List(fields.String())


@auth_blp.route("/me", methods=["GET"])
@auth_blp.response(200, WhoAmISchema)
@require_permission("platform.profile.read")
def who_am_i() -> Any:
    """Who the caller is, the department they act in, and what they may do there."""
    user = _actor()
    registry = current_app.extensions["grp"].permissions
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "language": user.language,
        "department": current_department(),
        "roles": sorted(g.role_codes),
        "permissions": sorted(registry.permissions_of(g.role_codes)),
    }


# --------------------------------------------------------------------------- departments


@org_blp.route("", methods=["GET"])
@org_blp.arguments(PaginationQuerySchema, location="query")
@org_blp.response(200, page_of(DepartmentSchema))
@require_permission("platform.department.read")
def list_departments(query: dict[str, Any]) -> Any:
    """List the departments the caller may act in (all of them for a system administrator)."""
    departments = services.departments_of(db.session, _actor())
    start = (query["page"] - 1) * query["per_page"]
    return {
        "items": departments[start : start + query["per_page"]],
        "total": len(departments),
        "page": query["page"],
        "per_page": query["per_page"],
    }


@org_blp.route("/<code>", methods=["GET"])
@org_blp.response(200, DepartmentSchema)
@require_permission("platform.department.read")
def get_department(code: str) -> Any:
    """Read one department the caller may act in."""
    for department in services.departments_of(db.session, _actor()):
        if department.code == code.upper():
            return department
    abort(404, message=f"No department {code!r}.")


@org_blp.route("/<code>", methods=["PATCH"])
@org_blp.arguments(DepartmentUpdateSchema(partial=True))
@org_blp.response(200, DepartmentSchema)
@require_permission("platform.department.manage")
def update_department(data: dict[str, Any], code: str) -> Any:
    """Change a department's names, WPS identifiers or active flag (system administrators)."""
    department = _department_by_code(code)
    organisation.update_department(db.session, department, data)
    db.session.commit()
    return department


# --------------------------------------------------------------------------- users


@users_blp.route("", methods=["GET"])
@users_blp.arguments(UserQuerySchema, location="query")
@users_blp.response(200, page_of(UserSchema))
@require_permission("platform.user.read")
def list_users(query: dict[str, Any]) -> Any:
    """List users holding roles in the active department (any department: system admins)."""
    select = _users_in_scope()
    if query["department"]:
        department = _department_by_code(query["department"])
        if not _is_system_admin() and department.id != g.department.id:
            abort(404, message=f"No department {query['department']!r}.")
        select = select.where(
            User.id.in_(
                sa.select(RoleAssignment.user_id).where(
                    RoleAssignment.department_id == department.id
                )
            )
        )
    if query["q"]:
        pattern = f"%{query['q'].lower()}%"
        select = select.where(
            sa.or_(
                sa.func.lower(User.username).like(pattern), sa.func.lower(User.name).like(pattern)
            )
        )
    return paginate(select, query["page"], query["per_page"])


@users_blp.route("", methods=["POST"])
@users_blp.arguments(UserCreateSchema)
@users_blp.response(201, UserSchema)
@require_permission("platform.user.manage")
def create_user(data: dict[str, Any]) -> Any:
    """Create a user with roles per department (department admins: in their department only)."""
    pairs = _role_pairs(data["roles"])
    _check_role_scope(pairs)
    user = services.create_user(
        db.session,
        username=data["username"],
        password=data["password"],
        name=data["name"],
        email=data["email"],
        language=data["language"],
        roles=pairs,
    )
    db.session.commit()
    return user


@users_blp.route("/<int:user_id>", methods=["GET"])
@users_blp.response(200, UserSchema)
@require_permission("platform.user.read")
def get_user(user_id: int) -> Any:
    """Read a user the caller administers."""
    return _user_in_scope(user_id)


@users_blp.route("/<int:user_id>", methods=["PATCH"])
@users_blp.arguments(UserUpdateSchema)
@users_blp.response(200, UserSchema)
@require_permission("platform.user.manage")
def update_user(data: dict[str, Any], user_id: int) -> Any:
    """Change a user's details, password, active flag or roles.

    `roles` replaces the roles the caller administers: a department
    administrator's list covers their department only.
    """
    user = _user_in_scope(user_id)
    if not services.may_change_user(user, actor_is_system_admin=_is_system_admin()):
        abort(403, message="Only a system administrator can change a system administrator.")
    errors: dict[str, list[str]] = {}
    if "password" in data:
        if problems := services.password_problems(data["password"]):
            errors["password"] = problems
        else:
            user.password_hash = services.hash_password(data["password"])
    if data.get("is_active") is False and user.id == _actor().id:
        errors["is_active"] = ["You cannot deactivate yourself."]
    if "roles" in data:
        pairs = _role_pairs(data["roles"])
        _check_role_scope(pairs)
        try:
            services.set_user_roles(
                db.session,
                user,
                pairs,
                only_department=None if _is_system_admin() else current_department(),
            )
        except services.UserValidationError as exc:
            errors.update(exc.errors)
    if "primary_department" in data:
        code = data["primary_department"]
        held = {a.department.code: a.department_id for a in user.role_assignments}
        if code is None:
            user.primary_department_id = None
        elif code.upper() in held:
            user.primary_department_id = held[code.upper()]
        else:
            errors["primary_department"] = ["The user holds no role in that department."]
    if errors:
        raise ValidationError(errors)
    for key in ("name", "email", "language", "is_active"):
        if key in data:
            setattr(user, key, data[key])
    db.session.commit()
    return user


# --------------------------------------------------------------------------- audit


@audit_blp.route("", methods=["GET"])
@audit_blp.arguments(AuditQuerySchema, location="query")
@audit_blp.response(200, page_of(AuditEntrySchema))
@require_permission("platform.audit.read")
def list_audit_entries(query: dict[str, Any]) -> Any:
    """List audit entries of the active department, newest first.

    A system administrator may name another department with `department`; that
    read is itself written to the audit log.
    """
    department = current_department()
    if query["department"]:
        requested = _department_by_code(query["department"])
        if department is None or requested.id != department.id:
            if not _is_system_admin():
                abort(404, message=f"No department {query['department']!r}.")
            record_event(
                db.session,
                "cross_department_read",
                entity="AuditEntry",
                details={"department": requested.code},
            )
            db.session.commit()
        department = requested
    if department is None:
        abort(403, message="Choose a department first (X-GRP-Department header).")
    select = audit_entries_query(department.id)
    if query["entity"]:
        select = select.where(AuditEntry.entity == query["entity"])
    return paginate(select, query["page"], query["per_page"])


def register_api(api: Api) -> None:
    for blueprint in (auth_blp, org_blp, users_blp, audit_blp):
        api.register_blueprint(blueprint)
