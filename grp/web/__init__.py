"""Web pages of the platform: sign-in, language and department switch, administration."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Flask, current_app, g, has_request_context, request, url_for
from flask_babel import format_datetime, gettext
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import InternalServerError
from werkzeug.routing import BuildError

from grp.auth import services
from grp.auth.context import acting_user, has_permission, is_api_request
from grp.auth.permissions import BUILT_IN_ROLES
from grp.db import db
from grp.extensions import login_manager
from grp.i18n import current_language, text_direction

#: The platform's own menu entries, shown after the modules' entries.
PLATFORM_MENU: tuple[dict[str, str], ...] = (
    {
        "label_en": "Departments",
        "label_ar": "الدوائر",
        "endpoint": "admin.departments",
        "permission": "platform.department.read",
    },
    {
        "label_en": "Users",
        "label_ar": "المستخدمون",
        "endpoint": "admin.users",
        "permission": "platform.user.read",
    },
    {
        "label_en": "Audit log",
        "label_ar": "سجل التدقيق",
        "endpoint": "admin.audit",
        "permission": "platform.audit.read",
    },
    {
        "label_en": "API tokens",
        "label_ar": "رموز الوصول للواجهة البرمجية",
        "endpoint": "tokens.index",
        "permission": "platform.token.manage",
    },
)


def N_(message: str) -> str:  # noqa: N802 - the conventional name pybabel extracts
    """Mark `message` for translation without translating it now."""
    return message


def register_web(app: Flask) -> None:
    """Register the page blueprints, template helpers and the HTML 500 page on `app`."""
    from grp.web.admin import bp as admin_bp
    from grp.web.tokens import bp as tokens_bp
    from grp.web.views import bp

    app.register_blueprint(bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(tokens_bp)

    # Flask-Login flashes this when a page needs sign-in; translated when flashed
    # (a lazy string could not be stored in the session cookie).
    login_manager.login_message = N_("Please sign in to see this page.")
    login_manager.localize_callback = gettext
    login_manager.login_message_category = "info"

    app.context_processor(_template_context)
    app.add_template_filter(_local_time, "local_time")
    app.add_template_filter(_compact_json, "compact_json")
    app.register_error_handler(InternalServerError, _internal_error)


def _local_time(value: datetime | None) -> str:
    """Show a UTC time in Asia/Dubai (the configured Babel time zone)."""
    if value is None:
        return ""
    return format_datetime(value, "yyyy-MM-dd HH:mm")


def _compact_json(value: Any) -> str:
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def _menu(language: str) -> list[dict[str, Any]]:
    """Return the menu entries the user may open, modules' first, with their URLs."""
    entries = []
    for item in [*current_app.extensions["grp"].menu, *PLATFORM_MENU]:
        if not has_permission(item["permission"]):
            continue
        try:
            url = url_for(item["endpoint"])
        except BuildError:
            continue  # a module's entry for a page it did not register: show nothing
        entries.append(
            {
                "label": item["label_ar"] if language == "ar" else item["label_en"],
                "url": url,
                "current": request.path == url,
            }
        )
    return entries


def _user_departments() -> list[Any]:
    try:
        return services.departments_of(db.session, acting_user())
    except SQLAlchemyError:
        # Rendering an error page after a database failure: show the page without
        # the switcher rather than fail again.
        db.session.rollback()
        return []


def _template_context() -> dict[str, Any]:
    language = current_language()
    # Templates are also rendered outside requests (PDFs from jobs and the CLI).
    in_request = has_request_context()
    signed_in = in_request and bool(current_user and current_user.is_authenticated)

    def localized(obj: Any, field: str = "name") -> str:
        """Return `obj.<field>_ar` in Arabic, else `obj.<field>_en`."""
        if obj is None:
            return ""
        return getattr(obj, f"{field}_{'ar' if language == 'ar' else 'en'}")

    def role_label(code: str) -> str:
        names = BUILT_IN_ROLES.get(code)
        if names is None:
            return code
        return names[1] if language == "ar" else names[0]

    return {
        "locale": language,
        "text_dir": text_direction(language),
        "signed_in": signed_in,
        "menu": _menu(language) if signed_in else [],
        "user_departments": _user_departments() if signed_in else [],
        "active_department": g.get("department"),
        "localized": localized,
        "role_label": role_label,
        "current_path": request.full_path.rstrip("?") if in_request else "/",
    }


def _internal_error(error: InternalServerError) -> Any:
    """Answer an unhandled error with the 500 page (API paths: problem+json).

    Only reached when exceptions do not propagate (production): in tests they
    are raised to the test instead.
    """
    # The failed transaction must not break the queries the error page makes.
    db.session.rollback()
    if is_api_request():
        from grp.extensions import api

        return api.handle_http_exception(error)
    return current_app.extensions["grp"].render_html_error(error)
