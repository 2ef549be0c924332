"""hr: organisation, employees, contracts, documents

Every table is department-owned: under row-level security on PostgreSQL
(grp.migrate.enable_tenant_rls), unique keys and composite indexes lead with
department_id.

Revision ID: 0001_hr
Revises:
Create Date: 2026-11-29 05:57:51.657213
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import grp.db
from grp.migrate import disable_tenant_rls, enable_tenant_rls

revision = "0001_hr"
down_revision = None
branch_labels = ("hr",)
depends_on = "0001_platform"

# In creation order (foreign keys point backwards); dropped in reverse.
TABLES = (
    "hr_allowance_types",
    "hr_grades",
    "hr_org_units",
    "hr_pay_bands",
    "hr_positions",
    "hr_employees",
    "hr_contracts",
    "hr_documents",
)


def upgrade() -> None:
    op.create_table(
        "hr_allowance_types",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("name_ar", sa.String(length=100), nullable=False),
        sa.Column("pensionable", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_hr_allowance_types_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hr_allowance_types")),
        sa.UniqueConstraint(
            "department_id", "code", name=op.f("uq_hr_allowance_types_department_id_code")
        ),
    )
    with op.batch_alter_table("hr_allowance_types", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hr_allowance_types_department_id"), ["department_id"], unique=False
        )

    op.create_table(
        "hr_grades",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.SmallInteger(), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("name_ar", sa.String(length=100), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("number BETWEEN 1 AND 16", name=op.f("ck_hr_grades_number_range")),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_hr_grades_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hr_grades")),
        sa.UniqueConstraint(
            "department_id", "number", name=op.f("uq_hr_grades_department_id_number")
        ),
    )
    with op.batch_alter_table("hr_grades", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hr_grades_department_id"), ["department_id"], unique=False
        )

    op.create_table(
        "hr_org_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("name_ar", sa.String(length=200), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_hr_org_units_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["hr_org_units.id"],
            name=op.f("fk_hr_org_units_parent_id_hr_org_units"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hr_org_units")),
        sa.UniqueConstraint(
            "department_id", "code", name=op.f("uq_hr_org_units_department_id_code")
        ),
    )
    with op.batch_alter_table("hr_org_units", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hr_org_units_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            "ix_hr_org_units_department_id_parent_id", ["department_id", "parent_id"], unique=False
        )

    op.create_table(
        "hr_pay_bands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grade_id", sa.Integer(), nullable=False),
        sa.Column("band", sa.SmallInteger(), nullable=False),
        sa.Column("min_basic", grp.db.Money(), nullable=False),
        sa.Column("max_basic", grp.db.Money(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("band BETWEEN 1 AND 3", name=op.f("ck_hr_pay_bands_band_range")),
        sa.CheckConstraint(
            "min_basic > 0 AND min_basic <= max_basic", name=op.f("ck_hr_pay_bands_min_max")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_hr_pay_bands_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["grade_id"],
            ["hr_grades.id"],
            name=op.f("fk_hr_pay_bands_grade_id_hr_grades"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hr_pay_bands")),
        sa.UniqueConstraint(
            "department_id",
            "grade_id",
            "band",
            name=op.f("uq_hr_pay_bands_department_id_grade_id_band"),
        ),
    )
    with op.batch_alter_table("hr_pay_bands", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hr_pay_bands_department_id"), ["department_id"], unique=False
        )

    op.create_table(
        "hr_positions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("title_en", sa.String(length=200), nullable=False),
        sa.Column("title_ar", sa.String(length=200), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=True),
        sa.Column("grade_id", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_hr_positions_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["grade_id"],
            ["hr_grades.id"],
            name=op.f("fk_hr_positions_grade_id_hr_grades"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["hr_org_units.id"],
            name=op.f("fk_hr_positions_org_unit_id_hr_org_units"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hr_positions")),
        sa.UniqueConstraint(
            "department_id", "code", name=op.f("uq_hr_positions_department_id_code")
        ),
    )
    with op.batch_alter_table("hr_positions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hr_positions_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            "ix_hr_positions_department_id_org_unit_id",
            ["department_id", "org_unit_id"],
            unique=False,
        )

    op.create_table(
        "hr_employees",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_no", sa.String(length=20), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("name_ar", sa.String(length=200), nullable=False),
        sa.Column("emirates_id", sa.String(length=18), nullable=False),
        sa.Column("nationality", sa.String(length=2), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("gender", sa.String(length=10), nullable=False),
        sa.Column("marital_status", sa.String(length=10), nullable=False),
        sa.Column("children", sa.Integer(), server_default="0", nullable=False),
        sa.Column("hire_date", sa.Date(), nullable=False),
        sa.Column("pension_scheme", sa.String(length=20), nullable=True),
        sa.Column("first_insured_date", sa.Date(), nullable=True),
        sa.Column("grade_id", sa.Integer(), nullable=False),
        sa.Column("band", sa.SmallInteger(), nullable=False),
        sa.Column("position_id", sa.Integer(), nullable=True),
        sa.Column("org_unit_id", sa.Integer(), nullable=True),
        sa.Column("manager_id", sa.Integer(), nullable=True),
        sa.Column("iban", sa.String(length=23), nullable=True),
        sa.Column("bank_routing_code", sa.String(length=9), nullable=True),
        sa.Column("wps_person_id", sa.String(length=14), nullable=True),
        sa.Column("work_email", sa.String(length=254), nullable=True),
        sa.Column("mobile", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=12), server_default="active", nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("version_id", sa.Integer(), server_default="1", nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'suspended', 'terminated')", name=op.f("ck_hr_employees_status")
        ),
        sa.CheckConstraint("band BETWEEN 1 AND 3", name=op.f("ck_hr_employees_band_range")),
        sa.CheckConstraint("children >= 0", name=op.f("ck_hr_employees_children")),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_hr_employees_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["grade_id"],
            ["hr_grades.id"],
            name=op.f("fk_hr_employees_grade_id_hr_grades"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["manager_id"],
            ["hr_employees.id"],
            name=op.f("fk_hr_employees_manager_id_hr_employees"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["hr_org_units.id"],
            name=op.f("fk_hr_employees_org_unit_id_hr_org_units"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["position_id"],
            ["hr_positions.id"],
            name=op.f("fk_hr_employees_position_id_hr_positions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_hr_employees_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hr_employees")),
        sa.UniqueConstraint(
            "department_id", "emirates_id", name=op.f("uq_hr_employees_department_id_emirates_id")
        ),
        sa.UniqueConstraint(
            "department_id", "employee_no", name=op.f("uq_hr_employees_department_id_employee_no")
        ),
        sa.UniqueConstraint(
            "department_id", "user_id", name=op.f("uq_hr_employees_department_id_user_id")
        ),
    )
    with op.batch_alter_table("hr_employees", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hr_employees_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            "ix_hr_employees_department_id_grade_id", ["department_id", "grade_id"], unique=False
        )
        batch_op.create_index(
            "ix_hr_employees_department_id_hire_date", ["department_id", "hire_date"], unique=False
        )
        batch_op.create_index(
            "ix_hr_employees_department_id_manager_id",
            ["department_id", "manager_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_hr_employees_department_id_name_ar", ["department_id", "name_ar"], unique=False
        )
        batch_op.create_index(
            "ix_hr_employees_department_id_name_en", ["department_id", "name_en"], unique=False
        )
        batch_op.create_index(
            "ix_hr_employees_department_id_nationality",
            ["department_id", "nationality"],
            unique=False,
        )
        batch_op.create_index(
            "ix_hr_employees_department_id_org_unit_id",
            ["department_id", "org_unit_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_hr_employees_department_id_position_id",
            ["department_id", "position_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_hr_employees_department_id_status", ["department_id", "status"], unique=False
        )

    op.create_table(
        "hr_contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.SmallInteger(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("contract_type", sa.String(length=20), nullable=False),
        sa.Column("grade_id", sa.Integer(), nullable=False),
        sa.Column("band", sa.SmallInteger(), nullable=False),
        sa.Column("basic_salary", grp.db.Money(), nullable=False),
        sa.Column("housing_allowance", grp.db.Money(), server_default="0", nullable=False),
        sa.Column("transport_allowance", grp.db.Money(), server_default="0", nullable=False),
        sa.Column("general_allowance", grp.db.Money(), server_default="0", nullable=False),
        sa.Column("social_allowance", grp.db.Money(), server_default="0", nullable=False),
        sa.Column("children_allowance", grp.db.Money(), server_default="0", nullable=False),
        sa.Column("cost_of_living_allowance", grp.db.Money(), server_default="0", nullable=False),
        sa.Column("other_allowance", grp.db.Money(), server_default="0", nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("basic_salary > 0", name=op.f("ck_hr_contracts_basic_positive")),
        sa.CheckConstraint(
            "end_date IS NULL OR end_date >= start_date", name=op.f("ck_hr_contracts_dates")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_hr_contracts_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["hr_employees.id"],
            name=op.f("fk_hr_contracts_employee_id_hr_employees"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["grade_id"],
            ["hr_grades.id"],
            name=op.f("fk_hr_contracts_grade_id_hr_grades"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hr_contracts")),
        sa.UniqueConstraint(
            "department_id",
            "employee_id",
            "start_date",
            name=op.f("uq_hr_contracts_department_id_employee_id_start_date"),
        ),
        sa.UniqueConstraint(
            "department_id",
            "employee_id",
            "version",
            name=op.f("uq_hr_contracts_department_id_employee_id_version"),
        ),
    )
    with op.batch_alter_table("hr_contracts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hr_contracts_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            "ix_hr_contracts_department_id_start_date",
            ["department_id", "start_date"],
            unique=False,
        )

    op.create_table(
        "hr_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("doc_type", sa.String(length=20), nullable=False),
        sa.Column("number", sa.String(length=50), nullable=True),
        sa.Column("issue_date", sa.Date(), nullable=True),
        sa.Column("expiry_date", sa.Date(), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=50), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("created_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", grp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_hr_documents_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["hr_employees.id"],
            name=op.f("fk_hr_documents_employee_id_hr_employees"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["users.id"],
            name=op.f("fk_hr_documents_uploaded_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hr_documents")),
        sa.UniqueConstraint(
            "department_id", "storage_key", name=op.f("uq_hr_documents_department_id_storage_key")
        ),
    )
    with op.batch_alter_table("hr_documents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hr_documents_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            "ix_hr_documents_department_id_employee_id",
            ["department_id", "employee_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_hr_documents_department_id_expiry_date",
            ["department_id", "expiry_date"],
            unique=False,
        )

    for table in TABLES:
        enable_tenant_rls(op, table)


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_tenant_rls(op, table)
    with op.batch_alter_table("hr_documents", schema=None) as batch_op:
        batch_op.drop_index("ix_hr_documents_department_id_expiry_date")
        batch_op.drop_index("ix_hr_documents_department_id_employee_id")
        batch_op.drop_index(batch_op.f("ix_hr_documents_department_id"))

    op.drop_table("hr_documents")
    with op.batch_alter_table("hr_contracts", schema=None) as batch_op:
        batch_op.drop_index("ix_hr_contracts_department_id_start_date")
        batch_op.drop_index(batch_op.f("ix_hr_contracts_department_id"))

    op.drop_table("hr_contracts")
    with op.batch_alter_table("hr_employees", schema=None) as batch_op:
        batch_op.drop_index("ix_hr_employees_department_id_status")
        batch_op.drop_index("ix_hr_employees_department_id_position_id")
        batch_op.drop_index("ix_hr_employees_department_id_org_unit_id")
        batch_op.drop_index("ix_hr_employees_department_id_nationality")
        batch_op.drop_index("ix_hr_employees_department_id_name_en")
        batch_op.drop_index("ix_hr_employees_department_id_name_ar")
        batch_op.drop_index("ix_hr_employees_department_id_manager_id")
        batch_op.drop_index("ix_hr_employees_department_id_hire_date")
        batch_op.drop_index("ix_hr_employees_department_id_grade_id")
        batch_op.drop_index(batch_op.f("ix_hr_employees_department_id"))

    op.drop_table("hr_employees")
    with op.batch_alter_table("hr_positions", schema=None) as batch_op:
        batch_op.drop_index("ix_hr_positions_department_id_org_unit_id")
        batch_op.drop_index(batch_op.f("ix_hr_positions_department_id"))

    op.drop_table("hr_positions")
    with op.batch_alter_table("hr_pay_bands", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hr_pay_bands_department_id"))

    op.drop_table("hr_pay_bands")
    with op.batch_alter_table("hr_org_units", schema=None) as batch_op:
        batch_op.drop_index("ix_hr_org_units_department_id_parent_id")
        batch_op.drop_index(batch_op.f("ix_hr_org_units_department_id"))

    op.drop_table("hr_org_units")
    with op.batch_alter_table("hr_grades", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hr_grades_department_id"))

    op.drop_table("hr_grades")
    with op.batch_alter_table("hr_allowance_types", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hr_allowance_types_department_id"))

    op.drop_table("hr_allowance_types")
