"""Payroll API: one-off inputs, posting and marking runs paid.

Routes are added to the blueprints of `modules.payroll.api`.

Inputs and loans (`/api/v1/payroll/inputs`, `/inputs/import`, `/loans`): the
amounts a month pays besides the rules. A month whose regular run is approved
is locked: adding or deleting its inputs is 409.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_smorest import abort
from werkzeug.datastructures import CombinedMultiDict

from grp.api import QueryArgumentsParser, page_of, paginate
from grp.auth.context import acting_user, require_permission
from grp.db import db
from modules.hr.services import find_employee_by_number
from modules.payroll.api import _department_id, blp, me_blp  # noqa: F401
from modules.payroll.schemas import (
    PayrollInputCreateSchema,
    PayrollInputImportReportSchema,
    PayrollInputImportSchema,
    PayrollInputQuerySchema,
    PayrollInputSchema,
    PayrollLoanCreateSchema,
    PayrollLoanQuerySchema,
    PayrollLoanSchema,
)
from modules.payroll.services import inputs as input_services


class _MultipartParser(QueryArgumentsParser):
    """Read a multipart body's file and form fields as one schema (`location="files"`)."""

    def load_files(self, req: Any, schema: Any) -> Any:
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)


_multipart = _MultipartParser()


def _locked(exc: Exception) -> Any:
    db.session.rollback()
    abort(409, message=str(exc))


def _employee_filter(query: dict[str, Any]) -> int | None:
    """Return the employee id asked for by id or number (0: nobody matches)."""
    if query.get("employee_id") is not None:
        return int(query["employee_id"])
    if query.get("employee_no"):
        employee = find_employee_by_number(db.session, query["employee_no"])
        return employee.id if employee is not None else 0
    return None


# --------------------------------------------------------------------------- inputs


@blp.route("/inputs", methods=["GET"])
@blp.arguments(PayrollInputQuerySchema, location="query")
@blp.response(200, page_of(PayrollInputSchema))
@require_permission("payroll.input.read")
def list_inputs(query: dict[str, Any]) -> Any:
    """List one-off inputs, filtered by month (`period=2026-11`) and employee."""
    _department_id()
    period = input_services.month_of(query["period"]) if query.get("period") else None
    select = input_services.list_inputs_query(period, _employee_filter(query))
    return paginate(select, query["page"], query["per_page"])


@blp.route("/inputs", methods=["POST"])
@blp.arguments(PayrollInputCreateSchema)
@blp.response(201, PayrollInputSchema)
@blp.alt_response(409, description="The month's regular run is approved")
@require_permission("payroll.input.manage")
def create_input(data: dict[str, Any]) -> Any:
    """Add a one-off amount (overtime, other earning or deduction, loan recovery) to a month."""
    _department_id()
    try:
        item = input_services.add_input(db.session, data, actor=acting_user())
    except input_services.InputsLocked as exc:
        _locked(exc)
    db.session.commit()
    return item


@blp.route("/inputs/<int:input_id>", methods=["DELETE"])
@blp.response(204)
@blp.alt_response(409, description="The month's regular run is approved")
@require_permission("payroll.input.manage")
def delete_input(input_id: int) -> Any:
    """Remove a one-off input of a month that is not locked."""
    _department_id()
    item = input_services.find_input(db.session, input_id)
    if item is None:
        abort(404, message="No such input.")
    try:
        input_services.delete_input(db.session, item)
    except input_services.InputsLocked as exc:
        _locked(exc)
    db.session.commit()


@blp.route("/inputs/import", methods=["POST"])
@blp.doc(
    requestBody={
        "required": True,
        "content": {"multipart/form-data": {"schema": PayrollInputImportSchema}},
    }
)
@blp.response(200, PayrollInputImportReportSchema)
@blp.alt_response(409, description="The month's regular run is approved")
@blp.alt_response(422, description="The file cannot be read, or has bad rows")
@require_permission("payroll.input.manage")
@_multipart.use_args(PayrollInputImportSchema(), location="files")
def import_inputs(form: dict[str, Any]) -> Any:
    """Import a month's inputs from CSV or XLSX (`employee_no, component, amount, note`).

    A dry run (the default) reports every bad row with its line number; with
    `dry_run=false` the rows are stored only if none has errors, unless
    `valid_only=true` stores the valid ones.
    """
    _department_id()
    mode = "dry_run" if form["dry_run"] else ("valid_rows" if form["valid_only"] else "all")
    upload = form["file"]
    try:
        report = input_services.import_inputs(
            db.session,
            form["period"],
            upload.filename or "",
            upload.stream,
            mode=mode,
            actor=acting_user(),
            max_rows=current_app.config.get(
                "PAYROLL_IMPORT_MAX_ROWS", input_services.DEFAULT_MAX_ROWS
            ),
        )
    except input_services.InputsLocked as exc:
        _locked(exc)
    except input_services.ImportFileError as exc:
        db.session.rollback()
        abort(422, message=str(exc), errors={"file": [str(exc)]})
    if mode == "all" and report.has_errors:
        db.session.rollback()
        abort(
            422,
            message=f"{len(report.problems)} row(s) have errors; nothing was stored.",
            errors={"rows": PayrollInputImportReportSchema().dump(report)["problems"]},
        )
    if mode == "dry_run":
        db.session.rollback()
    else:
        db.session.commit()
    return report


# --------------------------------------------------------------------------- loans


@blp.route("/loans", methods=["GET"])
@blp.arguments(PayrollLoanQuerySchema, location="query")
@blp.response(200, page_of(PayrollLoanSchema))
@require_permission("payroll.loan.read")
def list_loans(query: dict[str, Any]) -> Any:
    """List loans (an employee's with `employee_id`), latest first."""
    _department_id()
    select = input_services.list_loans_query(query.get("employee_id"))
    return paginate(select, query["page"], query["per_page"])


@blp.route("/loans", methods=["POST"])
@blp.arguments(PayrollLoanCreateSchema)
@blp.response(201, PayrollLoanSchema)
@blp.alt_response(409, description="The first month's regular run is approved")
@require_permission("payroll.loan.manage")
def create_loan(data: dict[str, Any]) -> Any:
    """Grant a loan repaid by monthly instalments from `first_period` (give `instalment` or
    `instalments`)."""
    _department_id()
    try:
        loan = input_services.create_loan(db.session, data, actor=acting_user())
    except input_services.InputsLocked as exc:
        _locked(exc)
    db.session.commit()
    return loan
