"""Small helpers shared by the platform's page views."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from grp.auth.permissions import SYSTEM_ADMIN
from grp.models import User

DEFAULT_PER_PAGE = 50


def safe_next(target: str | None) -> str | None:
    """Return `target` if it is a path on this site, else None.

    Only relative paths are accepted: `//evil.example` and `/\\evil.example`
    are protocol-relative URLs to browsers, and a scheme or host means another site.
    """
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ch in target for ch in "\\\r\n\t") or any(ord(ch) < 32 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def redirect_back(target: str | None, default_endpoint: str = "web.home") -> Response:
    """Redirect (303) to `target` when it is on this site, else to `default_endpoint`."""
    return redirect(safe_next(target) or url_for(default_endpoint), code=303)


def page_number() -> int:
    """Return the `?page=` argument as a positive number (1 when absent or invalid)."""
    return max(1, request.args.get("page", 1, type=int) or 1)


def actor() -> User:
    """Return the signed-in user (the real object, not Flask-Login's proxy)."""
    return current_user._get_current_object()


def acting_as_system_admin(role_codes: Any) -> bool:
    """Tell whether the request's roles include system administrator."""
    return SYSTEM_ADMIN in role_codes


def show_service_errors(form: FlaskForm, errors: dict[str, list[str]]) -> None:
    """Attach a service's field errors to the form's fields (the rest to `form.form_errors`).

    `messages` maps a field name to sentences already in the user's language;
    views translate the ones they can anticipate before calling this.
    """
    for name, messages in errors.items():
        field = form._fields.get(name)
        if field is not None:
            field.errors = [*field.errors, *messages]
        else:
            form.form_errors.extend(messages)


def pagination(page: dict[str, Any]) -> dict[str, Any]:
    """Add `pages`, `has_prev` and `has_next` to a `grp.api.paginate` result."""
    pages = max(1, -(-page["total"] // page["per_page"]))
    return {**page, "pages": pages, "has_prev": page["page"] > 1, "has_next": page["page"] < pages}
