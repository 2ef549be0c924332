"""Notifications: an outbox written in the event's transaction, sent by email, SMS and in-app.

Public API (stable: other parts and modules call it):

    notify(session, *, recipient, event, context, department_id=None, link=None) -> list
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy.orm import Session


def notify(
    session: Session,
    *,
    recipient: Any,
    event: str,
    context: dict[str, Any],
    department_id: int | None = None,
    link: str | None = None,
) -> list[Any]:
    """Queue a notification of `event` for `recipient` (a User) in the current transaction.

    Nothing is sent if the transaction rolls back; after commit the sender
    delivers it once per channel the recipient has enabled.
    """
    return []


def init_app(app: Flask) -> None:
    pass
