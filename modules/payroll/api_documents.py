"""Payroll API: PDF payslips (one, my own, a whole run as ZIP or one merged PDF).

Routes are added to the blueprints of `modules.payroll.api`.

* `GET /payroll/payslips/{id}.pdf`: any payslip of the department (audited read).
* `GET /me/payslips/{id}.pdf`: my own payslip of an approved, posted or paid run;
  anything else is 404.
* `POST /payroll/runs/{id}/payslips.zip` (or `.pdf`): start the background export
  (202 with the job, 409 while it runs or for a run that is not approved).
  `GET` on the same URL: the file when ready (200, attachment, audited), else 202 with
  the progress, starting the export if none is running or done.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, url_for
from flask_smorest import abort
from marshmallow import Schema, fields

from grp.api import problem_response
from grp.auth.context import acting_user, require_permission
from grp.db import db
from grp.i18n import current_language
from grp.models import Department
from grp.workflow.jobs import JobConflict
from grp.workflow.jobs.models import ACTIVE_STATES, FAILED, Job
from modules.payroll import payslip_pdf
from modules.payroll.api import _department_id, _run, blp, me_blp
from modules.payroll.models import PayrollRun
from modules.payroll.services import access, payslip_exports
from modules.payroll.services.runs import RunStateError

PDF_RESPONSE = {
    "200": {"description": "The payslip as a bilingual PDF", "content": {"application/pdf": {}}}
}


class ExportJobSchema(Schema):
    """Where a run's export stands (202 answers)."""

    job_id = fields.Integer(allow_none=True)
    state = fields.String(metadata={"description": "the job's state: queued, running, ..."})
    done = fields.Integer()
    total = fields.Integer(allow_none=True)
    percent = fields.Integer(allow_none=True)
    job_url = fields.String(allow_none=True, metadata={"description": "the job in /api/v1/jobs"})
    download_url = fields.String(metadata={"description": "GET it for the file when ready"})


def _department() -> Department:
    return db.session.get(Department, _department_id())


def _actor() -> Any:
    return acting_user()


# --------------------------------------------------------------------------- one payslip


@blp.route("/payslips/<int:payslip_id>.pdf", methods=["GET"])
@blp.doc(responses=PDF_RESPONSE)
@require_permission("payroll.payslip.read")
def payslip_pdf_document(payslip_id: int) -> Any:
    """Download a payslip of the department as a bilingual PDF (whatever the run's state)."""
    department = _department()
    payslip = access.find_payslip(db.session, payslip_id)
    if payslip is None:
        abort(404, message="No such payslip.")
    response = payslip_pdf.payslip_pdf_response(payslip, department, language=current_language())
    access.record_payslip_read(db.session, payslip, _actor(), what="pdf")
    db.session.commit()
    return response


@me_blp.route("/payslips/<int:payslip_id>.pdf", methods=["GET"])
@me_blp.doc(responses=PDF_RESPONSE)
@require_permission("payroll.self.read")
def my_payslip_pdf_document(payslip_id: int) -> Any:
    """Download one of my approved payslips as a bilingual PDF (anyone else's is 404)."""
    department = _department()
    payslip = access.find_own_payslip(db.session, payslip_id, _actor())
    if payslip is None:
        abort(404, message="No such payslip.")
    return payslip_pdf.payslip_pdf_response(payslip, department, language=current_language())


# --------------------------------------------------------------------------- run exports


def _export_body(run: PayrollRun, file_format: str, job: Job | None) -> dict[str, Any]:
    return ExportJobSchema().dump(
        {
            "job_id": job.id if job else None,
            "state": job.state if job else "not started",
            "done": job.done if job else 0,
            "total": job.total if job else run.employee_count,
            "percent": job.percent if job else 0,
            "job_url": url_for("jobs_api.get_job", job_id=job.id) if job else None,
            "download_url": url_for(f"payroll_api.run_payslips_{file_format}", run_id=run.id),
        }
    )


def _accepted(run: PayrollRun, file_format: str, job: Job | None) -> Any:
    response = jsonify(_export_body(run, file_format, job))
    response.status_code = 202
    if job is not None:
        response.headers["Location"] = url_for("jobs_api.get_job", job_id=job.id)
    return response


def _exportable_run(run_id: int) -> PayrollRun:
    run = _run(run_id)
    try:
        payslip_exports.require_exportable(run)
    except RunStateError as exc:
        abort(409, message=str(exc))
    return run


def _start_export(run_id: int, file_format: str) -> Any:
    run = _exportable_run(run_id)
    try:
        job = payslip_exports.start_payslip_export(
            db.session, run, file_format, actor=_actor(), language=current_language()
        )
    except JobConflict as exc:
        db.session.rollback()
        return problem_response(409, str(exc), {"job_id": [str(exc.existing_id)]})
    db.session.commit()
    return _accepted(run, file_format, job)


def _get_export(run_id: int, file_format: str) -> Any:
    run = _exportable_run(run_id)
    status = payslip_exports.export_status(db.session, run, file_format)
    if status.path is not None:
        access.record_run_export_read(
            db.session, run, _actor(), file_format=file_format, payslips=run.employee_count
        )
        db.session.commit()
        return payslip_pdf.private_file_response(
            status.path,
            payslip_exports.MEDIA_TYPES[file_format],
            payslip_exports.download_name(run, _department(), file_format),
        )
    job = status.job
    if job is not None and job.state in ACTIVE_STATES:
        return _accepted(run, file_format, job)
    if job is not None and job.state == FAILED:
        return problem_response(
            409,
            f"The last export failed ({job.failure_reason}); POST to start it again.",
            {"job_id": [str(job.id)]},
        )
    # Never started, cancelled, or finished but its file was removed: start it.
    return _start_export(run_id, file_format)


EXPORT_DOC = {
    "200": {"description": "The finished export (attachment)"},
    "202": {"description": "Being prepared: the job and its progress"},
    "409": {"description": "The run is not approved, or the last export failed"},
}
START_DOC = {
    "202": {"description": "The export job was started"},
    "409": {"description": "The run is not approved, or this export is running already"},
}


@blp.route("/runs/<int:run_id>/payslips.zip", methods=["GET"])
@blp.doc(responses=EXPORT_DOC)
@require_permission("payroll.run.export")
def run_payslips_zip(run_id: int) -> Any:
    """Download the run's payslips as a ZIP of one PDF per employee (202 while being prepared)."""
    return _get_export(run_id, "zip")


@blp.route("/runs/<int:run_id>/payslips.zip", methods=["POST"])
@blp.doc(responses=START_DOC)
@require_permission("payroll.run.export")
def start_run_payslips_zip(run_id: int) -> Any:
    """Start preparing the run's ZIP of payslips in the background (approved runs)."""
    return _start_export(run_id, "zip")


@blp.route("/runs/<int:run_id>/payslips.pdf", methods=["GET"])
@blp.doc(responses=EXPORT_DOC)
@require_permission("payroll.run.export")
def run_payslips_pdf(run_id: int) -> Any:
    """Download the run's payslips as one merged PDF (202 while being prepared)."""
    return _get_export(run_id, "pdf")


@blp.route("/runs/<int:run_id>/payslips.pdf", methods=["POST"])
@blp.doc(responses=START_DOC)
@require_permission("payroll.run.export")
def start_run_payslips_pdf(run_id: int) -> Any:
    """Start preparing the run's merged PDF of payslips in the background (approved runs)."""
    return _start_export(run_id, "pdf")
