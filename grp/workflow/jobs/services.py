"""Job services: start, read (per department), cancel, claim and reap.

Services flush; the caller (request, CLI command, worker) commits. Jobs live
in a global table, so every reader here filters by department explicitly:
`department_jobs_query` and `get_department_job` are the only ways pages and
the API read jobs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grp.audit import record_event
from grp.db import utcnow
from grp.models import User
from grp.workflow.jobs import queue
from grp.workflow.jobs.models import (
    ACTIVE_STATES,
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    Job,
    JobError,
    JobRun,
    apscheduler_jobs,
)
from grp.workflow.jobs.registry import state_of

log = logging.getLogger("grp.jobs")

RESULTS_FOLDER = "jobs"
WORKER_DIED = "worker died"


class JobServiceError(Exception):
    """A job cannot be started or changed as asked."""


class JobConflict(JobServiceError):
    """The same work (department, kind, dedupe key) is already queued or running."""

    def __init__(self, existing_id: int | None, kind: str, dedupe_key: str | None) -> None:
        self.existing_id = existing_id
        which = f" (job {existing_id})" if existing_id is not None else ""
        super().__init__(
            f"A {kind} job for {dedupe_key!r} is already queued or running{which}; "
            "wait for it to finish or cancel it."
        )


class UnknownJobKind(JobServiceError):
    """No handler is registered for the job kind."""


class JobStateError(JobServiceError):
    """The job is not in a state that allows the change (e.g. cancelling a finished job)."""


# --------------------------------------------------------------------------- start


def _json_params(params: Any) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise JobServiceError("job params must be a JSON object")
    try:
        # Stored as JSON and read back by another process: refuse what would not survive.
        return json.loads(json.dumps(params))
    except (TypeError, ValueError) as exc:
        raise JobServiceError(f"job params must be JSON-serialisable: {exc}") from exc


def _active_job_id(session: Session, department_id: int, kind: str, dedupe_key: str) -> int | None:
    return session.scalar(
        sa.select(Job.id).where(
            Job.department_id == department_id,
            Job.kind == kind,
            Job.dedupe_key == dedupe_key,
            Job.state.in_(ACTIVE_STATES),
        )
    )


def start_job(
    session: Session,
    *,
    kind: str,
    department_id: int,
    params: dict[str, Any] | None,
    actor: User | None,
    dedupe_key: str | None = None,
) -> Job:
    """Queue a job of `kind` for `department_id`; the caller commits.

    A second start of the same work (same department, kind and `dedupe_key`)
    while one is queued or running raises `JobConflict`; the database's
    partial unique index enforces the same rule against concurrent starts
    (on PostgreSQL the caller's transaction stays usable after losing that
    race; on SQLite the caller must roll back).
    Without a `dedupe_key` jobs are not deduplicated. With the RQ queue the job
    is enqueued after the transaction commits, and never if it rolls back.
    """
    if kind not in state_of().handlers:
        raise UnknownJobKind(f"no handler is registered for job kind {kind!r}")
    if dedupe_key is not None:
        dedupe_key = str(dedupe_key)[:200]
        existing = _active_job_id(session, department_id, kind, dedupe_key)
        if existing is not None:
            raise JobConflict(existing, kind, dedupe_key)
    job = Job(
        kind=kind,
        department_id=department_id,
        params=_json_params(params),
        dedupe_key=dedupe_key,
        state=QUEUED,
        created_by_id=actor.id if actor is not None else None,
        created_at=utcnow(),
    )
    try:
        if session.get_bind().dialect.name == "postgresql":
            # A savepoint: losing the race to a concurrent start must not doom the
            # caller's transaction. (Not on SQLite: pysqlite starts no transaction
            # before a SAVEPOINT, so releasing it would commit the caller's work.
            # There writers are serialised and the race needs two processes.)
            with session.begin_nested():
                session.add(job)
        else:
            session.add(job)
            session.flush()
    except IntegrityError as exc:
        existing = _active_job_id(session, department_id, kind, dedupe_key) if dedupe_key else None
        raise JobConflict(existing, kind, dedupe_key) from exc
    record_event(
        session,
        "start",
        entity="Job",
        entity_id=str(job.id),
        department_id=department_id,
        details={"kind": kind, "dedupe_key": dedupe_key},
    )
    queue.enqueue_after_commit(session, job.id)
    return job


def cancel_job(session: Session, job: Job, *, actor: User | None) -> Job:
    """Cancel a queued job now, or ask the worker of a running one to stop.

    A running job stops at its next progress save and ends `cancelled`; what
    it committed until then stays.
    """
    if job.state == QUEUED:
        result = session.execute(
            sa.update(Job)
            .where(Job.id == job.id, Job.state == QUEUED)
            .values(state=CANCELLED, finished_at=utcnow(), cancel_requested_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # claimed meanwhile: ask the worker instead
            session.refresh(job)
            return cancel_job(session, job, actor=actor)
    elif job.state == RUNNING:
        session.execute(
            sa.update(Job)
            .where(Job.id == job.id, Job.state == RUNNING)
            .values(cancel_requested_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    else:
        raise JobStateError("Only a queued or running job can be cancelled.")
    record_event(
        session,
        "cancel",
        entity="Job",
        entity_id=str(job.id),
        department_id=job.department_id,
        details={"kind": job.kind, "by": actor.username if actor else None},
    )
    session.flush()
    session.refresh(job)
    return job


# --------------------------------------------------------------------------- read


def department_jobs_query(department_id: int, *, kind: str | None = None) -> sa.Select:
    """Return the jobs of one department, newest first (the only list reader)."""
    query = (
        sa.select(Job)
        .where(Job.department_id == department_id)
        .order_by(Job.created_at.desc(), Job.id.desc())
    )
    if kind:
        query = query.where(Job.kind == kind)
    return query


def get_department_job(session: Session, department_id: int, job_id: int) -> Job | None:
    """Return job `job_id` if it belongs to `department_id`, else None (answer 404)."""
    return session.scalar(
        sa.select(Job).where(Job.id == job_id, Job.department_id == department_id)
    )


def job_errors(session: Session, job: Job, *, limit: int = 100, offset: int = 0) -> list[JobError]:
    """Return the recorded errors of `job`, oldest first."""
    return list(
        session.scalars(
            sa.select(JobError)
            .where(JobError.job_id == job.id)
            .order_by(JobError.id)
            .limit(limit)
            .offset(offset)
        )
    )


def instance_folder() -> Path:
    return Path(current_app.instance_path).resolve()


def result_folder(job_id: int) -> Path:
    """Return the folder holding job `job_id`'s result files (under the instance folder)."""
    return instance_folder() / RESULTS_FOLDER / str(int(job_id))


def result_file_path(job: Job) -> Path | None:
    """Return the absolute path of the job's result file if it exists inside the instance.

    The stored path is relative and written by the worker only; it is still
    checked to stay inside the job's own folder before anything is served.
    """
    if not job.result_file:
        return None
    folder = result_folder(job.id)
    path = (instance_folder() / job.result_file).resolve()
    if folder not in path.parents or not path.is_file():
        return None
    return path


# --------------------------------------------------------------------------- workers


def claim_job(session: Session, worker_id: str, job_id: int | None = None) -> int | None:
    """Mark one queued job running for `worker_id` and commit; return its id.

    With `job_id` only that job is claimed (the RQ path); otherwise the oldest
    queued one. On PostgreSQL the candidate row is locked with `FOR UPDATE
    SKIP LOCKED`, so concurrent workers never wait for or take the same job; on
    SQLite the UPDATE is conditional on the job still being queued, and a lost
    race (rowcount 0) tries the next candidate.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    for _ in range(20):
        candidate = sa.select(Job.id).where(Job.state == QUEUED)
        if job_id is not None:
            candidate = candidate.where(Job.id == job_id)
        candidate = candidate.order_by(Job.id).limit(1)
        if postgres:
            candidate = candidate.with_for_update(skip_locked=True)
        found = session.scalar(candidate)
        if found is None:
            session.rollback()
            return None
        now = utcnow()
        result = session.execute(
            sa.update(Job)
            .where(Job.id == found, Job.state == QUEUED)
            .values(
                state=RUNNING,
                worker_id=worker_id,
                started_at=sa.func.coalesce(Job.started_at, now),
                heartbeat_at=now,
                attempts=Job.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            session.commit()
            return found
        session.rollback()
        if job_id is not None:
            return None
    return None


@dataclass
class ReapResult:
    requeued: list[int]
    failed: list[int]


def reap_stale_jobs(
    session: Session,
    *,
    timeout_seconds: float,
    max_attempts: int,
    requeue_stale_queued: bool = False,
) -> ReapResult:
    """Requeue or fail running jobs whose worker stopped sending heartbeats; caller commits.

    A job whose worker died is queued again with its checkpoint, so the next
    worker resumes it; after `max_attempts` runs it is failed with the reason
    "worker died" instead. Each change is conditional on the job still being
    stale, so two reapers never act on one job twice. `requeue_stale_queued`
    (RQ mode) also enqueues again jobs that sat queued longer than the
    timeout, in case their enqueue was lost; running a job twice is prevented
    by the claim.
    """
    cutoff = utcnow() - timedelta(seconds=timeout_seconds)
    stale = list(
        session.execute(
            sa.select(Job.id, Job.attempts).where(
                Job.state == RUNNING,
                sa.or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < cutoff),
            )
        )
    )
    result = ReapResult([], [])
    still_stale = (Job.state == RUNNING) & (
        Job.heartbeat_at.is_(None) | (Job.heartbeat_at < cutoff)
    )
    for job_id, attempts in stale:
        if attempts >= max_attempts:
            values: dict[str, Any] = {
                "state": FAILED,
                "finished_at": utcnow(),
                "failure_reason": f"{WORKER_DIED} ({attempts} attempts)",
                "worker_id": None,
            }
            target = result.failed
        else:
            values = {"state": QUEUED, "worker_id": None}
            target = result.requeued
        changed = session.execute(
            sa.update(Job)
            .where(Job.id == job_id, still_stale)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount == 1:
            target.append(job_id)
            log.warning(
                "job %s: no heartbeat since before %s; %s",
                job_id,
                cutoff.isoformat(),
                "failed" if values["state"] == FAILED else "requeued",
            )
    for job_id in result.requeued:
        queue.enqueue_after_commit(session, job_id)
    if requeue_stale_queued:
        for job_id in session.scalars(
            sa.select(Job.id).where(Job.state == QUEUED, Job.created_at < cutoff)
        ):
            queue.enqueue_after_commit(session, job_id)
    return result


def reap_with_settings(session: Session) -> ReapResult:
    """Reap stale jobs with the app's configured timeout and attempt limit."""
    config = current_app.config
    return reap_stale_jobs(
        session,
        timeout_seconds=config["GRP_JOB_HEARTBEAT_TIMEOUT"],
        max_attempts=config["GRP_JOB_MAX_ATTEMPTS"],
        requeue_stale_queued=config["GRP_JOB_QUEUE"] == "rq",
    )


def prune_job_runs(session: Session, *, older_than_days: int) -> int:
    """Delete records of scheduled runs older than `older_than_days`; caller commits."""
    cutoff = utcnow() - timedelta(days=older_than_days)
    result = session.execute(
        sa.delete(JobRun)
        .where(JobRun.scheduled_run_time < cutoff)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


# --------------------------------------------------------------------------- scheduled jobs


@dataclass
class ScheduledJobRow:
    """A declared scheduled job with its next run (from the job store) and its last runs."""

    id: str
    description: str
    func: str
    trigger: str
    source: str
    next_run_time: datetime | None
    last_runs: list[JobRun]


def scheduled_job_rows(session: Session, *, runs_per_job: int = 5) -> list[ScheduledJobRow]:
    """Return every declared scheduled job with its next run time and latest runs."""
    from grp.workflow.jobs.scheduler import declared_scheduled_jobs

    specs = declared_scheduled_jobs(current_app._get_current_object())
    next_runs = {
        row.id: row.next_run_time
        for row in session.execute(
            sa.select(apscheduler_jobs.c.id, apscheduler_jobs.c.next_run_time)
        )
    }
    rows = []
    for spec in specs:
        timestamp = next_runs.get(spec.job_id)
        runs = list(
            session.scalars(
                sa.select(JobRun)
                .where(JobRun.job_id == spec.job_id)
                .order_by(JobRun.scheduled_run_time.desc())
                .limit(runs_per_job)
            )
        )
        rows.append(
            ScheduledJobRow(
                id=spec.job_id,
                description=spec.description,
                func=spec.func,
                trigger=spec.describe_trigger(),
                source=spec.source,
                next_run_time=(
                    datetime.fromtimestamp(timestamp, UTC) if timestamp is not None else None
                ),
                last_runs=runs,
            )
        )
    return rows
