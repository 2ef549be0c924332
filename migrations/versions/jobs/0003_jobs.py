"""jobs: background jobs, their errors, scheduled runs, APScheduler's job store

Revision ID: 0003_jobs
Revises:
Create Date: 2026-11-29 06:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import grp.db

revision = "0003_jobs"
down_revision = None
branch_labels = ("jobs",)
depends_on = "0001_platform"

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ACTIVE = "state IN ('queued', 'running')"


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("checkpoint", sa.JSON(), nullable=True),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("result_file", sa.String(length=255), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", grp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", grp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", grp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancel_requested_at", grp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=100), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
            name=op.f("ck_jobs_state"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_jobs_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_jobs_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_created_by_id"), ["created_by_id"], unique=False)
        batch_op.create_index(
            "ix_jobs_department_id_created_at", ["department_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_jobs_state_id", ["state", "id"], unique=False)
        # One queued or running job per piece of work; finished jobs do not count.
        batch_op.create_index(
            "uq_jobs_active_work",
            ["department_id", "kind", "dedupe_key"],
            unique=True,
            sqlite_where=sa.text(_ACTIVE),
            postgresql_where=sa.text(_ACTIVE),
        )

    op.create_table(
        "job_errors",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("job_id", _BIG_ID, nullable=False),
        sa.Column("item", sa.String(length=200), nullable=False),
        sa.Column("message", sa.String(length=2000), nullable=False),
        sa.Column("at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_errors_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_errors")),
    )
    with op.batch_alter_table("job_errors", schema=None) as batch_op:
        batch_op.create_index("ix_job_errors_job_id_id", ["job_id", "id"], unique=False)

    op.create_table(
        "job_runs",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("job_id", sa.String(length=191), nullable=False),
        sa.Column("scheduled_run_time", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", grp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", grp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("runner", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
        sa.UniqueConstraint(
            "job_id",
            "scheduled_run_time",
            name=op.f("uq_job_runs_job_id_scheduled_run_time"),
        ),
    )

    # Exactly the table APScheduler's SQLAlchemyJobStore would create.
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(length=191), nullable=False),
        sa.Column("next_run_time", sa.Float(precision=25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apscheduler_jobs")),
    )
    with op.batch_alter_table("apscheduler_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_apscheduler_jobs_next_run_time"), ["next_run_time"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("apscheduler_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_apscheduler_jobs_next_run_time"))
    op.drop_table("apscheduler_jobs")
    op.drop_table("job_runs")
    with op.batch_alter_table("job_errors", schema=None) as batch_op:
        batch_op.drop_index("ix_job_errors_job_id_id")
    op.drop_table("job_errors")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("uq_jobs_active_work")
        batch_op.drop_index("ix_jobs_state_id")
        batch_op.drop_index("ix_jobs_department_id_created_at")
        batch_op.drop_index(batch_op.f("ix_jobs_created_by_id"))
    op.drop_table("jobs")
