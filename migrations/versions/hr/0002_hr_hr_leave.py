"""hr: leave types, working week, public holidays, leave requests and the leave ledger

Every table is department-owned (row-level security on PostgreSQL). Leave days
are integer hundredths (modules.hr.models.leave.Days). Depends on the approval
engine's tables: a leave request points at its approval request.

Revision ID: 0002_hr
Revises: 0001_hr
Create Date: 2026-11-29 06:32:29.430372
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import grp.db
from grp.migrate import disable_tenant_rls, enable_tenant_rls

revision = "0002_hr"
down_revision = "0001_hr"
branch_labels = None
depends_on = "0002_approvals"

# In creation order (foreign keys point backwards); dropped in reverse.
TABLES = (
    "hr_leave_types",
    "hr_public_holidays",
    "hr_working_weeks",
    "hr_leave_requests",
    "hr_leave_ledger",
)


def upgrade() -> None:
    op.create_table(
        "hr_leave_types",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("name_ar", sa.String(length=100), nullable=False),
        sa.Column("paid", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("day_basis", sa.String(length=10), nullable=False),
        sa.Column("balance_limited", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("accrual", sa.String(length=10), nullable=False),
        sa.Column("entitlement_rules", sa.JSON(), nullable=False),
        sa.Column("carry_forward_cap", sa.Integer(), nullable=True),
        sa.Column("carry_forward_expiry_months", sa.SmallInteger(), nullable=True),
        sa.Column("max_days_per_request", sa.Integer(), nullable=True),
        sa.Column("max_days_per_year", sa.Integer(), nullable=True),
        sa.Column("document_lifts_limits", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("once_in_service", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "accrual IN ('none', 'monthly')", name=op.f("ck_hr_leave_types_accrual")
        ),
        sa.CheckConstraint(
            "carry_forward_expiry_months BETWEEN 1 AND 11",
            name=op.f("ck_hr_leave_types_carry_forward_expiry_months"),
        ),
        sa.CheckConstraint(
            "day_basis IN ('working', 'calendar')", name=op.f("ck_hr_leave_types_day_basis")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_hr_leave_types_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hr_leave_types")),
        sa.UniqueConstraint(
            "department_id", "code", name=op.f("uq_hr_leave_types_department_id_code")
        ),
    )
    with op.batch_alter_table("hr_leave_types", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hr_leave_types_department_id"), ["department_id"], unique=False
        )

    op.create_table(
        "hr_public_holidays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("name_ar", sa.String(length=100), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_hr_public_holidays_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hr_public_holidays")),
        sa.UniqueConstraint(
            "department_id", "day", name=op.f("uq_hr_public_holidays_department_id_day")
        ),
    )
    with op.batch_alter_table("hr_public_holidays", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hr_public_holidays_department_id"), ["department_id"], unique=False
        )

    op.create_table(
        "hr_working_weeks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("working_days", sa.String(length=7), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_hr_working_weeks_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hr_working_weeks")),
        sa.UniqueConstraint("department_id", name=op.f("uq_hr_working_weeks_department_id")),
    )
    with op.batch_alter_table("hr_working_weeks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hr_working_weeks_department_id"), ["department_id"], unique=False
        )

    op.create_table(
        "hr_leave_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("leave_type_id", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("has_document", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("decision_comment", sa.Text(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("approval_request_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", grp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'approved', 'rejected', 'cancelled')",
            name=op.f("ck_hr_leave_requests_state"),
        ),
        sa.CheckConstraint("end_date >= start_date", name=op.f("ck_hr_leave_requests_dates")),
        sa.ForeignKeyConstraint(
            ["approval_request_id"],
            ["approval_requests.id"],
            name=op.f("fk_hr_leave_requests_approval_request_id_approval_requests"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_hr_leave_requests_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["hr_employees.id"],
            name=op.f("fk_hr_leave_requests_employee_id_hr_employees"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["leave_type_id"],
            ["hr_leave_types.id"],
            name=op.f("fk_hr_leave_requests_leave_type_id_hr_leave_types"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_hr_leave_requests_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hr_leave_requests")),
    )
    with op.batch_alter_table("hr_leave_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hr_leave_requests_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            "ix_hr_leave_requests_department_id_employee_id",
            ["department_id", "employee_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_hr_leave_requests_department_id_state", ["department_id", "state"], unique=False
        )

    op.create_table(
        "hr_leave_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("leave_type_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('accrual', 'taken', 'adjustment', 'carry_forward', 'expiry', 'reversal')",
            name=op.f("ck_hr_leave_ledger_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_hr_leave_ledger_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["hr_employees.id"],
            name=op.f("fk_hr_leave_ledger_employee_id_hr_employees"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["leave_type_id"],
            ["hr_leave_types.id"],
            name=op.f("fk_hr_leave_ledger_leave_type_id_hr_leave_types"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["hr_leave_requests.id"],
            name=op.f("fk_hr_leave_ledger_request_id_hr_leave_requests"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hr_leave_ledger")),
        sa.UniqueConstraint(
            "department_id",
            "employee_id",
            "leave_type_id",
            "kind",
            "period",
            name=op.f("uq_hr_leave_ledger_department_id_employee_id_leave_type_id_kind_period"),
        ),
        sa.UniqueConstraint(
            "department_id",
            "request_id",
            "kind",
            name=op.f("uq_hr_leave_ledger_department_id_request_id_kind"),
        ),
    )
    with op.batch_alter_table("hr_leave_ledger", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hr_leave_ledger_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            "ix_hr_leave_ledger_department_id_employee_id_leave_type_id",
            ["department_id", "employee_id", "leave_type_id", "entry_date"],
            unique=False,
        )

    for table in TABLES:
        enable_tenant_rls(op, table)


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_tenant_rls(op, table)
    with op.batch_alter_table("hr_leave_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_hr_leave_ledger_department_id_employee_id_leave_type_id")
        batch_op.drop_index(batch_op.f("ix_hr_leave_ledger_department_id"))

    op.drop_table("hr_leave_ledger")
    with op.batch_alter_table("hr_leave_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_hr_leave_requests_department_id_state")
        batch_op.drop_index("ix_hr_leave_requests_department_id_employee_id")
        batch_op.drop_index(batch_op.f("ix_hr_leave_requests_department_id"))

    op.drop_table("hr_leave_requests")
    with op.batch_alter_table("hr_working_weeks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hr_working_weeks_department_id"))

    op.drop_table("hr_working_weeks")
    with op.batch_alter_table("hr_public_holidays", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hr_public_holidays_department_id"))

    op.drop_table("hr_public_holidays")
    with op.batch_alter_table("hr_leave_types", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hr_leave_types_department_id"))

    op.drop_table("hr_leave_types")
