"""approvals: policies and steps, requests, tasks, history, delegations

Revision ID: 0002_approvals
Revises:
Create Date: 2026-11-29 09:00:00.000000

A branch of its own (label `approvals`) on top of the platform. Every table is
department-owned and under row-level security on PostgreSQL; the history is
append-only (triggers refuse UPDATE and DELETE, as for the audit log).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import grp.db
from grp.migrate import disable_tenant_rls, enable_tenant_rls

revision = "0002_approvals"
down_revision = None
branch_labels = ("approvals",)
depends_on = "0001_platform"

TENANT_TABLES = (
    "approval_policies",
    "approval_steps",
    "approval_requests",
    "approval_tasks",
    "approval_history",
    "approval_delegations",
)

APPEND_ONLY_SQLITE = [
    "CREATE TRIGGER approval_history_no_update BEFORE UPDATE ON approval_history "
    "BEGIN SELECT RAISE(ABORT, 'approval_history is append-only'); END",
    "CREATE TRIGGER approval_history_no_delete BEFORE DELETE ON approval_history "
    "BEGIN SELECT RAISE(ABORT, 'approval_history is append-only'); END",
]
APPEND_ONLY_POSTGRESQL = [
    "CREATE FUNCTION approval_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'approval_history is append-only'; END $$",
    "CREATE TRIGGER approval_history_no_change BEFORE UPDATE OR DELETE ON approval_history "
    "FOR EACH ROW EXECUTE FUNCTION approval_history_append_only()",
]


def upgrade() -> None:
    op.create_table(
        "approval_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_type", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("min_amount", grp.db.Money(), nullable=True),
        sa.Column("max_amount", grp.db.Money(), nullable=True),
        sa.Column("conditions", sa.JSON(), nullable=True),
        sa.Column("auto_approve", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_approval_policies_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_policies")),
        sa.UniqueConstraint(
            "department_id",
            "document_type",
            "name",
            name=op.f("uq_approval_policies_department_id_document_type_name"),
        ),
    )
    with op.batch_alter_table("approval_policies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_approval_policies_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            "ix_approval_policies_department_id_document_type",
            ["department_id", "document_type"],
            unique=False,
        )

    op.create_table(
        "approval_delegations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delegator_id", sa.Integer(), nullable=False),
        sa.Column("delegate_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("document_types", sa.JSON(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", grp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_approval_delegations_created_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["delegate_id"], ["users.id"], name=op.f("fk_approval_delegations_delegate_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["delegator_id"], ["users.id"], name=op.f("fk_approval_delegations_delegator_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_approval_delegations_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_delegations")),
    )
    with op.batch_alter_table("approval_delegations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_approval_delegations_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            "ix_approval_delegations_department_id_delegate_id",
            ["department_id", "delegate_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_approval_delegations_department_id_delegator_id",
            ["department_id", "delegator_id"],
            unique=False,
        )

    op.create_table(
        "approval_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_type", sa.String(length=64), nullable=False),
        sa.Column("document_id", sa.String(length=64), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("preparer_id", sa.Integer(), nullable=True),
        sa.Column("amount", grp.db.Money(), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=True),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=True),
        sa.Column("policy_version", sa.Integer(), nullable=True),
        sa.Column("route", sa.JSON(), nullable=False),
        sa.Column("current_step", sa.Integer(), nullable=True),
        sa.Column("submitted_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", grp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'approved', 'rejected', 'cancelled')",
            name=op.f("ck_approval_requests_state"),
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_approval_requests_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["approval_policies.id"],
            name=op.f("fk_approval_requests_policy_id_approval_policies"),
        ),
        sa.ForeignKeyConstraint(
            ["preparer_id"], ["users.id"], name=op.f("fk_approval_requests_preparer_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["users.id"], name=op.f("fk_approval_requests_requester_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_requests")),
    )
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_approval_requests_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            "ix_approval_requests_department_id_document",
            ["department_id", "document_type", "document_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_approval_requests_department_id_requester_id",
            ["department_id", "requester_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_approval_requests_one_pending",
            ["department_id", "document_type", "document_id"],
            unique=True,
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )
        batch_op.create_index(
            batch_op.f("ix_approval_requests_policy_id"), ["policy_id"], unique=False
        )

    op.create_table(
        "approval_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("approver_kind", sa.String(length=16), nullable=False),
        sa.Column("role_code", sa.String(length=50), nullable=True),
        sa.Column("user_ids", sa.JSON(), nullable=True),
        sa.Column("manager_levels", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("min_amount", grp.db.Money(), nullable=True),
        sa.Column("max_amount", grp.db.Money(), nullable=True),
        sa.Column("conditions", sa.JSON(), nullable=True),
        sa.Column("escalate_after_hours", sa.Integer(), nullable=True),
        sa.Column("escalation_kind", sa.String(length=16), nullable=True),
        sa.Column("escalation_role_code", sa.String(length=50), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "approver_kind IN ('manager', 'role', 'users')",
            name=op.f("ck_approval_steps_approver_kind"),
        ),
        sa.CheckConstraint("mode IN ('all', 'any')", name=op.f("ck_approval_steps_mode")),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_approval_steps_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["approval_policies.id"],
            name=op.f("fk_approval_steps_policy_id_approval_policies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_steps")),
        sa.UniqueConstraint(
            "department_id",
            "policy_id",
            "sequence",
            name=op.f("uq_approval_steps_department_id_policy_id_sequence"),
        ),
    )
    with op.batch_alter_table("approval_steps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_approval_steps_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_approval_steps_policy_id"), ["policy_id"], unique=False
        )

    op.create_table(
        "approval_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("approver_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", grp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_at", grp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("escalated_from_id", sa.Integer(), nullable=True),
        sa.Column("escalated_at", grp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'approved', 'rejected', 'skipped', 'escalated')",
            name=op.f("ck_approval_tasks_state"),
        ),
        sa.ForeignKeyConstraint(
            ["approver_id"], ["users.id"], name=op.f("fk_approval_tasks_approver_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_approval_tasks_decided_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_approval_tasks_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["escalated_from_id"],
            ["approval_tasks.id"],
            name=op.f("fk_approval_tasks_escalated_from_id_approval_tasks"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["approval_requests.id"],
            name=op.f("fk_approval_tasks_request_id_approval_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_tasks")),
    )
    with op.batch_alter_table("approval_tasks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_approval_tasks_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            "ix_approval_tasks_department_id_approver_id_state",
            ["department_id", "approver_id", "state"],
            unique=False,
        )
        batch_op.create_index(
            "ix_approval_tasks_department_id_state_due_at",
            ["department_id", "state", "due_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_approval_tasks_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "approval_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("step_index", sa.Integer(), nullable=True),
        sa.Column("at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("acting_for_id", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "action IN ('submitted', 'approved', 'rejected', 'cancelled', 'escalated', 'escalation_failed', 'auto_approved')",
            name=op.f("ck_approval_history_action"),
        ),
        sa.ForeignKeyConstraint(
            ["acting_for_id"], ["users.id"], name=op.f("fk_approval_history_acting_for_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_approval_history_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_approval_history_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["approval_requests.id"],
            name=op.f("fk_approval_history_request_id_approval_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["approval_tasks.id"],
            name=op.f("fk_approval_history_task_id_approval_tasks"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_history")),
    )
    with op.batch_alter_table("approval_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_approval_history_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            "ix_approval_history_department_id_request_id",
            ["department_id", "request_id"],
            unique=False,
        )

    for table in TENANT_TABLES:
        enable_tenant_rls(op, table)
    dialect = op.get_bind().dialect.name
    for statement in APPEND_ONLY_POSTGRESQL if dialect == "postgresql" else APPEND_ONLY_SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS approval_history_no_change ON approval_history")
        op.execute("DROP FUNCTION IF EXISTS approval_history_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS approval_history_no_update")
        op.execute("DROP TRIGGER IF EXISTS approval_history_no_delete")
    for table in reversed(TENANT_TABLES):
        disable_tenant_rls(op, table)

    with op.batch_alter_table("approval_history", schema=None) as batch_op:
        batch_op.drop_index("ix_approval_history_department_id_request_id")
        batch_op.drop_index(batch_op.f("ix_approval_history_department_id"))

    op.drop_table("approval_history")
    with op.batch_alter_table("approval_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_tasks_request_id"))
        batch_op.drop_index("ix_approval_tasks_department_id_state_due_at")
        batch_op.drop_index("ix_approval_tasks_department_id_approver_id_state")
        batch_op.drop_index(batch_op.f("ix_approval_tasks_department_id"))

    op.drop_table("approval_tasks")
    with op.batch_alter_table("approval_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_steps_policy_id"))
        batch_op.drop_index(batch_op.f("ix_approval_steps_department_id"))

    op.drop_table("approval_steps")
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_requests_policy_id"))
        batch_op.drop_index(
            "ix_approval_requests_one_pending",
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )
        batch_op.drop_index("ix_approval_requests_department_id_requester_id")
        batch_op.drop_index("ix_approval_requests_department_id_document")
        batch_op.drop_index(batch_op.f("ix_approval_requests_department_id"))

    op.drop_table("approval_requests")
    with op.batch_alter_table("approval_delegations", schema=None) as batch_op:
        batch_op.drop_index("ix_approval_delegations_department_id_delegator_id")
        batch_op.drop_index("ix_approval_delegations_department_id_delegate_id")
        batch_op.drop_index(batch_op.f("ix_approval_delegations_department_id"))

    op.drop_table("approval_delegations")
    with op.batch_alter_table("approval_policies", schema=None) as batch_op:
        batch_op.drop_index("ix_approval_policies_department_id_document_type")
        batch_op.drop_index(batch_op.f("ix_approval_policies_department_id"))

    op.drop_table("approval_policies")
