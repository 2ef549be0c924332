"""Self-service change requests: an employee asks to change contact or bank details; HR approves.

* Only `CHANGEABLE_FIELDS` (work email, mobile, IBAN, bank routing code) may
  be asked for; the values are checked with the employee record's own rules
  (IBAN mod-97, 9-digit routing code, ...) when asked, and again when applied.
* One pending request per employee: a second waits until the first is decided
  or withdrawn.
* The request goes through the approval engine as "hr.change_request"; a
  department without a policy for it gets "an HR officer approves" on first
  use (`ensure_change_request_policy`). The requester can never approve it
  (maker-checker), so an HR officer's own request needs another officer.
* On approval the employee is updated through `update_employee` (validated,
  audited); a rejection keeps the approver's comment; a withdrawal cancels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from grp.db import utcnow
from grp.errors import ValidationError
from grp.models import User
from modules.hr.i18n import _
from modules.hr.models import CHANGEABLE_FIELDS, ChangeRequest, Employee
from modules.hr.services.employees import clean_employee, employee_input, update_employee
from modules.hr.services.organisation import load_reference
from modules.hr.services.values import as_text

DOCUMENT_TYPE = "hr.change_request"


def ensure_change_request_policy(session: Session) -> bool:
    """Create the policy "an HR officer approves" for change requests when none exists."""
    from grp.workflow.approvals.models import ApprovalPolicy
    from grp.workflow.approvals.policies import create_policy

    if session.scalar(
        sa.select(ApprovalPolicy.id).where(ApprovalPolicy.document_type == DOCUMENT_TYPE)
    ):
        return False
    create_policy(
        session,
        {
            "document_type": DOCUMENT_TYPE,
            "name": "Change of my details: HR",
            "steps": [
                {"name": "HR", "approver_kind": "role", "role_code": "hr_officer", "mode": "any"}
            ],
        },
    )
    session.flush()
    return True


def _json_value(value: Any) -> Any:
    return value if value is None or isinstance(value, (str, int, bool)) else str(value)


def submit_change_request(
    session: Session, employee: Employee, data: Mapping[str, Any], *, actor: User
) -> ChangeRequest:
    """Ask HR to change the employee's details; return the pending request.

    `data`: any of `CHANGEABLE_FIELDS` with the wanted value (blank clears an
    optional field) and an optional `note`. Raises ValidationError naming the
    field (`iban`, `mobile`, ...); `changes` when nothing would change or a
    request is already pending.
    """
    from grp.workflow.approvals import submit_for_approval
    from grp.workflow.approvals.errors import ApprovalError
    from modules.hr.services.leave import user_of

    errors: dict[str, list[str]] = {}
    asked = {name: data[name] for name in CHANGEABLE_FIELDS if name in data}
    for name in sorted(set(data) - set(CHANGEABLE_FIELDS) - {"note"}):
        errors[name] = [_("This field cannot be changed here.")]
    note = as_text(data.get("note")) or ""
    if len(note) > 2000:
        errors["note"] = [_("Use at most %(num)d characters.", num=2000)]
    current = employee_input(employee)
    # A form sends every field: one left as it is is not asked for (nor re-checked).
    asked = {
        name: value
        for name, value in asked.items()
        if (as_text(value) or None) != (as_text(current.get(name)) or None)
    }
    values, field_errors = clean_employee({**current, **asked}, load_reference(session))
    for name in asked:
        if name in field_errors:
            errors[name] = list(field_errors[name])
    changes = {
        name: _json_value(values.get(name))
        for name in asked
        if name not in errors and values.get(name) != getattr(employee, name)
    }
    if not errors and not changes:
        errors["changes"] = [_("These are already your details: change at least one.")]
    pending = session.scalar(
        sa.select(ChangeRequest.id).where(
            ChangeRequest.employee_id == employee.id, ChangeRequest.state == "pending"
        )
    )
    if pending is not None:
        errors.setdefault("changes", []).append(
            _("A change request of yours is waiting for HR; wait for it or withdraw it first.")
        )
    requester = user_of(session, employee)
    if requester is None:
        errors.setdefault("changes", []).append(
            _("This employee has no user account, so the request cannot be routed for approval.")
        )
    if errors:
        raise ValidationError(errors)
    assert requester is not None
    ensure_change_request_policy(session)
    request = ChangeRequest(
        employee_id=employee.id,
        changes=changes,
        old_values={name: _json_value(getattr(employee, name)) for name in changes},
        note=note,
        state="pending",
        requested_by_id=actor.id,
    )
    session.add(request)
    session.flush()
    try:
        approval = submit_for_approval(
            session,
            document_type=DOCUMENT_TYPE,
            document_id=str(request.id),
            requester=requester,
            preparer=actor if actor.id != requester.id else None,
            attributes={"fields": ",".join(sorted(changes))},
            summary=f"{', '.join(sorted(changes))}: {employee.name_en} ({employee.employee_no})",
        )
    except ApprovalError as exc:
        raise ValidationError({"changes": [str(exc)]}) from exc
    request.approval_request_id = approval.id
    session.flush()
    return request


def _decider(approval: Any) -> tuple[int | None, str]:
    """Return who made the final decision and their comment (the last decision entry)."""
    decisions = [h for h in approval.history if h.action in ("approved", "rejected")]
    if not decisions:
        return None, ""
    last = max(decisions, key=lambda h: (h.at, h.id))
    return last.actor_id, last.comment or ""


def change_request_decided(session: Session, approval: Any) -> None:
    """Apply the approval engine's final decision on a change request (its `on_decided`).

    Approved: the employee record is updated through `update_employee`, so the
    values are validated again and the change is audited; a value no longer
    valid undoes the decision with a ValidationError naming the field.
    """
    request = session.get(ChangeRequest, int(approval.document_id))
    if request is None or request.state != "pending":
        return
    request.decided_at = utcnow()
    decided_by, comment = _decider(approval)
    if approval.state == "approved":
        employee = request.employee
        update_employee(
            session,
            employee,
            dict(request.changes),
            expected_version=None,
            department_id=employee.department_id,
        )
        request.state = "approved"
        request.decided_by_id = decided_by
        request.decision_comment = comment
    elif approval.state == "rejected":
        request.state = "rejected"
        request.decided_by_id = decided_by
        request.decision_comment = comment
    else:
        request.state = "cancelled"
    session.flush()


def withdraw_change_request(session: Session, request: ChangeRequest, *, actor: User) -> None:
    """Withdraw a pending request (its requester); raise ValidationError otherwise."""
    from grp.workflow.approvals import cancel_approval
    from grp.workflow.approvals.models import ApprovalRequest

    if request.state != "pending":
        raise ValidationError({"state": [_("Only a pending request can be withdrawn.")]})
    approval = (
        session.get(ApprovalRequest, request.approval_request_id)
        if request.approval_request_id
        else None
    )
    if approval is not None and approval.state == "pending":
        cancel_approval(session, approval, actor=None, comment=f"withdrawn by {actor.name}")
    request.state = "cancelled"
    session.flush()


def change_requests_query(*, state: str | None = None, employee_id: int | None = None) -> sa.Select:
    """Return the department's change requests (newest first), optionally by state or employee."""
    query = sa.select(ChangeRequest).order_by(ChangeRequest.id.desc())
    if state:
        query = query.where(ChangeRequest.state == state)
    if employee_id is not None:
        query = query.where(ChangeRequest.employee_id == employee_id)
    return query
