"""Notification pages: my notifications, my preferences, and the outbox for administrators.

Another user's notification is answered 404, like a row that does not exist;
a department administrator sees and retries only their department's outbox
rows, a system administrator every department's.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from grp.api import paginate
from grp.auth.context import require_permission
from grp.auth.permissions import SYSTEM_ADMIN
from grp.db import db
from grp.models import Department, User
from grp.web.forms import PostForm
from grp.web.helpers import DEFAULT_PER_PAGE, actor, page_number, pagination, safe_next
from grp.workflow.notifications import services
from grp.workflow.notifications.forms import preferences_form
from grp.workflow.notifications.models import CHANNELS, DEAD, FAILED, STATES

bp = Blueprint("notifications", __name__, url_prefix="/notifications")

STATE_LABELS = {
    "pending": _l("Waiting"),
    "sending": _l("Sending"),
    "sent": _l("Sent"),
    "failed": _l("Refused"),
    "dead": _l("Given up"),
}
CHANNEL_LABELS = {"email": _l("E-mail"), "sms": _l("SMS")}


def _back_to_list() -> Any:
    return redirect(
        url_for("notifications.index", page=request.args.get("page", type=int)), code=303
    )


def _checked_post() -> None:
    if not PostForm().validate_on_submit():
        abort(400)


# --------------------------------------------------------------------------- my notifications


@bp.get("")
@require_permission("platform.notification.read")
def index() -> Any:
    """List my notifications, newest first, unread ones marked."""
    unread_only = request.args.get("unread") == "1"
    me = actor()
    page = paginate(
        services.notifications_of(me, unread_only=unread_only), page_number(), DEFAULT_PER_PAGE
    )
    return render_template(
        "workflow/notifications/index.html",
        page=pagination(page),
        unread=services.unread_count(db.session, me),
        unread_only=unread_only,
        post_form=PostForm(),
    )


@bp.post("/<int:notification_id>/read")
@require_permission("platform.notification.read")
def mark_read(notification_id: int) -> Any:
    """Mark one of my notifications read."""
    _checked_post()
    try:
        services.mark_read(db.session, actor(), notification_id)
    except services.NotificationNotFound:
        abort(404)
    db.session.commit()
    return _back_to_list()


@bp.post("/<int:notification_id>/open")
@require_permission("platform.notification.read")
def open_notification(notification_id: int) -> Any:
    """Mark one of my notifications read and go to the page it is about."""
    _checked_post()
    try:
        notification = services.mark_read(db.session, actor(), notification_id)
    except services.NotificationNotFound:
        abort(404)
    db.session.commit()
    target = safe_next(notification.link)
    return redirect(target or url_for("notifications.index"), code=303)


@bp.post("/read-all")
@require_permission("platform.notification.read")
def mark_all_read() -> Any:
    """Mark all my notifications read."""
    _checked_post()
    services.mark_all_read(db.session, actor())
    db.session.commit()
    flash(_("All your notifications are marked read."), "success")
    return redirect(url_for("notifications.index"), code=303)


# --------------------------------------------------------------------------- preferences


@bp.route("/preferences", methods=["GET", "POST"])
@require_permission("platform.notification_preference.manage")
def preferences() -> Any:
    """Choose per event whether to get it by e-mail and SMS, and give a mobile number."""
    me = actor()
    current = services.get_preferences(db.session, me)
    form = preferences_form(current.events)
    if not form.is_submitted():
        form.mobile.data = current.mobile
    if form.validate_on_submit():
        choices = [
            (choice.event, channel, bool(form[f"{channel}_{index}"].data))
            for index, choice in enumerate(current.events)
            for channel in CHANNELS
        ]
        if any(enabled for _e, channel, enabled in choices if channel == "sms") and not (
            form.mobile.data
        ):
            form.mobile.errors = [_("Enter a mobile number to receive SMS.")]
        else:
            try:
                services.update_preferences(
                    db.session, me, choices=choices, mobile=form.mobile.data
                )
            except services.PreferencesError:
                # The form checks what the service checks; this is a registry change race.
                db.session.rollback()
                abort(409)
            db.session.commit()
            flash(_("Your notification preferences are saved."), "success")
            return redirect(url_for("notifications.preferences"), code=303)
    rows = [
        {"choice": choice, "email": form[f"email_{index}"], "sms": form[f"sms_{index}"]}
        for index, choice in enumerate(current.events)
    ]
    return render_template(
        "workflow/notifications/preferences.html", form=form, rows=rows, email=current.email
    )


# --------------------------------------------------------------------------- outbox


def _outbox_department_id() -> int | None:
    """The department whose rows the page shows: the active one (None: all, system admins)."""
    if SYSTEM_ADMIN in g.role_codes:
        return None
    if g.department is None:
        abort(403)
    return g.department.id


@bp.get("/outbox")
@require_permission("platform.outbox.read")
def outbox() -> Any:
    """List outbox rows with their delivery state, newest first, filtered by state."""
    state = request.args.get("state") or None
    if state is not None and state not in STATES:
        state = None
    department_id = _outbox_department_id()
    query = services.outbox_query(department_id, state=state)
    page = paginate(query, page_number(), DEFAULT_PER_PAGE)
    recipient_ids = {message.recipient_id for message in page["items"]}
    recipients = {
        user.id: user
        for user in db.session.scalars(sa.select(User).where(User.id.in_(recipient_ids)))
    }
    departments = {}
    if department_id is None:
        departments = {d.id: d for d in db.session.scalars(sa.select(Department))}
    return render_template(
        "workflow/notifications/outbox.html",
        page=pagination(page),
        recipients=recipients,
        departments=departments,
        state=state,
        state_labels=STATE_LABELS,
        channel_labels=CHANNEL_LABELS,
        retryable=(FAILED, DEAD),
        all_departments=department_id is None,
        post_form=PostForm(),
    )


@bp.post("/outbox/<int:message_id>/retry")
@require_permission("platform.outbox.retry")
def retry(message_id: int) -> Any:
    """Send a failed or dead message again now."""
    _checked_post()
    message = services.get_outbox_message(db.session, message_id, _outbox_department_id())
    if message is None:
        abort(404)
    try:
        services.retry_outbox_message(db.session, message)
    except services.OutboxStateError:
        flash(_("Only refused or given-up messages can be sent again."), "error")
    else:
        db.session.commit()
        flash(_("Message %(id)d will be sent again shortly.", id=message_id), "success")
    return redirect(
        url_for("notifications.outbox", state=request.args.get("state") or None), code=303
    )
