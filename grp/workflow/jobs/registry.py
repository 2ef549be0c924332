"""What an app knows about jobs: handlers by kind, scheduled jobs, and the settings.

Kept in `app.extensions["grp.jobs"]`, so every app (and every test's app) has
its own registry and nothing module-level needs resetting.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

if TYPE_CHECKING:
    from grp.workflow.jobs.runner import JobContext

EXTENSION_KEY = "grp.jobs"
JobHandler = Callable[["JobContext"], None]

EMBEDDED = "embedded"
RQ = "rq"

#: Settings with their environment variables and defaults (seconds unless named).
SETTINGS: dict[str, tuple[type, Any]] = {
    "GRP_JOB_QUEUE": (str, EMBEDDED),
    "GRP_REDIS_URL": (str, "redis://127.0.0.1:6379/0"),
    "GRP_RQ_QUEUE_NAME": (str, "grp-jobs"),
    # RQ kills a job running longer than this; long payroll runs need hours.
    "GRP_RQ_JOB_TIMEOUT": (int, 24 * 3600),
    "GRP_JOB_POLL_SECONDS": (float, 2.0),
    "GRP_JOB_HEARTBEAT_SECONDS": (float, 10.0),
    "GRP_JOB_HEARTBEAT_TIMEOUT": (float, 120.0),
    "GRP_JOB_MAX_ATTEMPTS": (int, 3),
    # Progress is committed after this many items or this many seconds, whichever first.
    "GRP_JOB_PROGRESS_BATCH": (int, 500),
    "GRP_JOB_PROGRESS_SECONDS": (float, 1.0),
    "GRP_SCHEDULER_LEADER_RETRY_SECONDS": (float, 5.0),
    # A run missed by less than this (scheduler down) still runs, once, on start.
    "GRP_SCHEDULER_MISFIRE_GRACE_SECONDS": (int, 7 * 24 * 3600),
    "GRP_SCHEDULER_RUN_RETENTION_DAYS": (int, 30),
}

_FUNC_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class JobRegistrationError(ValueError):
    """A job handler or scheduled job is declared wrongly (duplicate, bad reference)."""


@dataclass(frozen=True)
class HandlerSpec:
    kind: str
    handler: JobHandler
    # Who may start this kind through POST /api/v1/jobs; None: only code starts it.
    start_permission: str | None = None


@dataclass(frozen=True)
class ScheduledJobSpec:
    """A scheduled job as a module declares it."""

    job_id: str
    func: str  # "package.module:function"
    trigger: str  # "interval", "cron" or "date"
    trigger_args: dict[str, Any]
    description: str = ""
    source: str = "platform"

    def describe_trigger(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in sorted(self.trigger_args.items()))
        return f"{self.trigger}({args})"


@dataclass
class JobsState:
    handlers: dict[str, HandlerSpec] = field(default_factory=dict)
    scheduled: dict[str, ScheduledJobSpec] = field(default_factory=dict)
    # The process that created the app (and its connection pool): a forked RQ
    # work horse must not use the parent's pooled connections.
    pool_pid: int = field(default_factory=os.getpid)


def state_of(app: Flask | None = None) -> JobsState:
    """Return the jobs registry of `app` (default: the current app)."""
    app = app or current_app._get_current_object()
    return app.extensions[EXTENSION_KEY]


def apply_settings(app: Flask) -> None:
    """Fill in the job settings from the environment unless the app config has them."""
    for name, (kind, default) in SETTINGS.items():
        if name in app.config:
            app.config[name] = kind(app.config[name])
            continue
        raw = os.environ.get(name)
        app.config[name] = kind(raw) if raw not in (None, "") else default
    queue = app.config["GRP_JOB_QUEUE"].strip().lower()
    if queue not in (EMBEDDED, RQ):
        from grp.config import ConfigurationError

        raise ConfigurationError(f"GRP_JOB_QUEUE must be 'embedded' or 'rq', not {queue!r}")
    app.config["GRP_JOB_QUEUE"] = queue


def register_job_handler(
    app: Flask, kind: str, handler: JobHandler, *, start_permission: str | None = None
) -> None:
    """Declare the function that does the work of jobs of `kind`.

    `handler(ctx)` receives a `JobContext` and runs inside the job's department
    context. It must be idempotent per item: after a worker dies, the job
    resumes from the last saved checkpoint, so items processed after it are
    processed again. `start_permission` lets users holding it start the kind
    through `POST /api/v1/jobs`; without it only code (services, the CLI)
    starts such jobs.
    """
    registry = state_of(app)
    if not kind or len(kind) > 100:
        raise JobRegistrationError(f"job kind {kind!r} must be 1 to 100 characters")
    if kind in registry.handlers:
        raise JobRegistrationError(f"a handler for job kind {kind!r} is already registered")
    if not callable(handler):
        raise JobRegistrationError(f"the handler of {kind!r} is not callable")
    registry.handlers[kind] = HandlerSpec(kind, handler, start_permission)


def register_scheduled_job(
    app: Flask,
    job_id: str,
    func: str | Callable[[], Any],
    trigger: str,
    description: str = "",
    **trigger_args: Any,
) -> None:
    """Declare a function the scheduler runs on `trigger` (APScheduler's "interval",
    "cron" or "date", with its arguments: `minutes=1`, `hour=2`, `timezone=...`).

    `func` is an import string "package.module:function" (a module-level
    function is converted to one), so the schedule can be persisted. It is
    called with no arguments inside an app context and no department; a
    function that works per department loops over departments with
    `grp.tenancy.department_context`. The scheduler commits after it returns.
    """
    from apscheduler.util import obj_to_ref

    registry = state_of(app)
    if callable(func):
        func = obj_to_ref(func)
    if not isinstance(func, str) or not _FUNC_REF.match(func):
        raise JobRegistrationError(
            f"scheduled job {job_id!r}: func must be 'package.module:function', not {func!r}"
        )
    if not job_id or len(job_id) > 191:
        raise JobRegistrationError(f"scheduled job id {job_id!r} must be 1 to 191 characters")
    if job_id in registry.scheduled:
        raise JobRegistrationError(f"scheduled job {job_id!r} is already registered")
    spec = ScheduledJobSpec(job_id, func, trigger, dict(trigger_args), description)
    from grp.workflow.jobs.scheduler import build_trigger

    try:
        build_trigger(spec)  # fail at start-up, not when the scheduler first runs
    except (TypeError, ValueError, LookupError) as exc:
        raise JobRegistrationError(f"scheduled job {job_id!r}: bad trigger: {exc}") from exc
    registry.scheduled[job_id] = spec
