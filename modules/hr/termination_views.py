"""The termination and gratuity screen: /hr/employees/<id>/termination.

Registered on the HR pages blueprint (modules/hr/views.py). The officer fills
the reason and dates, presses "Calculate" to see the gratuity working and the
leave settlement, then "Confirm the termination". A recorded termination is
shown with its working, and can be undone while payroll has not settled it.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from grp.auth.context import has_permission, require_permission
from grp.db import db
from grp.errors import ValidationError
from grp.web.helpers import actor, error_messages, run_action, show_service_errors
from modules.hr.forms import ButtonForm, TerminationForm
from modules.hr.services import termination
from modules.hr.views import _employee, bp

GRATUITY_NOTES = {
    "uae_national": lambda: _(
        "No gratuity: UAE nationals are covered by the GPSSA pension instead."
    ),
    "under_one_year": lambda: _("No gratuity: less than one year of continuous service."),
}


@bp.app_template_global("hr_gratuity_note")
def gratuity_note(code: str | None) -> str:
    """Return why no gratuity is paid, in the page's language (empty when one is)."""
    found = GRATUITY_NOTES.get(code or "")
    return found() if found else ""


def _form_input(form: TerminationForm) -> dict[str, Any]:
    return {
        "reason": form.reason.data,
        "reason_text": form.reason_text.data or "",
        "notice_date": form.notice_date.data,
        "last_working_day": form.last_working_day.data,
    }


@bp.route("/employees/<int:employee_id>/termination", methods=["GET", "POST"])
@require_permission("hr.employee.read")
def termination_screen(employee_id: int) -> Any:
    """Show the employee's termination, or the form to calculate and confirm one."""
    employee = _employee(employee_id)
    record = termination.find_termination(db.session, employee)
    can_terminate = has_permission("hr.employee.terminate")
    form = TerminationForm()
    preview = None
    status = 200
    if record is None and form.is_submitted():
        if not can_terminate:
            abort(403)
        if form.validate():
            try:
                if form.submit.data:
                    created = termination.terminate_employee(
                        db.session, employee, **_form_input(form), actor=actor()
                    )
                else:
                    preview = termination.preview_termination(
                        db.session, employee, **_form_input(form)
                    )
                    db.session.rollback()
            except ValidationError as exc:
                db.session.rollback()
                show_service_errors(form, exc.errors)
                status = 422
            else:
                if form.submit.data:
                    db.session.commit()
                    flash(
                        _(
                            "The termination of %(number)s is recorded.",
                            number=employee.employee_no,
                        ),
                        "success",
                    )
                    return redirect(
                        url_for("hr.termination_screen", employee_id=created.employee_id),
                        code=303,
                    )
        else:
            status = 422
    return (
        render_template(
            "hr/termination.html",
            employee=employee,
            record=record,
            preview=preview,
            form=form,
            can_terminate=can_terminate,
            undo_form=ButtonForm(),
        ),
        status,
    )


@bp.post("/employees/<int:employee_id>/termination/undo")
@require_permission("hr.employee.terminate")
def undo_termination(employee_id: int) -> Any:
    """Undo the termination (refused once payroll settled it)."""
    employee = _employee(employee_id)
    record = termination.find_termination(db.session, employee)
    if record is None:
        abort(404)
    if not ButtonForm().validate_on_submit():
        abort(400)
    return run_action(
        lambda: termination.undo_termination(db.session, record),
        refused={ValidationError: error_messages},
        success=_("The termination is undone."),
        redirect_to=url_for("hr.termination_screen", employee_id=employee_id),
    )
