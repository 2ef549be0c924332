"""The scheduler: APScheduler with its job store in the application database, one leader.

Modules declare scheduled jobs with `register_scheduled_job` or a manifest key:

    "jobs": [{"id": "hr.leave_accrual", "func": "modules.hr.jobs:accrue_leave",
              "trigger": "cron", "hour": 1, "description": "Monthly leave accrual"}]

`grp scheduler` runs them. Several scheduler processes may run (one per app
server, say); exactly one schedules at a time:

* PostgreSQL: the leader holds a session-level advisory lock
  (`pg_try_advisory_lock`) on a dedicated connection. The others retry every
  `GRP_SCHEDULER_LEADER_RETRY_SECONDS`; when the leader dies its connection
  closes, the lock is released, and one of them takes over.
* SQLite: an exclusive file lock next to the database file plays the same role
  for the processes of the one machine that can use the file.

Each run is recorded in `job_runs` under a unique key (job id, scheduled
time), inserted before the function is called; a second scheduler that ever
fires the same run fails that insert and skips it. A job that missed its time
while no scheduler ran runs once on start (coalesce), however many runs it missed.
"""

from __future__ import annotations

import ast
import concurrent.futures
import contextlib
import hashlib
import logging
import os
import signal
import socket
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.executors.pool import BasePoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from sqlalchemy.exc import IntegrityError

from grp.db import db, utcnow
from grp.transactions import install_transaction_tracking
from grp.workflow.jobs.models import (
    RUN_FAILED,
    RUN_INTERRUPTED,
    RUN_MISSED,
    RUN_RUNNING,
    RUN_SUCCEEDED,
    JobRun,
    apscheduler_jobs,
)
from grp.workflow.jobs.registry import JobRegistrationError, ScheduledJobSpec, state_of

log = logging.getLogger("grp.scheduler")

TRIGGERS = {"interval": IntervalTrigger, "cron": CronTrigger, "date": DateTrigger}
#: The advisory lock key: any fixed 64-bit number; derived from a name to avoid clashes.
LEADER_LOCK_KEY = int.from_bytes(hashlib.sha256(b"grp.scheduler.leader").digest()[:7], "big")
MAX_RUN_ERROR = 4000
#: Server-side keepalives of the leader's lock connection (seconds, count).
KEEPALIVES = {"tcp_keepalives_idle": 10, "tcp_keepalives_interval": 5, "tcp_keepalives_count": 3}


# --------------------------------------------------------------------------- declarations


def build_trigger(spec: ScheduledJobSpec) -> Any:
    """Return the APScheduler trigger a scheduled job declares (UTC unless it names a zone)."""
    try:
        trigger_class = TRIGGERS[spec.trigger]
    except KeyError:
        raise ValueError(
            f"unknown trigger {spec.trigger!r} (use {', '.join(sorted(TRIGGERS))})"
        ) from None
    args = dict(spec.trigger_args)
    args.setdefault("timezone", "UTC")
    return trigger_class(**args)


def _manifest_jobs(app: Flask) -> list[ScheduledJobSpec]:
    """Read the "jobs" key of the enabled modules' manifests (without importing them)."""
    from grp.module_loader import MANIFEST_FILE

    specs = []
    for manifest in app.extensions["grp"].modules:
        data = ast.literal_eval((manifest.path / MANIFEST_FILE).read_text(encoding="utf-8"))
        for entry in data.get("jobs", ()):
            entry = dict(entry)
            try:
                job_id = entry.pop("id")
                func = entry.pop("func")
                trigger = entry.pop("trigger")
            except KeyError as exc:
                raise JobRegistrationError(
                    f"module {manifest.name}: a scheduled job needs {exc.args[0]!r}"
                ) from None
            description = entry.pop("description", "")
            specs.append(
                ScheduledJobSpec(job_id, func, trigger, entry, description, source=manifest.name)
            )
    return specs


def declared_scheduled_jobs(app: Flask) -> list[ScheduledJobSpec]:
    """Return every scheduled job: registered in code, then declared in manifests."""
    specs = dict(state_of(app).scheduled)
    for spec in _manifest_jobs(app):
        if spec.job_id in specs:
            raise JobRegistrationError(f"scheduled job {spec.job_id!r} is declared twice")
        build_trigger(spec)
        specs[spec.job_id] = spec
    return sorted(specs.values(), key=lambda s: s.job_id)


def _fingerprint(spec: ScheduledJobSpec) -> str:
    """Name a declaration so a stored job is replaced only when its declaration changed."""
    text = repr((spec.func, spec.trigger, sorted(spec.trigger_args.items())))
    return f"{spec.job_id} [{hashlib.sha256(text.encode()).hexdigest()[:12]}]"


# --------------------------------------------------------------------------- store and executor


class GrpJobStore(SQLAlchemyJobStore):
    """APScheduler's SQLAlchemy job store on the table the GRP migration creates."""

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine=engine)
        # Use the table declared in the app's metadata (same columns), not a copy of it.
        self.jobs_t = apscheduler_jobs

    def start(self, scheduler: Any, alias: str) -> None:
        # BaseJobStore.start only; the migration owns the table (the app role cannot create it).
        super(SQLAlchemyJobStore, self).start(scheduler, alias)


def _runner_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}"


def _claim_run(app: Flask, job_id: str, run_time: datetime, outcome: str) -> int | None:
    """Record a run of `job_id` at `run_time`; None if it is already recorded (by anyone)."""
    with app.app_context():
        session = db.session()
        try:
            run = JobRun(
                job_id=job_id,
                scheduled_run_time=run_time.astimezone(UTC),
                started_at=utcnow(),
                outcome=outcome,
                runner=_runner_id(),
            )
            if outcome != RUN_RUNNING:
                run.finished_at = run.started_at
            session.add(run)
            session.commit()
            return run.id
        except IntegrityError:
            session.rollback()
            return None
        finally:
            db.session.remove()


def _end_run(app: Flask, run_id: int, outcome: str, error: str | None = None) -> None:
    with app.app_context():
        try:
            db.session.execute(
                sa.update(JobRun)
                .where(JobRun.id == run_id)
                .values(outcome=outcome, finished_at=utcnow(), error=error)
                .execution_options(synchronize_session=False)
            )
            db.session.commit()
        finally:
            db.session.remove()


def _call_in_app(app: Flask, job: Any) -> Any:
    with app.app_context():
        try:
            result = job.func(*job.args, **job.kwargs)
            db.session.commit()
            return result
        except BaseException:
            db.session.rollback()
            raise
        finally:
            db.session.remove()


def run_recorded(
    app: Flask, job: Any, jobstore_alias: str, run_times: list[datetime], logger_name: str
) -> list[JobExecutionEvent]:
    """Run `job` once per due time, each recorded in job_runs first (APScheduler's run_job)."""
    events = []
    for run_time in run_times:
        late = datetime.now(UTC) - run_time
        if job.misfire_grace_time is not None and late > timedelta(seconds=job.misfire_grace_time):
            _claim_run(app, job.id, run_time, RUN_MISSED)
            events.append(JobExecutionEvent(EVENT_JOB_MISSED, job.id, jobstore_alias, run_time))
            log.warning("scheduled job %s: run of %s missed by %s", job.id, run_time, late)
            continue
        run_id = _claim_run(app, job.id, run_time, RUN_RUNNING)
        if run_id is None:
            log.info("scheduled job %s: run of %s already recorded; skipped", job.id, run_time)
            continue
        log.info("scheduled job %s: running (scheduled at %s)", job.id, run_time.isoformat())
        try:
            retval = _call_in_app(app, job)
        except Exception as exc:
            formatted = "".join(traceback.format_exception(exc))
            _end_run(
                app, run_id, RUN_FAILED, f"{type(exc).__name__}: {exc}\n{formatted}"[:MAX_RUN_ERROR]
            )
            events.append(
                JobExecutionEvent(
                    EVENT_JOB_ERROR,
                    job.id,
                    jobstore_alias,
                    run_time,
                    exception=exc,
                    traceback=formatted,
                )
            )
            log.exception("scheduled job %s failed", job.id)
        else:
            _end_run(app, run_id, RUN_SUCCEEDED)
            events.append(
                JobExecutionEvent(
                    EVENT_JOB_EXECUTED, job.id, jobstore_alias, run_time, retval=retval
                )
            )
    return events


class RecordingExecutor(BasePoolExecutor):
    """A thread pool executor that runs each job in an app context and records the run."""

    def __init__(self, app: Flask, max_workers: int = 5) -> None:
        super().__init__(concurrent.futures.ThreadPoolExecutor(max_workers))
        self.app = app

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        def callback(future: concurrent.futures.Future) -> None:
            exc = future.exception()
            if exc is not None:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, future.result())

        future = self._pool.submit(
            run_recorded, self.app, job, job._jobstore_alias, run_times, self._logger.name
        )
        future.add_done_callback(callback)


# --------------------------------------------------------------------------- leadership


class PostgresLeadership:
    """Leadership by a session-level advisory lock held on a dedicated connection."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(
            url,
            poolclass=sa.pool.NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args={"connect_timeout": 10},
        )
        self.connection: sa.Connection | None = None

    def _connect(self) -> sa.Connection:
        if self.connection is None:
            self.connection = self.engine.connect()
            # Let the server notice a vanished leader (no FIN) within seconds, not hours,
            # so the lock is released and another scheduler takes over.
            for setting, value in KEEPALIVES.items():
                self.connection.execute(sa.select(sa.func.set_config(setting, str(value), False)))
        return self.connection

    def try_acquire(self) -> bool:
        try:
            connection = self._connect()
            return bool(connection.scalar(sa.select(sa.func.pg_try_advisory_lock(LEADER_LOCK_KEY))))
        except sa.exc.SQLAlchemyError:
            log.warning("scheduler: cannot reach the database for leadership", exc_info=True)
            self._drop()
            return False

    def still_held(self) -> bool:
        """Tell whether the lock's session is alive: a session-level lock lasts as long."""
        if self.connection is None:
            return False
        try:
            self.connection.scalar(sa.select(1))
            return True
        except sa.exc.SQLAlchemyError:
            log.warning("scheduler: lost the leadership connection", exc_info=True)
            self._drop()
            return False

    def release(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self.connection.scalar(sa.select(sa.func.pg_advisory_unlock(LEADER_LOCK_KEY)))
        self._drop()
        self.engine.dispose()

    def _drop(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                self.connection.close()
        self.connection = None


class FileLeadership:
    """Leadership by an exclusive lock on a file (SQLite: one machine uses the database)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: Any = None

    def try_acquire(self) -> bool:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self.handle = handle
        return True

    def still_held(self) -> bool:
        return self.handle is not None

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()  # closing the descriptor releases the lock
            self.handle = None


def leadership_for(app: Flask) -> PostgresLeadership | FileLeadership:
    """Return the leader election that fits the app's database."""
    url = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "postgresql":
        return PostgresLeadership(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.database and url.database != ":memory:":
        return FileLeadership(
            Path(url.database).resolve().with_name(Path(url.database).name + ".scheduler.lock")
        )
    return FileLeadership(Path(app.instance_path) / "scheduler.lock")


# --------------------------------------------------------------------------- the process


def _sync_declared_jobs(scheduler: BackgroundScheduler, specs: list[ScheduledJobSpec]) -> None:
    """Make the job store hold exactly the declared jobs.

    An unchanged declaration keeps its stored job, and so its next run time:
    that is how a run missed while no scheduler ran is noticed (and run once)
    on start. A changed one is replaced; one no longer declared is removed.
    """
    stored = {job.id: job for job in scheduler.get_jobs()}
    for spec in specs:
        name = _fingerprint(spec)
        current = stored.pop(spec.job_id, None)
        if current is not None and current.name == name:
            continue
        if current is not None:
            scheduler.remove_job(spec.job_id)
            log.info("scheduled job %s changed; rescheduling", spec.job_id)
        scheduler.add_job(spec.func, trigger=build_trigger(spec), id=spec.job_id, name=name)
    for job_id in stored:
        log.info("scheduled job %s is no longer declared; removing it", job_id)
        scheduler.remove_job(job_id)


def _interrupt_unfinished_runs(app: Flask) -> None:
    """Mark runs a previous leader left 'running' as interrupted (it stopped or died)."""
    with app.app_context():
        try:
            db.session.execute(
                sa.update(JobRun)
                .where(JobRun.outcome == RUN_RUNNING)
                .values(
                    outcome=RUN_INTERRUPTED,
                    finished_at=utcnow(),
                    error="the scheduler stopped during the run",
                )
                .execution_options(synchronize_session=False)
            )
            db.session.commit()
        finally:
            db.session.remove()


@dataclass
class SchedulerRunner:
    """Wait for leadership, then schedule until stopped or leadership is lost."""

    app: Flask
    retry_seconds: float | None = None
    max_workers: int = 5

    def __post_init__(self) -> None:
        self.retry = float(
            self.retry_seconds or self.app.config["GRP_SCHEDULER_LEADER_RETRY_SECONDS"]
        )
        self.scheduler: BackgroundScheduler | None = None
        self.leadership = leadership_for(self.app)
        self.became_leader = threading.Event()
        self.engine: sa.Engine | None = None

    def _start_scheduling(self) -> None:
        config = self.app.config
        specs = declared_scheduled_jobs(self.app)
        options = {"pool_pre_ping": True, **(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})}
        # Its own engine: APScheduler disposes of it on shutdown.
        self.engine = sa.create_engine(config["SQLALCHEMY_DATABASE_URI"], **options)
        # The options may make its connections autocommit (grp/transactions.py).
        install_transaction_tracking(self.engine)
        scheduler = BackgroundScheduler(
            jobstores={"default": GrpJobStore(self.engine)},
            executors={"default": RecordingExecutor(self.app, self.max_workers)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": int(config["GRP_SCHEDULER_MISFIRE_GRACE_SECONDS"]),
            },
            timezone=UTC,
        )
        _interrupt_unfinished_runs(self.app)
        scheduler.start(paused=True)
        _sync_declared_jobs(scheduler, specs)
        scheduler.resume()
        self.scheduler = scheduler
        log.info(
            "scheduler %s is the leader; scheduling %s",
            _runner_id(),
            ", ".join(s.job_id for s in specs) or "nothing",
        )
        self.became_leader.set()

    def _stop_scheduling(self, wait: bool) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=wait)
            self.scheduler = None
        self.became_leader.clear()

    def run(self, stop: threading.Event) -> None:
        """Schedule while leader; wait and retry otherwise; return when `stop` is set."""
        log.info("scheduler %s started; waiting for leadership", _runner_id())
        try:
            while not stop.is_set():
                if self.scheduler is None:
                    if self.leadership.try_acquire():
                        try:
                            self._start_scheduling()
                        except Exception:
                            self.leadership.release()
                            raise
                elif not self.leadership.still_held():
                    log.error("scheduler %s lost leadership; stopping its scheduling", _runner_id())
                    self._stop_scheduling(wait=False)
                stop.wait(self.retry)
        finally:
            self._stop_scheduling(wait=True)
            self.leadership.release()
            if self.engine is not None:
                self.engine.dispose()
            log.info("scheduler %s stopped", _runner_id())


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_scheduler(app: Flask, stop: threading.Event | None = None) -> None:
    """Run the scheduler process until SIGTERM/SIGINT (or `stop` is set)."""
    stop = stop or threading.Event()
    with _stop_on_signals(stop):
        SchedulerRunner(app).run(stop)


# --------------------------------------------------------------------------- built-in job


def reap_jobs() -> None:
    """Requeue or fail jobs whose worker died; forget old scheduled runs (every minute)."""
    from flask import current_app

    from grp.workflow.jobs.services import prune_job_runs, reap_with_settings

    reap_with_settings(db.session)
    prune_job_runs(
        db.session, older_than_days=current_app.config["GRP_SCHEDULER_RUN_RETENTION_DAYS"]
    )
