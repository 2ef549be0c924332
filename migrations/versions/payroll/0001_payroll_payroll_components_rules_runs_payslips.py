"""payroll: components, rules, runs, payslips

Every table is department-owned (row-level security on PostgreSQL); unique keys
lead with department_id; one regular run per department and month is the
unique key (department_id, period, sequence) with sequence 0 for regular runs.

Revision ID: 0001_payroll
Revises:
Create Date: 2026-11-29 06:43:17.529272
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import grp.db
from grp.migrate import disable_tenant_rls, enable_tenant_rls

revision = "0001_payroll"
down_revision = None
branch_labels = ("payroll",)
depends_on = "0002_hr"

TABLES = (
    "payroll_components",
    "payroll_rules",
    "payroll_runs",
    "payroll_run_errors",
    "payroll_payslips",
    "payroll_payslip_lines",
)


def upgrade() -> None:
    op.create_table(
        "payroll_components",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("name_ar", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("pensionable", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("prorated", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("wps_kind", sa.String(length=10), server_default="fixed", nullable=False),
        sa.Column("display_order", sa.Integer(), server_default="100", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "category IN ('earning', 'deduction', 'employer_contribution')",
            name=op.f("ck_payroll_components_category"),
        ),
        sa.CheckConstraint(
            "wps_kind IN ('fixed', 'variable')", name=op.f("ck_payroll_components_wps_kind")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_payroll_components_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payroll_components")),
        sa.UniqueConstraint(
            "department_id", "code", name=op.f("uq_payroll_components_department_id_code")
        ),
    )
    with op.batch_alter_table("payroll_components", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payroll_components_department_id"), ["department_id"], unique=False
        )

    op.create_table(
        "payroll_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("component_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), server_default="100", nullable=False),
        sa.Column("source", sa.String(length=40), nullable=True),
        sa.Column("base", sa.String(length=400), nullable=True),
        sa.Column("rate", sa.String(length=20), nullable=True),
        sa.Column("cap", grp.db.Money(), nullable=True),
        sa.Column("prorate_base", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("grade_amounts", sa.JSON(), nullable=True),
        sa.Column("formula", sa.Text(), nullable=True),
        sa.Column("nationality_categories", sa.String(length=40), nullable=True),
        sa.Column("pension_schemes", sa.String(length=80), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('contract', 'percent', 'grade_table', 'formula')",
            name=op.f("ck_payroll_rules_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["component_id"],
            ["payroll_components.id"],
            name=op.f("fk_payroll_rules_component_id_payroll_components"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_payroll_rules_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payroll_rules")),
    )
    with op.batch_alter_table("payroll_rules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payroll_rules_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            "ix_payroll_rules_department_id_component_id",
            ["department_id", "component_id"],
            unique=False,
        )

    op.create_table(
        "payroll_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("sequence", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("state", sa.String(length=12), server_default="draft", nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=True),
        sa.Column("excluded_employee_ids", sa.JSON(), nullable=True),
        sa.Column("computed_by_id", sa.Integer(), nullable=True),
        sa.Column("computed_at", grp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("approved_at", grp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("employee_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("total_earnings", grp.db.Money(), server_default="0", nullable=False),
        sa.Column("total_deductions", grp.db.Money(), server_default="0", nullable=False),
        sa.Column("total_net", grp.db.Money(), server_default="0", nullable=False),
        sa.Column("total_employer", grp.db.Money(), server_default="0", nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(kind = 'regular' AND sequence = 0) OR (kind <> 'regular' AND sequence > 0)",
            name=op.f("ck_payroll_runs_sequence"),
        ),
        sa.CheckConstraint("kind IN ('regular', 'adjustment')", name=op.f("ck_payroll_runs_kind")),
        sa.CheckConstraint(
            "state IN ('draft', 'computed', 'approved', 'posted', 'paid')",
            name=op.f("ck_payroll_runs_state"),
        ),
        sa.ForeignKeyConstraint(
            ["approved_by_id"],
            ["users.id"],
            name=op.f("fk_payroll_runs_approved_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["computed_by_id"],
            ["users.id"],
            name=op.f("fk_payroll_runs_computed_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_payroll_runs_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payroll_runs")),
        sa.UniqueConstraint(
            "department_id",
            "period",
            "sequence",
            name=op.f("uq_payroll_runs_department_id_period_sequence"),
        ),
    )
    with op.batch_alter_table("payroll_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payroll_runs_department_id"), ["department_id"], unique=False
        )

    op.create_table(
        "payroll_payslips",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("employee_no", sa.String(length=20), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("name_ar", sa.String(length=200), nullable=False),
        sa.Column("grade", sa.String(length=20), nullable=True),
        sa.Column("nationality_category", sa.String(length=10), nullable=False),
        sa.Column("pension_scheme", sa.String(length=20), nullable=True),
        sa.Column("iban", sa.String(length=23), nullable=True),
        sa.Column("bank_routing_code", sa.String(length=9), nullable=True),
        sa.Column("wps_person_id", sa.String(length=14), nullable=True),
        sa.Column("pay_start", sa.Date(), nullable=False),
        sa.Column("pay_end", sa.Date(), nullable=False),
        sa.Column("days_in_month", sa.SmallInteger(), nullable=False),
        sa.Column("paid_days", sa.SmallInteger(), nullable=False),
        sa.Column("unpaid_days", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("total_earnings", grp.db.Money(), nullable=False),
        sa.Column("total_deductions", grp.db.Money(), nullable=False),
        sa.Column("net", grp.db.Money(), nullable=False),
        sa.Column("total_employer", grp.db.Money(), nullable=False),
        sa.Column("fixed_income", grp.db.Money(), nullable=False),
        sa.Column("variable_income", grp.db.Money(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_payroll_payslips_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["hr_employees.id"],
            name=op.f("fk_payroll_payslips_employee_id_hr_employees"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["payroll_runs.id"],
            name=op.f("fk_payroll_payslips_run_id_payroll_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payroll_payslips")),
        sa.UniqueConstraint(
            "department_id",
            "run_id",
            "employee_id",
            name=op.f("uq_payroll_payslips_department_id_run_id_employee_id"),
        ),
    )
    with op.batch_alter_table("payroll_payslips", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payroll_payslips_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            "ix_payroll_payslips_department_id_employee_id",
            ["department_id", "employee_id"],
            unique=False,
        )

    op.create_table(
        "payroll_run_errors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=True),
        sa.Column("employee_no", sa.String(length=20), nullable=True),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_payroll_run_errors_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["hr_employees.id"],
            name=op.f("fk_payroll_run_errors_employee_id_hr_employees"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["payroll_runs.id"],
            name=op.f("fk_payroll_run_errors_run_id_payroll_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payroll_run_errors")),
    )
    with op.batch_alter_table("payroll_run_errors", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payroll_run_errors_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            "ix_payroll_run_errors_department_id_run_id", ["department_id", "run_id"], unique=False
        )

    op.create_table(
        "payroll_payslip_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payslip_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("component_code", sa.String(length=40), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("name_ar", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("wps_kind", sa.String(length=10), nullable=False),
        sa.Column("display_order", sa.Integer(), nullable=False),
        sa.Column("amount", grp.db.Money(), nullable=False),
        sa.Column("rule_kind", sa.String(length=16), nullable=False),
        sa.Column("base", grp.db.Money(), nullable=True),
        sa.Column("rate", sa.String(length=20), nullable=True),
        sa.Column("days", sa.String(length=20), nullable=True),
        sa.Column("formula", sa.Text(), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_payroll_payslip_lines_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["payslip_id"],
            ["payroll_payslips.id"],
            name=op.f("fk_payroll_payslip_lines_payslip_id_payroll_payslips"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["payroll_runs.id"],
            name=op.f("fk_payroll_payslip_lines_run_id_payroll_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payroll_payslip_lines")),
    )
    with op.batch_alter_table("payroll_payslip_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payroll_payslip_lines_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            "ix_payroll_payslip_lines_department_id_payslip_id",
            ["department_id", "payslip_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_payroll_payslip_lines_department_id_run_id",
            ["department_id", "run_id"],
            unique=False,
        )

    for table in TABLES:
        enable_tenant_rls(op, table)


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_tenant_rls(op, table)
    with op.batch_alter_table("payroll_payslip_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_payroll_payslip_lines_department_id_run_id")
        batch_op.drop_index("ix_payroll_payslip_lines_department_id_payslip_id")
        batch_op.drop_index(batch_op.f("ix_payroll_payslip_lines_department_id"))

    op.drop_table("payroll_payslip_lines")
    with op.batch_alter_table("payroll_run_errors", schema=None) as batch_op:
        batch_op.drop_index("ix_payroll_run_errors_department_id_run_id")
        batch_op.drop_index(batch_op.f("ix_payroll_run_errors_department_id"))

    op.drop_table("payroll_run_errors")
    with op.batch_alter_table("payroll_payslips", schema=None) as batch_op:
        batch_op.drop_index("ix_payroll_payslips_department_id_employee_id")
        batch_op.drop_index(batch_op.f("ix_payroll_payslips_department_id"))

    op.drop_table("payroll_payslips")
    with op.batch_alter_table("payroll_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payroll_runs_department_id"))

    op.drop_table("payroll_runs")
    with op.batch_alter_table("payroll_rules", schema=None) as batch_op:
        batch_op.drop_index("ix_payroll_rules_department_id_component_id")
        batch_op.drop_index(batch_op.f("ix_payroll_rules_department_id"))

    op.drop_table("payroll_rules")
    with op.batch_alter_table("payroll_components", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payroll_components_department_id"))

    op.drop_table("payroll_components")
