"""Payroll officer pages under /payroll/inputs: a month's one-off inputs, their import, loans.

Thin: parse the form, call `modules.payroll.services.inputs`, commit, redirect
(303); a service's ValidationError is shown on the form's fields, a locked
month as a message. An import is checked first (every bad row with its line
and reasons); the checked file is kept for its uploader until they confirm.
"""

from __future__ import annotations

import re
import secrets
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DecimalField, HiddenField, IntegerField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from grp.auth.context import has_permission, require_permission
from grp.db import db
from grp.errors import ValidationError
from grp.imports import pending_folder, pending_path
from grp.web.helpers import actor, page_number, pagination, run_action, show_service_errors
from modules.hr.services import EmployeeName, employee_names, employee_number_of
from modules.hr.services.values import local_today
from modules.payroll.models import PayrollInput, PayrollLoan
from modules.payroll.services import inputs as services

inputs_bp = Blueprint(
    "payroll_inputs", __name__, url_prefix="/payroll/inputs", template_folder="templates"
)
PER_PAGE = 100


# --------------------------------------------------------------------------- forms


class InputForm(FlaskForm):
    employee_no = StringField(
        _l("Employee number"),
        validators=[DataRequired(_l("Enter the employee number.")), Length(max=20)],
        render_kw={"dir": "ltr", "autocomplete": "off"},
    )
    component = SelectField(_l("Component"), validators=[DataRequired()])
    amount = DecimalField(
        _l("Amount (AED)"),
        places=2,
        validators=[InputRequired(_l("Enter the amount."))],
        render_kw={"dir": "ltr", "inputmode": "decimal"},
    )
    note = StringField(
        _l("Note"),
        description=_l("Shown on the payslip line, e.g. 12 hours on 3 and 4 November."),
        validators=[Optional(), Length(max=500)],
    )
    submit = SubmitField(_l("Add the input"))


class InputImportForm(FlaskForm):
    file = FileField(
        _l("CSV or XLSX file"),
        description=_l("Columns: employee_no, component, amount, note."),
        validators=[FileRequired(_l("Choose a file to import."))],
        render_kw={"accept": ".csv,.xlsx"},
    )
    submit = SubmitField(_l("Check the file"))


class InputImportConfirmForm(FlaskForm):
    token = HiddenField(validators=[DataRequired()])
    mode = HiddenField(validators=[DataRequired()])


class DeleteForm(FlaskForm):
    pass


class LoanForm(FlaskForm):
    employee_no = StringField(
        _l("Employee number"),
        validators=[DataRequired(_l("Enter the employee number.")), Length(max=20)],
        render_kw={"dir": "ltr", "autocomplete": "off"},
    )
    principal = DecimalField(
        _l("Principal (AED)"),
        places=2,
        validators=[InputRequired(_l("Enter the amount."))],
        render_kw={"dir": "ltr", "inputmode": "decimal"},
    )
    instalment = DecimalField(
        _l("Monthly instalment (AED)"),
        places=2,
        description=_l("Give the monthly instalment or the number of instalments."),
        validators=[Optional()],
        render_kw={"dir": "ltr", "inputmode": "decimal"},
    )
    instalments = IntegerField(
        _l("Number of instalments"),
        validators=[Optional(), NumberRange(min=1, max=services.MAX_INSTALMENTS)],
        render_kw={"dir": "ltr", "inputmode": "numeric"},
    )
    first_period = StringField(
        _l("First month"),
        description=_l("As YYYY-MM, e.g. 2026-11."),
        validators=[DataRequired(_l("A month such as 2026-11."))],
        render_kw={"dir": "ltr", "placeholder": "2026-11"},
    )
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])
    submit = SubmitField(_l("Grant the loan"))


# --------------------------------------------------------------------------- helpers


def _department_id() -> int:
    if g.department is None:
        abort(403)
    return g.department.id


def _period() -> date:
    """The month of the page (`?period=YYYY-MM`, default this month); 404 for a bad one."""
    text = request.args.get("period")
    if not text:
        return local_today().replace(day=1)
    try:
        return services.month_of(text)
    except ValidationError:
        abort(404)


def _component_choices() -> list[tuple[str, str]]:
    from grp.i18n import current_language

    arabic = current_language() == "ar"
    return [
        (code, f"{component.name_ar if arabic else component.name_en} ({code})")
        for code, component in services.input_components(db.session).items()
    ]


def _page_of_inputs(period: date) -> dict[str, Any]:
    query = (
        sa.select(PayrollInput)
        .where(PayrollInput.period == period)
        .order_by(employee_number_of(PayrollInput.employee_id), PayrollInput.id)
    )
    page = page_number()
    total = db.session.scalar(
        sa.select(sa.func.count(PayrollInput.id)).where(PayrollInput.period == period)
    )
    inputs = list(db.session.scalars(query.limit(PER_PAGE).offset((page - 1) * PER_PAGE)))
    rows = _with_employees(inputs)
    return pagination({"items": rows, "total": total or 0, "page": page, "per_page": PER_PAGE})


def _with_employees(records: list[Any]) -> list[tuple[Any, EmployeeName | None]]:
    """Pair each record of a page with its employee's number and names (from HR)."""
    names = {e.id: e for e in employee_names(db.session, [r.employee_id for r in records])}
    return [(record, names.get(record.employee_id)) for record in records]


def _render(period: date, **context: Any) -> str:
    choices = _component_choices()
    form = context.pop("form", None) or InputForm()
    form.component.choices = choices
    return render_template(
        "payroll/inputs.html",
        period=period,
        month=f"{period:%Y-%m}",
        locked=bool(services.locked_months(db.session, [period])),
        page=_page_of_inputs(period),
        form=form,
        import_form=context.pop("import_form", None) or InputImportForm(),
        delete_form=DeleteForm(),
        can_manage=has_permission("payroll.input.manage"),
        can_loans=has_permission("payroll.loan.read"),
        components=dict(choices),
        **context,
    )


# --------------------------------------------------------------------------- inputs


@inputs_bp.get("/", endpoint="inputs")
@require_permission("payroll.input.read")
def inputs_list() -> Any:
    """Show a month's inputs, with the add and import forms."""
    _department_id()
    return _render(_period())


@inputs_bp.post("/")
@require_permission("payroll.input.manage")
def add_input() -> Any:
    """Add one input to the month of the page."""
    _department_id()
    period = _period()
    form = InputForm()
    form.component.choices = _component_choices()
    if form.validate_on_submit():
        data = {
            "period": period,
            "employee_no": form.employee_no.data,
            "component": form.component.data,
            "amount": form.amount.data,
            "note": form.note.data,
        }
        try:
            services.add_input(db.session, data, actor=actor())
        except ValidationError as exc:
            db.session.rollback()
            show_service_errors(form, exc.errors)
        except services.InputsLocked as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect(url_for("payroll_inputs.inputs", period=f"{period:%Y-%m}"), code=303)
        else:
            db.session.commit()
            flash(_("The input is added."), "success")
            return redirect(url_for("payroll_inputs.inputs", period=f"{period:%Y-%m}"), code=303)
    return _render(period, form=form), 422


@inputs_bp.post("/<int:input_id>/delete")
@require_permission("payroll.input.manage")
def delete_input(input_id: int) -> Any:
    """Remove an input of a month that is not locked."""
    _department_id()
    if not DeleteForm().validate_on_submit():
        abort(400)
    item = services.find_input(db.session, input_id)
    if item is None:
        abort(404)
    month = f"{item.period:%Y-%m}"
    return run_action(
        lambda: services.delete_input(db.session, item),
        refused={services.InputsLocked: str},
        success=_("The input is removed."),
        redirect_to=url_for("payroll_inputs.inputs", period=month),
    )


# --------------------------------------------------------------------------- import


def _import_dir() -> Path:
    return pending_folder(current_app.config["PAYROLL_IMPORT_DIR"], _department_id())


def _import_file(token: str) -> Path:
    """The stored upload of `token`: only the user who uploaded it, in this department."""
    match = re.fullmatch(r"([0-9]{4}-[0-9]{2})-([0-9a-f]{32})\.(csv|xlsx)", token or "")
    if match is None:
        abort(404)
    path = pending_path(_import_dir(), actor().id, token)
    if not path.is_file():
        abort(404)
    return path


def _max_rows() -> int:
    return int(current_app.config.get("PAYROLL_IMPORT_MAX_ROWS", services.DEFAULT_MAX_ROWS))


@inputs_bp.post("/import")
@require_permission("payroll.input.manage")
def import_inputs() -> Any:
    """Check an import file for the month of the page (a dry run): every bad row and why."""
    _department_id()
    period = _period()
    form = InputImportForm()
    report = token = file_error = None
    if form.validate_on_submit():
        upload = form.file.data
        extension = (upload.filename or "").lower().rsplit(".", 1)[-1]
        if extension not in ("csv", "xlsx"):
            form.file.errors.append(_("Upload a .csv or .xlsx file."))
        else:
            token = f"{period:%Y-%m}-{secrets.token_hex(16)}.{extension}"
            path = pending_path(_import_dir(), actor().id, token)
            upload.save(path)
            try:
                with path.open("rb") as handle:
                    report = services.import_inputs(
                        db.session,
                        period,
                        upload.filename,
                        handle,
                        mode="dry_run",
                        actor=actor(),
                        max_rows=_max_rows(),
                    )
            except (services.ImportFileError, services.InputsLocked) as exc:
                file_error = str(exc)
                path.unlink(missing_ok=True)
                token = None
            db.session.rollback()  # a dry run stores nothing
    return _render(
        period,
        import_form=form,
        report=report,
        token=token,
        file_error=file_error,
        confirm_form=InputImportConfirmForm(),
    )


@inputs_bp.post("/import/confirm")
@require_permission("payroll.input.manage")
def confirm_import() -> Any:
    """Import a checked file: all rows (only when none has errors) or the valid rows."""
    _department_id()
    form = InputImportConfirmForm()
    if not form.validate_on_submit() or form.mode.data not in ("all", "valid_rows"):
        abort(400)
    path = _import_file(form.token.data)
    month = form.token.data[:7]
    target = url_for("payroll_inputs.inputs", period=month)
    try:
        with path.open("rb") as handle:
            report = services.import_inputs(
                db.session,
                month,
                path.name,
                handle,
                mode=form.mode.data,
                actor=actor(),
                max_rows=_max_rows(),
            )
    except (services.ImportFileError, services.InputsLocked) as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(target, code=303)
    if report.stored:
        db.session.commit()
        path.unlink(missing_ok=True)
        flash(_("%(count)s inputs are imported.", count=report.stored), "success")
    else:
        db.session.rollback()
        flash(_("Nothing was imported: the file has rows with errors."), "error")
    return redirect(target, code=303)


# --------------------------------------------------------------------------- loans


def _render_loans(form: LoanForm) -> str:
    page = page_number()
    total = db.session.scalar(sa.select(sa.func.count(PayrollLoan.id)))
    loans = list(
        db.session.scalars(
            sa.select(PayrollLoan)
            .order_by(PayrollLoan.first_period.desc(), PayrollLoan.id.desc())
            .limit(PER_PAGE)
            .offset((page - 1) * PER_PAGE)
        )
    )
    rows = _with_employees(loans)
    return render_template(
        "payroll/inputs_loans.html",
        form=form,
        page=pagination({"items": rows, "total": total or 0, "page": page, "per_page": PER_PAGE}),
        can_manage=has_permission("payroll.loan.manage"),
    )


@inputs_bp.get("/loans", endpoint="loans")
@require_permission("payroll.loan.read")
def loans_list() -> Any:
    """List the department's loans, with the form to grant one."""
    _department_id()
    return _render_loans(LoanForm())


@inputs_bp.post("/loans")
@require_permission("payroll.loan.manage")
def create_loan() -> Any:
    """Grant a loan repaid by monthly deductions."""
    _department_id()
    form = LoanForm()
    if form.validate_on_submit():
        data = {
            "employee_no": form.employee_no.data,
            "principal": form.principal.data,
            "instalment": form.instalment.data,
            "instalments": form.instalments.data,
            "first_period": form.first_period.data,
            "note": form.note.data,
        }
        try:
            services.create_loan(db.session, data, actor=actor())
        except ValidationError as exc:
            db.session.rollback()
            show_service_errors(form, exc.errors)
        except services.InputsLocked as exc:
            db.session.rollback()
            form.first_period.errors = [*form.first_period.errors, str(exc)]
        else:
            db.session.commit()
            flash(_("The loan is granted."), "success")
            return redirect(url_for("payroll_inputs.loans"), code=303)
    return _render_loans(form), 422
