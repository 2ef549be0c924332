"""hr: end of service, change requests, document reminders, holiday flags, leave documents

New department-owned tables (row-level security on PostgreSQL):
hr_terminations, hr_change_requests, hr_document_reminders. Leave requests
may point at a supporting document; public holidays say whether they follow
the Hijri calendar and whether their date is still to be confirmed.

Revision ID: 0003_hr
Revises: 0002_hr
Create Date: 2026-11-29 08:22:59.874027
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import grp.db
from grp.migrate import disable_tenant_rls, enable_tenant_rls

revision = "0003_hr"
down_revision = "0002_hr"
branch_labels = None
depends_on = None

TABLES = ("hr_change_requests", "hr_terminations", "hr_document_reminders")


def upgrade() -> None:
    op.create_table(
        "hr_change_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("old_values", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decision_comment", sa.Text(), nullable=False),
        sa.Column("approval_request_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", grp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'approved', 'rejected', 'cancelled')",
            name=op.f("ck_hr_change_requests_state"),
        ),
        sa.ForeignKeyConstraint(
            ["approval_request_id"],
            ["approval_requests.id"],
            name=op.f("fk_hr_change_requests_approval_request_id_approval_requests"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_hr_change_requests_decided_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_hr_change_requests_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["hr_employees.id"],
            name=op.f("fk_hr_change_requests_employee_id_hr_employees"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_hr_change_requests_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hr_change_requests")),
    )
    with op.batch_alter_table("hr_change_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hr_change_requests_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            "ix_hr_change_requests_department_id_employee_id",
            ["department_id", "employee_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_hr_change_requests_department_id_state", ["department_id", "state"], unique=False
        )

    op.create_table(
        "hr_terminations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("reason_text", sa.Text(), nullable=False),
        sa.Column("last_working_day", sa.Date(), nullable=False),
        sa.Column("notice_date", sa.Date(), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("basic_salary", grp.db.Money(), nullable=False),
        sa.Column("gratuity", grp.db.Money(), nullable=False),
        sa.Column("gratuity_working", sa.JSON(), nullable=False),
        sa.Column("leave_days", sa.Integer(), nullable=False),
        sa.Column("leave_encashment", grp.db.Money(), nullable=False),
        sa.Column("leave_working", sa.JSON(), nullable=False),
        sa.Column("previous_status", sa.String(length=12), nullable=False),
        sa.Column("contract_changes", sa.JSON(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "previous_status IN ('active', 'suspended', 'terminated')",
            name=op.f("ck_hr_terminations_previous_status"),
        ),
        sa.CheckConstraint(
            "reason IN ('resignation', 'end_of_contract', 'retirement', 'dismissal', 'death', 'other')",
            name=op.f("ck_hr_terminations_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_hr_terminations_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["hr_employees.id"],
            name=op.f("fk_hr_terminations_employee_id_hr_employees"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["users.id"],
            name=op.f("fk_hr_terminations_recorded_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hr_terminations")),
        sa.UniqueConstraint(
            "department_id",
            "employee_id",
            name=op.f("uq_hr_terminations_department_id_employee_id"),
        ),
    )
    with op.batch_alter_table("hr_terminations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hr_terminations_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            "ix_hr_terminations_department_id_last_working_day",
            ["department_id", "last_working_day"],
            unique=False,
        )

    op.create_table(
        "hr_document_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("expiry_date", sa.Date(), nullable=False),
        sa.Column("threshold_days", sa.SmallInteger(), nullable=False),
        sa.Column("recipients", sa.SmallInteger(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_hr_document_reminders_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["hr_documents.id"],
            name=op.f("fk_hr_document_reminders_document_id_hr_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hr_document_reminders")),
        sa.UniqueConstraint(
            "department_id",
            "document_id",
            "expiry_date",
            "threshold_days",
            name="uq_hr_document_reminders_once",
        ),
    )
    with op.batch_alter_table("hr_document_reminders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hr_document_reminders_department_id"), ["department_id"], unique=False
        )

    with op.batch_alter_table("hr_leave_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("document_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_hr_leave_requests_document_id_hr_documents"),
            "hr_documents",
            ["document_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("hr_public_holidays", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("hijri", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("to_confirm", sa.Boolean(), server_default=sa.false(), nullable=False)
        )

    for table in TABLES:
        enable_tenant_rls(op, table)


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_tenant_rls(op, table)
    with op.batch_alter_table("hr_public_holidays", schema=None) as batch_op:
        batch_op.drop_column("to_confirm")
        batch_op.drop_column("hijri")

    with op.batch_alter_table("hr_leave_requests", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_hr_leave_requests_document_id_hr_documents"), type_="foreignkey"
        )
        batch_op.drop_column("document_id")

    with op.batch_alter_table("hr_document_reminders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hr_document_reminders_department_id"))

    op.drop_table("hr_document_reminders")
    with op.batch_alter_table("hr_terminations", schema=None) as batch_op:
        batch_op.drop_index("ix_hr_terminations_department_id_last_working_day")
        batch_op.drop_index(batch_op.f("ix_hr_terminations_department_id"))

    op.drop_table("hr_terminations")
    with op.batch_alter_table("hr_change_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_hr_change_requests_department_id_state")
        batch_op.drop_index("ix_hr_change_requests_department_id_employee_id")
        batch_op.drop_index(batch_op.f("ix_hr_change_requests_department_id"))

    op.drop_table("hr_change_requests")
