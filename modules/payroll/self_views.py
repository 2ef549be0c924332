"""Self-service payslip pages: my approved payslips and their PDFs.

`payroll_self.my_payslips` (`/me/payslips`) lists the signed-in employee's payslips of
approved (posted, paid) runs, latest first; `payroll_self.my_payslip_pdf`
(`/me/payslips/<id>.pdf`) downloads one. Anything else (a colleague's payslip, a draft
or computed run's, another department's) is 404. Employees reading their own payslips
are not audited; officers' reads are (modules/payroll/services/access.py).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, render_template

from grp.auth.context import current_department, require_permission
from grp.db import db
from grp.i18n import current_language
from grp.pdf import format_amount
from grp.web.helpers import actor
from modules.hr.services import employee_of_user
from modules.payroll import payslip_pdf
from modules.payroll.services import access

bp = Blueprint("payroll_self", __name__, url_prefix="/me", template_folder="templates")


def _department() -> Any:
    if g.get("department") is None:
        abort(403)  # signed in without a department to act in
    return current_department()


@bp.get("/payslips")
@require_permission("payroll.self.read")
def my_payslips() -> Any:
    """List my payslips of approved runs, latest month first, each with a PDF link."""
    _department()
    user = actor()
    return render_template(
        "payroll/my_payslips.html",
        payslips=access.own_payslips(db.session, user),
        no_record=employee_of_user(db.session, user.id) is None,
        format_amount=format_amount,
    )


@bp.get("/payslips/<int:payslip_id>.pdf")
@require_permission("payroll.self.read")
def my_payslip_pdf(payslip_id: int) -> Any:
    """Download one of my approved payslips as a bilingual PDF (anyone else's: 404)."""
    department = _department()
    payslip = access.find_own_payslip(db.session, payslip_id, actor())
    if payslip is None:
        abort(404)
    return payslip_pdf.payslip_pdf_response(payslip, department, language=current_language())
