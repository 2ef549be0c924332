"""Approval pages: awaiting my decision, a request with its history, delegations, policies.

Same rules as the API (see `api.py`): another department's records are 404,
a request is shown to its makers, participants and department administrators,
and deciding without a pending task (or on one's own document) is 403.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask import request as http_request
from flask_babel import gettext as _
from wtforms import SelectChoice

from grp.api import paginate
from grp.auth.context import current_department, require_permission
from grp.auth.permissions import BUILT_IN_ROLES, DEPARTMENT_ADMIN, SYSTEM_ADMIN
from grp.db import db
from grp.errors import ValidationError
from grp.i18n import current_language
from grp.models import RoleAssignment, User
from grp.web.forms import PostForm
from grp.web.helpers import DEFAULT_PER_PAGE, actor, page_number, pagination
from grp.workflow.approvals import delegations as delegation_rules
from grp.workflow.approvals import policies as policy_rules
from grp.workflow.approvals import services
from grp.workflow.approvals.errors import (
    ApprovalError,
    ApprovalValidationError,
    CommentRequiredError,
    ConcurrentDecisionError,
    NoApproverError,
    NotAnApproverError,
    PolicyConflictError,
    RequestNotPendingError,
    translated,
)
from grp.workflow.approvals.forms import (
    SPARE_STEP_ROWS,
    CancelForm,
    DecisionForm,
    DelegationForm,
    PolicyForm,
    format_conditions,
    parse_conditions,
)
from grp.workflow.approvals.models import (
    PENDING,
    ApprovalDelegation,
    ApprovalPolicy,
    ApprovalRequest,
)
from grp.workflow.approvals.registry import document_type_label, local_date, registry

bp = Blueprint("approvals", __name__, url_prefix="/approvals")


def _is_admin() -> bool:
    return bool({DEPARTMENT_ADMIN, SYSTEM_ADMIN} & g.role_codes)


def _department() -> Any:
    if g.department is None:
        abort(403)  # signed in without any department to act in
    return current_department()


def _helpers() -> dict[str, Any]:
    language = current_language()
    return {
        "document_type_label": lambda code: document_type_label(code, language),
        "translated": translated,
    }


# --------------------------------------------------------------------------- inbox and requests


@bp.get("")
@require_permission("platform.approval.decide")
def inbox() -> Any:
    """List what awaits my decision in the active department, with each request's history."""
    _department()
    page = paginate(services.inbox_query(db.session, actor()), page_number(), DEFAULT_PER_PAGE)
    return render_template(
        "workflow/approvals/inbox.html", page=pagination(page), me=actor(), **_helpers()
    )


def _request(request_id: int) -> ApprovalRequest:
    _department()
    request = db.session.get(ApprovalRequest, request_id)
    if request is None:
        abort(404)
    return request


def _visible_request(request_id: int) -> ApprovalRequest:
    request = _request(request_id)
    if not services.may_view(db.session, request, actor(), g.role_codes):
        abort(404)
    return request


def _render_request(
    request: ApprovalRequest, form: DecisionForm | None = None, status: int = 200
) -> Any:
    me = actor()
    body = render_template(
        "workflow/approvals/request.html",
        request=request,
        form=form or DecisionForm(formdata=None),
        cancel_form=CancelForm(formdata=None),
        can_decide=services.can_decide(db.session, request, me),
        can_cancel=request.state == PENDING and me.id in request.makers,
        **_helpers(),
    )
    return body, status


@bp.get("/<int:request_id>")
@require_permission("platform.approval.read")
def show(request_id: int) -> Any:
    """Show a request: document, steps, approvers and the full history."""
    return _render_request(_visible_request(request_id))


@bp.post("/<int:request_id>/decide")
@require_permission("platform.approval.decide")
def decide(request_id: int) -> Any:
    """Approve or reject a request (the button pressed says which)."""
    request = _request(request_id)
    form = DecisionForm()
    if not form.validate_on_submit() or not (form.approve.data or form.reject.data):
        if form.errors and services.may_view(db.session, request, actor(), g.role_codes):
            return _render_request(request, form, 422)
        abort(400)
    approve = bool(form.approve.data)
    try:
        request = services.decide(
            db.session, request, actor=actor(), approve=approve, comment=form.comment.data
        )
    except CommentRequiredError:
        db.session.rollback()
        form.comment.errors = [_("Say why you reject the request.")]
        return _render_request(_request(request_id), form, 422)
    except NotAnApproverError:
        db.session.rollback()
        abort(403)
    except ApprovalError as exc:
        db.session.rollback()
        flash(_decision_problem(exc), "error")
        return redirect(url_for("approvals.show", request_id=request_id), code=303)
    except ValidationError as exc:
        # The owning module refused the decision in its on_decided (a leave balance
        # used up meanwhile): nothing is stored; show its reasons.
        db.session.rollback()
        for messages in exc.errors.values():
            for message in messages:
                flash(message, "error")
        return redirect(url_for("approvals.show", request_id=request_id), code=303)
    db.session.commit()
    kind = document_type_label(request.document_type, current_language())
    document = f"{kind} {request.document_id}"
    if approve:
        flash(_("You approved %(document)s.", document=document), "success")
    else:
        flash(_("You rejected %(document)s.", document=document), "success")
    return redirect(url_for("approvals.inbox"), code=303)


def _decision_problem(exc: ApprovalError) -> str:
    if isinstance(exc, RequestNotPendingError):
        return _("This request is already decided.")
    if isinstance(exc, ConcurrentDecisionError):
        return _("Someone else decided this request at the same moment. Here it is as it is now.")
    if isinstance(exc, NoApproverError):
        return _(
            "The next step has nobody to approve it. Ask a department administrator to check "
            "the approval policy and the roles."
        )
    return _("The request cannot be decided now.")


@bp.post("/<int:request_id>/cancel")
@require_permission("platform.approval.read")
def cancel(request_id: int) -> Any:
    """Withdraw my pending request."""
    request = _visible_request(request_id)
    form = CancelForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.cancel_approval(db.session, request, actor=actor(), comment=form.comment.data)
    except NotAnApproverError:
        db.session.rollback()
        abort(403)
    except ApprovalError as exc:
        db.session.rollback()
        flash(_decision_problem(exc), "error")
        return redirect(url_for("approvals.show", request_id=request_id), code=303)
    db.session.commit()
    flash(_("The request is withdrawn."), "success")
    return redirect(url_for("approvals.show", request_id=request_id), code=303)


# --------------------------------------------------------------------------- delegations


def _department_users() -> list[User]:
    members = sa.select(RoleAssignment.user_id).where(
        RoleAssignment.department_id == _department().id
    )
    return list(
        db.session.scalars(
            sa.select(User).where(User.id.in_(members), User.is_active).order_by(User.name)
        )
    )


def _document_type_choices() -> list[SelectChoice]:
    language = current_language()
    return [
        SelectChoice(code, kind.name(language))
        for code, kind in sorted(registry().document_types.items())
    ]


def _delegation_form() -> DelegationForm:
    form = DelegationForm()
    me = actor()
    people = [SelectChoice(u.id, f"{u.name} ({u.username})") for u in _department_users()]
    form.delegate_id.choices = [p for p in people if p.value != me.id]
    form.document_types.choices = _document_type_choices()
    if _is_admin():
        form.delegator_id.choices = people
        if not form.is_submitted():
            form.delegator_id.data = me.id
    else:
        del form.delegator_id
    return form


def _render_delegations(form: DelegationForm, status: int = 200) -> Any:
    me = actor()
    query = delegation_rules.delegations_query(None if _is_admin() else me)
    page = paginate(query, page_number(), DEFAULT_PER_PAGE)
    body = render_template(
        "workflow/approvals/delegations.html",
        form=form,
        page=pagination(page),
        revoke_form=PostForm(),
        me=me,
        today=local_date(),
        is_admin=_is_admin(),
        **_helpers(),
    )
    return body, status


@bp.get("/delegations")
@require_permission("platform.approval_delegation.manage")
def delegations() -> Any:
    """List my delegations (administrators: the department's) and offer a new one."""
    return _render_delegations(_delegation_form())


@bp.post("/delegations")
@require_permission("platform.approval_delegation.manage")
def create_delegation() -> Any:
    """Let someone decide my approvals between two days."""
    form = _delegation_form()
    if not form.validate_on_submit():
        return _render_delegations(form, 422)
    me = actor()
    delegator = me
    if "delegator_id" in form and form.delegator_id.data not in (None, me.id):
        delegator = db.session.get(User, form.delegator_id.data) or me
    try:
        delegation_rules.create_delegation(
            db.session,
            delegator=delegator,
            delegate=db.session.get(User, form.delegate_id.data),
            starts_on=form.starts_on.data,
            ends_on=form.ends_on.data,
            document_types=form.document_types.data or None,
            reason=form.reason.data or "",
            actor=me,
            actor_is_admin=_is_admin(),
        )
    except ApprovalValidationError as exc:
        db.session.rollback()
        _show_errors(form, exc.errors)
        return _render_delegations(form, 422)
    db.session.commit()
    flash(_("The delegation is saved."), "success")
    return redirect(url_for("approvals.delegations"), code=303)


@bp.post("/delegations/<int:delegation_id>/revoke")
@require_permission("platform.approval_delegation.manage")
def revoke_delegation(delegation_id: int) -> Any:
    """End a delegation I gave (administrators: any of the department's)."""
    form = PostForm()
    if not form.validate_on_submit():
        abort(400)
    delegation = db.session.get(ApprovalDelegation, delegation_id)
    if delegation is None or not (_is_admin() or delegation.delegator_id == actor().id):
        abort(404)
    delegation_rules.revoke_delegation(db.session, delegation)
    db.session.commit()
    flash(_("The delegation is ended."), "success")
    return redirect(url_for("approvals.delegations"), code=303)


def _show_errors(form: Any, errors: dict[str, Any]) -> None:
    """Put a service's field errors on the form's fields, translated (the rest on the form)."""
    for name, messages in errors.items():
        field = form._fields.get(name)
        texts = [translated(m) for m in messages] if isinstance(messages, list) else []
        if field is not None:
            field.errors = [*field.errors, *texts]
        else:
            form.form_errors.extend(texts)


# --------------------------------------------------------------------------- policies


def _role_choices(blank: bool) -> list[SelectChoice]:
    index = 1 if current_language() == "ar" else 0
    choices = [SelectChoice("", "—")] if blank else []
    return choices + [
        SelectChoice(code, names[index])
        for code, names in BUILT_IN_ROLES.items()
        if code in policy_rules.ASSIGNABLE_ROLES
    ]


def _prepare_policy_form(form: PolicyForm, spare: int) -> PolicyForm:
    form.document_type.choices = [SelectChoice("", "—"), *_document_type_choices()]
    for _index in range(spare):
        form.steps.append_entry()
    for entry in form.steps:
        entry.form.role_code.choices = _role_choices(blank=True)
        entry.form.escalation_role_code.choices = _role_choices(blank=True)
    return form


def _form_data(policy: ApprovalPolicy) -> dict[str, Any]:
    usernames = {
        u.id: u.username
        for u in db.session.scalars(
            sa.select(User).where(
                User.id.in_({i for step in policy.steps for i in step.user_ids or []})
            )
        )
    }
    return {
        "document_type": policy.document_type,
        "name": policy.name,
        "active": policy.active,
        "priority": policy.priority,
        "min_amount": "" if policy.min_amount is None else str(policy.min_amount),
        "max_amount": "" if policy.max_amount is None else str(policy.max_amount),
        "conditions": format_conditions(policy.conditions),
        "auto_approve": policy.auto_approve,
        "steps": [
            {
                "name": step.name,
                "approver_kind": step.approver_kind,
                "manager_levels": step.manager_levels,
                "role_code": step.role_code or "",
                "usernames": ", ".join(usernames.get(i, str(i)) for i in step.user_ids or []),
                "mode": step.mode,
                "min_amount": "" if step.min_amount is None else str(step.min_amount),
                "max_amount": "" if step.max_amount is None else str(step.max_amount),
                "conditions": format_conditions(step.conditions),
                "escalate_after_hours": step.escalate_after_hours,
                "escalation_kind": step.escalation_kind or "",
                "escalation_role_code": step.escalation_role_code or "",
            }
            for step in policy.steps
        ],
    }


def _policy_input(form: PolicyForm) -> tuple[dict[str, Any], list[int], dict[str, Any]]:
    """Turn the form into the service's input; return it, the form row of each step, errors."""
    errors: dict[str, Any] = {}
    data: dict[str, Any] = {
        "document_type": form.document_type.data,
        "name": form.name.data,
        "active": form.active.data,
        "priority": form.priority.data,
        "min_amount": form.min_amount.data,
        "max_amount": form.max_amount.data,
        "auto_approve": form.auto_approve.data,
        "steps": [],
    }
    try:
        data["conditions"] = parse_conditions(form.conditions.data)
    except ValueError:
        errors["conditions"] = [_("Write each condition as: attribute = value, value")]
    rows: list[int] = []
    step_errors: dict[int, Any] = {}
    for row, entry in enumerate(form.steps):
        step = entry.form
        if not step.name.data:
            continue  # a blank row, or a step cleared to remove it
        problems: dict[str, list[str]] = {}
        user_ids: list[int] = []
        if step.approver_kind.data == "users":
            names = [n.strip() for n in (step.usernames.data or "").split(",") if n.strip()]
            found = {
                u.username.lower(): u.id
                for u in db.session.scalars(
                    sa.select(User).where(
                        sa.func.lower(User.username).in_([n.lower() for n in names])
                    )
                )
            }
            unknown = [n for n in names if n.lower() not in found]
            if unknown:
                problems["usernames"] = [_("Unknown users: %(names)s", names=", ".join(unknown))]
            user_ids = [found[n.lower()] for n in names if n.lower() in found]
        try:
            conditions = parse_conditions(step.conditions.data)
        except ValueError:
            conditions = None
            problems["conditions"] = [_("Write each condition as: attribute = value, value")]
        if problems:
            step_errors[row] = problems
        rows.append(row)
        data["steps"].append(
            {
                "name": step.name.data,
                "approver_kind": step.approver_kind.data,
                "role_code": step.role_code.data or None,
                "user_ids": user_ids,
                "manager_levels": step.manager_levels.data or 1,
                "mode": step.mode.data,
                "min_amount": step.min_amount.data,
                "max_amount": step.max_amount.data,
                "conditions": conditions,
                "escalate_after_hours": step.escalate_after_hours.data,
                "escalation_kind": step.escalation_kind.data or None,
                "escalation_role_code": step.escalation_role_code.data or None,
            }
        )
    if step_errors:
        errors["steps"] = step_errors
    return data, rows, errors


def _show_policy_errors(form: PolicyForm, errors: dict[str, Any], rows: list[int]) -> None:
    steps = errors.pop("steps", None)
    if isinstance(steps, dict):
        for index, problems in steps.items():
            step_form = form.steps[rows[index] if rows else index].form
            renamed = {("usernames" if k == "user_ids" else k): v for k, v in problems.items()}
            _show_errors(step_form, renamed)
            form.form_errors.extend(
                translated(m) for k, v in renamed.items() if k not in step_form._fields for m in v
            )
    elif steps:
        form.form_errors.extend(translated(m) for m in steps)
    _show_errors(form, errors)


def _save_policy(form: PolicyForm, policy: ApprovalPolicy | None) -> Any:
    data, rows, errors = _policy_input(form)
    if errors:
        # Form-level problems are reported by the rows they were found in.
        _show_policy_errors(form, errors, [])
        return None
    try:
        if policy is None:
            policy = policy_rules.create_policy(db.session, data)
        else:
            policy_rules.update_policy(db.session, policy, data)
    except ApprovalValidationError as exc:
        db.session.rollback()
        _show_policy_errors(form, dict(exc.errors), rows)
        return None
    except PolicyConflictError:
        db.session.rollback()
        form.form_errors.append(
            _("Someone else saved this policy meanwhile. Reload it and edit again.")
        )
        return None
    db.session.commit()
    flash(_("The policy %(name)s is saved.", name=policy.name), "success")
    return redirect(url_for("approvals.policies"), code=303)


@bp.get("/policies")
@require_permission("platform.approval_policy.manage")
def policies() -> Any:
    """List the active department's approval policies."""
    _department()
    query = sa.select(ApprovalPolicy).order_by(
        ApprovalPolicy.document_type, ApprovalPolicy.priority, ApprovalPolicy.id
    )
    page = paginate(query, page_number(), DEFAULT_PER_PAGE)
    return render_template("workflow/approvals/policies.html", page=pagination(page), **_helpers())


@bp.route("/policies/new", methods=["GET", "POST"])
@require_permission("platform.approval_policy.manage")
def new_policy() -> Any:
    """Create an approval policy with its steps."""
    _department()
    form = PolicyForm()
    _prepare_policy_form(form, 0 if form.is_submitted() else SPARE_STEP_ROWS)
    if form.validate_on_submit():
        saved = _save_policy(form, None)
        if saved is not None:
            return saved
    status = 422 if form.is_submitted() else 200
    return render_template(
        "workflow/approvals/policy_form.html", form=form, policy=None, **_helpers()
    ), status


@bp.route("/policies/<int:policy_id>/edit", methods=["GET", "POST"])
@require_permission("platform.approval_policy.manage")
def edit_policy(policy_id: int) -> Any:
    """Change an approval policy; requests already submitted keep their route."""
    _department()
    policy = db.session.get(ApprovalPolicy, policy_id)
    if policy is None:
        abort(404)
    form = PolicyForm() if http_request.method == "POST" else PolicyForm(data=_form_data(policy))
    _prepare_policy_form(form, 0 if form.is_submitted() else SPARE_STEP_ROWS)
    if form.validate_on_submit():
        saved = _save_policy(form, policy)
        if saved is not None:
            return saved
    status = 422 if form.is_submitted() else 200
    return render_template(
        "workflow/approvals/policy_form.html", form=form, policy=policy, **_helpers()
    ), status
