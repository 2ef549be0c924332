"""payroll: payslips record the employee's org unit as of the run

Existing payslips take the employee's current org unit (the best that is known).

Revision ID: 0004_payroll
Revises: 0003_payroll
Create Date: 2026-11-29 09:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_payroll"
down_revision = "0003_payroll"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payroll_payslips") as batch:
        batch.add_column(sa.Column("org_unit_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_payroll_payslips_org_unit_id_hr_org_units"),
            "hr_org_units",
            ["org_unit_id"],
            ["id"],
            ondelete="SET NULL",
        )
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        # Row-level security is forced on the owner too; this backfill spans departments.
        op.execute("ALTER TABLE payroll_payslips NO FORCE ROW LEVEL SECURITY")
    op.execute(
        "UPDATE payroll_payslips SET org_unit_id = (SELECT hr_employees.org_unit_id "
        "FROM hr_employees WHERE hr_employees.id = payroll_payslips.employee_id)"
    )
    if postgres:
        op.execute("ALTER TABLE payroll_payslips FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    with op.batch_alter_table("payroll_payslips") as batch:
        batch.drop_constraint(
            op.f("fk_payroll_payslips_org_unit_id_hr_org_units"), type_="foreignkey"
        )
        batch.drop_column("org_unit_id")
