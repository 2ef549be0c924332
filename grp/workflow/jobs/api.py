"""Jobs API: the active department's jobs with progress, their results; scheduled jobs.

`/api/v1/jobs` lists and starts jobs, `/api/v1/jobs/{id}` shows state,
progress (done/total), errors and the result URL; another department's job is
answered 404. `/api/v1/scheduled-jobs` is for system administrators.
"""

from __future__ import annotations

from typing import Any

from flask import g, send_file, url_for
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from grp.api import Blueprint, PaginationQuerySchema, page_of, paginate
from grp.auth.context import acting_user, registry, require_permission
from grp.db import db
from grp.workflow.jobs import services
from grp.workflow.jobs.models import STATES, SUCCEEDED, Job
from grp.workflow.jobs.registry import state_of

jobs_blp = Blueprint(
    "jobs_api",
    __name__,
    url_prefix="/api/v1/jobs",
    description="Background jobs of the active department: state, progress, errors, results",
)
scheduled_blp = Blueprint(
    "scheduled_jobs_api",
    __name__,
    url_prefix="/api/v1/scheduled-jobs",
    description="Scheduled jobs and their last runs (system administrators)",
)


# --------------------------------------------------------------------------- schemas


def _result_url(job: Job) -> str | None:
    if job.state != SUCCEEDED or not job.result_file:
        return None
    return url_for("jobs_api.download_result", job_id=job.id)


class JobSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    state = fields.String(metadata={"enum": list(STATES)})
    done = fields.Integer()
    total = fields.Integer(allow_none=True)
    percent = fields.Integer(allow_none=True)
    error_count = fields.Integer()
    dedupe_key = fields.String(allow_none=True)
    params = fields.Dict()
    attempts = fields.Integer()
    failure_reason = fields.String(allow_none=True)
    created_by = fields.Function(
        lambda job: job.created_by.username if job.created_by else None, allow_none=True
    )
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    heartbeat_at = fields.DateTime(allow_none=True)
    cancel_requested_at = fields.DateTime(allow_none=True)
    result_url = fields.Function(_result_url, allow_none=True)


class JobErrorSchema(Schema):
    item = fields.String()
    message = fields.String()
    at = fields.DateTime()


class JobDetailSchema(JobSchema):
    errors = fields.List(
        fields.Nested(JobErrorSchema),
        metadata={"description": "The first 100 errors; error_count counts them all."},
    )


class JobQuerySchema(PaginationQuerySchema):
    kind = fields.String(load_default=None)


class JobStartSchema(Schema):
    kind = fields.String(required=True, validate=validate.Length(min=1, max=100))
    params = fields.Dict(load_default=dict)
    dedupe_key = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Refuse a second start while the same work is active (409)."},
    )


class JobRunSchema(Schema):
    scheduled_run_time = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    outcome = fields.String()
    error = fields.String(allow_none=True)
    runner = fields.String(allow_none=True)


class ScheduledJobSchema(Schema):
    id = fields.String()
    description = fields.String()
    func = fields.String()
    trigger = fields.String()
    source = fields.String()
    next_run_time = fields.DateTime(allow_none=True)
    last_runs = fields.List(fields.Nested(JobRunSchema))


# --------------------------------------------------------------------------- helpers


def _department_id() -> int:
    if g.get("department") is None:
        abort(403, message="Choose a department first (X-GRP-Department header).")
    return g.department.id


def _job_or_404(job_id: int) -> Job:
    job = services.get_department_job(db.session, _department_id(), job_id)
    if job is None:
        abort(404, message="No such job.")
    return job


# --------------------------------------------------------------------------- jobs


@jobs_blp.route("", methods=["GET"])
@jobs_blp.arguments(JobQuerySchema, location="query")
@jobs_blp.response(200, page_of(JobSchema))
@require_permission("platform.job.read")
def list_jobs(query: dict[str, Any]) -> Any:
    """List the active department's jobs, newest first."""
    select = services.department_jobs_query(_department_id(), kind=query["kind"])
    return paginate(select, query["page"], query["per_page"])


@jobs_blp.route("", methods=["POST"])
@jobs_blp.arguments(JobStartSchema)
@jobs_blp.response(202, JobSchema)
@jobs_blp.alt_response(409, description="The same work is already queued or running")
@require_permission("platform.job.start")
def start_job(data: dict[str, Any]) -> Any:
    """Start a job of a kind that may be started through the API, in the active department."""
    spec = state_of().handlers.get(data["kind"])
    if spec is None or spec.start_permission is None:
        abort(
            422,
            message="The request has invalid fields.",
            errors={"kind": [f"Jobs of kind {data['kind']!r} cannot be started here."]},
        )
    if not registry().allows(g.role_codes, spec.start_permission):
        abort(403, message=f"You may not start {data['kind']} jobs.")
    try:
        job = services.start_job(
            db.session,
            kind=data["kind"],
            department_id=_department_id(),
            params=data["params"],
            actor=acting_user(),
            dedupe_key=data["dedupe_key"],
        )
    except services.JobConflict as exc:
        db.session.rollback()
        abort(409, message=str(exc))
    except services.JobServiceError as exc:
        db.session.rollback()
        abort(422, message="The request has invalid fields.", errors={"params": [str(exc)]})
    db.session.commit()
    return job


@jobs_blp.route("/<int:job_id>", methods=["GET"])
@jobs_blp.response(200, JobDetailSchema)
@require_permission("platform.job.read")
def get_job(job_id: int) -> Any:
    """Read one job of the active department: state, progress, errors, result URL."""
    job = _job_or_404(job_id)
    job.errors = services.job_errors(db.session, job)
    return job


@jobs_blp.route("/<int:job_id>/cancel", methods=["POST"])
@jobs_blp.response(200, JobSchema)
@jobs_blp.alt_response(409, description="The job has already finished")
@require_permission("platform.job.cancel")
def cancel_job(job_id: int) -> Any:
    """Cancel a queued job, or ask a running one to stop at its next checkpoint."""
    job = _job_or_404(job_id)
    try:
        services.cancel_job(db.session, job, actor=acting_user())
    except services.JobStateError as exc:
        db.session.rollback()
        abort(409, message=str(exc))
    db.session.commit()
    return job


@jobs_blp.route("/<int:job_id>/result", methods=["GET"])
@jobs_blp.response(
    200, content_type="application/octet-stream", description="The job's result file"
)
@require_permission("platform.job.read")
def download_result(job_id: int) -> Any:
    """Download the result file of a succeeded job of the active department."""
    job = _job_or_404(job_id)
    path = services.result_file_path(job) if job.state == SUCCEEDED else None
    if path is None:
        abort(404, message="This job has no result file.")
    return send_file(path, as_attachment=True, download_name=path.name)


# --------------------------------------------------------------------------- scheduled jobs


@scheduled_blp.route("", methods=["GET"])
@scheduled_blp.arguments(PaginationQuerySchema, location="query")
@scheduled_blp.response(200, page_of(ScheduledJobSchema))
@require_permission("platform.schedule.read")
def list_scheduled_jobs(query: dict[str, Any]) -> Any:
    """List the scheduled jobs with their next run time and last runs."""
    rows = services.scheduled_job_rows(db.session, runs_per_job=5)
    start = (query["page"] - 1) * query["per_page"]
    return {
        "items": rows[start : start + query["per_page"]],
        "total": len(rows),
        "page": query["page"],
        "per_page": query["per_page"],
    }
