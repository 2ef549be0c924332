"""payroll: one-off inputs, loans, the "input" rule kind, explained and retro payslip lines

Inputs and loans are department-owned (row-level security on PostgreSQL).
Payslip lines gain an explanation and, for difference lines (retro pay and
adjustment runs), the month and component they correct and the signed
difference. The rule kind check admits "input".

Revision ID: 0003_payroll
Revises: 0002_payroll
Create Date: 2026-11-29 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import grp.db
from grp.migrate import disable_tenant_rls, enable_tenant_rls

revision = "0003_payroll"
down_revision = "0002_payroll"
branch_labels = None
depends_on = None

TABLES = ("payroll_inputs", "payroll_loans")
OLD_KINDS = "kind IN ('contract', 'percent', 'grade_table', 'formula')"
NEW_KINDS = "kind IN ('contract', 'percent', 'grade_table', 'formula', 'input')"


def _tenant_columns() -> list[sa.Column]:
    return [
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "payroll_inputs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("component_code", sa.String(length=40), nullable=False),
        sa.Column("amount", grp.db.Money(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=10), server_default="manual", nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        *_tenant_columns(),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payroll_inputs_amount_positive")),
        sa.CheckConstraint("source IN ('manual', 'import')", name=op.f("ck_payroll_inputs_source")),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_payroll_inputs_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_payroll_inputs_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["hr_employees.id"],
            name=op.f("fk_payroll_inputs_employee_id_hr_employees"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payroll_inputs")),
    )
    with op.batch_alter_table("payroll_inputs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payroll_inputs_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            "ix_payroll_inputs_department_id_period_employee_id",
            ["department_id", "period", "employee_id"],
            unique=False,
        )

    op.create_table(
        "payroll_loans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("principal", grp.db.Money(), nullable=False),
        sa.Column("instalment", grp.db.Money(), nullable=False),
        sa.Column("instalment_count", sa.SmallInteger(), nullable=False),
        sa.Column("first_period", sa.Date(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        *_tenant_columns(),
        sa.CheckConstraint("principal > 0", name=op.f("ck_payroll_loans_principal_positive")),
        sa.CheckConstraint(
            "instalment > 0 AND instalment <= principal", name=op.f("ck_payroll_loans_instalment")
        ),
        sa.CheckConstraint("instalment_count > 0", name=op.f("ck_payroll_loans_instalment_count")),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_payroll_loans_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_payroll_loans_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["hr_employees.id"],
            name=op.f("fk_payroll_loans_employee_id_hr_employees"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payroll_loans")),
    )
    with op.batch_alter_table("payroll_loans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payroll_loans_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            "ix_payroll_loans_department_id_employee_id",
            ["department_id", "employee_id"],
            unique=False,
        )

    with op.batch_alter_table("payroll_payslip_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("explanation", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("retro_period", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("retro_component", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("retro_difference", grp.db.Money(), nullable=True))

    with op.batch_alter_table("payroll_rules", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_payroll_rules_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_payroll_rules_kind"), NEW_KINDS)

    for table in TABLES:
        enable_tenant_rls(op, table)


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_tenant_rls(op, table)
    # Rules of the new kind cannot stay; the owner deletes them past row-level security.
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("ALTER TABLE payroll_rules NO FORCE ROW LEVEL SECURITY")
    op.execute("DELETE FROM payroll_rules WHERE kind = 'input'")
    if postgres:
        op.execute("ALTER TABLE payroll_rules FORCE ROW LEVEL SECURITY")
    with op.batch_alter_table("payroll_rules", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_payroll_rules_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_payroll_rules_kind"), OLD_KINDS)

    with op.batch_alter_table("payroll_payslip_lines", schema=None) as batch_op:
        batch_op.drop_column("retro_difference")
        batch_op.drop_column("retro_component")
        batch_op.drop_column("retro_period")
        batch_op.drop_column("explanation")

    with op.batch_alter_table("payroll_loans", schema=None) as batch_op:
        batch_op.drop_index("ix_payroll_loans_department_id_employee_id")
        batch_op.drop_index(batch_op.f("ix_payroll_loans_department_id"))
    op.drop_table("payroll_loans")

    with op.batch_alter_table("payroll_inputs", schema=None) as batch_op:
        batch_op.drop_index("ix_payroll_inputs_department_id_period_employee_id")
        batch_op.drop_index(batch_op.f("ix_payroll_inputs_department_id"))
    op.drop_table("payroll_inputs")
