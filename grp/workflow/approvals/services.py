"""The approval engine's rules: routing, submitting, deciding, escalating, the inbox.

Policies are checked and matched in `policies`, delegations in `delegations`,
document types and the org chart resolver live in `registry`. Services flush
and never commit: the request, the CLI command or the job commits. All of them
act in the session's current department.

Choices made here (and tested):

* No active policy matches a document: `NoPolicyError`. A policy matches but
  none of its steps applies to the document: approved at once when the policy
  says `auto_approve`, else `NoApproverError`.
* A step resolves to nobody (no manager found, nobody holds the role, the named
  users are inactive or are the requester): its escalation target is asked
  instead; when that is nobody too, `NoApproverError` names the step. Every
  step is checked when the document is submitted, so a request does not get
  stuck half way because its last step has no approver.
* Maker-checker: the requester and the preparer are never approvers, neither
  resolved into a step nor as a delegate, whatever roles they hold.
* Escalation *moves* an overdue task: the original approver's task becomes
  `escalated` and the target gets a new task in the same slot.
* Cancelling (by the requester, the preparer or the owning module) is final
  like a decision: the module's `on_decided` and the signal run for it too
  (read `request.state`); the makers are not notified of their own withdrawal.
* Notifications: "approval.waiting" to each new approver and to whoever acts
  for them that day; "approval.decided" to the requester and the preparer
  when the request is approved or rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from grp.auth.permissions import DEPARTMENT_ADMIN, SYSTEM_ADMIN
from grp.db import utcnow
from grp.models import Department, Role, RoleAssignment, User
from grp.money import MoneyError, to_decimal, to_fils
from grp.tenancy import TenancyError, current_department_id, department_context
from grp.workflow.approvals.delegations import delegates_of, delegations_to
from grp.workflow.approvals.errors import (
    N_,
    ApprovalValidationError,
    CommentRequiredError,
    ConcurrentDecisionError,
    DuplicateRequestError,
    MakerCheckerError,
    Message,
    NoApproverError,
    NotAnApproverError,
    RequestNotPendingError,
)
from grp.workflow.approvals.models import (
    ALL,
    APPROVED,
    AUTO_APPROVED,
    CANCELLED,
    ESCALATE_TO_MANAGER,
    ESCALATE_TO_ROLE,
    ESCALATED,
    ESCALATION_FAILED,
    MANAGER,
    PENDING,
    REJECTED,
    ROLE,
    SKIPPED,
    SUBMITTED,
    ApprovalHistoryEntry,
    ApprovalRequest,
    ApprovalStep,
    ApprovalTask,
)
from grp.workflow.approvals.policies import amount_matches, conditions_match, select_policy
from grp.workflow.approvals.registry import (
    get_document_type,
    local_date,
    members_of,
    registry,
)
from grp.workflow.approvals.signals import approval_decided

#: Longest management chain walked before giving up (protects against cycles).
MAX_CHAIN = 25


def _route_step(step: ApprovalStep) -> dict[str, Any]:
    """Copy a policy step into a request's route (JSON: the request keeps it as submitted)."""
    return {
        "sequence": step.sequence,
        "name": step.name,
        "approver_kind": step.approver_kind,
        "role_code": step.role_code,
        "user_ids": list(step.user_ids or []),
        "manager_levels": step.manager_levels,
        "mode": step.mode,
        "escalate_after_hours": step.escalate_after_hours,
        "escalation_kind": step.escalation_kind,
        "escalation_role_code": step.escalation_role_code,
    }


# --------------------------------------------------------------------------- resolving people


def _eligible(user: User | None, request: ApprovalRequest) -> bool:
    return user is not None and user.is_active and user.id not in request.makers


def resolve_manager(
    session: Session, user: User, *, levels: int = 1, skip: Callable[[User], bool] | None = None
) -> User | None:
    """Return the manager `levels` up from `user`, walking further up past unsuitable ones.

    Walking up the org chart: when the manager found is inactive or `skip`
    says so (the requester, say), that manager's manager is taken, and so on.
    None when the chain ends, loops, or no resolver is registered.
    """
    resolver = registry().manager_resolver
    if resolver is None:
        return None
    seen = {user.id}
    current: User | None = user
    for _ in range(levels):
        current = resolver(session, current)
        if current is None or current.id in seen:
            return None
        seen.add(current.id)
    for _ in range(MAX_CHAIN):
        if current.is_active and not (skip and skip(current)):
            return current
        current = resolver(session, current)
        if current is None or current.id in seen:
            return None
        seen.add(current.id)
    return None


def role_holders(session: Session, department_id: int, role_code: str) -> list[User]:
    """Return the active users holding `role_code` in the department, by id."""
    # role_assignments is a global table: filtering by department here is the scoping.
    return list(
        session.scalars(
            sa.select(User)
            .join(RoleAssignment, RoleAssignment.user_id == User.id)
            .join(Role, Role.id == RoleAssignment.role_id)
            .where(
                RoleAssignment.department_id == department_id,
                Role.code == role_code,
                User.is_active,
            )
            .order_by(User.id)
        ).unique()
    )


def _step_approvers(
    session: Session, request: ApprovalRequest, step: Mapping[str, Any]
) -> list[User]:
    kind = step["approver_kind"]
    if kind == MANAGER:
        manager = resolve_manager(
            session,
            request.requester,
            levels=step.get("manager_levels") or 1,
            skip=lambda u: u.id in request.makers,
        )
        candidates = [manager] if manager else []
    elif kind == ROLE:
        candidates = role_holders(session, request.department_id, step["role_code"])
    else:
        found = members_of(session, request.department_id, step.get("user_ids") or [])
        candidates = [found[i] for i in step.get("user_ids") or [] if i in found]
    return [u for u in candidates if _eligible(u, request)]


def _escalation_targets(
    session: Session,
    request: ApprovalRequest,
    step: Mapping[str, Any],
    approver: User | None,
    exclude: set[int],
) -> list[User]:
    """Return whom to ask instead of `approver` (None: the step found nobody at all)."""
    kind = step.get("escalation_kind")
    if kind == ESCALATE_TO_ROLE and step.get("escalation_role_code"):
        candidates = role_holders(session, request.department_id, step["escalation_role_code"])
    elif kind == ESCALATE_TO_MANAGER:
        # With no approver to escalate from, the requester's manager is asked.
        manager = resolve_manager(
            session,
            approver or request.requester,
            skip=lambda u: u.id in request.makers or u.id in exclude,
        )
        candidates = [manager] if manager else []
    else:
        candidates = []
    return [u for u in candidates if _eligible(u, request) and u.id not in exclude]


def _approvers_for(session: Session, request: ApprovalRequest, index: int) -> list[User]:
    step = request.route[index]
    approvers = _step_approvers(session, request, step) or _escalation_targets(
        session, request, step, None, set()
    )
    if not approvers:
        raise NoApproverError(
            f"step {index + 1} ({step['name']}) has nobody to approve it: " + _nobody_reason(step)
        )
    return approvers


def _nobody_reason(step: Mapping[str, Any]) -> str:
    if step["approver_kind"] == MANAGER:
        return "no manager of the requester was found (HR's org chart)"
    if step["approver_kind"] == ROLE:
        return f"nobody but the requester holds the role {step['role_code']!r} in the department"
    return "none of the named users is active in the department or they made the document"


# --------------------------------------------------------------------------- history and notices


def _record(
    session: Session,
    request: ApprovalRequest,
    action: str,
    *,
    at: datetime,
    actor: User | None = None,
    acting_for: User | None = None,
    task: ApprovalTask | None = None,
    comment: str = "",
    details: dict[str, Any] | None = None,
) -> ApprovalHistoryEntry:
    entry = ApprovalHistoryEntry(
        request=request,
        task_id=task.id if task is not None else None,
        # Submission and automatic approval happen before any step; the rest at one.
        step_index=(
            task.step_index
            if task is not None
            else None
            if action in (SUBMITTED, AUTO_APPROVED)
            else request.current_step
        ),
        at=at,
        action=action,
        actor_id=actor.id if actor else None,
        actor=actor,
        acting_for_id=acting_for.id if acting_for else None,
        acting_for=acting_for,
        comment=comment,
        details=details,
    )
    session.add(entry)
    return entry


def _person(user: User) -> dict[str, Any]:
    return {"id": user.id, "name": user.name}


def request_link(request: ApprovalRequest) -> str:
    """The path of the request's page (also valid outside a web request: jobs, CLI)."""
    return f"/approvals/{request.id}"


def _notice(request: ApprovalRequest, recipient: User) -> dict[str, Any]:
    """Return the context of an approval notification, in the recipient's language.

    `summary` and `requester` are what grp.workflow.notifications' approval
    templates show; the rest is there for modules' own templates.
    """
    found = registry().document_types.get(request.document_type)
    kind = found.name(recipient.language) if found else request.document_type
    what = f"{kind} {request.document_id}"
    return {
        "summary": f"{what}: {request.summary}" if request.summary else what,
        "requester": request.requester.name,
        "request_id": request.id,
        "document_type": request.document_type,
        "document_id": request.document_id,
        "amount": None if request.amount is None else str(request.amount),
        "step": request.step_name(request.current_step),
    }


def _notify(
    session: Session, recipient: User, event: str, context: dict[str, Any], request: ApprovalRequest
) -> None:
    from grp.workflow.notifications import notify

    notify(
        session,
        recipient=recipient,
        event=event,
        context=context,
        department_id=request.department_id,
        link=request_link(request),
    )


def _notify_waiting(
    session: Session, request: ApprovalRequest, approvers: list[User], now: datetime
) -> None:
    """Tell each new approver, and whoever acts for them today, that a decision waits."""
    day = local_date(now)
    for approver in approvers:
        _notify(session, approver, "approval.waiting", _notice(request, approver), request)
        for delegate in delegates_of(session, approver, day, request.document_type):
            if delegate.id not in request.makers:
                context = {**_notice(request, delegate), "acting_for": approver.name}
                _notify(session, delegate, "approval.waiting", context, request)


def _finish(
    session: Session,
    request: ApprovalRequest,
    *,
    decided_by: User | None = None,
    comment: str = "",
) -> None:
    """Tell the makers (not of their own withdrawal) and the owning module: decided, once."""
    session.flush()
    if request.state in (APPROVED, REJECTED):
        makers = {request.requester_id: request.requester}
        if request.preparer is not None:
            makers[request.preparer.id] = request.preparer
        for maker in makers.values():
            context = {
                **_notice(request, maker),
                "approved": request.state == APPROVED,
                "decision": request.state,
                "approver": decided_by.name if decided_by else "",
                "comment": comment,
            }
            _notify(session, maker, "approval.decided", context, request)
    found = registry().document_types.get(request.document_type)
    if found is not None and found.on_decided is not None:
        found.on_decided(session, request)
    approval_decided.send(current_app._get_current_object(), request=request, session=session)


# --------------------------------------------------------------------------- submitting


def _clean_amount(amount: Any) -> Decimal | None:
    if amount is None:
        return None
    try:
        value = to_decimal(amount)
        to_fils(value)
    except MoneyError as exc:
        raise ApprovalValidationError(
            {
                "amount": [
                    Message(N_("Enter an amount with at most two decimals, such as 10000.00."))
                ]
            }
        ) from exc
    return value


def pending_request_for(
    session: Session, document_type_code: str, document_id: str
) -> ApprovalRequest | None:
    """Return the request of this document now waiting for approval, if any."""
    return session.scalar(
        sa.select(ApprovalRequest).where(
            ApprovalRequest.document_type == document_type_code,
            ApprovalRequest.document_id == str(document_id),
            ApprovalRequest.state == PENDING,
        )
    )


def submit_for_approval(
    session: Session,
    *,
    document_type: str,
    document_id: str,
    requester: User,
    amount: Decimal | None = None,
    attributes: Mapping[str, Any] | None = None,
    summary: str = "",
    preparer: User | None = None,
    now: datetime | None = None,
) -> ApprovalRequest:
    """Send a document for approval in the current department; return the pending request.

    The department's matching policy decides the steps; the first step's
    approvers get a task and a notification. `preparer` is who entered the
    document for the requester (HR on an employee's behalf); neither may
    approve it. Raises `NoPolicyError`, `NoApproverError`,
    `DuplicateRequestError` or `UnknownDocumentTypeError`.
    """
    now = now or utcnow()
    kind = get_document_type(document_type)
    document_id = str(document_id)
    if not document_id or len(document_id) > 64:
        raise ApprovalValidationError(
            {"document_id": [Message(N_("Give the document's id (1 to 64 characters)."))]}
        )
    value = _clean_amount(amount)
    attrs = dict(attributes or {})
    if pending_request_for(session, kind.code, document_id) is not None:
        raise DuplicateRequestError(
            f"{kind.code} {document_id} is already waiting for approval; cancel that request first"
        )
    policy = select_policy(session, kind.code, value, attrs)
    route = [
        _route_step(step)
        for step in policy.steps
        if amount_matches(step.min_amount, step.max_amount, value)
        and conditions_match(step.conditions, attrs)
    ]
    department_id = current_department_id(session)
    if department_id is None:
        raise TenancyError("no current department: choose the department the document belongs to")
    maker = preparer if preparer is not None and preparer.id != requester.id else None
    request = ApprovalRequest(
        department_id=department_id,
        document_type=kind.code,
        document_id=document_id,
        requester_id=requester.id,
        requester=requester,
        preparer_id=maker.id if maker else None,
        preparer=maker,
        amount=value,
        attributes=attrs,
        summary=(summary or "")[:500],
        state=PENDING,
        policy_id=policy.id,
        policy_version=policy.version,
        route=route,
        current_step=0 if route else None,
        submitted_at=now,
    )
    if not route and not policy.auto_approve:
        raise NoApproverError(
            f"no step of the policy {policy.name!r} applies to this document, and the "
            "policy does not approve such documents automatically"
        )
    # Every step is resolved now, before anything is stored, so that a request cannot
    # get stuck later for want of an approver (and a refused one leaves nothing behind).
    approvers = [_approvers_for(session, request, index) for index in range(len(route))]
    session.add(request)
    _record(
        session,
        request,
        SUBMITTED,
        at=now,
        actor=maker or requester,
        acting_for=requester if maker else None,
        details={"policy": policy.name, "policy_version": policy.version},
    )
    if not route:
        request.state = APPROVED
        request.decided_at = now
        _record(session, request, AUTO_APPROVED, at=now, details={"policy": policy.name})
        _finish(session, request)
        return request
    session.flush()
    _open_step(session, request, 0, approvers[0], now)
    session.flush()
    return request


def _open_step(
    session: Session, request: ApprovalRequest, index: int, approvers: list[User], now: datetime
) -> None:
    step = request.route[index]
    request.current_step = index
    hours = step.get("escalate_after_hours")
    due = now + timedelta(hours=hours) if hours else None
    for slot, approver in enumerate(approvers):
        session.add(
            ApprovalTask(
                request=request,
                step_index=index,
                slot=slot,
                approver_id=approver.id,
                approver=approver,
                state=PENDING,
                created_at=now,
                due_at=due,
            )
        )
    session.flush()
    _notify_waiting(session, request, approvers, now)


# --------------------------------------------------------------------------- deciding


def _lock(session: Session, request: ApprovalRequest) -> tuple[ApprovalRequest, list[ApprovalTask]]:
    """Lock the request row and read it and its tasks afresh.

    The lock makes a second approver of the same step wait until the first
    commits, then see the step as it is; SQLite serialises writers instead.
    """
    locked = session.scalar(
        sa.select(ApprovalRequest)
        .where(ApprovalRequest.id == request.id)
        .with_for_update(of=ApprovalRequest)
        .execution_options(populate_existing=True)
    )
    if locked is None:
        raise RequestNotPendingError("the request does not exist in this department")
    tasks = list(
        session.scalars(
            sa.select(ApprovalTask)
            .where(ApprovalTask.request_id == locked.id)
            .order_by(ApprovalTask.step_index, ApprovalTask.id)
            .execution_options(populate_existing=True)
        )
    )
    session.expire(locked, ["tasks", "history"])
    return locked, tasks


def _task_to_decide(
    session: Session, request: ApprovalRequest, tasks: list[ApprovalTask], actor: User, day: date
) -> tuple[ApprovalTask, User | None]:
    """Return the pending task `actor` may decide and whom they act for (None: themselves)."""
    pending = [t for t in tasks if t.state == PENDING and t.step_index == request.current_step]
    for task in pending:
        if task.approver_id == actor.id:
            return task, None
    delegations = delegations_to(session, actor, day, {t.approver_id for t in pending})
    for task in pending:
        for delegation in delegations:
            if delegation.delegator_id == task.approver_id and delegation.covers(
                day, request.document_type
            ):
                return task, task.approver
    raise NotAnApproverError("you are not an approver of this request at its current step")


def _step_complete(mode: str, tasks: list[ApprovalTask]) -> bool:
    slots = {t.slot for t in tasks}
    approved = {t.slot for t in tasks if t.state == APPROVED}
    return approved == slots if mode == ALL else bool(approved)


def _close(request: ApprovalRequest, tasks: list[ApprovalTask], state: str, now: datetime) -> None:
    request.state = state
    request.decided_at = now
    for task in tasks:
        if task.state == PENDING:
            task.state = SKIPPED


def _flush(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError as exc:
        raise ConcurrentDecisionError(
            "someone else decided this request at the same moment; read it again"
        ) from exc


def decide(
    session: Session,
    request: ApprovalRequest,
    *,
    actor: User,
    approve: bool,
    comment: str = "",
    now: datetime | None = None,
) -> ApprovalRequest:
    """Approve or reject `request` at its current step as `actor` (or as their delegate).

    Raises `MakerCheckerError` for the requester or preparer and
    `NotAnApproverError` for anyone without a pending task here (both are
    PermissionErrors), `CommentRequiredError` for a rejection without a
    comment, and `RequestNotPendingError` once the request is decided.
    A rejection ends the request; the last approval approves it. Either way
    the module's `on_decided` and the `approval_decided` signal run once.
    """
    now = now or utcnow()
    comment = (comment or "").strip()
    request, tasks = _lock(session, request)
    if request.state != PENDING:
        raise RequestNotPendingError(f"the request is already {request.state}")
    if actor.id in request.makers:
        raise MakerCheckerError("whoever made a document cannot approve it (maker-checker)")
    task, acting_for = _task_to_decide(session, request, tasks, actor, local_date(now))
    if not approve and not comment:
        raise CommentRequiredError()
    task.state = APPROVED if approve else REJECTED
    task.decided_at = now
    task.decided_by_id = actor.id
    _record(
        session,
        request,
        task.state,
        at=now,
        actor=actor,
        acting_for=acting_for,
        task=task,
        comment=comment,
    )
    # Every decision changes the request row, so its version guards the step.
    request.updated_at = now
    step_tasks = [t for t in tasks if t.step_index == task.step_index]
    for other in step_tasks:
        if other.state == PENDING and other.slot == task.slot:
            other.state = SKIPPED  # the slot is decided: an escalation's sibling is not needed
    if not approve:
        _close(request, tasks, REJECTED, now)
        _flush(session)
        _finish(session, request, decided_by=actor, comment=comment)
        return request
    if _step_complete(request.route[task.step_index]["mode"], step_tasks):
        for other in step_tasks:
            if other.state == PENDING:
                other.state = SKIPPED
        following = task.step_index + 1
        if following < len(request.route):
            _flush(session)
            _open_step(
                session, request, following, _approvers_for(session, request, following), now
            )
        else:
            _close(request, tasks, APPROVED, now)
            _flush(session)
            _finish(session, request, decided_by=actor, comment=comment)
            return request
    _flush(session)
    return request


def cancel_approval(
    session: Session,
    request: ApprovalRequest,
    *,
    actor: User | None,
    comment: str = "",
    now: datetime | None = None,
) -> ApprovalRequest:
    """Withdraw a pending request: by its requester or preparer, or by the module (`actor=None`)."""
    now = now or utcnow()
    request, tasks = _lock(session, request)
    if request.state != PENDING:
        raise RequestNotPendingError(f"the request is already {request.state}")
    if actor is not None and actor.id not in request.makers:
        raise NotAnApproverError("only the requester or the preparer may withdraw a request")
    _record(session, request, CANCELLED, at=now, actor=actor, comment=(comment or "").strip())
    request.updated_at = now
    _close(request, tasks, CANCELLED, now)
    _flush(session)
    _finish(session, request)
    return request


# --------------------------------------------------------------------------- escalation


def escalate_overdue_in_department(session: Session, now: datetime) -> int:
    """Escalate the current department's overdue tasks; return how many moved."""
    overdue = session.scalars(
        sa.select(ApprovalTask.id)
        .join(ApprovalTask.request)
        .where(
            ApprovalTask.state == PENDING,
            ApprovalTask.escalated_at.is_(None),
            ApprovalTask.due_at <= now,
            ApprovalRequest.state == PENDING,
        )
        .order_by(ApprovalTask.id)
    ).all()
    moved = 0
    for task_id in overdue:
        task = session.get(ApprovalTask, task_id)
        request, tasks = _lock(session, task.request)
        task = next(t for t in tasks if t.id == task_id)
        if task.state != PENDING or task.escalated_at is not None or request.state != PENDING:
            continue  # decided meanwhile
        moved += _escalate(session, request, tasks, task, now)
    session.flush()
    return moved


def _escalate(
    session: Session,
    request: ApprovalRequest,
    tasks: list[ApprovalTask],
    task: ApprovalTask,
    now: datetime,
) -> int:
    step = request.route[task.step_index]
    task.escalated_at = now
    in_slot = {
        t.approver_id for t in tasks if t.step_index == task.step_index and t.slot == task.slot
    }
    targets = _escalation_targets(session, request, step, task.approver, in_slot)
    hours = step.get("escalate_after_hours")
    if not targets:
        _record(
            session,
            request,
            ESCALATION_FAILED,
            at=now,
            task=task,
            details={"hours": hours, "from": _person(task.approver), "to": []},
        )
        return 0
    task.state = ESCALATED
    task.decided_at = now
    for target in targets:
        session.add(
            ApprovalTask(
                request=request,
                step_index=task.step_index,
                slot=task.slot,
                approver_id=target.id,
                approver=target,
                state=PENDING,
                created_at=now,
                due_at=now + timedelta(hours=hours) if hours else None,
                escalated_from_id=task.id,
            )
        )
    _record(
        session,
        request,
        ESCALATED,
        at=now,
        task=task,
        details={
            "hours": hours,
            "from": _person(task.approver),
            "to": [_person(target) for target in targets],
        },
    )
    request.updated_at = now
    _flush(session)
    _notify_waiting(session, request, targets, now)
    return 1


def escalate_overdue_approvals(session: Session, now: datetime | None = None) -> int:
    """Escalate overdue tasks in every active department; return how many moved.

    Flushes only: the CLI command or the scheduled job commits.
    """
    now = now or utcnow()
    department_ids = session.scalars(
        sa.select(Department.id).where(Department.is_active).order_by(Department.id)
    ).all()
    moved = 0
    for department_id in department_ids:
        with department_context(session, department_id):
            moved += escalate_overdue_in_department(session, now)
    return moved


# --------------------------------------------------------------------------- reading


def inbox_query(
    session: Session, user: User, *, now: datetime | None = None, document_type: str | None = None
) -> sa.Select:
    """Pending tasks `user` may decide now in the current department (theirs and delegated).

    Documents `user` made are left out even when a delegation would cover
    them: maker-checker.
    """
    day = local_date(now)
    who = [ApprovalTask.approver_id == user.id]
    for delegation in delegations_to(session, user, day):
        clause = ApprovalTask.approver_id == delegation.delegator_id
        if delegation.document_types:
            clause = sa.and_(clause, ApprovalRequest.document_type.in_(delegation.document_types))
        who.append(clause)
    query = (
        sa.select(ApprovalTask)
        .join(ApprovalTask.request)
        .where(
            ApprovalTask.state == PENDING,
            ApprovalRequest.state == PENDING,
            sa.or_(*who),
            ApprovalRequest.requester_id != user.id,
            sa.or_(ApprovalRequest.preparer_id.is_(None), ApprovalRequest.preparer_id != user.id),
        )
        .order_by(ApprovalTask.created_at, ApprovalTask.id)
        # Every inbox item shows its request, its history and who acted there.
        .options(selectinload(ApprovalTask.request).selectinload(ApprovalRequest.history))
    )
    if document_type:
        query = query.where(ApprovalRequest.document_type == document_type)
    return query


def may_view(
    session: Session,
    request: ApprovalRequest,
    user: User,
    role_codes: Iterable[str],
    *,
    now: datetime | None = None,
) -> bool:
    """Tell whether `user` may read `request`: its makers, participants, delegates, admins."""
    if {DEPARTMENT_ADMIN, SYSTEM_ADMIN} & set(role_codes):
        return True
    if user.id in request.makers:
        return True
    if any(user.id in (t.approver_id, t.decided_by_id) for t in request.tasks):
        return True
    if any(user.id == entry.actor_id for entry in request.history):
        return True
    pending = {t.approver_id for t in request.tasks if t.state == PENDING}
    day = local_date(now)
    return any(
        d.covers(day, request.document_type) for d in delegations_to(session, user, day, pending)
    )


def can_decide(
    session: Session, request: ApprovalRequest, user: User, *, now: datetime | None = None
) -> bool:
    """Tell whether `user` may decide `request` now (for showing the buttons)."""
    if request.state != PENDING or user.id in request.makers:
        return False
    try:
        _task_to_decide(session, request, list(request.tasks), user, local_date(now))
    except NotAnApproverError:
        return False
    return True
