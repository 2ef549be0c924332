"""Approvals API: the inbox, requests and decisions, policies, delegations (`/api/v1/...`).

Another department's request, policy or delegation is answered 404; in the
department, a request is shown to its requester and preparer, the people
taking part in it, and department administrators (404 for anyone else).
Deciding without being a current approver, or on one's own document, is 403.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import g
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from grp.api import Blueprint, PaginationQuerySchema, page_of, paginate
from grp.auth.context import require_permission
from grp.auth.permissions import DEPARTMENT_ADMIN, SYSTEM_ADMIN
from grp.db import db
from grp.models import User
from grp.web.helpers import actor
from grp.workflow.approvals import delegations, policies, services
from grp.workflow.approvals.errors import ApprovalError, ApprovalValidationError
from grp.workflow.approvals.models import (
    APPROVER_KINDS,
    ESCALATION_KINDS,
    MODES,
    ApprovalDelegation,
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalTask,
)
from grp.workflow.approvals.registry import document_type_label, local_date

approvals_blp = Blueprint(
    "approvals_api",
    __name__,
    url_prefix="/api/v1/approvals",
    description="Approvals: my inbox, requests with their history, decisions",
)
policies_blp = Blueprint(
    "approval_policies_api",
    __name__,
    url_prefix="/api/v1/approval-policies",
    description="Approval policies of the active department (department administrators)",
)
delegations_blp = Blueprint(
    "approval_delegations_api",
    __name__,
    url_prefix="/api/v1/approval-delegations",
    description="Who decides my approvals while I am away",
)

MONEY = {"as_string": True, "allow_none": True}


# --------------------------------------------------------------------------- schemas


def _person(user: User | None) -> dict[str, Any] | None:
    return None if user is None else {"id": user.id, "username": user.username, "name": user.name}


def _step_number(index: int | None) -> int | None:
    return None if index is None else index + 1


class PersonSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    name = fields.String()


class InboxItemSchema(Schema):
    task_id = fields.Function(lambda t: t.id)
    request_id = fields.Function(lambda t: t.request_id)
    document_type = fields.Function(lambda t: t.request.document_type)
    document_type_name_en = fields.Function(
        lambda t: document_type_label(t.request.document_type, "en")
    )
    document_type_name_ar = fields.Function(
        lambda t: document_type_label(t.request.document_type, "ar")
    )
    document_id = fields.Function(lambda t: t.request.document_id)
    summary = fields.Function(lambda t: t.request.summary)
    amount = fields.Function(
        lambda t: None if t.request.amount is None else str(t.request.amount),
        metadata={"description": "Decimal string, AED"},
    )
    requester = fields.Function(lambda t: _person(t.request.requester))
    step_number = fields.Function(lambda t: _step_number(t.step_index))
    step = fields.Function(lambda t: t.request.step_name(t.step_index))
    acting_for = fields.Method(
        "_acting_for", metadata={"description": "Whose task this is, when I decide as a delegate"}
    )
    waiting_since = fields.Function(lambda t: t.created_at.isoformat())
    due_at = fields.Function(lambda t: t.due_at.isoformat() if t.due_at else None)

    def _acting_for(self, task: ApprovalTask) -> dict[str, Any] | None:
        return None if task.approver_id == actor().id else _person(task.approver)


class InboxQuerySchema(PaginationQuerySchema):
    document_type = fields.String(load_default=None)


class RouteStepSchema(Schema):
    number = fields.Function(lambda s: s["sequence"])
    name = fields.Function(lambda s: s["name"])
    approver_kind = fields.Function(lambda s: s["approver_kind"])
    mode = fields.Function(lambda s: s["mode"])


class TaskSchema(Schema):
    id = fields.Integer()
    step_number = fields.Function(lambda t: _step_number(t.step_index))
    approver = fields.Function(lambda t: _person(t.approver))
    state = fields.String()
    created_at = fields.DateTime()
    due_at = fields.DateTime(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    decided_by = fields.Function(lambda t: _person(t.decided_by))
    escalated_from_id = fields.Integer(allow_none=True)


class HistoryEntrySchema(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    action = fields.String()
    step_number = fields.Function(lambda e: _step_number(e.step_index))
    actor = fields.Function(lambda e: _person(e.actor))
    acting_for = fields.Function(
        lambda e: _person(e.acting_for),
        metadata={"description": "The approver a delegate decided for"},
    )
    comment = fields.String()
    details = fields.Dict(allow_none=True)


class ApprovalRequestSchema(Schema):
    id = fields.Integer()
    document_type = fields.String()
    document_id = fields.String()
    summary = fields.String()
    amount = fields.Decimal(**MONEY)
    attributes = fields.Dict(allow_none=True)
    state = fields.String()
    requester = fields.Function(lambda r: _person(r.requester))
    preparer = fields.Function(lambda r: _person(r.preparer))
    policy_id = fields.Integer(allow_none=True)
    policy_version = fields.Integer(allow_none=True)
    current_step = fields.Function(
        lambda r: (
            None
            if r.step is None
            else {"number": r.current_step + 1, "name": r.step["name"], "mode": r.step["mode"]}
        )
    )
    route = fields.Function(lambda r: RouteStepSchema(many=True).dump(r.route))
    submitted_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    tasks = fields.List(fields.Nested(TaskSchema))
    history = fields.List(fields.Nested(HistoryEntrySchema))
    can_decide = fields.Method("_can_decide")

    def _can_decide(self, request: ApprovalRequest) -> bool:
        return services.can_decide(db.session, request, actor())


class DecisionSchema(Schema):
    comment = fields.String(load_default="", validate=validate.Length(max=2000))


class StepSchema(Schema):
    sequence = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    approver_kind = fields.String(required=True, validate=validate.OneOf(APPROVER_KINDS))
    role_code = fields.String(load_default=None, allow_none=True)
    user_ids = fields.List(fields.Integer(), load_default=None, allow_none=True)
    manager_levels = fields.Integer(
        load_default=1, metadata={"description": "1: the requester's direct manager"}
    )
    mode = fields.String(load_default="all", validate=validate.OneOf(MODES))
    min_amount = fields.Decimal(
        **MONEY, load_default=None, metadata={"description": "Applies above this amount"}
    )
    max_amount = fields.Decimal(
        **MONEY, load_default=None, metadata={"description": "Applies up to this amount"}
    )
    conditions = fields.Dict(
        load_default=None,
        allow_none=True,
        metadata={"description": 'Attribute conditions, e.g. {"leave_type": ["annual", "sick"]}'},
    )
    escalate_after_hours = fields.Integer(load_default=None, allow_none=True)
    escalation_kind = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(ESCALATION_KINDS)
    )
    escalation_role_code = fields.String(load_default=None, allow_none=True)


class PolicySchema(Schema):
    id = fields.Integer(dump_only=True)
    document_type = fields.String(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    active = fields.Boolean(load_default=True)
    priority = fields.Integer(
        load_default=100, metadata={"description": "Lower first when several policies match"}
    )
    min_amount = fields.Decimal(**MONEY, load_default=None)
    max_amount = fields.Decimal(**MONEY, load_default=None)
    conditions = fields.Dict(load_default=None, allow_none=True)
    auto_approve = fields.Boolean(
        load_default=False,
        metadata={"description": "Approve at once when none of the steps applies"},
    )
    steps = fields.List(fields.Nested(StepSchema), load_default=list)
    version = fields.Integer(
        load_default=None,
        metadata={"description": "On PUT: the version you read; a newer one answers 409"},
    )
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class PolicyQuerySchema(PaginationQuerySchema):
    document_type = fields.String(load_default=None)


class DelegationSchema(Schema):
    id = fields.Integer(dump_only=True)
    delegator_id = fields.Integer(
        load_default=None, metadata={"description": "Department administrators: for whom"}
    )
    delegate_id = fields.Integer(required=True)
    delegator = fields.Function(lambda d: _person(d.delegator), dump_only=True)
    delegate = fields.Function(lambda d: _person(d.delegate), dump_only=True)
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    document_types = fields.List(fields.String(), load_default=None, allow_none=True)
    reason = fields.String(load_default="", validate=validate.Length(max=500))
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)
    in_force = fields.Function(
        lambda d: d.revoked_at is None and d.starts_on <= local_date() <= d.ends_on,
        dump_only=True,
    )
    created_at = fields.DateTime(dump_only=True)


class DelegationQuerySchema(PaginationQuerySchema):
    user_id = fields.Integer(
        load_default=None,
        metadata={"description": "Department administrators: one user's (default: all)"},
    )


# --------------------------------------------------------------------------- helpers


def _is_admin() -> bool:
    return bool({DEPARTMENT_ADMIN, SYSTEM_ADMIN} & g.role_codes)


def _fail(exc: Exception) -> None:
    """Answer a service error with its status; the transaction is rolled back."""
    db.session.rollback()
    if isinstance(exc, ApprovalValidationError):
        abort(422, message="The request has invalid fields.", errors=exc.errors)
    if isinstance(exc, ApprovalError):
        abort(exc.status, message=str(exc))
    raise exc


def _visible_request(request_id: int) -> ApprovalRequest:
    request = db.session.get(ApprovalRequest, request_id)
    if request is None or not services.may_view(db.session, request, actor(), g.role_codes):
        abort(404, message="No such approval request.")
    return request


def _decide(request_id: int, data: dict[str, Any], *, approve: bool) -> ApprovalRequest:
    request = db.session.get(ApprovalRequest, request_id)
    if request is None:
        abort(404, message="No such approval request.")
    try:
        request = services.decide(
            db.session, request, actor=actor(), approve=approve, comment=data["comment"]
        )
    except (ApprovalError, ApprovalValidationError) as exc:
        _fail(exc)
    db.session.commit()
    return request


# --------------------------------------------------------------------------- inbox and requests


@approvals_blp.route("/inbox", methods=["GET"])
@require_permission("platform.approval.decide")
@approvals_blp.arguments(InboxQuerySchema, location="query")
@approvals_blp.response(200, page_of(InboxItemSchema))
def inbox(query: dict[str, Any]) -> Any:
    """List what awaits my decision in the active department, mine and delegated to me."""
    select = services.inbox_query(db.session, actor(), document_type=query["document_type"])
    return paginate(select, query["page"], query["per_page"])


@approvals_blp.route("/<int:request_id>", methods=["GET"])
@require_permission("platform.approval.read")
@approvals_blp.response(200, ApprovalRequestSchema)
def get_request(request_id: int) -> Any:
    """Read an approval request with its tasks and full history."""
    return _visible_request(request_id)


@approvals_blp.route("/<int:request_id>/approve", methods=["POST"])
@require_permission("platform.approval.decide")
@approvals_blp.arguments(DecisionSchema)
@approvals_blp.response(200, ApprovalRequestSchema)
@approvals_blp.alt_response(403, description="Not a current approver, or my own document")
@approvals_blp.alt_response(409, description="Already decided, or decided at the same moment")
def approve(data: dict[str, Any], request_id: int) -> Any:
    """Approve the request at its current step (as approver or their delegate)."""
    return _decide(request_id, data, approve=True)


@approvals_blp.route("/<int:request_id>/reject", methods=["POST"])
@require_permission("platform.approval.decide")
@approvals_blp.arguments(DecisionSchema)
@approvals_blp.response(200, ApprovalRequestSchema)
@approvals_blp.alt_response(403, description="Not a current approver, or my own document")
@approvals_blp.alt_response(409, description="Already decided, or decided at the same moment")
def reject(data: dict[str, Any], request_id: int) -> Any:
    """Reject the request; a comment saying why is required (422 without)."""
    return _decide(request_id, data, approve=False)


@approvals_blp.route("/<int:request_id>/cancel", methods=["POST"])
@require_permission("platform.approval.read")
@approvals_blp.arguments(DecisionSchema)
@approvals_blp.response(200, ApprovalRequestSchema)
def cancel(data: dict[str, Any], request_id: int) -> Any:
    """Withdraw my pending request (requester or preparer)."""
    request = _visible_request(request_id)
    try:
        request = services.cancel_approval(
            db.session, request, actor=actor(), comment=data["comment"]
        )
    except ApprovalError as exc:
        _fail(exc)
    db.session.commit()
    return request


# --------------------------------------------------------------------------- policies


def _policy(policy_id: int) -> ApprovalPolicy:
    policy = db.session.get(ApprovalPolicy, policy_id)
    if policy is None:
        abort(404, message="No such approval policy.")
    return policy


@policies_blp.route("", methods=["GET"])
@require_permission("platform.approval_policy.manage")
@policies_blp.arguments(PolicyQuerySchema, location="query")
@policies_blp.response(200, page_of(PolicySchema))
def list_policies(query: dict[str, Any]) -> Any:
    """List the active department's approval policies by document type and priority."""
    select = sa.select(ApprovalPolicy).order_by(
        ApprovalPolicy.document_type, ApprovalPolicy.priority, ApprovalPolicy.id
    )
    if query["document_type"]:
        select = select.where(ApprovalPolicy.document_type == query["document_type"])
    return paginate(select, query["page"], query["per_page"])


@policies_blp.route("", methods=["POST"])
@require_permission("platform.approval_policy.manage")
@policies_blp.arguments(PolicySchema)
@policies_blp.response(201, PolicySchema)
def create_policy(data: dict[str, Any]) -> Any:
    """Create an approval policy with its ordered steps."""
    data.pop("version", None)
    try:
        policy = policies.create_policy(db.session, data)
    except ApprovalValidationError as exc:
        _fail(exc)
    db.session.commit()
    return policy


@policies_blp.route("/<int:policy_id>", methods=["GET"])
@require_permission("platform.approval_policy.manage")
@policies_blp.response(200, PolicySchema)
def get_policy(policy_id: int) -> Any:
    """Read an approval policy with its steps."""
    return _policy(policy_id)


@policies_blp.route("/<int:policy_id>", methods=["PUT"])
@require_permission("platform.approval_policy.manage")
@policies_blp.arguments(PolicySchema)
@policies_blp.response(200, PolicySchema)
@policies_blp.alt_response(409, description="Changed since the version sent")
def update_policy(data: dict[str, Any], policy_id: int) -> Any:
    """Replace an approval policy and its steps; submitted requests keep their route."""
    policy = _policy(policy_id)
    expected = data.pop("version", None)
    try:
        policies.update_policy(db.session, policy, data, expected_version=expected)
    except (ApprovalError, ApprovalValidationError) as exc:
        _fail(exc)
    db.session.commit()
    return policy


# --------------------------------------------------------------------------- delegations


@delegations_blp.route("", methods=["GET"])
@require_permission("platform.approval_delegation.manage")
@delegations_blp.arguments(DelegationQuerySchema, location="query")
@delegations_blp.response(200, page_of(DelegationSchema))
def list_delegations(query: dict[str, Any]) -> Any:
    """List delegations given by or to me (department administrators: anyone's)."""
    me = actor()
    if _is_admin():
        user = db.session.get(User, query["user_id"]) if query["user_id"] else None
        if query["user_id"] and user is None:
            abort(404, message="No such user.")
    else:
        user = me
    return paginate(delegations.delegations_query(user), query["page"], query["per_page"])


@delegations_blp.route("", methods=["POST"])
@require_permission("platform.approval_delegation.manage")
@delegations_blp.arguments(DelegationSchema)
@delegations_blp.response(201, DelegationSchema)
def create_delegation(data: dict[str, Any]) -> Any:
    """Let someone decide my approvals between two days (administrators: anyone's)."""
    me = actor()
    delegator = me
    if data["delegator_id"] not in (None, me.id):
        delegator = db.session.get(User, data["delegator_id"])
        if delegator is None:
            abort(
                422,
                message="The request has invalid fields.",
                errors={"delegator_id": ["No such user."]},
            )
    delegate = db.session.get(User, data["delegate_id"])
    try:
        delegation = delegations.create_delegation(
            db.session,
            delegator=delegator,
            delegate=delegate,
            starts_on=data["starts_on"],
            ends_on=data["ends_on"],
            document_types=data["document_types"],
            reason=data["reason"],
            actor=me,
            actor_is_admin=_is_admin(),
        )
    except ApprovalValidationError as exc:
        _fail(exc)
    db.session.commit()
    return delegation


@delegations_blp.route("/<int:delegation_id>", methods=["DELETE"])
@require_permission("platform.approval_delegation.manage")
@delegations_blp.response(204)
def revoke_delegation(delegation_id: int) -> None:
    """End a delegation I gave (administrators: any of the department's)."""
    delegation = db.session.get(ApprovalDelegation, delegation_id)
    if delegation is None or not (_is_admin() or delegation.delegator_id == actor().id):
        abort(404, message="No such delegation.")
    delegations.revoke_delegation(db.session, delegation)
    db.session.commit()


BLUEPRINTS = (approvals_blp, policies_blp, delegations_blp)
