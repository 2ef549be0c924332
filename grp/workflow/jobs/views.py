"""Job pages: the active department's jobs, one job's progress, scheduled jobs (admins)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, render_template, send_file, url_for
from flask_babel import gettext as _

from grp.api import paginate
from grp.auth.context import current_department, has_permission, require_permission
from grp.db import db
from grp.web.forms import PostForm
from grp.web.helpers import DEFAULT_PER_PAGE, actor, page_number, pagination, run_action
from grp.workflow.jobs import services
from grp.workflow.jobs.models import SUCCEEDED, Job

bp = Blueprint("jobs", __name__, url_prefix="/jobs")

#: Seconds between automatic reloads of a job page while the job is active.
REFRESH_SECONDS = 3
ERRORS_SHOWN = 100


def _department_id() -> int:
    if g.get("department") is None:
        abort(403)  # signed in but without any department to act in
    return g.department.id


def _job_or_404(job_id: int) -> Job:
    job = services.get_department_job(db.session, _department_id(), job_id)
    if job is None:
        abort(404)
    return job


def state_label(state: str) -> str:
    """Return the job state in the page language."""
    return {
        "queued": _("Queued"),
        "running": _("Running"),
        "succeeded": _("Succeeded"),
        "failed": _("Failed"),
        "cancelled": _("Cancelled"),
    }.get(state, state)


def run_outcome_label(outcome: str) -> str:
    """Return a scheduled run's outcome in the page language."""
    return {
        "running": _("running"),
        "succeeded": _("succeeded"),
        "failed": _("failed"),
        "missed": _("missed"),
        "interrupted": _("interrupted"),
    }.get(outcome, outcome)


@bp.app_template_filter("job_state")
def _job_state_filter(state: str) -> str:
    return state_label(state)


@bp.get("")
@require_permission("platform.job.read")
def index() -> Any:
    """List the active department's background jobs, newest first."""
    department_id = _department_id()
    page = paginate(services.department_jobs_query(department_id), page_number(), DEFAULT_PER_PAGE)
    return render_template(
        "workflow/jobs/index.html", page=pagination(page), department=current_department()
    )


@bp.get("/<int:job_id>")
@require_permission("platform.job.read")
def detail(job_id: int) -> Any:
    """Show one job: state, progress bar, errors and the result file."""
    job = _job_or_404(job_id)
    errors = services.job_errors(db.session, job, limit=ERRORS_SHOWN)
    has_result = job.state == SUCCEEDED and services.result_file_path(job) is not None
    return render_template(
        "workflow/jobs/detail.html",
        job=job,
        errors=errors,
        errors_shown=ERRORS_SHOWN,
        has_result=has_result,
        refresh_seconds=REFRESH_SECONDS if job.is_active else None,
        cancel_form=PostForm() if has_permission("platform.job.cancel") else None,
    )


@bp.post("/<int:job_id>/cancel")
@require_permission("platform.job.cancel")
def cancel(job_id: int) -> Any:
    """Cancel a queued job, or ask a running one to stop."""
    job = _job_or_404(job_id)
    if not PostForm().validate_on_submit():
        abort(400)
    return run_action(
        lambda: services.cancel_job(db.session, job, actor=actor()),
        refused={services.JobStateError: _("This job has already finished.")},
        success=_("Job %(id)d is cancelled or will stop shortly.", id=job.id),
        redirect_to=url_for("jobs.detail", job_id=job.id),
    )


@bp.get("/<int:job_id>/result")
@require_permission("platform.job.read")
def result(job_id: int) -> Any:
    """Download the result file of a succeeded job of the active department."""
    job = _job_or_404(job_id)
    path = services.result_file_path(job) if job.state == SUCCEEDED else None
    if path is None:
        abort(404)
    return send_file(path, as_attachment=True, download_name=path.name)


@bp.get("/scheduled")
@require_permission("platform.schedule.read")
def scheduled() -> Any:
    """List the scheduled jobs, their next run and their last runs (system administrators)."""
    rows = services.scheduled_job_rows(db.session, runs_per_job=5)
    return render_template("workflow/jobs/scheduled.html", rows=rows, run_outcome=run_outcome_label)
