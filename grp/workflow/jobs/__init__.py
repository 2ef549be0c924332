"""Background jobs with persisted progress, and the one-per-deployment scheduler.

Public API (stable: other parts and modules call it):

    register_job_handler(app, kind, handler)          # handler(ctx: JobContext) -> None
    start_job(session, *, kind, department_id, params, actor, dedupe_key=None) -> Job
    register_scheduled_job(app, job_id, func, trigger, description="", **trigger_args)
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    pass
