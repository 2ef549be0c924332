"""End-of-service API: /api/v1/hr/employees/<id>/termination (read, record, preview, undo).

Registered on the HR API blueprint (modules/hr/api.py); setup imports this
file before the blueprint is registered. Another department's employee is 404.
"""

from __future__ import annotations

from typing import Any

from flask_login import current_user
from flask_smorest import abort
from marshmallow import Schema, fields

from grp.auth.context import require_permission
from grp.db import db
from grp.models import User
from modules.hr.api import _employee, blp
from modules.hr.models import TERMINATION_REASONS
from modules.hr.schemas import MoneyField
from modules.hr.services import termination


class TerminationInputSchema(Schema):
    """Types only; the service checks the rules and names the fields it refuses."""

    reason = fields.String(
        required=True,
        metadata={"enum": list(TERMINATION_REASONS)},
    )
    reason_text = fields.String(load_default="", metadata={"description": "Required for `other`"})
    last_working_day = fields.String(required=True, metadata={"format": "date"})
    notice_date = fields.String(load_default=None, allow_none=True, metadata={"format": "date"})


class TerminationSchema(Schema):
    id = fields.Integer(dump_only=True)
    employee_id = fields.Integer()
    reason = fields.String()
    reason_text = fields.String()
    last_working_day = fields.Date()
    notice_date = fields.Date(allow_none=True)
    recorded_by_id = fields.Integer(allow_none=True)
    basic_salary = MoneyField()
    gratuity = MoneyField(metadata={"description": "0 for UAE nationals and under a year"})
    gratuity_working = fields.Dict(
        metadata={"description": "Service days, unpaid days excluded, rate, cap and amount"}
    )
    leave_days = fields.Decimal(as_string=True, metadata={"description": "Remaining annual leave"})
    leave_encashment = MoneyField()
    leave_working = fields.Dict()
    created_at = fields.DateTime(dump_only=True)


class TerminationPreviewSchema(TerminationSchema):
    cancelled_requests = fields.List(
        fields.Integer(), metadata={"description": "Leave requests the termination would cancel"}
    )


@blp.route("/employees/<int:employee_id>/termination", methods=["GET"])
@blp.response(200, TerminationSchema)
@require_permission("hr.employee.read")
def get_termination(employee_id: int) -> Any:
    """Read the employee's termination with its gratuity working (404 when none)."""
    found = termination.find_termination(db.session, _employee(employee_id))
    if found is None:
        abort(404, message="This employee has no termination.")
    return found


@blp.route("/employees/<int:employee_id>/termination", methods=["POST"])
@blp.arguments(TerminationInputSchema)
@blp.response(201, TerminationSchema)
@require_permission("hr.employee.terminate")
def create_termination(data: dict[str, Any], employee_id: int) -> Any:
    """Terminate the employee: gratuity, leave settlement, contract end, status (422 if refused)."""
    employee = _employee(employee_id)
    actor = db.session.get(User, current_user.id)
    record = termination.terminate_employee(
        db.session, employee, **termination.termination_input(data), actor=actor
    )
    db.session.commit()
    return record


@blp.route("/employees/<int:employee_id>/termination/preview", methods=["POST"])
@blp.arguments(TerminationInputSchema)
@blp.response(200, TerminationPreviewSchema)
@require_permission("hr.employee.terminate")
def preview_termination(data: dict[str, Any], employee_id: int) -> Any:
    """Compute the termination without storing it (the same checks and numbers)."""
    employee = _employee(employee_id)
    preview = termination.preview_termination(
        db.session, employee, **termination.termination_input(data)
    )
    db.session.rollback()
    return preview


@blp.route("/employees/<int:employee_id>/termination", methods=["DELETE"])
@blp.response(204)
@require_permission("hr.employee.terminate")
def undo_termination(employee_id: int) -> None:
    """Undo the termination while payroll has not settled it (422 once it has)."""
    found = termination.find_termination(db.session, _employee(employee_id))
    if found is None:
        abort(404, message="This employee has no termination.")
    termination.undo_termination(db.session, found)
    db.session.commit()
