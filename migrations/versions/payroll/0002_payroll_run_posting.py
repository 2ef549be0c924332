"""payroll: who posted a run to the ledger and who marked it paid, and when

Revision ID: 0002_payroll
Revises: 0001_payroll
Create Date: 2026-11-29 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import grp.db

revision = "0002_payroll"
down_revision = "0001_payroll"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payroll_runs") as batch:
        batch.add_column(sa.Column("posted_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("posted_at", grp.db.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("paid_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("paid_at", grp.db.UTCDateTime(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_payroll_runs_posted_by_id_users"),
            "users",
            ["posted_by_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_foreign_key(
            op.f("fk_payroll_runs_paid_by_id_users"),
            "users",
            ["paid_by_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("payroll_runs") as batch:
        batch.drop_constraint(op.f("fk_payroll_runs_paid_by_id_users"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_payroll_runs_posted_by_id_users"), type_="foreignkey")
        batch.drop_column("paid_at")
        batch.drop_column("paid_by_id")
        batch.drop_column("posted_at")
        batch.drop_column("posted_by_id")
