"""notifications: outbox, in-app notifications, preferences

Revision ID: 0004_notifications
Revises:
Create Date: 2026-12-01 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import grp.db

revision = "0004_notifications"
down_revision = None
branch_labels = ("notifications",)
depends_on = "0001_platform"

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "notification_outbox",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("event", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", grp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("idempotency_key", sa.String(length=36), nullable=False),
        sa.Column("sent_at", grp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("provider_message_id", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'sending', 'sent', 'failed', 'dead')",
            name=op.f("ck_notification_outbox_state"),
        ),
        sa.CheckConstraint(
            "channel IN ('email', 'sms')", name=op.f("ck_notification_outbox_channel")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_notification_outbox_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["users.id"],
            name=op.f("fk_notification_outbox_recipient_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_notification_outbox_idempotency_key")),
    )
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notification_outbox_recipient_id"), ["recipient_id"], unique=False
        )
        batch_op.create_index(
            "ix_notification_outbox_state_next_attempt_at",
            ["state", "next_attempt_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_notification_outbox_department_id_created_at",
            ["department_id", "created_at"],
            unique=False,
        )

    op.create_table(
        "notifications",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("event", sa.String(length=100), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("read_at", grp.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_notifications_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notifications_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            "ix_notifications_user_id_created_at", ["user_id", "created_at"], unique=False
        )

    op.create_table(
        "notification_settings",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("mobile", sa.String(length=16), nullable=True),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_settings_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_notification_settings")),
    )

    op.create_table(
        "notification_preferences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "channel IN ('email', 'sms')", name=op.f("ck_notification_preferences_channel")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_preferences_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_preferences")),
        sa.UniqueConstraint(
            "user_id",
            "event",
            "channel",
            name=op.f("uq_notification_preferences_user_id_event_channel"),
        ),
    )


def downgrade() -> None:
    op.drop_table("notification_preferences")
    op.drop_table("notification_settings")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_user_id_created_at")
        batch_op.drop_index(batch_op.f("ix_notifications_department_id"))

    op.drop_table("notifications")
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_outbox_department_id_created_at")
        batch_op.drop_index("ix_notification_outbox_state_next_attempt_at")
        batch_op.drop_index(batch_op.f("ix_notification_outbox_recipient_id"))

    op.drop_table("notification_outbox")
