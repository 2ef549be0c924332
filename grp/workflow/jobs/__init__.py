"""Background jobs with persisted progress, and the one-per-deployment scheduler.

Public API (stable: other parts and modules call it):

    register_job_handler(app, kind, handler)          # handler(ctx: JobContext) -> None
    start_job(session, *, kind, department_id, params, actor, dedupe_key=None) -> Job
    register_scheduled_job(app, job_id, func, trigger, description="", **trigger_args)

A handler receives a `JobContext` (`ctx.session`, `ctx.job`, `ctx.set_total`,
`ctx.advance`/`ctx.progress`, `ctx.add_error`, `ctx.checkpoint`,
`ctx.result_path`) and runs in a worker process inside the job's department
context. It must be idempotent per item: a job whose worker died resumes from
its last saved checkpoint (see grp/workflow/jobs/runner.py).

Processes: `grp worker [--once] [--concurrency N]` runs jobs (GRP_JOB_QUEUE=
embedded polls the jobs table; =rq takes them from Redis at GRP_REDIS_URL);
`grp scheduler` runs scheduled jobs, one leader at a time.
"""

from __future__ import annotations

from flask import Flask

from grp.auth.permissions import DEPARTMENT_ADMIN, SYSTEM_ADMIN
from grp.workflow.jobs.registry import (
    JobRegistrationError,
    register_job_handler,
    register_scheduled_job,
)
from grp.workflow.jobs.runner import JobCancelled, JobContext, JobStopped, run_job
from grp.workflow.jobs.services import (
    JobConflict,
    JobServiceError,
    JobStateError,
    UnknownJobKind,
    cancel_job,
    start_job,
)

__all__ = [
    "JobCancelled",
    "JobConflict",
    "JobContext",
    "JobRegistrationError",
    "JobServiceError",
    "JobStateError",
    "JobStopped",
    "UnknownJobKind",
    "cancel_job",
    "init_app",
    "register_job_handler",
    "register_scheduled_job",
    "run_job",
    "start_job",
]

#: Roles that run departmental work and so follow its jobs.
JOB_ROLES = (
    DEPARTMENT_ADMIN,
    "hr_officer",
    "payroll_officer",
    "finance_officer",
    "procurement_officer",
)

PERMISSIONS: dict[str, tuple[str, ...]] = {
    "platform.job.read": JOB_ROLES,
    # The API endpoint; each kind also names the permission needed to start it.
    "platform.job.start": JOB_ROLES,
    "platform.job.cancel": (DEPARTMENT_ADMIN,),
    "platform.demo_job.start": (DEPARTMENT_ADMIN,),
    "platform.schedule.read": (SYSTEM_ADMIN,),
}

MENU = (
    {
        "label_en": "Background jobs",
        "label_ar": "المهام في الخلفية",
        "endpoint": "jobs.index",
        "permission": "platform.job.read",
    },
    {
        "label_en": "Scheduled jobs",
        "label_ar": "المهام المجدولة",
        "endpoint": "jobs.scheduled",
        "permission": "platform.schedule.read",
    },
)

REAPER_JOB_ID = "platform.jobs.reaper"


def init_app(app: Flask) -> None:
    """Register the job tables, settings, permissions, pages, API, commands and built-ins."""
    from grp.extensions import api
    from grp.workflow.jobs import models, queue  # noqa: F401 - models: tables in the metadata
    from grp.workflow.jobs.api import jobs_blp, scheduled_blp
    from grp.workflow.jobs.cli import jobs_cli, scheduler_command, worker_command
    from grp.workflow.jobs.demo import DEMO_COUNT, demo_count
    from grp.workflow.jobs.registry import EXTENSION_KEY, JobsState, apply_settings
    from grp.workflow.jobs.views import bp

    apply_settings(app)
    app.extensions[EXTENSION_KEY] = JobsState()
    queue.install_session_hooks()
    grp_state = app.extensions["grp"]
    grp_state.permissions.register(PERMISSIONS)
    grp_state.menu.extend(MENU)

    register_job_handler(app, DEMO_COUNT, demo_count, start_permission="platform.demo_job.start")
    register_scheduled_job(
        app,
        REAPER_JOB_ID,
        "grp.workflow.jobs.scheduler:reap_jobs",
        "interval",
        description="Requeue or fail jobs whose worker died; forget old scheduled runs.",
        minutes=1,
    )

    api.register_blueprint(jobs_blp)
    api.register_blueprint(scheduled_blp)
    app.register_blueprint(bp)
    for command in (worker_command, scheduler_command, jobs_cli):
        app.cli.add_command(command)
