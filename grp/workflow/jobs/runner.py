"""Run one job: claim it, call its handler in the department's context, record the outcome.

The same `run_job(job_id)` serves the embedded worker and RQ. Progress,
checkpoint and errors are written together, in the handler's transaction,
every `GRP_JOB_PROGRESS_BATCH` items or `GRP_JOB_PROGRESS_SECONDS` seconds:
what is committed is always a consistent "done up to the checkpoint". A
heartbeat thread with its own connection proves the worker alive meanwhile,
even while one item takes long.

Writing handlers: make each item idempotent. After a crash the job resumes
from the last committed checkpoint, so the items after it run again. Save the
cursor with the progress (`ctx.advance(checkpoint=...)`), and make any side
effect outside the database repeatable (the demo handler truncates its output
file to the length saved in the checkpoint before appending).

A handler whose work must be all or nothing (computing a payroll run) reports with
`ctx.advance_within(n)` instead: its session is never committed by the progress,
which PostgreSQL saves in a transaction of its own.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session
from werkzeug.utils import secure_filename

from grp.audit import REQUEST_ID_KEY, set_actor
from grp.db import db, utcnow
from grp.models import Department
from grp.tenancy import department_context
from grp.workflow.jobs import queue, services
from grp.workflow.jobs.models import (
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    Job,
    JobError,
)
from grp.workflow.jobs.registry import state_of

log = logging.getLogger("grp.jobs")

_UNSET: Any = object()
MAX_ERROR_ITEM = 200
MAX_ERROR_MESSAGE = 2000
MAX_FAILURE_REASON = 2000


class JobStopped(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside the handler to stop it; the worker decides what the job becomes."""


class JobCancelled(JobStopped):
    """Someone cancelled the job; it ends `cancelled`."""


class JobLost(JobStopped):
    """The job is no longer this worker's (reaped after a stall); another worker has it."""


class WorkerStopping(JobStopped):
    """The worker was asked to stop; the job goes back to the queue with its checkpoint."""


def new_worker_id() -> str:
    """Return a worker id that names the host and process, unique per run."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class JobInfo:
    """What a handler may read about its job."""

    id: int
    kind: str
    params: dict[str, Any]
    department_id: int
    department_code: str
    created_by_id: int | None
    attempts: int

    @property
    def department(self) -> Department:
        """Return the job's department (a global row, readable in any context)."""
        return db.session.get(Department, self.department_id)


class JobContext:
    """What a job handler works with: session, job, progress, errors, checkpoint, result file.

    `advance()` and `progress()` only count in memory and commit every batch
    (see the module docstring), so calling them per item is cheap. Raises
    `JobStopped` from them when the job was cancelled, taken over, or the
    worker is stopping; let it propagate.
    """

    def __init__(
        self,
        app: Flask,
        session: Session,
        job: Job,
        worker_id: str,
        stop_event: threading.Event | None = None,
    ) -> None:
        config = app.config
        self.app = app
        self.session = session
        self.worker_id = worker_id
        self.job = JobInfo(
            id=job.id,
            kind=job.kind,
            params=dict(job.params or {}),
            department_id=job.department_id,
            department_code=job.department.code,
            created_by_id=job.created_by_id,
            attempts=job.attempts,
        )
        self._stop_event = stop_event
        self._batch = max(1, int(config["GRP_JOB_PROGRESS_BATCH"]))
        self._interval = float(config["GRP_JOB_PROGRESS_SECONDS"])
        self._done = job.done or 0
        self._total = job.total
        self._checkpoint = job.checkpoint
        self._result_file = job.result_file
        self._errors: list[dict[str, Any]] = []
        self._unsaved_items = 0
        self._last_save = time.monotonic()

    # ----------------------------------------------------------------- progress

    @property
    def done(self) -> int:
        return self._done

    @property
    def total(self) -> int | None:
        return self._total

    @property
    def checkpoint(self) -> Any:
        """The cursor saved by the last run (None on a first run); JSON data."""
        return self._checkpoint

    @checkpoint.setter
    def checkpoint(self, value: Any) -> None:
        self._checkpoint = value

    def set_total(self, total: int | None) -> None:
        """Say how many items the job has (None: unknown, the bar is indeterminate)."""
        self._total = None if total is None else max(0, int(total))

    def advance(self, n: int = 1, *, checkpoint: Any = _UNSET) -> None:
        """Count `n` more items done, optionally with the cursor to resume after them."""
        self._done += n
        self._unsaved_items += n
        if checkpoint is not _UNSET:
            self._checkpoint = checkpoint
        self._maybe_save()

    def advance_within(self, n: int = 1) -> None:
        """Count `n` more items done by a job whose whole work is one transaction.

        Unlike `advance`, this never commits the job's session. On PostgreSQL the
        progress is saved in a short transaction of its own, so the job's open
        transaction and its streaming (server-side) cursors survive, and the work is
        committed at once by the job: nothing half done is ever visible. On SQLite,
        where the job holds the one write lock, the count waits for the job's commit.
        Cancellation and worker shutdown are still noticed here.
        """
        self._done += n
        self._unsaved_items += n
        self._maybe_save(commit_work=False)

    def progress(self, done: int, *, checkpoint: Any = _UNSET) -> None:
        """Set the number of items done (absolute), optionally with the cursor."""
        self._unsaved_items += max(0, done - self._done)
        self._done = done
        if checkpoint is not _UNSET:
            self._checkpoint = checkpoint
        self._maybe_save()

    def add_error(self, item: Any, message: str) -> None:
        """Record that `item` failed with `message`; saved with the next progress."""
        self._errors.append(
            {
                "job_id": self.job.id,
                "item": str(item)[:MAX_ERROR_ITEM],
                "message": str(message)[:MAX_ERROR_MESSAGE],
                "at": utcnow(),
            }
        )

    def result_path(self, filename: str) -> Path:
        """Return where to write the job's result file and record it as the result.

        The file lives in the instance folder under jobs/<id>/; the name is
        reduced to a safe file name, so no caller can point it elsewhere.
        """
        name = secure_filename(filename) or "result"
        folder = services.result_folder(self.job.id)
        folder.mkdir(parents=True, exist_ok=True)
        self._result_file = f"{services.RESULTS_FOLDER}/{self.job.id}/{name}"
        return folder / name

    def save(self) -> None:
        """Commit the progress, checkpoint and errors now (also the handler's own changes)."""
        self._save()

    def take_unsaved_errors(self) -> list[dict[str, Any]]:
        """Return (and forget) the errors recorded since the last save."""
        errors, self._errors = self._errors, []
        return errors

    def save_succeeded(self) -> None:
        """Commit the final progress with the state `succeeded` (the worker calls this)."""
        if self._total is None:
            self._total = self._done
        self._save({"state": SUCCEEDED, "finished_at": utcnow()})

    def _maybe_save(self, *, commit_work: bool = True) -> None:
        if self._stop_event is not None and self._stop_event.is_set():
            raise WorkerStopping("the worker is stopping")
        if (
            self._unsaved_items >= self._batch
            or time.monotonic() - self._last_save >= self._interval
        ):
            self._save(commit_work=commit_work)

    def _save(self, extra: dict[str, Any] | None = None, *, commit_work: bool = True) -> None:
        """Write progress, errors and `extra` to the job row and see if it was cancelled.

        With `commit_work` (the default) this commits the job's session, its work
        included; without, see `advance_within`.
        """
        session = self.session
        values: dict[str, Any] = {
            "done": self._done,
            "total": self._total,
            "checkpoint": self._checkpoint,
            "result_file": self._result_file,
            "heartbeat_at": utcnow(),
        }
        if self._errors:
            values["error_count"] = Job.error_count + len(self._errors)
        values.update(extra or {})
        if not commit_work and session.get_bind().dialect.name == "postgresql":
            with session.get_bind().begin() as connection:
                cancel_requested = self._write(connection, values)
        else:
            try:
                cancel_requested = self._write(session, values)
            except JobLost:
                session.rollback()
                raise
            if commit_work:
                session.commit()
        self._errors = []
        self._unsaved_items = 0
        self._last_save = time.monotonic()
        if cancel_requested is not None and "state" not in values:
            raise JobCancelled(f"job {self.job.id} was cancelled")

    def _write(self, executor: Any, values: dict[str, Any]) -> Any:
        """The writes of `_save` on a session or a connection; the cancel request (if any)."""
        if self._errors:
            executor.execute(sa.insert(JobError), self._errors)
        # Only while the job is still this worker's: a reaped job must not be overwritten.
        owned = executor.execute(
            sa.update(Job)
            .where(Job.id == self.job.id, Job.worker_id == self.worker_id, Job.state == RUNNING)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if owned.rowcount != 1:
            raise JobLost(f"job {self.job.id} is no longer held by {self.worker_id}")
        return executor.scalar(sa.select(Job.cancel_requested_at).where(Job.id == self.job.id))


class Heartbeat(threading.Thread):
    """Update the job's heartbeat on its own connection until stopped."""

    def __init__(self, app: Flask, job_id: int, worker_id: str) -> None:
        super().__init__(name=f"grp-job-{job_id}-heartbeat", daemon=True)
        self.app = app
        self.job_id = job_id
        self.worker_id = worker_id
        self.interval = float(app.config["GRP_JOB_HEARTBEAT_SECONDS"])
        self.stopped = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        with self.app.app_context():
            engine = db.engine
            while not self.stopped.wait(self.interval):
                try:
                    with engine.begin() as connection:
                        result = connection.execute(
                            sa.update(Job.__table__)
                            .where(
                                Job.__table__.c.id == self.job_id,
                                Job.__table__.c.worker_id == self.worker_id,
                                Job.__table__.c.state == RUNNING,
                            )
                            .values(heartbeat_at=utcnow())
                        )
                    if result.rowcount != 1:
                        self.lost.set()
                        return
                except sa.exc.SQLAlchemyError:
                    # A busy database is no reason to stop; the next beat tries again.
                    log.warning("job %s: heartbeat failed", self.job_id, exc_info=True)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=max(5.0, self.interval * 2))


def _finish(session: Session, job_id: int, worker_id: str, state: str, **values: Any) -> bool:
    """Record the job's final state if it is still this worker's and commit; else roll back."""
    result = session.execute(
        sa.update(Job)
        .where(Job.id == job_id, Job.worker_id == worker_id, Job.state == RUNNING)
        .values(state=state, finished_at=utcnow(), heartbeat_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.rollback()
        log.warning(
            "job %s: no longer held by %s; outcome %s not recorded", job_id, worker_id, state
        )
        return False
    session.commit()
    return True


def _notify_finished(app: Flask, session: Session, job_id: int) -> None:
    """Tell the person who started the job that it finished (best effort)."""
    from grp.workflow.notifications import notify

    job = session.get(Job, job_id)
    if job is None or job.created_by is None:
        return
    try:
        link = app.url_map.bind("localhost").build("jobs.detail", {"job_id": job.id})
    except Exception:  # noqa: BLE001 - pages may be absent in a trimmed app
        link = None
    try:
        notify(
            session,
            recipient=job.created_by,
            event="job.finished",
            context={
                "job_id": job.id,
                "kind": job.kind,
                "state": job.state,
                "done": job.done,
                "total": job.total,
                "error_count": job.error_count,
                "failure_reason": job.failure_reason,
            },
            department_id=job.department_id,
            link=link,
        )
        session.commit()
    except Exception:  # a failed notification must not change the job's outcome
        session.rollback()
        log.exception("job %s: cannot queue the finished notification", job_id)


def execute_claimed_job(
    app: Flask, job_id: int, worker_id: str, stop_event: threading.Event | None = None
) -> str | None:
    """Run the handler of a job this worker has claimed; return the job's final state.

    Returns None when the job was lost to another worker or went back to the
    queue because the worker is stopping.
    """
    with app.app_context():
        session = db.session()
        try:
            return _execute(app, session, job_id, worker_id, stop_event)
        finally:
            db.session.remove()


def _execute(
    app: Flask,
    session: Session,
    job_id: int,
    worker_id: str,
    stop_event: threading.Event | None,
) -> str | None:
    job = session.get(Job, job_id)
    if job is None or job.state != RUNNING or job.worker_id != worker_id:
        session.rollback()
        return None
    spec = state_of(app).handlers.get(job.kind)
    if spec is None:
        _finish(
            session,
            job_id,
            worker_id,
            FAILED,
            failure_reason=f"no handler is registered for job kind {job.kind!r}",
        )
        _notify_finished(app, session, job_id)
        return FAILED
    set_actor(session, job.created_by_id, job.created_by.username if job.created_by else None)
    session.info[REQUEST_ID_KEY] = f"job-{job.id}"
    ctx = JobContext(app, session, job, worker_id, stop_event)
    session.commit()  # ends the read transaction before the department context starts
    heartbeat = Heartbeat(app, job_id, worker_id)
    heartbeat.start()
    log.info(
        "job %s (%s) started by %s, attempt %s", job_id, ctx.job.kind, worker_id, ctx.job.attempts
    )
    outcome: str | None
    try:
        with department_context(session, ctx.job.department_id):
            spec.handler(ctx)
            if heartbeat.lost.is_set():
                raise JobLost(f"job {job_id} is no longer held by {worker_id}")
            ctx.save_succeeded()
        outcome = SUCCEEDED
    except JobCancelled:
        session.rollback()
        outcome = CANCELLED if _finish(session, job_id, worker_id, CANCELLED) else None
    except WorkerStopping:
        session.rollback()
        # Back to the queue with the committed checkpoint; the next worker resumes it.
        session.execute(
            sa.update(Job)
            .where(Job.id == job_id, Job.worker_id == worker_id, Job.state == RUNNING)
            .values(state=QUEUED, worker_id=None)
            .execution_options(synchronize_session=False)
        )
        queue.enqueue_after_commit(session, job_id)
        session.commit()
        log.info("job %s: worker stopping; requeued at checkpoint", job_id)
        return None
    except JobLost:
        session.rollback()
        log.warning("job %s: lost to another worker; stopping without recording", job_id)
        return None
    except Exception as exc:
        session.rollback()
        log.exception("job %s (%s) failed", job_id, ctx.job.kind)
        errors = ctx.take_unsaved_errors()
        if errors:
            # Errors seen before the failure explain it; keep them.
            session.execute(sa.insert(JobError), errors)
        reason = f"{type(exc).__name__}: {exc}"[:MAX_FAILURE_REASON]
        recorded = _finish(
            session,
            job_id,
            worker_id,
            FAILED,
            failure_reason=reason,
            error_count=Job.error_count + len(errors),
        )
        outcome = FAILED if recorded else None
    finally:
        heartbeat.stop()
    if outcome is None:
        return None
    log.info("job %s finished: %s", job_id, outcome)
    _notify_finished(app, session, job_id)
    return outcome


def run_job(job_id: int, *, app: Flask | None = None, worker_id: str | None = None) -> str | None:
    """Claim job `job_id` if it is still queued and run it; return its final state.

    This is what an RQ worker runs for an enqueued id. A job that is no longer
    queued (already run, running elsewhere, cancelled, or rolled back before
    it existed) is left alone and None is returned.
    """
    app = app or current_app._get_current_object()
    worker_id = worker_id or new_worker_id()
    with app.app_context():
        try:
            claimed = services.claim_job(db.session(), worker_id, job_id=job_id)
        finally:
            db.session.remove()
    if claimed is None:
        log.info("job %s is not queued; nothing to run", job_id)
        return None
    return execute_claimed_job(app, job_id, worker_id)


def perform_queued_job(job_id: int) -> str | None:
    """Run job `job_id` from an RQ worker (the function RQ imports and calls)."""
    if has_app_context():
        app = current_app._get_current_object()
    else:  # a plain `rq worker`: build the app from the environment
        from grp.app import create_app

        app = create_app()
    if os.getpid() != state_of(app).pool_pid:
        # A forked RQ work horse: the parent's pooled connections are not ours to use.
        with app.app_context():
            db.engine.dispose(close=False)
        state_of(app).pool_pid = os.getpid()
    return run_job(job_id, app=app)
