"""Payroll API: posting and paying runs, review before approval, reports and exports.

Routes are added to the blueprints of `modules.payroll.api` (imported by its
`register_api` before the blueprints are registered):

* lifecycle: `POST runs/{id}/post` (approved → posted), `POST runs/{id}/mark-paid`
  (posted → paid); another state is 409, a missing permission 403;
* review: `GET runs/{id}/variance?threshold=&amount=&all=` against the previous
  month's regular run, `GET runs/{id}/changes` (joiners, leavers, excluded);
* reports: `GET runs/{id}/reports/{name}.{csv|xlsx}` with name `register`,
  `components`, `org-units` or `pension`; `GET runs/{id}/register.xlsx`;
  `GET reports/ytd.{csv|xlsx}?year=2026`.
"""

from __future__ import annotations

from typing import Any

from flask import g
from flask_smorest import abort

from grp.auth.context import acting_user, has_permission, require_permission
from grp.db import db
from modules.payroll.api import _conflict, _department_id, _run, blp, me_blp  # noqa: F401
from modules.payroll.report_downloads import FORMATS, table_response
from modules.payroll.schemas import (
    ChangesSchema,
    RunLifecycleSchema,
    VarianceQuerySchema,
    VarianceSchema,
    YtdQuerySchema,
)
from modules.payroll.services import lifecycle, reports
from modules.payroll.services.runs import RunStateError, find_run

# --------------------------------------------------------------------------- lifecycle


@blp.route("/runs/<int:run_id>/post", methods=["POST"])
@blp.response(200, RunLifecycleSchema)
@blp.alt_response(403, description="No permission to post")
@blp.alt_response(409, description="The run is not approved")
@require_permission(lifecycle.POST_PERMISSION)
def post_run(run_id: int) -> Any:
    """Post an approved run to the general ledger (approved → posted)."""
    return _lifecycle_step(run_id, lifecycle.post_run)


@blp.route("/runs/<int:run_id>/mark-paid", methods=["POST"])
@blp.response(200, RunLifecycleSchema)
@blp.alt_response(403, description="No permission to mark runs paid")
@blp.alt_response(409, description="The run is not posted")
@require_permission(lifecycle.PAY_PERMISSION)
def mark_run_paid(run_id: int) -> Any:
    """Record that the bank paid a posted run (posted → paid)."""
    return _lifecycle_step(run_id, lifecycle.mark_run_paid)


def _lifecycle_step(run_id: int, step: Any) -> Any:
    """Take the run one step (post, mark paid): 403 when refused, 409 in the wrong state."""
    run = _run(run_id)
    try:
        step(db.session, run, acting_user())
    except lifecycle.LifecycleRefused as exc:
        db.session.rollback()
        abort(403, message=str(exc))
    except RunStateError as exc:
        _conflict(str(exc))
    db.session.commit()
    return run


# --------------------------------------------------------------------------- review


@blp.route("/runs/<int:run_id>/variance", methods=["GET"])
@blp.arguments(VarianceQuerySchema, location="query")
@blp.response(200, VarianceSchema)
@require_permission("payroll.run.read")
def run_variance(query: dict[str, Any], run_id: int) -> Any:
    """Compare the run with the previous month's regular run; changes above the threshold
    (percent, default 10, and/or an amount) are flagged."""
    run = _run(run_id)
    thresholds = reports.configured_thresholds(query.get("threshold"), query.get("amount"))
    return reports.variance_report(
        db.session, run, thresholds, flagged_only=not query["all"], limit=query["limit"]
    )


@blp.route("/runs/<int:run_id>/changes", methods=["GET"])
@blp.response(200, ChangesSchema)
@require_permission("payroll.run.read")
def run_changes(run_id: int) -> Any:
    """List the run's joiners, leavers and excluded employees."""
    return reports.run_changes(db.session, _run(run_id))


# --------------------------------------------------------------------------- reports


def run_report_download(run: Any, name: str, file_format: str) -> Any:
    """The response of a run's report (shared with the pages); 404 for unknown names."""
    if name not in reports.RUN_REPORTS or file_format not in FORMATS:
        abort(404, message="No such report.")
    if name in reports.PER_EMPLOYEE_REPORTS and not has_permission("payroll.payslip.read"):
        abort(403, message="This report shows each employee's pay.")
    run_id = run.id
    return table_response(
        lambda session: reports.run_report(session, find_run(session, run_id), name),
        department_id=run.department_id,
        file_format=file_format,
        file_stem=f"payroll-{name}-{run.period:%Y-%m}-{run.id}",
        sheet_title=f"{name} {run.period:%Y-%m}",
    )


@blp.route("/runs/<int:run_id>/reports/<name>.<fmt>", methods=["GET"])
@blp.doc(responses={"200": {"description": "The report as CSV or XLSX"}})
@require_permission("payroll.report.read")
def run_report(run_id: int, name: str, fmt: str) -> Any:
    """Download a report of the run: register, components, org-units or pension (.csv, .xlsx)."""
    return run_report_download(_run(run_id), name, fmt)


@blp.route("/runs/<int:run_id>/register.xlsx", methods=["GET"])
@blp.doc(responses={"200": {"description": "The payroll register as XLSX"}})
@require_permission("payroll.payslip.read")
def register_xlsx(run_id: int) -> Any:
    """Download the run's payroll register as XLSX (the same rows as register.csv)."""
    return run_report_download(_run(run_id), "register", "xlsx")


def ytd_download(year: int, file_format: str) -> Any:
    """The response of the year-to-date report (shared with the pages)."""
    if file_format not in FORMATS:
        abort(404, message="No such report.")
    return table_response(
        lambda session: reports.ytd_table(session, year),
        department_id=g.department.id,
        file_format=file_format,
        file_stem=f"payroll-ytd-{year}-{g.department.code.lower()}",
        sheet_title=f"YTD {year}",
    )


@blp.route("/reports/ytd.<fmt>", methods=["GET"])
@blp.arguments(YtdQuerySchema, location="query")
@blp.doc(responses={"200": {"description": "Year to date per employee as CSV or XLSX"}})
@require_permission("payroll.payslip.read")
def ytd_report(query: dict[str, Any], fmt: str) -> Any:
    """Download year to date per employee and component (approved, posted and paid runs)."""
    _department_id()
    return ytd_download(query["year"], fmt)
