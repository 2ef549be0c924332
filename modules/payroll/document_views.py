"""Officer pages for payslip documents: one payslip's PDF, and a whole run's ZIP or merged PDF.

* `payroll_documents.payslip_pdf` (`/payroll/payslips/<id>.pdf`): any payslip of the
  department, whatever its run's state; the read is audited.
* `payroll_documents.run_export` (`/payroll/runs/<id>/payslips.zip` or `.pdf`, `fmt`
  "zip" or "pdf"): GET downloads the finished file, or leads to the status page while
  there is none; POST (a form with CSRF) starts the background export and redirects to
  the status page. Approved, posted and paid runs only.
* `payroll_documents.run_export_status`: the export's progress bar, reloading itself
  while the job runs, then the download link.

The main payroll pages (modules/payroll/views.py) link here by these endpoint names.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from grp.auth.context import current_department, require_permission
from grp.db import db
from grp.i18n import current_language
from grp.models import Department
from grp.web.forms import PostForm
from grp.web.helpers import actor, run_action
from grp.workflow.jobs import JobConflict
from modules.payroll import payslip_pdf as documents
from modules.payroll.models import LOCKED_STATES, PayrollRun
from modules.payroll.services import access, payslip_exports
from modules.payroll.services.runs import RunStateError, find_run

bp = Blueprint("payroll_documents", __name__, url_prefix="/payroll", template_folder="templates")

#: Seconds between reloads of the status page while the export runs.
REFRESH_SECONDS = 3


def _department() -> Department:
    if g.get("department") is None:
        abort(403)  # signed in without a department to act in
    return current_department()


def _run_or_404(run_id: int) -> PayrollRun:
    _department()
    run = find_run(db.session, run_id)
    if run is None:
        abort(404)
    return run


def format_label(file_format: str) -> str:
    """Return what an export is called on pages."""
    return _("ZIP of payslips") if file_format == "zip" else _("Merged PDF of payslips")


@bp.get("/payslips/<int:payslip_id>.pdf")
@require_permission("payroll.payslip.read")
def payslip_pdf(payslip_id: int) -> Any:
    """Download one payslip of the department as a bilingual PDF (audited)."""
    department = _department()
    payslip = access.find_payslip(db.session, payslip_id)
    if payslip is None:
        abort(404)
    response = documents.payslip_pdf_response(payslip, department, language=current_language())
    access.record_payslip_read(db.session, payslip, actor(), what="pdf")
    db.session.commit()
    return response


@bp.route("/runs/<int:run_id>/payslips.<any(zip, pdf):fmt>", methods=["GET", "POST"])
@require_permission("payroll.run.export")
def run_export(run_id: int, fmt: str) -> Any:
    """GET: download the run's finished export, else see its status; POST: start it."""
    run = _run_or_404(run_id)
    if run.state not in LOCKED_STATES:
        flash(_("Only the payslips of an approved run can be exported."), "error")
        return redirect(url_for("payroll_documents.run_export_status", run_id=run.id, fmt=fmt), 303)
    status = payslip_exports.export_status(db.session, run, fmt)
    if request.method == "GET":
        if status.path is None:
            return redirect(
                url_for("payroll_documents.run_export_status", run_id=run.id, fmt=fmt), 303
            )
        access.record_run_export_read(
            db.session, run, actor(), file_format=fmt, payslips=run.employee_count
        )
        db.session.commit()
        return documents.private_file_response(
            status.path,
            payslip_exports.MEDIA_TYPES[fmt],
            payslip_exports.download_name(run, _department(), fmt),
        )
    if not PostForm().validate_on_submit():
        abort(400)
    return run_action(
        lambda: payslip_exports.start_payslip_export(
            db.session, run, fmt, actor=actor(), language=current_language()
        ),
        refused={
            JobConflict: (_("This export is being prepared already."), "info"),
            RunStateError: str,
        },
        success=_("The export is being prepared. This page shows its progress."),
        redirect_to=url_for("payroll_documents.run_export_status", run_id=run.id, fmt=fmt),
    )


@bp.get("/runs/<int:run_id>/payslips.<any(zip, pdf):fmt>/status")
@require_permission("payroll.run.export")
def run_export_status(run_id: int, fmt: str) -> Any:
    """Show the export's progress (reloading while it runs) and the download when ready."""
    run = _run_or_404(run_id)
    status = payslip_exports.export_status(db.session, run, fmt)
    return render_template(
        "payroll/export_status.html",
        run=run,
        fmt=fmt,
        label=format_label(fmt),
        exportable=run.state in LOCKED_STATES,
        status=status,
        form=PostForm(),
        refresh_seconds=REFRESH_SECONDS if status.running else None,
    )


#: The self-service menu entry (added after the payroll manifest's own entries).
MY_PAYSLIPS_MENU = {
    "label_en": "My payslips",
    "label_ar": "قسائم راتبي",
    "endpoint": "payroll_self.my_payslips",
    "permission": "payroll.self.read",
}


def setup_documents(app: Flask) -> None:
    """Register payslip documents: these pages, the self-service pages and their menu
    entry, the export job and its settings (called by the payroll module's setup)."""
    from grp.workflow.jobs import register_job_handler
    from modules.payroll.self_views import bp as self_bp

    payslip_exports.configure_exports(app)
    register_job_handler(app, payslip_exports.EXPORT_JOB_KIND, payslip_exports.export_payslips_job)
    app.register_blueprint(bp)
    app.register_blueprint(self_bp)
    app.extensions["grp"].menu.append(MY_PAYSLIPS_MENU)
