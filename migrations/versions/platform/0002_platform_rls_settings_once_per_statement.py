"""platform: row-level security policies read the department setting once per statement

The policies of every tenant table (of any module, found in pg_policies) are
recreated with `grp.tenancy.rls_policy_sql`, whose settings are scalar subqueries
that PostgreSQL evaluates once per statement instead of once per row. Same rule,
same names; tables created later get the new form from the same function. No-op on
SQLite.

Revision ID: 0002_platform
Revises: 0001_platform
Create Date: 2026-11-29 10:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_platform"
down_revision = "0001_platform"
branch_labels = None
depends_on = None

#: The policies' previous form (per-row setting reads), for the downgrade.
_PER_ROW_DEPARTMENT = "NULLIF(current_setting('grp.department_id', true), '')::integer"


def _policy_tables() -> list[str]:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return []
    return list(
        bind.execute(
            sa.text(
                "SELECT tablename FROM pg_policies "
                "WHERE schemaname = current_schema() AND policyname = tablename || '_department' "
                "ORDER BY tablename"
            )
        ).scalars()
    )


def upgrade() -> None:
    from grp.tenancy import drop_rls_policy_sql, rls_policy_sql

    for table in _policy_tables():
        for statement in [*drop_rls_policy_sql(table), *rls_policy_sql(table)]:
            op.execute(statement)


def downgrade() -> None:
    for table in _policy_tables():
        op.execute(
            f"ALTER POLICY {table}_department ON {table} "
            f"USING (department_id = {_PER_ROW_DEPARTMENT}) "
            f"WITH CHECK (department_id = {_PER_ROW_DEPARTMENT})"
        )
        op.execute(
            f"ALTER POLICY {table}_all_departments_read ON {table} "
            "USING (current_setting('grp.all_departments', true) = 'on')"
        )
