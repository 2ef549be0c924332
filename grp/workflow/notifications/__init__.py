"""Notifications: an outbox written in the event's transaction, sent by email, SMS and in-app.

Public API (stable: other parts and modules call it):

    notify(session, *, recipient, event, context, department_id=None, link=None) -> list
    register_notification_template(app, event, subject_en, subject_ar, body_en, body_ar,
                                   *, label_en=None, label_ar=None)
    send_pending(session, now=None, batch=100) -> SendReport     # the sender; it commits

`notify` adds, in the caller's transaction, one in-app notification and one
outbox row per external channel the recipient wants (e-mail by default when
they have an address; SMS only once they gave a mobile number and chose it).
Subject and body are rendered from the event's template in the recipient's
language when queued. Nothing leaves the building unless the transaction
commits; `grp notifications send [--loop]` (or the scheduler) then delivers
each row once, retrying with backoff, and with an idempotency key the SMS
gateway (`Idempotency-Key` header) and mail servers (`Message-ID`) can use to
drop the copy a retry after a crash sends.

Events with platform texts, and the context keys their templates use (all
optional; a missing key renders empty or a neutral word):

* `approval.waiting`: `summary` (what waits, e.g. "Leave request LV-12"), `requester`.
* `approval.decided`: `summary`, `approved` (bool) or `decision` ("approved" /
  "rejected"), `approver`, `comment`.
* `job.finished`: `job` (its description) or `kind` and `job_id`; `succeeded`
  (bool) or `state` ("succeeded" / "failed" / "cancelled"); `done`, `total`,
  `error_count`, `failure_reason`, `detail`.
* placeholders a module may replace: `leave.decided` (`approved`, `leave_type`,
  `start`, `end`), `payslip.ready` (`period`; never put amounts in a
  notification), `document.expiring` (`document`, `expires_on`).

Any other event raises UnknownNotificationEvent until a module registers it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Flask
from sqlalchemy.orm import Session

from grp.workflow.notifications.registry import (
    NotificationTemplateError,
    UnknownNotificationEvent,
    register_notification_template,
)

if TYPE_CHECKING:
    from grp.workflow.notifications.services import SendReport

SENDER_JOB_ID = "platform.notifications.sender"

__all__ = [
    "NotificationTemplateError",
    "UnknownNotificationEvent",
    "init_app",
    "notify",
    "register_notification_template",
    "send_pending",
]


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
    delivers it once per channel the recipient has enabled. Returns the rows
    added (the in-app notification first, then the outbox rows).
    """
    from grp.workflow.notifications import services

    return services.notify(
        session,
        recipient=recipient,
        event=event,
        context=context,
        department_id=department_id,
        link=link,
    )


def send_pending(
    session: Session, now: datetime | None = None, batch: int = 100, **kwargs: Any
) -> SendReport:
    """Deliver up to `batch` due outbox rows (see `services.send_pending`); commits."""
    from grp.workflow.notifications import services

    return services.send_pending(session, now, batch, **kwargs)


def init_app(app: Flask) -> None:
    """Register settings, permissions, templates, pages, API, menu and CLI of notifications."""
    from grp.extensions import api
    from grp.workflow.notifications import api as notifications_api
    from grp.workflow.notifications import views
    from grp.workflow.notifications.cli import notifications_cli
    from grp.workflow.notifications.config import apply_config_defaults
    from grp.workflow.notifications.permissions import MENU, PERMISSIONS
    from grp.workflow.notifications.registry import register_default_templates

    apply_config_defaults(app)
    app.extensions["grp"].permissions.register(PERMISSIONS)
    register_default_templates(app)
    for blueprint in notifications_api.BLUEPRINTS:
        api.register_blueprint(blueprint)
    app.register_blueprint(views.bp)
    app.extensions["grp"].menu.extend(dict(item) for item in MENU)
    app.cli.add_command(notifications_cli)
    _schedule_sender(app)


def _schedule_sender(app: Flask) -> None:
    """Let the deployment's scheduler run the sender (`grp notifications send --loop` also can).

    Concurrent senders are safe: each claims different rows.
    """
    try:
        from grp.workflow.jobs.registry import EXTENSION_KEY, register_scheduled_job
    except ImportError:  # a tree without the jobs package: the CLI loop remains
        return
    if EXTENSION_KEY not in app.extensions:  # jobs not initialised yet: likewise
        return
    register_scheduled_job(
        app,
        SENDER_JOB_ID,
        "grp.workflow.notifications.services:send_pending_job",
        "interval",
        description="Send due e-mail and SMS notifications from the outbox.",
        seconds=int(app.config["GRP_NOTIFICATION_SEND_INTERVAL_SECONDS"]),
    )
