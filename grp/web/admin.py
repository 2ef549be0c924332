"""Administration pages: departments, users and their roles, the audit log.

Scope rules: a system administrator manages every department and user; a
department administrator manages the users holding roles in their active
department, and only the roles held there. A user outside that scope is
answered 404, as if they did not exist.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import selectinload
from wtforms import SelectChoice

from grp.api import paginate
from grp.audit import audit_entries_query
from grp.auth import services
from grp.auth.context import current_department, require_permission
from grp.auth.permissions import BUILT_IN_ROLES, SYSTEM_ADMIN
from grp.db import db
from grp.i18n import current_language
from grp.models import Department, RoleAssignment, User
from grp.organisation import update_department
from grp.web.forms import DepartmentForm, UserActiveForm, UserCreateForm, UserRolesForm
from grp.web.helpers import (
    DEFAULT_PER_PAGE,
    acting_as_system_admin,
    actor,
    page_number,
    pagination,
    save_form,
    show_service_errors,
)

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _is_system_admin() -> bool:
    return acting_as_system_admin(g.role_codes)


def _active_department() -> Department:
    if g.department is None:
        abort(403)  # signed in but without any department to act in
    return current_department()


# --------------------------------------------------------------------------- departments


@bp.get("/departments")
@require_permission("platform.department.read")
def departments() -> Any:
    """List the departments the user may act in (all of them for a system administrator)."""
    rows = services.departments_of(db.session, actor())
    return render_template(
        "admin/departments.html", departments=rows, can_manage=_is_system_admin()
    )


@bp.route("/departments/<int:department_id>/edit", methods=["GET", "POST"])
@require_permission("platform.department.manage")
def edit_department(department_id: int) -> Any:
    """Change a department's names and WPS identifiers (system administrators)."""
    department = db.session.get(Department, department_id)
    if department is None:
        abort(404)
    form = DepartmentForm(obj=department)
    if form.validate_on_submit():
        saved = save_form(
            form,
            lambda: update_department(
                db.session,
                department,
                {
                    "name_en": form.name_en.data,
                    "name_ar": form.name_ar.data,
                    "wps_employer_id": form.wps_employer_id.data,
                    "bank_routing_code": form.bank_routing_code.data,
                },
            ),
            success=_("The department %(code)s is saved.", code=department.code),
            redirect_to=url_for("admin.departments"),
        )
        if saved is not None:
            return saved
    return render_template("admin/department_edit.html", form=form, department=department)


# --------------------------------------------------------------------------- users


def _members_of(department_id: int) -> sa.Select:
    """Users holding at least one role in the department, by username."""
    members = sa.select(RoleAssignment.user_id).where(RoleAssignment.department_id == department_id)
    return (
        sa.select(User)
        .where(User.id.in_(members))
        .options(selectinload(User.role_assignments))
        .order_by(User.username)
    )


def _managed_user(user_id: int) -> User:
    """Return the user if the actor administers them, else answer 404."""
    if _is_system_admin():
        user = db.session.get(User, user_id)
    else:
        department = _active_department()
        user = db.session.scalar(_members_of(department.id).where(User.id == user_id))
    if user is None:
        abort(404)
    return user


def _refuse_changing_system_admin(user: User) -> None:
    if not services.may_change_user(user, actor_is_system_admin=_is_system_admin()):
        abort(403)


def _role_choices() -> list[SelectChoice]:
    """Roles the actor may grant, labelled in the page language."""
    index = 1 if current_language() == "ar" else 0
    return [
        SelectChoice(code, names[index])
        for code, names in BUILT_IN_ROLES.items()
        if code != SYSTEM_ADMIN or _is_system_admin()
    ]


@bp.get("/users")
@require_permission("platform.user.read")
def users() -> Any:
    """List the users holding roles in the active department, a page at a time."""
    department = _active_department()
    page = paginate(_members_of(department.id), page_number(), DEFAULT_PER_PAGE)
    return render_template(
        "admin/users.html",
        page=pagination(page),
        department=department,
        me=actor(),
    )


def _show_new_user_errors(form: UserCreateForm, errors: dict[str, Any]) -> None:
    errors = dict(errors)
    if "username" in errors:
        # The form already required a name, so the only objection left is a duplicate.
        errors["username"] = [_("This username is taken; choose another.")]
    show_service_errors(form, errors)


@bp.route("/users/new", methods=["GET", "POST"])
@require_permission("platform.user.manage")
def create_user() -> Any:
    """Create a user with roles in the active department (any department: system admins)."""
    department = _active_department()
    form = UserCreateForm()
    form.roles.choices = _role_choices()
    if _is_system_admin():
        form.department.choices = [
            SelectChoice(d.id, f"{d.code} — {d.name(current_language())}")
            for d in services.departments_of(db.session, actor())
        ]
        if not form.is_submitted():
            form.department.data = department.id
    else:
        # A department administrator creates users in their own department only.
        del form.department
    if form.validate_on_submit():
        target = db.session.get(Department, form.department.data) if "department" in form else None
        target = target or department
        saved = save_form(
            form,
            lambda: services.create_user(
                db.session,
                username=form.username.data,
                password=form.password.data,
                name=form.name.data,
                email=form.email.data,
                language=form.language.data,
                roles=[(target.code, role) for role in form.roles.data],
            ),
            success=lambda user: _("The user %(username)s is created.", username=user.username),
            redirect_to=url_for("admin.users"),
            refused=services.UserValidationError,
            show_errors=_show_new_user_errors,
        )
        if saved is not None:
            return saved
    return render_template("admin/user_new.html", form=form, department=department)


def _roles_department() -> Department:
    """The department whose roles the page edits: a system admin may choose (`?department=`)."""
    department = _active_department()
    if _is_system_admin():
        chosen = request.args.get("department", type=int)
        if chosen is not None:
            department = db.session.get(Department, chosen) or abort(404)
    return department


@bp.route("/users/<int:user_id>/roles", methods=["GET", "POST"])
@require_permission("platform.user.manage")
def edit_user_roles(user_id: int) -> Any:
    """Replace the roles a user holds in one department."""
    user = _managed_user(user_id)
    if request.method == "POST":
        _refuse_changing_system_admin(user)
    department = _roles_department()
    held = sorted(a.role.code for a in user.role_assignments if a.department_id == department.id)
    form = UserRolesForm()
    form.roles.choices = _role_choices()
    if not form.is_submitted():
        form.roles.data = held
    if form.validate_on_submit():
        saved = save_form(
            form,
            lambda: services.set_user_roles(
                db.session,
                user,
                [(department.code, role) for role in form.roles.data or ()],
                only_department=department,
            ),
            success=_("The roles of %(username)s are saved.", username=user.username),
            # To the list, not back here: a user left without roles in the department
            # is no longer one its administrator may open.
            redirect_to=url_for("admin.users"),
            refused=services.UserValidationError,
        )
        if saved is not None:
            return saved
    departments = services.departments_of(db.session, actor()) if _is_system_admin() else []
    return render_template(
        "admin/user_roles.html",
        form=form,
        user=user,
        department=department,
        departments=departments,
        held=held,
    )


@bp.post("/users/<int:user_id>/active")
@require_permission("platform.user.manage")
def set_user_active(user_id: int) -> Any:
    """Deactivate (no sign-in, tokens refused) or reactivate a user."""
    user = _managed_user(user_id)
    form = UserActiveForm()
    if not form.validate_on_submit():
        abort(400)
    _refuse_changing_system_admin(user)
    active = form.active.data == "1"
    if not active and user.id == actor().id:
        flash(_("You cannot deactivate yourself."), "error")
        return redirect(url_for("admin.users"), code=303)
    user.is_active = active
    db.session.commit()
    if active:
        flash(_("%(username)s can sign in again.", username=user.username), "success")
    else:
        flash(_("%(username)s is deactivated.", username=user.username), "success")
    return redirect(url_for("admin.users", page=request.args.get("page", type=int)), code=303)


# --------------------------------------------------------------------------- audit log


@bp.get("/audit")
@require_permission("platform.audit.read")
def audit() -> Any:
    """List the audit entries of the active department, newest first."""
    department = _active_department()
    page = paginate(audit_entries_query(department.id), page_number(), DEFAULT_PER_PAGE)
    return render_template("admin/audit.html", page=pagination(page), department=department)
