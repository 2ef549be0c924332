"""hr: the employee search's words table (index-backed search under row-level security)

hr_employee_search_words holds the folded words each employee is found by (names in
both languages, employee number, Emirates ID); see modules/hr/search_words.py. The
existing employees' words are filled in here.

Revision ID: 0004_hr
Revises: 0003_hr
Create Date: 2026-11-29 11:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from grp.migrate import disable_tenant_rls, enable_tenant_rls

revision = "0004_hr"
down_revision = "0003_hr"
branch_labels = None
depends_on = None

TABLE = "hr_employee_search_words"
BATCH = 5_000


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column(
            "word",
            sa.String(length=60).with_variant(sa.String(length=60, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_hr_employee_search_words_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["hr_employees.id"],
            name=op.f("fk_hr_employee_search_words_employee_id_hr_employees"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("employee_id", "word", name=op.f("pk_hr_employee_search_words")),
    )
    op.create_index(
        op.f("ix_hr_employee_search_words_department_id"), TABLE, ["department_id"], unique=False
    )
    op.create_index(
        "ix_hr_employee_search_words_department_id_word",
        TABLE,
        ["department_id", "word", "employee_id"],
        unique=False,
    )
    _fill_words()
    enable_tenant_rls(op, TABLE)


def _fill_words() -> None:
    """Index the employees that exist (before the table is under row-level security)."""
    from modules.hr.search_words import word_rows

    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # hr_employees is under row-level security forced on its owner too: open reading.
        bind.execute(sa.text("SELECT set_config('grp.all_departments', 'on', true)"))
    words = sa.table(TABLE, sa.column("department_id"), sa.column("employee_id"), sa.column("word"))
    rows = bind.execute(
        sa.text(
            "SELECT id, department_id, name_en, name_ar, employee_no, emirates_id "
            "FROM hr_employees ORDER BY id"
        )
    )
    while batch := rows.fetchmany(BATCH):
        department_of = {row[0]: row[1] for row in batch}
        values = [
            {**word, "department_id": department_of[word["employee_id"]]}
            for word in word_rows(
                ((row[0], row[2], row[3], row[4], row[5]) for row in batch), sort_name=False
            )
        ]
        if values:
            bind.execute(words.insert(), values)
    if bind.dialect.name == "postgresql":
        bind.execute(sa.text("SELECT set_config('grp.all_departments', 'off', true)"))


def downgrade() -> None:
    disable_tenant_rls(op, TABLE)
    op.drop_index("ix_hr_employee_search_words_department_id_word", table_name=TABLE)
    op.drop_index(op.f("ix_hr_employee_search_words_department_id"), table_name=TABLE)
    op.drop_table(TABLE)
