"""Self-service profile and change requests: /hr/me/profile, HR's /hr/change-requests.

Registered on the HR pages blueprint (modules/hr/views.py). The employee sees
their record, asks for a change of contact or bank details and follows its
state; HR officers see the requests and approve or reject them here or in
their approval inbox (/approvals). A request is visible to HR and to its
employee only; anyone else, and another department, gets 404.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from grp.api import paginate
from grp.auth.context import has_permission, require_permission
from grp.db import db
from grp.errors import ValidationError
from grp.web.helpers import (
    DEFAULT_PER_PAGE,
    actor,
    error_messages,
    page_number,
    pagination,
    run_action,
    save_form,
    show_service_errors,
)
from grp.workflow.approvals import ApprovalError, decide
from grp.workflow.approvals.errors import translated
from grp.workflow.approvals.models import ApprovalRequest
from grp.workflow.approvals.services import can_decide
from modules.hr.forms import ButtonForm, ChangeRequestForm, DecisionForm
from modules.hr.models import CHANGE_REQUEST_STATES, CHANGEABLE_FIELDS, ChangeRequest
from modules.hr.services import change_requests
from modules.hr.services.employees import employee_of_user
from modules.hr.views import bp


@bp.route("/me/profile", methods=["GET", "POST"])
@require_permission("hr.change_request.self")
def my_profile() -> Any:
    """My record, a form to ask HR for a change of my details, and my requests' states."""
    employee = employee_of_user(db.session, actor().id)
    if employee is None:
        return render_template("hr/no_record.html"), 404
    form = ChangeRequestForm(data={name: getattr(employee, name) for name in CHANGEABLE_FIELDS})
    status = 200
    if form.validate_on_submit():
        data = {name: getattr(form, name).data or None for name in CHANGEABLE_FIELDS}
        data["note"] = form.note.data or ""
        saved = save_form(
            form,
            lambda: change_requests.submit_change_request(
                db.session, employee, data, actor=actor()
            ),
            success=_("Your change request is sent to HR."),
            redirect_to=url_for("hr.my_profile"),
        )
        if saved is not None:
            return saved
        status = 422
    elif form.is_submitted():
        status = 422
    requests = list(
        db.session.scalars(change_requests.change_requests_query(employee_id=employee.id).limit(50))
    )
    return (
        render_template(
            "hr/profile.html",
            employee=employee,
            form=form,
            requests=requests,
            button=ButtonForm(),
        ),
        status,
    )


@bp.post("/me/change-requests/<int:request_id>/withdraw")
@require_permission("hr.change_request.self")
def withdraw_change_request(request_id: int) -> Any:
    """Withdraw my pending change request."""
    found = db.session.get(ChangeRequest, request_id)
    if found is None or found.employee.user_id != actor().id:
        abort(404)
    if not ButtonForm().validate_on_submit():
        abort(400)
    return run_action(
        lambda: change_requests.withdraw_change_request(db.session, found, actor=actor()),
        refused={ValidationError: error_messages},
        success=_("Your change request is withdrawn."),
        redirect_to=url_for("hr.my_profile"),
    )


@bp.get("/change-requests", endpoint="change_requests")
@require_permission("hr.change_request.read")
def change_requests_list() -> Any:
    """The department's change requests (pending first by default), newest first."""
    state = request.args.get("state", "pending")
    query = change_requests.change_requests_query(
        state=state if state in CHANGE_REQUEST_STATES else None
    )
    page = pagination(paginate(query, page_number(), DEFAULT_PER_PAGE))
    return render_template(
        "hr/change_requests.html", page=page, state=state, states=CHANGE_REQUEST_STATES
    )


def _visible(request_id: int) -> ChangeRequest:
    found = db.session.scalar(sa.select(ChangeRequest).where(ChangeRequest.id == request_id))
    if found is None or not (
        has_permission("hr.change_request.read") or found.employee.user_id == actor().id
    ):
        abort(404)
    return found


@bp.route("/change-requests/<int:request_id>", methods=["GET", "POST"])
@require_permission("hr.change_request.self")
def change_request_detail(request_id: int) -> Any:
    """One change request: current and requested values; HR approves or rejects it here."""
    found = _visible(request_id)
    approval = (
        db.session.get(ApprovalRequest, found.approval_request_id)
        if found.approval_request_id
        else None
    )
    may_decide = (
        approval is not None
        and found.state == "pending"
        and has_permission("hr.change_request.read")
        and can_decide(db.session, approval, actor())
    )
    form = DecisionForm()
    status = 200
    if request.method == "POST":
        if not may_decide:
            abort(403)
        if form.validate_on_submit():
            approve = bool(form.approve.data)
            try:
                decide(
                    db.session,
                    approval,
                    actor=actor(),
                    approve=approve,
                    comment=form.comment.data or "",
                )
            except ValidationError as exc:
                db.session.rollback()
                show_service_errors(
                    form,
                    {
                        name: [translated(m) for m in messages]
                        for name, messages in exc.errors.items()
                        if isinstance(messages, list)
                    },
                )
                status = 422
            except ApprovalError as exc:
                db.session.rollback()
                form.comment.errors = [*form.comment.errors, str(exc)]
                status = 422
            else:
                db.session.commit()
                flash(
                    _("The change request is approved and the record updated.")
                    if approve
                    else _("The change request is rejected."),
                    "success",
                )
                return redirect(url_for("hr.change_request_detail", request_id=found.id), code=303)
    return (
        render_template(
            "hr/change_request.html",
            change_request=found,
            employee=found.employee,
            may_decide=may_decide,
            form=form,
        ),
        status,
    )
