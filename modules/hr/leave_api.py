"""Leave API under /api/v1/hr (types, holidays, balances, requests) and /api/v1/me.

Who sees a leave request: HR (`hr.leave.read`) every request of the active
department; the employee their own; an approver (the manager) the requests
the approval engine lets them see. Anyone else, and any other department's
request, is answered 404. Approve and reject hand the decision to the
approval engine for the caller's task at the request's current step.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import g
from flask_login import current_user
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from grp.api import Blueprint, PaginationQuerySchema, page_of, paginate
from grp.auth.context import has_permission, require_permission
from grp.db import db
from grp.models import User
from grp.workflow.approvals import ApprovalError, decide
from grp.workflow.approvals.models import ApprovalRequest
from grp.workflow.approvals.services import may_view
from modules.hr.models import Employee, LeaveRequest, LeaveType, PublicHoliday
from modules.hr.models.leave import REQUEST_STATES
from modules.hr.services import leave
from modules.hr.services.employees import employee_of_user

leave_blp = Blueprint(
    "hr_leave_api",
    __name__,
    url_prefix="/api/v1/hr",
    description="HR: leave types, public holidays, balances and leave requests",
)
me_leave_blp = Blueprint(
    "hr_me_leave_api", __name__, url_prefix="/api/v1/me", description="My leave"
)


# --------------------------------------------------------------------------- schemas


class LeaveTypeSchema(Schema):
    id = fields.Integer(dump_only=True)
    code = fields.String(dump_only=True)
    name_en = fields.String()
    name_ar = fields.String()
    paid = fields.Boolean()
    day_basis = fields.String(validate=validate.OneOf(("working", "calendar")))
    balance_limited = fields.Boolean()
    accrual = fields.String(validate=validate.OneOf(("none", "monthly")))
    entitlement_rules = fields.List(fields.Dict())
    carry_forward_cap = fields.Decimal(as_string=True, allow_none=True)
    carry_forward_expiry_months = fields.Integer(allow_none=True)
    max_days_per_request = fields.Decimal(as_string=True, allow_none=True)
    max_days_per_year = fields.Decimal(as_string=True, allow_none=True)
    document_lifts_limits = fields.Boolean()
    once_in_service = fields.Boolean()
    is_active = fields.Boolean()


class LeaveTypeUpdateSchema(LeaveTypeSchema):
    """The same fields, all optional (a separate name for the OpenAPI document)."""


class LeaveTypeCreateSchema(LeaveTypeSchema):
    """A new leave type: its code (fixed afterwards), names and rules."""

    code = fields.String(required=True, metadata={"example": "marriage"})
    name_en = fields.String(required=True)
    name_ar = fields.String(required=True)


class HolidaySchema(Schema):
    id = fields.Integer(dump_only=True)
    day = fields.Date(required=True)
    name_en = fields.String(required=True, validate=validate.Length(min=1, max=100))
    name_ar = fields.String(required=True, validate=validate.Length(min=1, max=100))
    hijri = fields.Boolean(
        load_default=False, metadata={"description": "Follows the Hijri calendar (moves yearly)"}
    )
    to_confirm = fields.Boolean(
        dump_only=True, metadata={"description": "An estimated date an officer must confirm"}
    )


class HolidayUpdateSchema(Schema):
    day = fields.Date(metadata={"description": "Setting the date confirms it"})
    name_en = fields.String(validate=validate.Length(min=1, max=100))
    name_ar = fields.String(validate=validate.Length(min=1, max=100))
    hijri = fields.Boolean()
    to_confirm = fields.Boolean(metadata={"description": "false: the date is confirmed"})


class HolidayCopySchema(Schema):
    from_year = fields.Integer(required=True)
    to_year = fields.Integer(required=True)


class WorkingWeekSchema(Schema):
    working_days = fields.String(
        required=True,
        validate=validate.Regexp(r"^[01]{7}$"),
        metadata={"description": "Monday..Sunday, 1 working: 1111100 is Monday to Friday"},
    )


class LedgerEntrySchema(Schema):
    id = fields.Integer(dump_only=True)
    employee_id = fields.Integer(dump_only=True)
    leave_type = fields.Function(lambda e: e.leave_type.code)
    kind = fields.String(dump_only=True)
    days = fields.Decimal(as_string=True, dump_only=True)
    entry_date = fields.Date(dump_only=True)
    period = fields.String(dump_only=True, allow_none=True)
    request_id = fields.Integer(dump_only=True, allow_none=True)
    note = fields.String(dump_only=True)


class LeaveAdjustmentSchema(Schema):
    leave_type_id = fields.Integer(required=True)
    days = fields.String(
        required=True, metadata={"description": "Signed days such as 2.5 or -1", "example": "2.5"}
    )
    note = fields.String(required=True, metadata={"description": "Why the balance is adjusted"})
    entry_date = fields.Date(load_default=None, metadata={"description": "Default: today"})


class HolidayQuerySchema(Schema):
    year = fields.Integer(load_default=None, validate=validate.Range(min=2000, max=2100))


class BalanceSchema(Schema):
    leave_type = fields.Function(lambda b: b.leave_type.code)
    name_en = fields.Function(lambda b: b.leave_type.name_en)
    name_ar = fields.Function(lambda b: b.leave_type.name_ar)
    balance_limited = fields.Function(lambda b: b.leave_type.balance_limited)
    balance = fields.Decimal(as_string=True)
    pending = fields.Decimal(as_string=True)
    available = fields.Decimal(as_string=True)
    taken_this_year = fields.Decimal(as_string=True)


class LeaveRequestSchema(Schema):
    id = fields.Integer(dump_only=True)
    employee_id = fields.Integer(dump_only=True)
    employee_name = fields.Function(lambda r: r.employee.name_en)
    leave_type_id = fields.Integer(dump_only=True)
    leave_type = fields.Function(lambda r: r.leave_type.code)
    start_date = fields.Date(dump_only=True)
    end_date = fields.Date(dump_only=True)
    days = fields.Decimal(as_string=True, dump_only=True)
    reason = fields.String(dump_only=True)
    has_document = fields.Boolean(dump_only=True)
    document_id = fields.Integer(dump_only=True, allow_none=True)
    state = fields.String(dump_only=True)
    decision_comment = fields.String(dump_only=True)
    approval_request_id = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    decided_at = fields.DateTime(dump_only=True)


class LeaveRequestCreateSchema(Schema):
    employee_id = fields.Integer(
        load_default=None, metadata={"description": "HR only: whose leave (default: mine)"}
    )
    leave_type_id = fields.Integer(required=True)
    start_date = fields.Date(required=True)
    end_date = fields.Date(required=True)
    reason = fields.String(load_default="", validate=validate.Length(max=2000))
    document_id = fields.Integer(
        load_default=None,
        metadata={
            "description": "A supporting document of the employee (a medical report, uploaded "
            "with POST /api/v1/me/documents); it lifts the limits of sick leave"
        },
    )


class LeaveRequestQuerySchema(PaginationQuerySchema):
    state = fields.String(load_default=None, validate=validate.OneOf(REQUEST_STATES))
    employee_id = fields.Integer(load_default=None)


class CommentSchema(Schema):
    comment = fields.String(load_default="", validate=validate.Length(max=2000))


# --------------------------------------------------------------------------- helpers


def _me() -> User:
    return db.session.get(User, current_user.id)


def _my_employee() -> Employee:
    employee = employee_of_user(db.session, current_user.id)
    if employee is None:
        abort(404, message="No employee record is linked to you in this department.")
    return employee


def _visible_request(request_id: int) -> LeaveRequest:
    """Return the request if the caller may read it (HR, the employee, an approver), else 404."""
    request = db.session.get(LeaveRequest, request_id)
    if request is None or not _may_see(request):
        abort(404, message="No such leave request.")
    return request


def _may_see(request: LeaveRequest) -> bool:
    if has_permission("hr.leave.read") or request.employee.user_id == current_user.id:
        return True
    approval = (
        db.session.get(ApprovalRequest, request.approval_request_id)
        if request.approval_request_id
        else None
    )
    return approval is not None and may_view(db.session, approval, _me(), g.role_codes)


def _decide(request_id: int, comment: str, *, approve: bool) -> LeaveRequest:
    request = _visible_request(request_id)
    approval = (
        db.session.get(ApprovalRequest, request.approval_request_id)
        if request.approval_request_id
        else None
    )
    if approval is None or request.state != "pending":
        abort(409, message=f"The request is {request.state}; only a pending one can be decided.")
    try:
        decide(db.session, approval, actor=_me(), approve=approve, comment=comment)
    except ApprovalError as exc:
        db.session.rollback()
        abort(exc.status, message=str(exc))
    db.session.commit()
    return request


# --------------------------------------------------------------------------- types and holidays


@leave_blp.route("/leave-types", methods=["GET"])
@leave_blp.response(200, LeaveTypeSchema(many=True))
@require_permission("hr.leave.self")
def list_leave_types() -> Any:
    """List the department's leave types and their rules."""
    return list(db.session.scalars(sa.select(LeaveType).order_by(LeaveType.id)))


@leave_blp.route("/leave-types", methods=["POST"])
@leave_blp.arguments(LeaveTypeCreateSchema)
@leave_blp.response(201, LeaveTypeSchema)
@require_permission("hr.leave.manage")
def create_leave_type(data: dict[str, Any]) -> Any:
    """Create a leave type (a code, names and rules; the rest defaults)."""
    leave_type = leave.create_leave_type(db.session, data)
    db.session.commit()
    return leave_type


@leave_blp.route("/leave-types/<int:type_id>", methods=["PATCH"])
@leave_blp.arguments(LeaveTypeUpdateSchema(partial=True))
@leave_blp.response(200, LeaveTypeSchema)
@require_permission("hr.leave.manage")
def update_leave_type(data: dict[str, Any], type_id: int) -> Any:
    """Change a leave type's names, flags or entitlement rules."""
    leave_type = db.session.get(LeaveType, type_id)
    if leave_type is None:
        abort(404, message="No such leave type.")
    leave.update_leave_type(db.session, leave_type, data)
    db.session.commit()
    return leave_type


@leave_blp.route("/holidays", methods=["GET"])
@leave_blp.arguments(HolidayQuerySchema, location="query")
@leave_blp.response(200, HolidaySchema(many=True))
@require_permission("hr.leave.self")
def list_holidays(query: dict[str, Any]) -> Any:
    """List the department's public holidays (of one year when `year` is given)."""
    return leave.holidays_of(db.session, query["year"])


@leave_blp.route("/holidays", methods=["POST"])
@leave_blp.arguments(HolidaySchema)
@leave_blp.response(201, HolidaySchema)
@require_permission("hr.leave.manage")
def create_holiday(data: dict[str, Any]) -> Any:
    """Add a public holiday."""
    holiday = leave.save_holiday(db.session, None, data)
    db.session.commit()
    return holiday


@leave_blp.route("/holidays/copy", methods=["POST"])
@leave_blp.arguments(HolidayCopySchema)
@leave_blp.response(201, HolidaySchema(many=True))
@require_permission("hr.leave.manage")
def copy_holidays(data: dict[str, Any]) -> Any:
    """Start a year's holidays from another year's: Hijri ones moved and flagged to confirm."""
    added = leave.copy_holidays(db.session, data["from_year"], data["to_year"])
    db.session.commit()
    return added


@leave_blp.route("/working-week", methods=["GET"])
@leave_blp.response(200, WorkingWeekSchema)
@require_permission("hr.leave.self")
def get_working_week() -> Any:
    """Read the department's working weekdays."""
    return {"working_days": leave.working_week(db.session)}


@leave_blp.route("/working-week", methods=["PUT"])
@leave_blp.arguments(WorkingWeekSchema)
@leave_blp.response(200, WorkingWeekSchema)
@require_permission("hr.leave.manage")
def set_working_week(data: dict[str, Any]) -> Any:
    """Set the department's working weekdays (leave is counted on them)."""
    week = leave.set_working_week(db.session, data["working_days"])
    db.session.commit()
    return week


@leave_blp.route("/holidays/<int:holiday_id>", methods=["PATCH"])
@leave_blp.arguments(HolidayUpdateSchema)
@leave_blp.response(200, HolidaySchema)
@require_permission("hr.leave.manage")
def update_holiday(data: dict[str, Any], holiday_id: int) -> Any:
    """Move or rename a public holiday (Hijri dates move with the moon sighting)."""
    holiday = db.session.get(PublicHoliday, holiday_id)
    if holiday is None:
        abort(404, message="No such holiday.")
    leave.save_holiday(db.session, holiday, data)
    db.session.commit()
    return holiday


@leave_blp.route("/holidays/<int:holiday_id>", methods=["DELETE"])
@leave_blp.response(204)
@require_permission("hr.leave.manage")
def delete_holiday(holiday_id: int) -> None:
    """Remove a public holiday."""
    holiday = db.session.get(PublicHoliday, holiday_id)
    if holiday is None:
        abort(404, message="No such holiday.")
    db.session.delete(holiday)
    db.session.commit()


# --------------------------------------------------------------------------- balances


@leave_blp.route("/employees/<int:employee_id>/leave-balances", methods=["GET"])
@leave_blp.response(200, BalanceSchema(many=True))
@require_permission("hr.leave.self")
def employee_balances(employee_id: int) -> Any:
    """Read an employee's leave balances (HR: anyone; others: only themselves)."""
    query = sa.select(Employee).where(Employee.id == employee_id)
    if not has_permission("hr.leave.read"):
        query = query.where(Employee.user_id == current_user.id)
    employee = db.session.scalar(query)
    if employee is None:
        abort(404, message="No such employee.")
    return leave.balances(db.session, employee)


@leave_blp.route("/employees/<int:employee_id>/leave-balances/adjustments", methods=["POST"])
@leave_blp.arguments(LeaveAdjustmentSchema)
@leave_blp.response(201, LedgerEntrySchema)
@require_permission("hr.leave.manage")
def adjust_balance(data: dict[str, Any], employee_id: int) -> Any:
    """Add an adjustment (signed days, with the reason) to an employee's leave ledger."""
    employee = db.session.scalar(sa.select(Employee).where(Employee.id == employee_id))
    if employee is None:
        abort(404, message="No such employee.")
    entry = leave.add_balance_adjustment(db.session, employee, data)
    db.session.commit()
    return entry


@leave_blp.route("/employees/<int:employee_id>/leave-ledger", methods=["GET"])
@leave_blp.response(200, LedgerEntrySchema(many=True))
@require_permission("hr.leave.read")
def employee_ledger(employee_id: int) -> Any:
    """Read an employee's latest leave ledger entries (accruals, taken, adjustments, ...)."""
    employee = db.session.scalar(sa.select(Employee).where(Employee.id == employee_id))
    if employee is None:
        abort(404, message="No such employee.")
    return leave.ledger_entries(db.session, employee)


@me_leave_blp.route("/leave-balances", methods=["GET"])
@me_leave_blp.response(200, BalanceSchema(many=True))
@require_permission("hr.leave.self")
def my_balances() -> Any:
    """Read my leave balances in the active department."""
    return leave.balances(db.session, _my_employee())


# --------------------------------------------------------------------------- requests


@leave_blp.route("/leave-requests", methods=["GET"])
@leave_blp.arguments(LeaveRequestQuerySchema, location="query")
@leave_blp.response(200, page_of(LeaveRequestSchema))
@require_permission("hr.leave.read")
def list_leave_requests(query: dict[str, Any]) -> Any:
    """List the department's leave requests, newest first."""
    select = sa.select(LeaveRequest).order_by(LeaveRequest.id.desc())
    if query["state"]:
        select = select.where(LeaveRequest.state == query["state"])
    if query["employee_id"]:
        select = select.where(LeaveRequest.employee_id == query["employee_id"])
    return paginate(select, query["page"], query["per_page"])


@leave_blp.route("/leave-requests", methods=["POST"])
@leave_blp.arguments(LeaveRequestCreateSchema)
@leave_blp.response(201, LeaveRequestSchema)
@require_permission("hr.leave.self")
def create_leave_request(data: dict[str, Any]) -> Any:
    """Request leave for myself, or (HR) for an employee; it goes for approval."""
    employee_id = data.pop("employee_id")
    if employee_id is None:
        employee = _my_employee()
    else:
        employee = db.session.scalar(sa.select(Employee).where(Employee.id == employee_id))
        mine = employee is not None and employee.user_id == current_user.id
        if employee is None or not (mine or has_permission("hr.leave.manage")):
            abort(404, message="No such employee.")
    request = leave.create_leave_request(db.session, employee, data, actor=_me())
    db.session.commit()
    return request


@leave_blp.route("/leave-requests/<int:request_id>", methods=["GET"])
@leave_blp.response(200, LeaveRequestSchema)
@require_permission("hr.leave.self")
def get_leave_request(request_id: int) -> Any:
    """Read a leave request (HR, the employee, or an approver)."""
    return _visible_request(request_id)


@leave_blp.route("/leave-requests/<int:request_id>/approve", methods=["POST"])
@leave_blp.arguments(CommentSchema)
@leave_blp.response(200, LeaveRequestSchema)
@require_permission("hr.leave.self")
def approve_leave_request(data: dict[str, Any], request_id: int) -> Any:
    """Approve the request at its current step (my task there, or my delegator's)."""
    return _decide(request_id, data["comment"], approve=True)


@leave_blp.route("/leave-requests/<int:request_id>/reject", methods=["POST"])
@leave_blp.arguments(CommentSchema)
@leave_blp.response(200, LeaveRequestSchema)
@require_permission("hr.leave.self")
def reject_leave_request(data: dict[str, Any], request_id: int) -> Any:
    """Reject the request (a comment saying why is required)."""
    return _decide(request_id, data["comment"], approve=False)


@leave_blp.route("/leave-requests/<int:request_id>/cancel", methods=["POST"])
@leave_blp.arguments(CommentSchema)
@leave_blp.response(200, LeaveRequestSchema)
@require_permission("hr.leave.self")
def cancel_leave_request(data: dict[str, Any], request_id: int) -> Any:
    """Cancel a request: the employee before it starts, HR at any time; days come back."""
    request = _visible_request(request_id)
    is_hr = has_permission("hr.leave.manage")
    if not is_hr and request.employee.user_id != current_user.id:
        abort(404, message="No such leave request.")
    try:
        leave.cancel_leave_request(db.session, request, actor=_me(), is_hr=is_hr)
    except ApprovalError as exc:
        db.session.rollback()
        abort(exc.status, message=str(exc))
    db.session.commit()
    return request


@me_leave_blp.route("/leave-requests", methods=["GET"])
@me_leave_blp.arguments(PaginationQuerySchema, location="query")
@me_leave_blp.response(200, page_of(LeaveRequestSchema))
@require_permission("hr.leave.self")
def my_leave_requests(query: dict[str, Any]) -> Any:
    """List my leave requests, newest first."""
    select = (
        sa.select(LeaveRequest)
        .where(LeaveRequest.employee_id == _my_employee().id)
        .order_by(LeaveRequest.id.desc())
    )
    return paginate(select, query["page"], query["per_page"])


def register_leave_api(api: Any) -> None:
    """Register the leave API blueprints on the app's flask-smorest Api."""
    api.register_blueprint(leave_blp)
    api.register_blueprint(me_leave_blp)
