"""The approval engine's registry: document types modules declare, and the org chart resolver."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Session

from grp.db import utcnow
from grp.models import RoleAssignment, User
from grp.workflow.approvals.errors import UnknownDocumentTypeError

if TYPE_CHECKING:
    from grp.workflow.approvals.models import ApprovalRequest

EXTENSION_KEY = "grp.approvals"

ManagerResolver = Callable[[Session, User], "User | None"]
DecidedCallback = Callable[[Session, "ApprovalRequest"], None]


@dataclass(frozen=True)
class DocumentType:
    """A kind of document a module sends for approval."""

    code: str
    name_en: str
    name_ar: str
    on_decided: DecidedCallback | None = None

    def name(self, language: str = "en") -> str:
        return self.name_ar if language == "ar" else self.name_en


@dataclass
class ApprovalRegistry:
    """What the app's modules told the approval engine: document types, the org chart."""

    document_types: dict[str, DocumentType] = field(default_factory=dict)
    manager_resolver: ManagerResolver | None = None


def registry(app: Flask | None = None) -> ApprovalRegistry:
    """Return the approval registry of `app` (default: the current app)."""
    app = app or current_app
    return app.extensions[EXTENSION_KEY]


def register_document_type(
    app: Flask,
    code: str,
    name_en: str,
    name_ar: str,
    on_decided: DecidedCallback | None = None,
) -> DocumentType:
    """Declare a document type modules send for approval, and what to do once it is decided.

    `on_decided(session, request)` runs in the transaction of the final
    decision (approved, rejected or cancelled; read `request.state`); an
    exception there undoes the decision.
    """
    if not code or len(code) > 64:
        raise ValueError("a document type code has 1 to 64 characters")
    types = registry(app).document_types
    if code in types:
        raise ValueError(f"document type {code!r} is already registered")
    types[code] = DocumentType(code, name_en, name_ar, on_decided)
    return types[code]


def set_manager_resolver(app: Flask, resolver: ManagerResolver | None) -> None:
    """Tell the engine how to find a user's manager: `resolver(session, user) -> User | None`.

    The platform does not know the org chart; the HR module registers this.
    Without a resolver, manager steps find nobody (see the module docstring).
    """
    registry(app).manager_resolver = resolver


def get_document_type(code: str) -> DocumentType:
    """Return the registered document type `code`, or raise UnknownDocumentTypeError."""
    found = registry().document_types.get(code)
    if found is None:
        raise UnknownDocumentTypeError(f"no module registered the document type {code!r}")
    return found


def document_type_label(code: str, language: str = "en") -> str:
    """Return the document type's name in `language` (its code if it is not registered)."""
    found = registry().document_types.get(code)
    return found.name(language) if found else code


# --------------------------------------------------------------------------- time


def local_date(moment: datetime | None = None) -> date:
    """Return the calendar day of `moment` in the department's time zone (Asia/Dubai)."""
    zone = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Dubai")
    return (moment or utcnow()).astimezone(zone).date()


# --------------------------------------------------------------------------- people


def members_of(session: Session, department_id: int, user_ids: Iterable[int]) -> dict[int, User]:
    """Return those of `user_ids` that hold any role in the department, by id."""
    ids = set(user_ids)
    if not ids:
        return {}
    members = sa.select(RoleAssignment.user_id).where(RoleAssignment.department_id == department_id)
    users = session.scalars(sa.select(User).where(User.id.in_(ids), User.id.in_(members)))
    return {u.id: u for u in users}
