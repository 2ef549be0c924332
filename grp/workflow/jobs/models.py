"""Tables of background jobs and the scheduler: jobs, their errors, scheduled runs.

All are global platform tables (`__tenancy__ = "global"`): workers claim the
queued jobs of every department in one query, and PostgreSQL row-level
security would hide other departments' rows from them. Department users read
jobs only through `grp.workflow.jobs.services`, which filters by department
explicitly, as `grp.audit` does for the audit log. The job's work itself runs
inside `grp.tenancy.department_context`, so the handler's own queries are scoped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grp.db import Base, UTCDateTime, utcnow
from grp.models import Department, User

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
ACTIVE_STATES = (QUEUED, RUNNING)
FINISHED_STATES = (SUCCEEDED, FAILED, CANCELLED)

_BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
_ACTIVE = "state IN ('queued', 'running')"


class Job(Base):
    """One piece of background work for one department, with its persisted progress.

    Global rather than department-owned: a worker claims the queued jobs of
    every department, which row-level security would hide from it. The
    `department_id` says whose work it is; department users read jobs only
    through `grp.workflow.jobs.services`, which filters by department
    explicitly, and the handler runs inside that department's context.

    The partial unique index refuses a second queued or running job for the
    same work (department, kind, dedupe key); finished jobs do not count.
    """

    __tablename__ = "jobs"
    __tenancy__ = "global"
    __table_args__ = (
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name="state"
        ),
        # The list page: one department's jobs, newest first.
        sa.Index("ix_jobs_department_id_created_at", "department_id", "created_at"),
        # Workers: the oldest queued job; the reaper: running jobs.
        sa.Index("ix_jobs_state_id", "state", "id"),
        sa.Index(
            "uq_jobs_active_work",
            "department_id",
            "kind",
            "dedupe_key",
            unique=True,
            sqlite_where=sa.text(_ACTIVE),
            postgresql_where=sa.text(_ACTIVE),
        ),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(100))
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id", ondelete="RESTRICT"))
    state: Mapped[str] = mapped_column(sa.String(20), default=QUEUED)
    # Identifies "the same work" (e.g. a payroll month); NULL: no deduplication.
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(200))
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    # The handler's cursor: saved with the progress, so a restarted job resumes there.
    checkpoint: Mapped[Any | None] = mapped_column(sa.JSON)
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int | None] = mapped_column()
    error_count: Mapped[int] = mapped_column(default=0)
    # Relative to the instance folder (jobs/<id>/<name>); never a path a user gave.
    result_file: Mapped[str | None] = mapped_column(sa.String(255))
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Runs started (claims); a job whose worker died this often is failed, not requeued.
    attempts: Mapped[int] = mapped_column(default=0)
    worker_id: Mapped[str | None] = mapped_column(sa.String(100))
    failure_reason: Mapped[str | None] = mapped_column(sa.Text)

    department: Mapped[Department] = relationship()
    created_by: Mapped[User | None] = relationship()

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def percent(self) -> int | None:
        """Return the progress in whole percent, or None while the total is unknown."""
        if not self.total:
            return 100 if self.state == SUCCEEDED else None
        return min(100, self.done * 100 // self.total)


class JobError(Base):
    """One item a job could not process, and why.

    Global like its job (no department column of its own): it is read only
    through the job, which services have already checked belongs to the
    caller's department.
    """

    __tablename__ = "job_errors"
    __tenancy__ = "global"
    __table_args__ = (sa.Index("ix_job_errors_job_id_id", "job_id", "id"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    job_id: Mapped[int] = mapped_column(
        _BIG_ID, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
    )
    item: Mapped[str] = mapped_column(sa.String(200))
    message: Mapped[str] = mapped_column(sa.String(2000))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


RUN_RUNNING = "running"
RUN_SUCCEEDED = "succeeded"
RUN_FAILED = "failed"
RUN_MISSED = "missed"  # later than the misfire grace time: skipped
RUN_INTERRUPTED = "interrupted"  # the scheduler stopped or died during the run


class JobRun(Base):
    """One run of a scheduled job, recorded once per scheduled time.

    The unique key (job id, scheduled time) is what makes a run happen once
    even if two schedulers ever both fire it: the second insert fails and that
    scheduler skips the run. Not about departments: scheduled functions loop
    over departments themselves.
    """

    __tablename__ = "job_runs"
    __tenancy__ = "global"
    __table_args__ = (sa.UniqueConstraint("job_id", "scheduled_run_time"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    job_id: Mapped[str] = mapped_column(sa.String(191))
    scheduled_run_time: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(sa.String(20))
    error: Mapped[str | None] = mapped_column(sa.Text)
    # host:pid of the scheduler process that ran it.
    runner: Mapped[str | None] = mapped_column(sa.String(100))


#: APScheduler's job store, declared here exactly as SQLAlchemyJobStore builds it
#: (id Unicode(191), next_run_time Float(25) indexed, job_state LargeBinary) so that
#: the migration creates it and the drift check sees it; the store is handed this
#: table instead of creating its own (grp.workflow.jobs.scheduler.GrpJobStore).
apscheduler_jobs = sa.Table(
    "apscheduler_jobs",
    Base.metadata,
    sa.Column("id", sa.Unicode(191), primary_key=True),
    sa.Column("next_run_time", sa.Float(25), index=True),
    sa.Column("job_state", sa.LargeBinary, nullable=False),
)
