"""Tables of the notification service: outbox, in-app notifications, preferences.

All four are global platform tables (`__tenancy__ = "global"`): a notification
belongs to a person, not to a department, and the sender delivers the outbox of
every department in one pass. Readers go through `grp.workflow.notifications.
services`, which filters explicitly by recipient or department, as
`grp.audit` does for the audit log.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from grp.db import AuditedMixin, Base, TimestampMixin, UTCDateTime, utcnow

#: Delivery states of an outbox row.
PENDING = "pending"  # waiting for its first attempt or for a retry (next_attempt_at)
SENDING = "sending"  # claimed by a sender; stale after the sending timeout
SENT = "sent"  # accepted by the provider (the SMTP server, the SMS gateway, the log)
FAILED = "failed"  # refused for good by the provider (bad address, 4xx): not retried
DEAD = "dead"  # every attempt failed; last_error says why
STATES = (PENDING, SENDING, SENT, FAILED, DEAD)

EMAIL = "email"
SMS = "sms"
CHANNELS = (EMAIL, SMS)

_BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class OutboxMessage(Base):
    """One message to deliver by one external channel (email or SMS), rendered at queue time.

    Global rather than department-owned: the sender delivers every department's
    messages in one pass without choosing a department. `department_id` (the
    department the event happened in, if any) lets a department administrator
    read their own department's rows through `outbox_query`, the only reader.
    Not audited: bodies may carry salary figures that must not be copied into
    the audit log.
    """

    __tablename__ = "notification_outbox"
    __tenancy__ = "global"
    __table_args__ = (
        sa.CheckConstraint(
            "state IN ('pending', 'sending', 'sent', 'failed', 'dead')", name="state"
        ),
        sa.CheckConstraint("channel IN ('email', 'sms')", name="channel"),
        # The sender's claim: due rows by state and time.
        sa.Index("ix_notification_outbox_state_next_attempt_at", "state", "next_attempt_at"),
        # The administrators' page: one department's rows, newest first.
        sa.Index("ix_notification_outbox_department_id_created_at", "department_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    department_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("departments.id", ondelete="RESTRICT")
    )
    recipient_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(sa.String(10))
    address: Mapped[str] = mapped_column(sa.String(254))
    language: Mapped[str] = mapped_column(sa.String(5))
    event: Mapped[str] = mapped_column(sa.String(100))
    subject: Mapped[str] = mapped_column(sa.String(500))
    body: Mapped[str] = mapped_column(sa.Text)
    state: Mapped[str] = mapped_column(sa.String(10), default=PENDING, server_default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When and by which sender run the row was last claimed: a row left in
    # 'sending' past the timeout is claimed again, and only the claim that is
    # still current may record the outcome.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claim_token: Mapped[str | None] = mapped_column(sa.String(32))
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    # Made at queue time and sent with every attempt (Idempotency-Key header,
    # Message-ID), so a provider can drop the copy a retry after a crash sends.
    idempotency_key: Mapped[str] = mapped_column(sa.String(36), unique=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider_message_id: Mapped[str | None] = mapped_column(sa.String(200))


class Notification(Base):
    """One entry of a user's in-app notification list.

    Global rather than department-owned: a person sees their notifications from
    every department they work in. `department_id` records where the event
    happened; readers filter by `user_id` (see `notifications_of`).
    """

    __tablename__ = "notifications"
    __tenancy__ = "global"
    __table_args__ = (sa.Index("ix_notifications_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    department_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("departments.id", ondelete="RESTRICT"), index=True
    )
    event: Mapped[str] = mapped_column(sa.String(100))
    language: Mapped[str] = mapped_column(sa.String(5))
    title: Mapped[str] = mapped_column(sa.String(500))
    body: Mapped[str] = mapped_column(sa.Text)
    link: Mapped[str | None] = mapped_column(sa.String(500))
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class NotificationSettings(TimestampMixin, AuditedMixin, Base):
    """A user's delivery details for notifications (their mobile number for SMS).

    Kept here rather than on `users` so the notification service owns it.
    """

    __tablename__ = "notification_settings"
    __tenancy__ = "global"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # E.164 UAE mobile number, +9715XXXXXXXX.
    mobile: Mapped[str | None] = mapped_column(sa.String(16))


class NotificationPreference(TimestampMixin, AuditedMixin, Base):
    """Whether a user wants one event by one external channel.

    A row is stored for each choice the user saved; without one the default
    applies (email on, SMS off; see `services.DEFAULT_CHANNELS`).
    """

    __tablename__ = "notification_preferences"
    __tenancy__ = "global"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "event", "channel"),
        sa.CheckConstraint("channel IN ('email', 'sms')", name="channel"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(sa.String(100))
    channel: Mapped[str] = mapped_column(sa.String(10))
    enabled: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
