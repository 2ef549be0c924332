"""HR API under /api/v1/hr (employees, contracts, documents, organisation) and /api/v1/me.

Thin: parse, check the permission, find the record in scope (404 otherwise),
call a service, commit. Who may read an employee record: officers with
`hr.employee.read` any employee of the active department; everyone else only
the record linked to their own user (`hr.self.read`), so a colleague's record
is answered 404, as is another department's.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import current_app, g
from flask_login import current_user
from flask_smorest import Api, abort
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.datastructures import CombinedMultiDict

from grp.api import (
    PAGE_LIMIT,
    PAGE_OFFSET,
    TOTAL_OVER,
    Blueprint,
    PaginationQuerySchema,
    QueryArgumentsParser,
    page_of,
    paginate,
)
from grp.auth.context import has_permission, require_permission
from grp.db import db
from modules.hr import imports
from modules.hr.downloads import XLSX_TYPE, export_response, send_document
from modules.hr.models import AllowanceType, Employee, Grade, OrgUnit, Position
from modules.hr.schemas import (
    AllowanceTypeSchema,
    AllowanceTypeUpdateSchema,
    ContractInputSchema,
    ContractSchema,
    DocumentSchema,
    DocumentUploadSchema,
    EmployeeCreateSchema,
    EmployeeListItemSchema,
    EmployeeListQuerySchema,
    EmployeeSchema,
    EmployeeSummarySchema,
    EmployeeUpdateSchema,
    ExpiringDocumentSchema,
    ExpiringQuerySchema,
    ExportQuerySchema,
    GradeSchema,
    GradeUpdateSchema,
    ImportReportSchema,
    ImportUploadSchema,
    OrgUnitSchema,
    OrgUnitUpdateSchema,
    PositionSchema,
    PositionUpdateSchema,
)
from modules.hr.services import contracts, documents, employees, organisation


class _MultipartParser(QueryArgumentsParser):
    """Read a multipart body's files and form fields as one schema (`location="files"`).

    flask-smorest documents one request body per operation, so an upload with
    fields (a document and its expiry date) is described by a single schema.
    """

    def load_files(self, req: Any, schema: Any) -> Any:
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)


class _Blueprint(Blueprint):
    ARGUMENTS_PARSER = _MultipartParser()


blp = _Blueprint(
    "hr_api",
    __name__,
    url_prefix="/api/v1/hr",
    description="HR: employees, contracts, documents, organisation and grades",
)
me_blp = Blueprint(
    "hr_me_api", __name__, url_prefix="/api/v1/me", description="My own employee record"
)


# --------------------------------------------------------------------------- helpers


def _department_id() -> int:
    if g.department is None:
        abort(403, message="Choose a department first (X-GRP-Department header).")
    return g.department.id


def _readable_employee(employee_id: int, also: str | None = None) -> Employee:
    """Return the employee if the caller may read the record (and `also`), else 404."""
    may_read_all = has_permission("hr.employee.read") and (also is None or has_permission(also))
    employee = employees.find_employee(
        db.session, employee_id, reader_id=current_user.id, may_read_all=may_read_all
    )
    if employee is None:
        abort(404, message="No such employee.")
    return employee


def _employee(employee_id: int) -> Employee:
    """Return an employee of the active department for an officer's change, else 404."""
    employee = db.session.scalar(sa.select(Employee).where(Employee.id == employee_id))
    if employee is None:
        abort(404, message="No such employee.")
    return employee


def _filters(query: dict[str, Any]) -> employees.EmployeeFilters:
    return employees.EmployeeFilters(
        q=query["q"],
        org_unit_id=query["org_unit_id"],
        grade=query["grade"],
        status=query["status"],
        nationality_category=query["nationality_category"],
        sort=query["sort"],
    )


def _commit_or_409() -> None:
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        abort(409, message="The employee was changed by someone else meanwhile; read it again.")


# --------------------------------------------------------------------------- employees


@blp.route("/employees", methods=["GET"])
@blp.arguments(EmployeeListQuerySchema, location="query")
@blp.response(200, page_of(EmployeeSummarySchema))
@require_permission("hr.employee.read")
def list_employees(query: dict[str, Any]) -> Any:
    """List the department's employees: search, filter, sort, a page at a time.

    Items are summaries (`view=summary`, the default, this schema); with `view=full`
    each item is the whole record, as `GET /employees/{id}` answers it.
    """
    filters = _filters(query)
    summary = query["view"] == "summary"
    # The page is answered here, its items dumped as they are read (`paginate`): the
    # operation's declared schema is the summary's; `view=full` items are whole records.
    items = _SUMMARY_ITEM if summary else _FULL_ITEM
    if filters.q and filters.q.strip():
        select, narrow_page, values = employees.employee_search_rows(
            db.session,
            filters,
            limit=PAGE_LIMIT,
            offset=PAGE_OFFSET,
            total=TOTAL_OVER,
            summary=summary,
        )
        page = paginate(
            select,
            query["page"],
            query["per_page"],
            narrow=True,
            rows=True,
            params=values,
            narrow_page=narrow_page,
            dump_items=items,
        )
    else:
        select, values = employees.employee_list_rows(db.session, filters, summary=summary)
        page = paginate(
            select, query["page"], query["per_page"], rows=True, params=values, dump_items=items
        )
    return current_app.json.response(page)


_SUMMARY_ITEM = EmployeeSummarySchema()
_FULL_ITEM = EmployeeListItemSchema()


@blp.route("/employees", methods=["POST"])
@blp.arguments(EmployeeCreateSchema)
@blp.response(201, EmployeeSchema)
@require_permission("hr.employee.create")
def create_employee(data: dict[str, Any]) -> Any:
    """Create an employee, optionally with the first contract version (`contract`)."""
    contract = data.pop("contract", None)
    if contract is not None and not has_permission("hr.contract.manage"):
        abort(403, message="Creating a contract needs hr.contract.manage.")
    employee = employees.create_employee(
        db.session, data, department_id=_department_id(), contract=contract
    )
    db.session.commit()
    return employee


@blp.route("/employees/export", methods=["GET"])
@blp.arguments(ExportQuerySchema, location="query")
@blp.doc(
    responses={
        "200": {
            "description": "The filtered list as CSV or XLSX (same columns as the import)",
            "content": {"text/csv": {}, XLSX_TYPE: {}},
        }
    }
)
@require_permission("hr.employee.export")
def export_employees(query: dict[str, Any]) -> Any:
    """Export the filtered employee list (CSV streamed, or XLSX) with the contract in force."""
    return export_response(_filters(query), query["format"])


@blp.route("/employees/import", methods=["POST"])
@blp.arguments(ImportUploadSchema, location="files")
@blp.response(200, ImportReportSchema)
@blp.alt_response(422, description="The file cannot be read, or has bad rows (mode `all`)")
@require_permission("hr.employee.import")
def import_employees(form: dict[str, Any]) -> Any:
    """Import employees and their first contracts from CSV or XLSX (dry run by default)."""
    upload = form["file"]
    try:
        report = imports.import_employees(
            db.session,
            upload.filename or "",
            upload.stream,
            mode=form["mode"],
            max_rows=current_app.config["HR_IMPORT_MAX_ROWS"],
        )
    except imports.ImportFileError as exc:
        abort(422, message=str(exc), errors={"file": [str(exc)]})
    if form["mode"] == "all" and report.has_errors:
        db.session.rollback()
        abort(
            422,
            message=f"{len(report.problems)} row(s) have errors; nothing was stored.",
            errors={"rows": ImportReportSchema().dump(report)["problems"]},
        )
    db.session.commit()
    return report


@blp.route("/employees/<int:employee_id>", methods=["GET"])
@blp.response(200, EmployeeListItemSchema)
@require_permission("hr.self.read")
def get_employee(employee_id: int) -> Any:
    """Read an employee (officers: any of the department; others: only their own)."""
    # Answered from a row, not an Employee object: the same fields, a busy request.
    row = employees.find_employee_row(
        db.session,
        employee_id,
        reader_id=current_user.id,
        may_read_all=has_permission("hr.employee.read"),
    )
    if row is None:
        abort(404, message="No such employee.")
    return row


@blp.route("/employees/<int:employee_id>", methods=["PATCH"])
@blp.arguments(EmployeeUpdateSchema)
@blp.response(200, EmployeeSchema)
@blp.alt_response(409, description="The employee changed since `version` was read")
@require_permission("hr.employee.update")
def update_employee(data: dict[str, Any], employee_id: int) -> Any:
    """Change an employee's fields; send the `version` you read (409 when stale)."""
    employee = _employee(employee_id)
    version = data.pop("version")
    try:
        employees.update_employee(
            db.session,
            employee,
            data,
            expected_version=version,
            department_id=_department_id(),
        )
    except (employees.StaleEmployeeError, StaleDataError):
        db.session.rollback()
        abort(409, message="The employee was changed by someone else meanwhile; read it again.")
    _commit_or_409()
    return employee


# --------------------------------------------------------------------------- contracts


@blp.route("/employees/<int:employee_id>/contracts", methods=["GET"])
@blp.response(200, ContractSchema(many=True))
@require_permission("hr.self.read")
def list_contracts(employee_id: int) -> Any:
    """List an employee's contract versions, newest first."""
    employee = _readable_employee(employee_id, also="hr.contract.read")
    return contracts.contract_history(db.session, employee)


@blp.route("/employees/<int:employee_id>/contracts", methods=["POST"])
@blp.arguments(ContractInputSchema)
@blp.response(201, ContractSchema)
@require_permission("hr.contract.manage")
def create_contract(data: dict[str, Any], employee_id: int) -> Any:
    """Add a contract version from `start_date`; the previous version ends the day before."""
    employee = _employee(employee_id)
    contract = contracts.create_contract_version(db.session, employee, data)
    _commit_or_409()
    return contract


# --------------------------------------------------------------------------- documents


@blp.route("/employees/<int:employee_id>/documents", methods=["GET"])
@blp.response(200, DocumentSchema(many=True))
@require_permission("hr.self.read")
def list_documents(employee_id: int) -> Any:
    """List an employee's documents, soonest expiry first."""
    employee = _readable_employee(employee_id, also="hr.document.read")
    return documents.employee_documents(db.session, employee)


@blp.route("/employees/<int:employee_id>/documents", methods=["POST"])
@blp.arguments(DocumentUploadSchema, location="files")
@blp.response(201, DocumentSchema)
@require_permission("hr.document.manage")
def upload_document(form: dict[str, Any], employee_id: int) -> Any:
    """Upload a PDF, JPEG or PNG document (multipart: `file`, `doc_type`, dates)."""
    employee = _employee(employee_id)
    upload = form.pop("file")
    document = documents.store_document(
        db.session,
        employee,
        stream=upload.stream,
        file_name=upload.filename,
        data=form,
        root=current_app.config["HR_DOCUMENT_DIR"],
        max_bytes=current_app.config["HR_DOCUMENT_MAX_BYTES"],
        uploaded_by_id=current_user.id,
    )
    db.session.commit()
    return document


@blp.route("/employees/<int:employee_id>/documents/<int:document_id>/download", methods=["GET"])
@blp.doc(responses={"200": {"description": "The file", "content": {"application/pdf": {}}}})
@require_permission("hr.self.read")
def download_document(employee_id: int, document_id: int) -> Any:
    """Download a document (the same access as the employee record)."""
    employee = _readable_employee(employee_id, also="hr.document.read")
    document = documents.find_document(db.session, employee, document_id)
    if document is None:
        abort(404, message="No such document.")
    return send_document(document)


@blp.route("/documents/expiring", methods=["GET"])
@blp.arguments(ExpiringQuerySchema, location="query")
@blp.response(200, page_of(ExpiringDocumentSchema))
@require_permission("hr.document.read")
def expiring_documents(query: dict[str, Any]) -> Any:
    """List documents expiring within `days` days (expired ones too), soonest first."""
    select = documents.expiring_documents_query(query["days"]).options(
        selectinload(documents.EmployeeDocument.employee)
    )
    return paginate(select, query["page"], query["per_page"])


# --------------------------------------------------------------------------- organisation


@blp.route("/org-units", methods=["GET"])
@blp.arguments(PaginationQuerySchema, location="query")
@blp.response(200, page_of(OrgUnitSchema))
@require_permission("hr.organisation.read")
def list_org_units(query: dict[str, Any]) -> Any:
    """List the department's org units by code."""
    return paginate(sa.select(OrgUnit).order_by(OrgUnit.code), query["page"], query["per_page"])


@blp.route("/org-units", methods=["POST"])
@blp.arguments(OrgUnitSchema)
@blp.response(201, OrgUnitSchema)
@require_permission("hr.organisation.manage")
def create_org_unit(data: dict[str, Any]) -> Any:
    """Create an org unit (optionally under `parent_id`)."""
    unit = organisation.create_org_unit(db.session, data)
    db.session.commit()
    return unit


def _org_unit(unit_id: int) -> OrgUnit:
    unit = db.session.scalar(sa.select(OrgUnit).where(OrgUnit.id == unit_id))
    if unit is None:
        abort(404, message="No such org unit.")
    return unit


@blp.route("/org-units/<int:unit_id>", methods=["GET"])
@blp.response(200, OrgUnitSchema)
@require_permission("hr.organisation.read")
def get_org_unit(unit_id: int) -> Any:
    """Read an org unit."""
    return _org_unit(unit_id)


@blp.route("/org-units/<int:unit_id>", methods=["PATCH"])
@blp.arguments(OrgUnitUpdateSchema(partial=True))
@blp.response(200, OrgUnitSchema)
@require_permission("hr.organisation.manage")
def update_org_unit(data: dict[str, Any], unit_id: int) -> Any:
    """Change an org unit's code, names, parent or active flag."""
    unit = organisation.update_org_unit(db.session, _org_unit(unit_id), data)
    db.session.commit()
    return unit


@blp.route("/positions", methods=["GET"])
@blp.arguments(PaginationQuerySchema, location="query")
@blp.response(200, page_of(PositionSchema))
@require_permission("hr.organisation.read")
def list_positions(query: dict[str, Any]) -> Any:
    """List the department's positions by code."""
    return paginate(sa.select(Position).order_by(Position.code), query["page"], query["per_page"])


@blp.route("/positions", methods=["POST"])
@blp.arguments(PositionSchema)
@blp.response(201, PositionSchema)
@require_permission("hr.organisation.manage")
def create_position(data: dict[str, Any]) -> Any:
    """Create a position (optionally in an org unit, at a grade)."""
    position = organisation.create_position(db.session, data)
    db.session.commit()
    return position


def _position(position_id: int) -> Position:
    position = db.session.scalar(sa.select(Position).where(Position.id == position_id))
    if position is None:
        abort(404, message="No such position.")
    return position


@blp.route("/positions/<int:position_id>", methods=["GET"])
@blp.response(200, PositionSchema)
@require_permission("hr.organisation.read")
def get_position(position_id: int) -> Any:
    """Read a position."""
    return _position(position_id)


@blp.route("/positions/<int:position_id>", methods=["PATCH"])
@blp.arguments(PositionUpdateSchema(partial=True))
@blp.response(200, PositionSchema)
@require_permission("hr.organisation.manage")
def update_position(data: dict[str, Any], position_id: int) -> Any:
    """Change a position's code, titles, org unit, grade or active flag."""
    position = organisation.update_position(db.session, _position(position_id), data)
    db.session.commit()
    return position


@blp.route("/grades", methods=["GET"])
@blp.arguments(PaginationQuerySchema, location="query")
@blp.response(200, page_of(GradeSchema))
@require_permission("hr.organisation.read")
def list_grades(query: dict[str, Any]) -> Any:
    """List the department's grades with their pay bands, grade 1 first."""
    select = sa.select(Grade).options(selectinload(Grade.bands)).order_by(Grade.number)
    return paginate(select, query["page"], query["per_page"])


@blp.route("/grades/defaults", methods=["POST"])
@blp.response(200, GradeSchema(many=True))
@require_permission("hr.organisation.manage")
def load_default_grades() -> Any:
    """Create the default grades, bands and allowance types the department lacks."""
    organisation.ensure_hr_defaults(db.session)
    db.session.commit()
    return list(db.session.scalars(sa.select(Grade).order_by(Grade.number)))


@blp.route("/grades/<int:number>", methods=["PATCH"])
@blp.arguments(GradeUpdateSchema)
@blp.response(200, GradeSchema)
@require_permission("hr.organisation.manage")
def update_grade(data: dict[str, Any], number: int) -> Any:
    """Rename a grade or replace its pay bands (1 to 3)."""
    grade = db.session.scalar(sa.select(Grade).where(Grade.number == number))
    if grade is None:
        abort(404, message="No such grade.")
    names = {k: data[k] for k in ("name_en", "name_ar") if k in data}
    organisation.update_grade(db.session, grade, names=names, bands=data.get("bands"))
    db.session.commit()
    return grade


@blp.route("/allowance-types", methods=["GET"])
@blp.response(200, AllowanceTypeSchema(many=True))
@require_permission("hr.organisation.read")
def list_allowance_types() -> Any:
    """List the fixed allowances with their pensionable flags."""
    return list(db.session.scalars(sa.select(AllowanceType).order_by(AllowanceType.id)))


@blp.route("/allowance-types/<code>", methods=["PATCH"])
@blp.arguments(AllowanceTypeUpdateSchema(partial=True))
@blp.response(200, AllowanceTypeSchema)
@require_permission("hr.organisation.manage")
def update_allowance_type(data: dict[str, Any], code: str) -> Any:
    """Rename an allowance or change whether it is pensionable."""
    allowance = db.session.scalar(sa.select(AllowanceType).where(AllowanceType.code == code))
    if allowance is None:
        abort(404, message="No such allowance type.")
    organisation.update_allowance_type(db.session, allowance, data)
    db.session.commit()
    return allowance


# --------------------------------------------------------------------------- me


@me_blp.route("", methods=["GET"])
@me_blp.response(200, EmployeeSchema)
@require_permission("hr.self.read")
def my_employee_record() -> Any:
    """Read my own employee record in the active department (404 when none is linked)."""
    employee = employees.employee_of_user(db.session, current_user.id)
    if employee is None:
        abort(404, message="No employee record is linked to you in this department.")
    return employee


def register_api(api: Api) -> None:
    """Register the HR API blueprints on the app's flask-smorest Api."""
    api.register_blueprint(blp)
    api.register_blueprint(me_blp)
