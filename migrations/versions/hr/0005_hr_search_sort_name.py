"""hr: the employee's name on each search word (a search sorted by name from the index)

hr_employee_search_words.sort_name holds the employee's name_en, and the search index
(department_id, word, employee_id) gains it as a fourth column: a search sorted by name
finds, counts and sorts its matches from the index alone and reads the employee rows of
one page only (modules/hr/services/employees.py). The existing words get their names here.

Revision ID: 0005_hr
Revises: 0004_hr
Create Date: 2026-12-07 07:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from grp.migrate import disable_tenant_rls, enable_tenant_rls

revision = "0005_hr"
down_revision = "0004_hr"
branch_labels = None
depends_on = None

TABLE = "hr_employee_search_words"
INDEX = "ix_hr_employee_search_words_department_id_word"


def upgrade() -> None:
    op.add_column(
        TABLE,
        sa.Column("sort_name", sa.String(length=200), server_default=sa.text("''"), nullable=False),
    )
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    if postgresql:
        # Both tables are under row-level security, forced on their owner too: read the
        # employees across departments, and write the words outside the policies.
        disable_tenant_rls(op, TABLE)
        bind.execute(sa.text("SELECT set_config('grp.all_departments', 'on', true)"))
    bind.execute(
        sa.text(
            f"UPDATE {TABLE} SET sort_name = "  # noqa: S608 - constant names
            f"(SELECT e.name_en FROM hr_employees e WHERE e.id = {TABLE}.employee_id)"
        )
    )
    if postgresql:
        bind.execute(sa.text("SELECT set_config('grp.all_departments', 'off', true)"))
        enable_tenant_rls(op, TABLE)
    op.drop_index(INDEX, table_name=TABLE)
    op.create_index(INDEX, TABLE, ["department_id", "word", "employee_id", "sort_name"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name=TABLE)
    op.create_index(INDEX, TABLE, ["department_id", "word", "employee_id"])
    op.drop_column(TABLE, "sort_name")
