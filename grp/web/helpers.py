"""Small helpers shared by the platform's page views."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import flash, redirect, request, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from grp.auth.context import acting_user
from grp.auth.permissions import SYSTEM_ADMIN
from grp.db import db
from grp.errors import ValidationError
from grp.models import User

DEFAULT_PER_PAGE = 50

T = TypeVar("T")

#: What a refused action flashes: a message (category "error"), a `(message, category)`
#: pair, or a function of the exception giving one message or several (each "error").
Refusal = str | tuple[str, str] | Callable[[Any], str | Iterable[str]]
ExceptionTypes = type[Exception] | tuple[type[Exception], ...]


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
    return acting_user()


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


def error_messages(exc: ValidationError) -> list[str]:
    """Return every message of a service's ValidationError, field after field."""
    return [message for messages in exc.errors.values() for message in messages]


def _flash_refusal(refused: Mapping[ExceptionTypes, Refusal], exc: Exception) -> None:
    refusal = next(value for types, value in refused.items() if isinstance(exc, types))
    if isinstance(refusal, str):
        flash(refusal, "error")
    elif isinstance(refusal, tuple):
        flash(*refusal)
    else:
        messages = refusal(exc)
        for message in [messages] if isinstance(messages, str) else messages:
            flash(message, "error")


def _flattened(types: Iterable[ExceptionTypes]) -> tuple[type[Exception], ...]:
    return tuple(t for key in types for t in (key if isinstance(key, tuple) else (key,)))


def run_action(
    call: Callable[[], T],
    *,
    refused: Mapping[ExceptionTypes, Refusal],
    success: str | Callable[[T], str],
    redirect_to: str | Callable[[], str],
) -> Response:
    """Run a page's action (a POST button), then redirect (303) to `redirect_to`.

    When `call` raises one of the `refused` exception types the transaction is rolled
    back and the refusal flashed (the first key the exception matches says how);
    otherwise it is committed and `success` (or `success(result)`) flashed as
    "success". Messages are translated by the caller; callables run after the commit
    or rollback, so they see the stored state. Other exceptions propagate untouched.
    """
    try:
        result = call()
    except _flattened(refused) as exc:
        db.session.rollback()
        _flash_refusal(refused, exc)
    else:
        db.session.commit()
        flash(success(result) if callable(success) else success, "success")
    return redirect(redirect_to() if callable(redirect_to) else redirect_to, code=303)


def save_form(
    form: FlaskForm,
    call: Callable[[], T],
    *,
    success: str | Callable[[T], str],
    redirect_to: str | Callable[[T], str],
    refused: type[ValidationError] = ValidationError,
    show_errors: Callable[[FlaskForm, dict[str, Any]], None] = show_service_errors,
) -> Response | None:
    """Save a validated form through a service: commit, flash, redirect (303); or None.

    When `call` raises `refused` (a ValidationError) the transaction is rolled back,
    the exception's field errors are put on the form (`show_errors`) and None is
    returned: the view renders the form again, with the status it chooses. Otherwise
    the transaction is committed, `success` flashed as "success" and the redirect to
    `redirect_to` returned (callables are given the service's result).
    """
    try:
        result = call()
    except refused as exc:
        db.session.rollback()
        show_errors(form, exc.errors)
        return None
    db.session.commit()
    flash(success(result) if callable(success) else success, "success")
    return redirect(redirect_to(result) if callable(redirect_to) else redirect_to, code=303)
