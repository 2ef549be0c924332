"""Notifications API: my notifications and preferences (`/api/v1/me/...`), the outbox (admins)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import g
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from grp.api import Blueprint, PaginationQuerySchema, page_of, paginate
from grp.auth.context import require_permission
from grp.auth.permissions import SYSTEM_ADMIN
from grp.db import db
from grp.models import Department, User
from grp.web.helpers import actor
from grp.workflow.notifications import services
from grp.workflow.notifications.models import CHANNELS, STATES, OutboxMessage

me_blp = Blueprint(
    "my_notifications_api",
    __name__,
    url_prefix="/api/v1/me",
    description="My notifications and how I receive them",
)
outbox_blp = Blueprint(
    "outbox_api",
    __name__,
    url_prefix="/api/v1/notifications",
    description="The notification outbox: delivery state of e-mail and SMS (administrators)",
)
BLUEPRINTS = (me_blp, outbox_blp)


# --------------------------------------------------------------------------- schemas


class NotificationSchema(Schema):
    id = fields.Integer()
    created_at = fields.DateTime()
    event = fields.String()
    department_id = fields.Integer(allow_none=True)
    language = fields.String()
    title = fields.String()
    body = fields.String()
    link = fields.String(allow_none=True)
    read_at = fields.DateTime(allow_none=True)
    read = fields.Boolean(attribute="is_read")


class NotificationQuerySchema(PaginationQuerySchema):
    unread = fields.Boolean(load_default=False, metadata={"description": "Only unread ones"})


class UnreadCountSchema(Schema):
    unread = fields.Integer()


class NotificationEventChoiceSchema(Schema):
    event = fields.String(required=True, validate=validate.Length(min=1, max=100))
    label_en = fields.String(dump_only=True)
    label_ar = fields.String(dump_only=True)
    email = fields.Boolean()
    sms = fields.Boolean()


class NotificationPreferencesSchema(Schema):
    mobile = fields.String(
        allow_none=True,
        metadata={"description": "UAE mobile number for SMS, +9715XXXXXXXX; null removes it"},
    )
    email = fields.String(
        dump_only=True, allow_none=True, metadata={"description": "The e-mail address on file"}
    )
    events = fields.List(
        fields.Nested(NotificationEventChoiceSchema),
        metadata={"description": "Channels per event; events left out keep their choice"},
    )


class OutboxMessageSchema(Schema):
    """An outbox row without its body: bodies may carry figures administrators need not see."""

    id = fields.Integer()
    created_at = fields.DateTime()
    department_id = fields.Integer(allow_none=True)
    recipient_id = fields.Integer()
    channel = fields.String()
    address = fields.String()
    language = fields.String()
    event = fields.String()
    subject = fields.String()
    state = fields.String()
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime()
    last_error = fields.String(allow_none=True)
    idempotency_key = fields.String()
    sent_at = fields.DateTime(allow_none=True)
    provider_message_id = fields.String(allow_none=True)


class OutboxQuerySchema(PaginationQuerySchema):
    state = fields.String(load_default=None, validate=validate.OneOf(STATES))
    channel = fields.String(load_default=None, validate=validate.OneOf(CHANNELS))
    department = fields.String(
        load_default=None, metadata={"description": "System administrators: a department code"}
    )


# --------------------------------------------------------------------------- my notifications


def _me() -> User:
    return actor()


@me_blp.route("/notifications", methods=["GET"])
@me_blp.arguments(NotificationQuerySchema, location="query")
@me_blp.response(200, page_of(NotificationSchema))
@require_permission("platform.notification.read")
def list_my_notifications(query: dict[str, Any]) -> Any:
    """List my in-app notifications, newest first."""
    select = services.notifications_of(_me(), unread_only=query["unread"])
    return paginate(select, query["page"], query["per_page"])


@me_blp.route("/notifications/unread-count", methods=["GET"])
@me_blp.response(200, UnreadCountSchema)
@require_permission("platform.notification.read")
def my_unread_count() -> Any:
    """Count my unread notifications (for a badge)."""
    return {"unread": services.unread_count(db.session, _me())}


@me_blp.route("/notifications/<int:notification_id>/read", methods=["POST"])
@me_blp.response(200, NotificationSchema)
@me_blp.alt_response(404, description="No such notification of mine")
@require_permission("platform.notification.read")
def mark_my_notification_read(notification_id: int) -> Any:
    """Mark one of my notifications read."""
    try:
        notification = services.mark_read(db.session, _me(), notification_id)
    except services.NotificationNotFound:
        abort(404, message="No such notification.")
    db.session.commit()
    return notification


@me_blp.route("/notifications/read-all", methods=["POST"])
@me_blp.response(200, UnreadCountSchema)
@require_permission("platform.notification.read")
def mark_all_my_notifications_read() -> Any:
    """Mark all my notifications read; answers the unread count (0)."""
    services.mark_all_read(db.session, _me())
    db.session.commit()
    return {"unread": 0}


def _preferences_body(preferences: services.Preferences) -> dict[str, Any]:
    return {
        "mobile": preferences.mobile,
        "email": preferences.email,
        "events": [vars(choice) for choice in preferences.events],
    }


@me_blp.route("/notification-preferences", methods=["GET"])
@me_blp.response(200, NotificationPreferencesSchema)
@require_permission("platform.notification_preference.manage")
def get_my_notification_preferences() -> Any:
    """Read my mobile number and, per event, whether I get it by e-mail and SMS."""
    return _preferences_body(services.get_preferences(db.session, _me()))


@me_blp.route("/notification-preferences", methods=["PUT"])
@me_blp.arguments(NotificationPreferencesSchema)
@me_blp.response(200, NotificationPreferencesSchema)
@require_permission("platform.notification_preference.manage")
def put_my_notification_preferences(data: dict[str, Any]) -> Any:
    """Change my mobile number and channel choices; what is left out stays as it is."""
    choices = [
        (item["event"], channel, item[channel])
        for item in data.get("events", [])
        for channel in CHANNELS
        if channel in item
    ]
    options: dict[str, Any] = {"choices": choices}
    if "mobile" in data:
        options["mobile"] = data["mobile"]
    # A PreferencesError is a ValidationError: the platform answers 422 with its fields.
    preferences = services.update_preferences(db.session, _me(), **options)
    db.session.commit()
    return _preferences_body(preferences)


# --------------------------------------------------------------------------- outbox


def _outbox_department(requested: str | None) -> int | None:
    """Return the department whose rows the caller reads (None: all, system administrators)."""
    if SYSTEM_ADMIN in g.get("role_codes", set()):
        if not requested:
            return None
        department = db.session.scalar(
            sa.select(Department).where(Department.code == requested.upper())
        )
        if department is None:
            abort(404, message=f"No department {requested!r}.")
        return department.id
    if g.department is None:
        abort(403, message="Choose a department first (X-GRP-Department header).")
    if requested and requested.upper() != g.department.code:
        abort(404, message=f"No department {requested!r}.")
    return g.department.id


@outbox_blp.route("/outbox", methods=["GET"])
@outbox_blp.arguments(OutboxQuerySchema, location="query")
@outbox_blp.response(200, page_of(OutboxMessageSchema))
@require_permission("platform.outbox.read")
def list_outbox(query: dict[str, Any]) -> Any:
    """List outbox rows of the active department (system administrators: all), newest first."""
    select = services.outbox_query(_outbox_department(query["department"]), state=query["state"])
    if query["channel"]:
        select = select.where(OutboxMessage.channel == query["channel"])
    return paginate(select, query["page"], query["per_page"])


@outbox_blp.route("/outbox/<int:message_id>/retry", methods=["POST"])
@outbox_blp.response(200, OutboxMessageSchema)
@outbox_blp.alt_response(404, description="No such message in the active department")
@outbox_blp.alt_response(409, description="Only failed or dead messages can be retried")
@require_permission("platform.outbox.retry")
def retry_outbox_message(message_id: int) -> Any:
    """Queue a failed or dead message again now (same idempotency key, fresh attempts)."""
    message = services.get_outbox_message(db.session, message_id, _outbox_department(None))
    if message is None:
        abort(404, message="No such message.")
    try:
        services.retry_outbox_message(db.session, message)
    except services.OutboxStateError as exc:
        abort(409, message=str(exc))
    db.session.commit()
    return message
