"""Queue, send and read notifications; per-user preferences; the administrators' outbox.

`notify` and the preference and read functions flush and leave the commit to
the caller. `send_pending` is the exception: it is the delivery loop and owns
its transactions, committing the claim of a batch before it calls any channel
and each outcome right after (see its docstring).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from grp.audit import record_event
from grp.db import utcnow
from grp.errors import ValidationError
from grp.models import User
from grp.tenancy import current_department_id
from grp.web.helpers import safe_next
from grp.workflow.notifications.channels import DeliveryError, Transport, build_transports
from grp.workflow.notifications.models import (
    CHANNELS,
    DEAD,
    EMAIL,
    FAILED,
    PENDING,
    SENDING,
    SENT,
    SMS,
    Notification,
    NotificationPreference,
    NotificationSettings,
    OutboxMessage,
)
from grp.workflow.notifications.registry import LANGUAGES, state, template_for

log = logging.getLogger("grp.notifications")

#: Rows one `send_pending` pass claims unless told otherwise.
DEFAULT_BATCH = 100

#: Whether a channel is on for an event the user has not chosen for.
DEFAULT_CHANNELS = {EMAIL: True, SMS: False}

# [0-9], not \d: \d also matches Arabic-Indic digits, which an SMS gateway rejects.
UAE_MOBILE = re.compile(r"^\+9715[0-9]{8}$")
_SEPARATORS = re.compile(r"[\s\-().]")


class NotificationNotFound(LookupError):
    """No such notification for this user (another user's is not found either)."""


class OutboxStateError(ValueError):
    """The outbox row is not in a state that allows the action."""


class PreferencesError(ValidationError):
    """Invalid preferences; `errors` maps field names to messages (the API answers 422)."""


# --------------------------------------------------------------------------- queueing


def notify(
    session: Session,
    *,
    recipient: User,
    event: str,
    context: Mapping[str, Any],
    department_id: int | None = None,
    link: str | None = None,
) -> list[Any]:
    """Queue `event` for `recipient` in the caller's transaction; return the rows added.

    Adds one in-app `Notification` and one `OutboxMessage` per external channel
    the recipient has enabled and has an address for. Texts are rendered now,
    in the recipient's language, so a later template change does not alter
    queued messages. `department_id` defaults to the session's department;
    `link` must be a path on this site. Flushes only: nothing is sent unless the
    caller commits.
    """
    if link is not None and safe_next(link) is None:
        raise ValueError(f"notification link must be a path on this site, not {link!r}")
    template = template_for(current_app._get_current_object(), event)
    language = recipient.language if recipient.language in LANGUAGES else "en"
    subject, body = template.render(language, context)
    if department_id is None:
        department_id = current_department_id(session)
    rows: list[Any] = [
        Notification(
            user_id=recipient.id,
            department_id=department_id,
            event=event,
            language=language,
            title=subject,
            body=body,
            link=link,
        )
    ]
    now = utcnow()
    for channel, address in _external_addresses(session, recipient, event).items():
        rows.append(
            OutboxMessage(
                department_id=department_id,
                recipient_id=recipient.id,
                channel=channel,
                address=address,
                language=language,
                event=event,
                subject=subject,
                body=body,
                state=PENDING,
                attempts=0,
                next_attempt_at=now,
                idempotency_key=str(uuid.uuid4()),
            )
        )
    session.add_all(rows)
    session.flush()
    return rows


def _external_addresses(session: Session, user: User, event: str) -> dict[str, str]:
    """Return {channel: address} for the channels `user` wants `event` by."""
    chosen = dict(
        session.execute(
            sa.select(NotificationPreference.channel, NotificationPreference.enabled).where(
                NotificationPreference.user_id == user.id, NotificationPreference.event == event
            )
        ).all()
    )
    settings = session.get(NotificationSettings, user.id)
    addresses = {EMAIL: user.email, SMS: settings.mobile if settings else None}
    return {
        channel: address
        for channel, address in addresses.items()
        if address and chosen.get(channel, DEFAULT_CHANNELS[channel])
    }


# --------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class SenderSettings:
    """How often and how long the sender tries (from the GRP_NOTIFICATION_* settings)."""

    max_attempts: int = 8
    retry_base: timedelta = timedelta(minutes=1)
    retry_max: timedelta = timedelta(hours=1)
    sending_timeout: timedelta = timedelta(minutes=5)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SenderSettings:
        return cls(
            max_attempts=int(config["GRP_NOTIFICATION_MAX_ATTEMPTS"]),
            retry_base=timedelta(seconds=int(config["GRP_NOTIFICATION_RETRY_BASE_SECONDS"])),
            retry_max=timedelta(seconds=int(config["GRP_NOTIFICATION_RETRY_MAX_SECONDS"])),
            sending_timeout=timedelta(
                seconds=int(config["GRP_NOTIFICATION_SENDING_TIMEOUT_SECONDS"])
            ),
        )

    def backoff(self, attempts: int) -> timedelta:
        """Return the wait after the `attempts`-th failed attempt: base, 2x, 4x ... capped."""
        return min(self.retry_base * 2 ** max(attempts - 1, 0), self.retry_max)


@dataclass
class SendReport:
    """What one `send_pending` run did."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    dead: int = 0
    lost_claims: int = 0  # rows another sender claimed again before this one finished
    ids: list[int] = field(default_factory=list)


def _due(now: datetime, settings: SenderSettings) -> sa.ColumnElement[bool]:
    stale = now - settings.sending_timeout
    return sa.or_(
        sa.and_(OutboxMessage.state == PENDING, OutboxMessage.next_attempt_at <= now),
        # A sender that stopped after claiming (crash, kill, lost connection).
        sa.and_(OutboxMessage.state == SENDING, OutboxMessage.claimed_at < stale),
    )


def _bury_stale(session: Session, now: datetime, settings: SenderSettings) -> int:
    """Mark dead the stale 'sending' rows that have used up their attempts."""
    result = session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.state == SENDING,
            OutboxMessage.claimed_at < now - settings.sending_timeout,
            OutboxMessage.attempts >= settings.max_attempts,
        )
        .values(
            state=DEAD,
            claim_token=None,
            last_error="The sender stopped during the last attempt; the outcome is unknown.",
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def _claim(
    session: Session, now: datetime, batch: int, settings: SenderSettings
) -> tuple[list[int], str]:
    """Mark up to `batch` due rows 'sending' for this run; return their ids and the claim token.

    PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, then UPDATE those ids, so
    concurrent senders take different rows. (Not one UPDATE ... WHERE id IN
    (that SELECT): the planner may run a LIMIT subquery more than once and
    claim more than `batch` rows.) SQLite: one UPDATE ... WHERE id IN (SELECT
    ...) under its single-writer lock; the repeated due condition leaves a
    second sender nothing to take.
    """
    token = uuid.uuid4().hex
    due = _due(now, settings)
    candidates = (
        sa.select(OutboxMessage.id)
        .where(due)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(batch)
    )
    if session.get_bind().dialect.name == "postgresql":
        ids = list(session.scalars(candidates.with_for_update(skip_locked=True)))
        if not ids:
            return [], token
        chosen: Any = OutboxMessage.id.in_(ids)
    else:
        chosen = sa.and_(OutboxMessage.id.in_(candidates), due)
    claimed = session.scalars(
        sa.update(OutboxMessage)
        .where(chosen)
        .values(
            state=SENDING,
            claimed_at=now,
            claim_token=token,
            attempts=OutboxMessage.attempts + 1,
        )
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted(claimed), token


def _record(
    session: Session, message_id: int, token: str, *, keep_claim: bool = False, **values: Any
) -> bool:
    """Update a claimed row if this run's claim is still current; False if it is not."""
    if not keep_claim:
        values["claim_token"] = None
    result = session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.state == SENDING,
            OutboxMessage.claim_token == token,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


def _deliver(message: OutboxMessage, transports: Mapping[str, Transport]) -> str | None:
    transport = transports.get(message.channel)
    if transport is None:
        raise DeliveryError(f"no transport configured for {message.channel}")
    try:
        return transport.send(message)
    except DeliveryError:
        raise
    except Exception as exc:
        # The class name only: an exception's text can quote the message body.
        raise DeliveryError(
            f"unexpected error in the {message.channel} transport ({type(exc).__name__})"
        ) from None


def send_pending(
    session: Session,
    now: datetime | None = None,
    batch: int = DEFAULT_BATCH,
    *,
    transports: Mapping[str, Transport] | None = None,
) -> SendReport:
    """Deliver up to `batch` due outbox rows; commit the claim first and each outcome after.

    Due rows are pending ones whose `next_attempt_at` has come, and 'sending'
    ones a stopped sender left behind for longer than the sending timeout.
    They are marked 'sending' and committed before any channel is called, so a
    crash after the provider accepted a message but before it was marked
    'sent' leaves it 'sending'; a later run sends it again with the same
    idempotency key, which the provider uses to drop the copy (at least once
    to the provider, exactly once to the person when the provider dedupes).
    Failures are retried after 1, 2, 4 ... minutes (capped) until the maximum
    number of attempts, then the row is 'dead'; a permanent refusal is
    'failed' at once.

    `now` is the run's start (tests pass one); times written during the run
    advance from it with the real clock. Call it with a session that has no
    unsaved work: it commits.
    """
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("send_pending commits: call it with a session without pending changes")
    app = current_app._get_current_object()
    started, origin = time.monotonic(), now or utcnow()

    def clock() -> datetime:
        return origin + timedelta(seconds=time.monotonic() - started)

    settings = SenderSettings.from_config(app.config)
    transports = transports if transports is not None else build_transports(app.config)
    report = SendReport()
    report.dead += _bury_stale(session, origin, settings)
    ids, token = _claim(session, origin, batch, settings)
    session.commit()
    report.claimed, report.ids = len(ids), ids
    for message_id in ids:
        _send_one(session, message_id, token, clock, settings, transports, report)
    return report


def _send_one(
    session: Session,
    message_id: int,
    token: str,
    clock: Callable[[], datetime],
    settings: SenderSettings,
    transports: Mapping[str, Transport],
    report: SendReport,
) -> None:
    """Deliver one claimed row and commit its outcome."""
    # Renew the claim just before sending: the timeout counts from the start of
    # this message's attempt, not from the claim of the whole batch.
    if not _record(session, message_id, token, keep_claim=True, claimed_at=clock()):
        session.commit()
        _lost_claim(report, message_id)
        return
    session.commit()
    message = session.get(OutboxMessage, message_id)
    if message is None:  # deleted meanwhile, with its recipient
        return
    try:
        provider_id = _deliver(message, transports)
    except DeliveryError as exc:
        outcome = _failure_values(message, exc, clock(), settings)
        kept = _record(session, message_id, token, **outcome)
        session.commit()
        if kept:
            counter = {FAILED: "failed", DEAD: "dead"}.get(outcome["state"], "retrying")
            setattr(report, counter, getattr(report, counter) + 1)
            _log_failure(message, exc, outcome)
        else:
            _lost_claim(report, message_id)
        return
    kept = _mark_sent(session, message_id, token, sent_at=clock(), provider_id=provider_id)
    session.commit()
    if not kept:
        _lost_claim(report, message_id)
        return
    report.sent += 1
    log.info(
        "notification %s sent by %s (attempt %s)",
        message_id,
        message.channel,
        message.attempts,
        extra={"event": "notification.sent"},
    )


def _mark_sent(
    session: Session, message_id: int, token: str, *, sent_at: datetime, provider_id: str | None
) -> bool:
    """Record that the provider accepted the message (a crash before this re-sends it)."""
    return _record(
        session,
        message_id,
        token,
        state=SENT,
        sent_at=sent_at,
        provider_message_id=provider_id,
        last_error=None,
    )


def _lost_claim(report: SendReport, message_id: int) -> None:
    report.lost_claims += 1
    log.warning(
        "notification %s was claimed again by another sender; its outcome is theirs",
        message_id,
        extra={"event": "notification.claim_lost"},
    )


def _failure_values(
    message: OutboxMessage, error: DeliveryError, now: datetime, settings: SenderSettings
) -> dict[str, Any]:
    text = str(error)[:500]
    if error.permanent:
        return {"state": FAILED, "last_error": text}
    if message.attempts >= settings.max_attempts:
        return {"state": DEAD, "last_error": text}
    return {
        "state": PENDING,
        "last_error": text,
        "next_attempt_at": now + settings.backoff(message.attempts),
    }


def _log_failure(message: OutboxMessage, error: DeliveryError, outcome: dict[str, Any]) -> None:
    if outcome["state"] == PENDING:
        log.warning(
            "notification %s by %s failed (attempt %s): %s; next attempt at %s",
            message.id,
            message.channel,
            message.attempts,
            error,
            outcome["next_attempt_at"].isoformat(timespec="seconds"),
            extra={"event": "notification.retry"},
        )
    else:
        log.error(
            "notification %s by %s is %s after attempt %s: %s",
            message.id,
            message.channel,
            outcome["state"],
            message.attempts,
            error,
            extra={"event": f"notification.{outcome['state']}"},
        )


#: How long one scheduled run keeps sending full batches before yielding to the next run.
SCHEDULED_RUN_SECONDS = 60


def send_pending_job() -> SendReport:
    """Send due outbox rows for the scheduler: full batches back to back, for up to a minute.

    Called with no arguments in an app context (see `register_scheduled_job`).
    """
    from grp.db import db

    total = SendReport()
    deadline = time.monotonic() + SCHEDULED_RUN_SECONDS
    while True:
        report = send_pending(db.session)
        for name in ("claimed", "sent", "retrying", "failed", "dead", "lost_claims"):
            setattr(total, name, getattr(total, name) + getattr(report, name))
        total.ids.extend(report.ids)
        if report.claimed < DEFAULT_BATCH or time.monotonic() >= deadline:
            return total


# --------------------------------------------------------------------------- in-app list


def notifications_of(user: User, *, unread_only: bool = False) -> sa.Select:
    """Return the query of `user`'s notifications, newest first.

    The filter by user is explicit: notifications are a global table, and this
    is how every page and API reads them.
    """
    query = (
        sa.select(Notification)
        .where(Notification.user_id == user.id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
    )
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return query


def unread_count(session: Session, user: User) -> int:
    """Return how many of `user`'s notifications are unread."""
    return (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(Notification)
            .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        )
        or 0
    )


def get_notification(session: Session, user: User, notification_id: int) -> Notification:
    """Return `user`'s notification `notification_id`, or raise NotificationNotFound."""
    found = session.scalar(
        sa.select(Notification).where(
            Notification.id == notification_id, Notification.user_id == user.id
        )
    )
    if found is None:
        raise NotificationNotFound(notification_id)
    return found


def mark_read(
    session: Session, user: User, notification_id: int, *, now: datetime | None = None
) -> Notification:
    """Mark one of `user`'s notifications read (again: keeps the first time)."""
    notification = get_notification(session, user, notification_id)
    if notification.read_at is None:
        notification.read_at = now or utcnow()
        session.flush()
    return notification


def mark_all_read(session: Session, user: User, *, now: datetime | None = None) -> int:
    """Mark all of `user`'s unread notifications read; return how many."""
    result = session.execute(
        sa.update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


# --------------------------------------------------------------------------- preferences


@dataclass
class EventChoice:
    """A user's channels for one event."""

    event: str
    label_en: str
    label_ar: str
    email: bool
    sms: bool


@dataclass
class Preferences:
    """A user's notification settings: mobile number, e-mail on file, choices per event."""

    mobile: str | None
    email: str | None
    events: list[EventChoice]


def normalize_uae_mobile(value: str | None) -> str | None:
    """Return a UAE mobile number as +9715XXXXXXXX (None when empty); ValueError if it is not one.

    Accepts the usual ways of writing one: spaces and dashes, 00971 or 971 for
    +971, and the national form 05XXXXXXXX.
    """
    text = _SEPARATORS.sub("", (value or "").strip())
    if not text:
        return None
    if text.startswith("00"):
        text = "+" + text[2:]
    elif text.startswith("971"):
        text = "+" + text
    elif text.startswith("05") and len(text) == 10:
        text = "+971" + text[1:]
    if not UAE_MOBILE.match(text):
        raise ValueError("Enter a UAE mobile number such as +971501234567.")
    return text


def get_preferences(session: Session, user: User) -> Preferences:
    """Return `user`'s mobile number and channel choice for every registered event."""
    chosen = {
        (row.event, row.channel): row.enabled
        for row in session.scalars(
            sa.select(NotificationPreference).where(NotificationPreference.user_id == user.id)
        )
    }
    settings = session.get(NotificationSettings, user.id)
    templates = state(current_app._get_current_object()).templates
    events = [
        EventChoice(
            event=event,
            label_en=template.label_en,
            label_ar=template.label_ar,
            email=chosen.get((event, EMAIL), DEFAULT_CHANNELS[EMAIL]),
            sms=chosen.get((event, SMS), DEFAULT_CHANNELS[SMS]),
        )
        for event, template in sorted(templates.items())
    ]
    return Preferences(
        mobile=settings.mobile if settings else None, email=user.email, events=events
    )


_UNCHANGED: Any = object()


def update_preferences(
    session: Session,
    user: User,
    *,
    choices: Mapping[str, Mapping[str, bool]] | Iterable[tuple[str, str, bool]] = (),
    mobile: str | None = _UNCHANGED,
) -> Preferences:
    """Save `user`'s channel choices ({event: {"email": bool, "sms": bool}}) and mobile number.

    Events and channels left out keep their current choice; `mobile` left out
    keeps the number, None or "" removes it. SMS needs a mobile number. Raises
    PreferencesError with messages per field; flushes only.
    """
    errors: dict[str, list[str]] = {}
    templates = state(current_app._get_current_object()).templates
    if isinstance(choices, Mapping):
        triples = [(e, c, bool(v)) for e, by in choices.items() for c, v in by.items()]
    else:
        triples = [(e, c, bool(v)) for e, c, v in choices]
    unknown = sorted({e for e, _, _ in triples if e not in templates})
    if unknown:
        errors["events"] = [f"Unknown events: {', '.join(unknown)}."]
    if any(c not in CHANNELS for _, c, _ in triples):
        errors.setdefault("events", []).append(f"Channels are {' and '.join(CHANNELS)}.")
    settings = session.get(NotificationSettings, user.id)
    new_mobile = settings.mobile if settings else None
    if mobile is not _UNCHANGED:
        try:
            new_mobile = normalize_uae_mobile(mobile)
        except ValueError as exc:
            errors["mobile"] = [str(exc)]
    if errors:
        raise PreferencesError(errors)
    current = get_preferences(session, user)
    sms_wanted = {c.event for c in current.events if c.sms}
    for event, channel, enabled in triples:
        if channel == SMS:
            (sms_wanted.add if enabled else sms_wanted.discard)(event)
    if sms_wanted and not new_mobile:
        raise PreferencesError({"mobile": ["Enter a mobile number to receive SMS."]})

    if settings is None and new_mobile is not None:
        settings = NotificationSettings(user_id=user.id, mobile=new_mobile)
        session.add(settings)
    elif settings is not None and settings.mobile != new_mobile:
        settings.mobile = new_mobile
    stored = {
        (row.event, row.channel): row
        for row in session.scalars(
            sa.select(NotificationPreference).where(NotificationPreference.user_id == user.id)
        )
    }
    for event, channel, enabled in triples:
        row = stored.get((event, channel))
        if row is None:
            row = NotificationPreference(user_id=user.id, event=event, channel=channel)
            session.add(row)
            stored[(event, channel)] = row
        if row.enabled != enabled:
            row.enabled = enabled
    session.flush()
    return get_preferences(session, user)


# --------------------------------------------------------------------------- outbox


def outbox_query(department_id: int | None, *, state: str | None = None) -> sa.Select:
    """Return outbox rows of one department, newest first (None: every department's).

    The department filter is explicit because the outbox is a global table;
    this is the only reader for pages and the API.
    """
    query = sa.select(OutboxMessage).order_by(
        OutboxMessage.created_at.desc(), OutboxMessage.id.desc()
    )
    if department_id is not None:
        query = query.where(OutboxMessage.department_id == department_id)
    if state is not None:
        query = query.where(OutboxMessage.state == state)
    return query


def get_outbox_message(
    session: Session, message_id: int, department_id: int | None
) -> OutboxMessage | None:
    """Return one outbox row visible in `department_id` (None: any), or None."""
    return session.scalar(outbox_query(department_id).where(OutboxMessage.id == message_id))


def retry_outbox_message(
    session: Session, message: OutboxMessage, *, now: datetime | None = None
) -> OutboxMessage:
    """Queue a failed or dead row again at once, with fresh attempts and the same key.

    The idempotency key stays: if an earlier attempt did reach the provider, the
    provider can still drop the copy. The retry is written to the audit log.
    """
    if message.state not in (FAILED, DEAD):
        raise OutboxStateError(f"only failed or dead messages can be retried, not {message.state}")
    previous = message.state
    message.state = PENDING
    message.attempts = 0
    message.next_attempt_at = now or utcnow()
    message.claim_token = None
    record_event(
        session,
        "retry",
        entity="OutboxMessage",
        entity_id=str(message.id),
        department_id=message.department_id,
        details={"previous_state": previous, "channel": message.channel, "event": message.event},
    )
    session.flush()
    return message
