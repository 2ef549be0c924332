"""Self-service API: change requests of my details, my supporting documents; HR's decisions.

* `GET/POST /api/v1/me/change-requests`, `POST /api/v1/me/change-requests/<id>/withdraw`
* `POST /api/v1/me/documents`: upload my medical report (to attach to a sick leave request)
* `GET /api/v1/hr/change-requests` (HR), `GET /api/v1/hr/change-requests/<id>` (HR or the
  employee; anyone else 404), `POST .../approve` and `.../reject` (the approval
  engine decides whether the caller has the task: 403 otherwise).
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_login import current_user
from flask_smorest import abort
from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from grp.api import PaginationQuerySchema, page_of, paginate
from grp.auth.context import has_permission, require_permission
from grp.db import db
from grp.models import User
from grp.workflow.approvals import ApprovalError, decide
from grp.workflow.approvals.models import ApprovalRequest
from modules.hr.api import _Blueprint, blp
from modules.hr.models import CHANGE_REQUEST_STATES, ChangeRequest, Employee
from modules.hr.schemas import DocumentSchema
from modules.hr.services import change_requests, documents
from modules.hr.services.employees import employee_of_user

me_profile_blp = _Blueprint(
    "hr_me_profile_api",
    __name__,
    url_prefix="/api/v1/me",
    description="My change requests and my supporting documents",
)


class ChangeRequestSchema(Schema):
    id = fields.Integer(dump_only=True)
    employee_id = fields.Integer(dump_only=True)
    employee_no = fields.Function(lambda r: r.employee.employee_no)
    employee_name = fields.Function(lambda r: r.employee.name_en)
    changes = fields.Dict(metadata={"description": "field -> requested value"})
    old_values = fields.Dict(metadata={"description": "field -> value when requested"})
    note = fields.String()
    state = fields.String(metadata={"enum": list(CHANGE_REQUEST_STATES)})
    decision_comment = fields.String()
    decided_by_id = fields.Integer(allow_none=True)
    approval_request_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)


class ChangeRequestCreateSchema(Schema):
    """Any of the changeable fields; types only, the service checks the values."""

    work_email = fields.String(allow_none=True)
    mobile = fields.String(allow_none=True)
    iban = fields.String(allow_none=True, metadata={"example": "AE070331234567890123456"})
    bank_routing_code = fields.String(allow_none=True)
    note = fields.String(load_default="", validate=validate.Length(max=2000))


class ChangeRequestQuerySchema(PaginationQuerySchema):
    state = fields.String(load_default=None, validate=validate.OneOf(CHANGE_REQUEST_STATES))
    employee_id = fields.Integer(load_default=None)


class ChangeRequestDecisionSchema(Schema):
    comment = fields.String(load_default="", validate=validate.Length(max=2000))


class MyDocumentUploadSchema(Schema):
    """multipart/form-data: the file of a medical report."""

    file = Upload(required=True)
    doc_type = fields.String(
        load_default="medical_report", validate=validate.Equal("medical_report")
    )
    number = fields.String(load_default=None)
    issue_date = fields.String(load_default=None, metadata={"format": "date"})


def _me() -> User:
    return db.session.get(User, current_user.id)


def _my_employee() -> Employee:
    employee = employee_of_user(db.session, current_user.id)
    if employee is None:
        abort(404, message="No employee record is linked to you in this department.")
    return employee


def _visible(request_id: int) -> ChangeRequest:
    """Return the change request if the caller is HR or its employee, else 404."""
    found = db.session.get(ChangeRequest, request_id)
    if found is None or not (
        has_permission("hr.change_request.read") or found.employee.user_id == current_user.id
    ):
        abort(404, message="No such change request.")
    return found


# --------------------------------------------------------------------------- me


@me_profile_blp.route("/change-requests", methods=["GET"])
@me_profile_blp.arguments(PaginationQuerySchema, location="query")
@me_profile_blp.response(200, page_of(ChangeRequestSchema))
@require_permission("hr.change_request.self")
def my_change_requests(query: dict[str, Any]) -> Any:
    """List my change requests, newest first, with their state."""
    select = change_requests.change_requests_query(employee_id=_my_employee().id)
    return paginate(select, query["page"], query["per_page"])


@me_profile_blp.route("/change-requests", methods=["POST"])
@me_profile_blp.arguments(ChangeRequestCreateSchema)
@me_profile_blp.response(201, ChangeRequestSchema)
@require_permission("hr.change_request.self")
def create_change_request(data: dict[str, Any]) -> Any:
    """Ask HR to change my contact or bank details (422 naming a bad field)."""
    created = change_requests.submit_change_request(db.session, _my_employee(), data, actor=_me())
    db.session.commit()
    return created


@me_profile_blp.route("/change-requests/<int:request_id>/withdraw", methods=["POST"])
@me_profile_blp.response(200, ChangeRequestSchema)
@require_permission("hr.change_request.self")
def withdraw_change_request(request_id: int) -> Any:
    """Withdraw my pending change request."""
    found = db.session.get(ChangeRequest, request_id)
    if found is None or found.employee.user_id != current_user.id:
        abort(404, message="No such change request.")
    change_requests.withdraw_change_request(db.session, found, actor=_me())
    db.session.commit()
    return found


@me_profile_blp.route("/documents", methods=["POST"])
@me_profile_blp.arguments(MyDocumentUploadSchema, location="files")
@me_profile_blp.response(201, DocumentSchema)
@require_permission("hr.leave.self")
def upload_my_document(form: dict[str, Any]) -> Any:
    """Upload my medical report (PDF, JPEG or PNG); attach its id to a sick leave request."""
    employee = _my_employee()
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


# --------------------------------------------------------------------------- HR


@blp.route("/change-requests", methods=["GET"])
@blp.arguments(ChangeRequestQuerySchema, location="query")
@blp.response(200, page_of(ChangeRequestSchema))
@require_permission("hr.change_request.read")
def list_change_requests(query: dict[str, Any]) -> Any:
    """List the department's change requests, newest first (filter by state, employee)."""
    select = change_requests.change_requests_query(
        state=query["state"], employee_id=query["employee_id"]
    )
    return paginate(select, query["page"], query["per_page"])


@blp.route("/change-requests/<int:request_id>", methods=["GET"])
@blp.response(200, ChangeRequestSchema)
@require_permission("hr.change_request.self")
def get_change_request(request_id: int) -> Any:
    """Read a change request (HR, or the employee it is about)."""
    return _visible(request_id)


def _decide(request_id: int, comment: str, *, approve: bool) -> ChangeRequest:
    found = _visible(request_id)
    approval = (
        db.session.get(ApprovalRequest, found.approval_request_id)
        if found.approval_request_id
        else None
    )
    if approval is None or found.state != "pending":
        abort(409, message=f"The request is {found.state}; only a pending one can be decided.")
    try:
        decide(db.session, approval, actor=_me(), approve=approve, comment=comment)
    except ApprovalError as exc:
        db.session.rollback()
        abort(exc.status, message=str(exc))
    db.session.commit()
    return found


@blp.route("/change-requests/<int:request_id>/approve", methods=["POST"])
@blp.arguments(ChangeRequestDecisionSchema)
@blp.response(200, ChangeRequestSchema)
@require_permission("hr.change_request.read")
def approve_change_request(data: dict[str, Any], request_id: int) -> Any:
    """Approve: the employee record is updated (validated again, audited)."""
    return _decide(request_id, data["comment"], approve=True)


@blp.route("/change-requests/<int:request_id>/reject", methods=["POST"])
@blp.arguments(ChangeRequestDecisionSchema)
@blp.response(200, ChangeRequestSchema)
@require_permission("hr.change_request.read")
def reject_change_request(data: dict[str, Any], request_id: int) -> Any:
    """Reject (a comment saying why is required)."""
    return _decide(request_id, data["comment"], approve=False)


def register_profile_api(api: Any) -> None:
    """Register the self-service blueprint (the HR routes are on the HR blueprint)."""
    api.register_blueprint(me_profile_blp)
