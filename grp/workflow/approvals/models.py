"""Tables of the approval engine: policies and their steps, requests, tasks, history, delegations.

Every table is department-owned (`TenantMixin`): a policy, a request and its
history belong to the department the document belongs to, and row-level
security protects them on PostgreSQL like any business table.

A request keeps a copy of the steps that applied when it was submitted
(`ApprovalRequest.route`), so editing a policy changes the routing of new
requests only, never of requests already on their way.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grp.db import AuditedMixin, Base, Money, TenantMixin, TimestampMixin, UTCDateTime, utcnow
from grp.models import User

# Approver kinds of a step.
MANAGER = "manager"
ROLE = "role"
USERS = "users"
APPROVER_KINDS = (MANAGER, ROLE, USERS)

# How the approvers of one step decide together.
ALL = "all"
ANY = "any"
MODES = (ALL, ANY)

# Whom an overdue task is escalated to.
ESCALATE_TO_ROLE = "role"
ESCALATE_TO_MANAGER = "manager"
ESCALATION_KINDS = (ESCALATE_TO_ROLE, ESCALATE_TO_MANAGER)

# States of a request.
PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
CANCELLED = "cancelled"
REQUEST_STATES = (PENDING, APPROVED, REJECTED, CANCELLED)

# States of a task (one approver's part in one step).
SKIPPED = "skipped"
ESCALATED = "escalated"
TASK_STATES = (PENDING, APPROVED, REJECTED, SKIPPED, ESCALATED)

# Entries of a request's history.
SUBMITTED = "submitted"
AUTO_APPROVED = "auto_approved"
ESCALATION_FAILED = "escalation_failed"
HISTORY_ACTIONS = (
    SUBMITTED,
    APPROVED,
    REJECTED,
    CANCELLED,
    ESCALATED,
    ESCALATION_FAILED,
    AUTO_APPROVED,
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ApprovalPolicy(TimestampMixin, AuditedMixin, TenantMixin, Base):
    """How documents of one type are approved in one department: ordered steps.

    Among the active policies of a document type, the first by `priority`
    (then id) whose amount range and attribute conditions match the document
    is used. When none of its steps applies to a document, the document is
    approved at once if `auto_approve` is set, else submitting it fails.
    """

    __tablename__ = "approval_policies"
    __tenancy__ = "department"
    __table_args__ = (
        sa.UniqueConstraint("department_id", "document_type", "name"),
        sa.Index(
            "ix_approval_policies_department_id_document_type", "department_id", "document_type"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_type: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    priority: Mapped[int] = mapped_column(default=100)
    # Amounts: the policy applies above min_amount, up to and including max_amount.
    min_amount: Mapped[Decimal | None] = mapped_column(Money())
    max_amount: Mapped[Decimal | None] = mapped_column(Money())
    conditions: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    auto_approve: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Optimistic locking: two administrators saving the same policy cannot both win.
    version: Mapped[int] = mapped_column()

    steps: Mapped[list[ApprovalStep]] = relationship(
        back_populates="policy",
        cascade="all, delete-orphan",
        order_by="ApprovalStep.sequence",
    )

    __mapper_args__ = {"version_id_col": version}


class ApprovalStep(AuditedMixin, TenantMixin, Base):
    """One step of a policy: who approves, how they agree, when it applies, when it escalates."""

    __tablename__ = "approval_steps"
    __tenancy__ = "department"
    __table_args__ = (
        sa.UniqueConstraint("department_id", "policy_id", "sequence"),
        sa.CheckConstraint(_in("approver_kind", APPROVER_KINDS), name="approver_kind"),
        sa.CheckConstraint(_in("mode", MODES), name="mode"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(
        sa.ForeignKey("approval_policies.id", ondelete="CASCADE"), index=True
    )
    sequence: Mapped[int] = mapped_column()
    name: Mapped[str] = mapped_column(sa.String(200))
    approver_kind: Mapped[str] = mapped_column(sa.String(16))
    role_code: Mapped[str | None] = mapped_column(sa.String(50))
    user_ids: Mapped[list[int] | None] = mapped_column(sa.JSON)
    # 1 = the requester's direct manager, 2 = the manager's manager, ...
    manager_levels: Mapped[int] = mapped_column(default=1)
    mode: Mapped[str] = mapped_column(sa.String(8), default=ALL)
    min_amount: Mapped[Decimal | None] = mapped_column(Money())
    max_amount: Mapped[Decimal | None] = mapped_column(Money())
    conditions: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    escalate_after_hours: Mapped[int | None] = mapped_column()
    escalation_kind: Mapped[str | None] = mapped_column(sa.String(16))
    escalation_role_code: Mapped[str | None] = mapped_column(sa.String(50))

    policy: Mapped[ApprovalPolicy] = relationship(back_populates="steps")


class ApprovalRequest(TimestampMixin, AuditedMixin, TenantMixin, Base):
    """One document on its way through approval.

    `route` is the list of steps that applied at submission (see the module
    docstring) and `current_step` the index of the step now deciding. At most
    one request per document is pending at a time (a unique partial index).
    """

    __tablename__ = "approval_requests"
    __tenancy__ = "department"
    __table_args__ = (
        sa.CheckConstraint(_in("state", REQUEST_STATES), name="state"),
        sa.Index(
            "ix_approval_requests_department_id_document",
            "department_id",
            "document_type",
            "document_id",
        ),
        sa.Index(
            "ix_approval_requests_one_pending",
            "department_id",
            "document_type",
            "document_id",
            unique=True,
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        ),
        sa.Index(
            "ix_approval_requests_department_id_requester_id", "department_id", "requester_id"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_type: Mapped[str] = mapped_column(sa.String(64))
    document_id: Mapped[str] = mapped_column(sa.String(64))
    requester_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    preparer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    amount: Mapped[Decimal | None] = mapped_column(Money())
    attributes: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    summary: Mapped[str] = mapped_column(sa.String(500), default="")
    state: Mapped[str] = mapped_column(sa.String(16), default=PENDING)
    policy_id: Mapped[int | None] = mapped_column(sa.ForeignKey("approval_policies.id"), index=True)
    policy_version: Mapped[int | None] = mapped_column()
    route: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    current_step: Mapped[int | None] = mapped_column()
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Every decision updates the request, so two approvers deciding the same step at
    # once cannot both complete it: the second flush finds a newer version.
    version: Mapped[int] = mapped_column()

    requester: Mapped[User] = relationship(foreign_keys=[requester_id], lazy="joined")
    preparer: Mapped[User | None] = relationship(foreign_keys=[preparer_id], lazy="joined")
    policy: Mapped[ApprovalPolicy | None] = relationship()
    tasks: Mapped[list[ApprovalTask]] = relationship(
        back_populates="request", order_by="[ApprovalTask.step_index, ApprovalTask.id]"
    )
    history: Mapped[list[ApprovalHistoryEntry]] = relationship(
        back_populates="request",
        order_by="[ApprovalHistoryEntry.at, ApprovalHistoryEntry.id]",
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def step(self) -> dict[str, Any] | None:
        """The step now deciding (a copy from `route`), or None once decided."""
        if self.current_step is None or self.state != PENDING:
            return None
        return self.route[self.current_step]

    def step_name(self, index: int | None) -> str:
        if index is None or not 0 <= index < len(self.route):
            return ""
        return self.route[index]["name"]

    @property
    def makers(self) -> set[int]:
        """Who made the document and so may never approve it (maker-checker)."""
        return {self.requester_id} | ({self.preparer_id} if self.preparer_id else set())


class ApprovalTask(TenantMixin, Base):
    """One approver's part in one step of a request.

    Tasks of a step are grouped in `slot`s: the approvers first resolved get
    one slot each, and an escalation adds its target to the slot of the task it
    escalates. A slot is approved when one of its tasks is; an "all" step is
    complete when every slot is, an "any" step when one is.
    """

    __tablename__ = "approval_tasks"
    __tenancy__ = "department"
    __table_args__ = (
        sa.CheckConstraint(_in("state", TASK_STATES), name="state"),
        sa.Index(
            "ix_approval_tasks_department_id_approver_id_state",
            "department_id",
            "approver_id",
            "state",
        ),
        sa.Index(
            "ix_approval_tasks_department_id_state_due_at", "department_id", "state", "due_at"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("approval_requests.id"), index=True)
    step_index: Mapped[int] = mapped_column()
    slot: Mapped[int] = mapped_column()
    approver_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    state: Mapped[str] = mapped_column(sa.String(16), default=PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Who decided: the approver, or their delegate.
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    escalated_from_id: Mapped[int | None] = mapped_column(sa.ForeignKey("approval_tasks.id"))
    # Set when escalation was tried, so an overdue task is escalated (or given up on) once.
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    request: Mapped[ApprovalRequest] = relationship(back_populates="tasks")
    approver: Mapped[User] = relationship(foreign_keys=[approver_id], lazy="joined")
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])


class ApprovalHistoryEntry(TenantMixin, Base):
    """One event in a request's history: who, when, what, why. Append-only.

    Never updated or deleted (database triggers refuse it, see the migration);
    a correction is a new entry. `acting_for` names the approver when their
    delegate decided; `actor` is empty for the system (escalation).
    """

    __tablename__ = "approval_history"
    __tenancy__ = "department"
    __table_args__ = (
        sa.CheckConstraint(_in("action", HISTORY_ACTIONS), name="action"),
        sa.Index("ix_approval_history_department_id_request_id", "department_id", "request_id"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("approval_requests.id"))
    task_id: Mapped[int | None] = mapped_column(sa.ForeignKey("approval_tasks.id"))
    step_index: Mapped[int | None] = mapped_column()
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    action: Mapped[str] = mapped_column(sa.String(24))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    acting_for_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    # Who the request went to (escalation targets), for the reader of the history.
    details: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)

    request: Mapped[ApprovalRequest] = relationship(back_populates="history")
    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id], lazy="joined")
    acting_for: Mapped[User | None] = relationship(foreign_keys=[acting_for_id], lazy="joined")


@event.listens_for(ApprovalHistoryEntry, "before_update")
@event.listens_for(ApprovalHistoryEntry, "before_delete")
def _history_is_append_only(mapper: Any, connection: Any, target: Any) -> None:
    raise ValueError("approval history is append-only: add a new entry instead")


class ApprovalDelegation(TimestampMixin, AuditedMixin, TenantMixin, Base):
    """`delegate` may decide `delegator`'s approvals from `starts_on` to `ends_on` (inclusive).

    Dates are days in Asia/Dubai. `document_types` limits the delegation to
    some document types; empty means all.
    """

    __tablename__ = "approval_delegations"
    __tenancy__ = "department"
    __table_args__ = (
        sa.Index(
            "ix_approval_delegations_department_id_delegate_id", "department_id", "delegate_id"
        ),
        sa.Index(
            "ix_approval_delegations_department_id_delegator_id", "department_id", "delegator_id"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    delegator_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    delegate_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    starts_on: Mapped[date] = mapped_column(sa.Date)
    ends_on: Mapped[date] = mapped_column(sa.Date)
    document_types: Mapped[list[str] | None] = mapped_column(sa.JSON)
    reason: Mapped[str] = mapped_column(sa.String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    delegator: Mapped[User] = relationship(foreign_keys=[delegator_id], lazy="joined")
    delegate: Mapped[User] = relationship(foreign_keys=[delegate_id], lazy="joined")

    def covers(self, day: date, document_type: str) -> bool:
        """Tell whether the delegation is in force on `day` for `document_type`."""
        return (
            self.revoked_at is None
            and self.starts_on <= day <= self.ends_on
            and (not self.document_types or document_type in self.document_types)
        )
