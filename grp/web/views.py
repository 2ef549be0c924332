"""The shell of the web pages: sign-in and out, home, language and department switch."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, g, render_template, request, session
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_user, logout_user

from grp.auth import services
from grp.auth.context import require_permission, switch_department
from grp.auth.permissions import public
from grp.db import db
from grp.i18n import LANGUAGE_SESSION_KEY, current_language, remember_language
from grp.web.forms import DepartmentSwitchForm, LanguageForm, LoginForm, PostForm
from grp.web.helpers import actor, redirect_back, safe_next

bp = Blueprint("web", __name__)


def _throttle_policy() -> services.ThrottlePolicy:
    config = current_app.config
    return services.ThrottlePolicy(
        config["GRP_LOGIN_MAX_FAILURES"], config["GRP_LOGIN_LOCK_MINUTES"]
    )


def _start_fresh_session() -> None:
    """Drop everything a previous user left in the session but the chosen language."""
    language = session.get(LANGUAGE_SESSION_KEY)
    session.clear()
    if language is not None:
        session[LANGUAGE_SESSION_KEY] = language


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Any:
    """Sign in with username and password; too many wrong passwords lock the name."""
    form = LoginForm()
    if request.method == "GET" and current_user.is_authenticated:
        return redirect_back(request.args.get("next"))
    if not form.is_submitted():
        form.next.data = safe_next(request.args.get("next"))
    if form.validate_on_submit():
        try:
            user = services.authenticate(
                db.session, form.username.data, form.password.data, _throttle_policy()
            )
        except services.LoginLocked as exc:
            db.session.commit()  # keep the lock
            message = ngettext(
                "Too many failed sign-in attempts. Sign-in is locked for %(num)d more minute.",
                "Too many failed sign-in attempts. Sign-in is locked for %(num)d more minutes.",
                exc.minutes,
            )
            page = render_template("login.html", form=form, error=message)
            return page, 429, {"Retry-After": str(exc.minutes * 60)}
        except services.InvalidCredentials:
            db.session.commit()  # keep the failure count
            error = _("Wrong username or password.")
            return render_template("login.html", form=form, error=error)
        _start_fresh_session()
        login_user(user)
        db.session.commit()
        return redirect_back(form.next.data)
    return render_template("login.html", form=form, error=None)


@bp.post("/logout")
@public
def logout() -> Any:
    """Sign out (a POST, so another site cannot sign the user out with a link)."""
    form = PostForm()
    if not form.validate_on_submit():
        abort(400)
    logout_user()
    _start_fresh_session()
    flash(_("You are signed out."), "info")
    return redirect_back(None, "web.login")


@bp.get("/")
@require_permission("platform.profile.read")
def home() -> Any:
    """Greet the user with their active department and roles there."""
    return render_template("home.html", role_codes=sorted(g.role_codes))


@bp.post("/language")
@public
def language() -> Any:
    """Switch the page language; a signed-in user keeps it for the next visit."""
    form = LanguageForm()
    if not form.validate_on_submit() or not remember_language(form.language.data):
        abort(400)
    if current_user.is_authenticated:
        actor().language = form.language.data
        db.session.commit()
    return redirect_back(form.next.data, "web.home")


@bp.post("/department")
@require_permission("platform.department.read")
def department() -> Any:
    """Make another of the user's departments the active one."""
    form = DepartmentSwitchForm()
    if not form.validate_on_submit():
        abort(404)  # not a department id: as unknown as a department of someone else
    chosen = switch_department(form.department_id.data)
    if chosen is None:
        abort(404)
    name = chosen.name(current_language())
    flash(_("You are now working in %(department)s.", department=name), "info")
    return redirect_back(form.next.data, "web.home")
