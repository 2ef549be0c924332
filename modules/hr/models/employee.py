"""The employee record.

Indexes (all leading with department_id, so every list query of a department
is one index range): unique employee_no, unique emirates_id, unique user_id
(NULLs allowed many times), and one per sort key or filter of the officers'
list: name_en, name_ar, hire_date, status, org_unit_id, grade_id, position_id,
nationality (the UAE / GCC / other category is computed from it) and
manager_id (the reports of a manager, the cycle check).

Search (names, numbers, Emirates IDs) goes through the words table of
modules/hr/models/search.py, an index range even under row-level security.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grp.db import AuditedMixin, Base, TenantMixin, TimestampMixin
from modules.hr.countries import GCC, UAE
from modules.hr.models.org import Grade, OrgUnit, Position

STATUSES = ("active", "suspended", "terminated")
GENDERS = ("male", "female")
MARITAL_STATUSES = ("single", "married", "divorced", "widowed")
#: GPSSA schemes of UAE nationals (DOMAIN.md, Payroll / Pension).
PENSION_SCHEMES = ("law_57_2023", "law_7_1999")
NATIONALITY_CATEGORIES = ("uae", "gcc", "other")


def _index(*columns: str) -> sa.Index:
    return sa.Index(f"ix_hr_employees_{'_'.join(columns)}", *columns)


class Employee(TenantMixin, TimestampMixin, AuditedMixin, Base):
    """A person employed by the department."""

    __tablename__ = "hr_employees"
    __tenancy__ = "department"
    __table_args__ = (
        sa.UniqueConstraint("department_id", "employee_no"),
        sa.UniqueConstraint("department_id", "emirates_id"),
        sa.UniqueConstraint("department_id", "user_id"),
        _index("department_id", "name_en"),
        _index("department_id", "name_ar"),
        _index("department_id", "hire_date"),
        _index("department_id", "status"),
        _index("department_id", "org_unit_id"),
        _index("department_id", "grade_id"),
        _index("department_id", "position_id"),
        _index("department_id", "nationality"),
        _index("department_id", "manager_id"),
        sa.CheckConstraint("status IN ('active', 'suspended', 'terminated')", name="status"),
        sa.CheckConstraint("band BETWEEN 1 AND 3", name="band_range"),
        sa.CheckConstraint("children >= 0", name="children"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_no: Mapped[str] = mapped_column(sa.String(20))
    name_en: Mapped[str] = mapped_column(sa.String(200))
    name_ar: Mapped[str] = mapped_column(sa.String(200))
    # Stored normalised as 784-YYYY-NNNNNNN-C (grp.identifiers.parse_emirates_id).
    emirates_id: Mapped[str] = mapped_column(sa.String(18))
    nationality: Mapped[str] = mapped_column(sa.String(2))  # ISO 3166-1 alpha-2
    date_of_birth: Mapped[date]
    gender: Mapped[str] = mapped_column(sa.String(10))
    marital_status: Mapped[str] = mapped_column(sa.String(10), default="single")
    children: Mapped[int] = mapped_column(default=0, server_default="0")
    hire_date: Mapped[date]
    pension_scheme: Mapped[str | None] = mapped_column(sa.String(20))
    first_insured_date: Mapped[date | None]
    # The grade and band of the latest contract version (kept here for lists and filters).
    grade_id: Mapped[int] = mapped_column(sa.ForeignKey("hr_grades.id", ondelete="RESTRICT"))
    band: Mapped[int] = mapped_column(sa.SmallInteger)
    position_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("hr_positions.id", ondelete="RESTRICT")
    )
    org_unit_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("hr_org_units.id", ondelete="RESTRICT")
    )
    manager_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("hr_employees.id", ondelete="RESTRICT")
    )
    iban: Mapped[str | None] = mapped_column(sa.String(23))  # AE + 21 digits, compact
    bank_routing_code: Mapped[str | None] = mapped_column(sa.String(9))
    wps_person_id: Mapped[str | None] = mapped_column(sa.String(14))
    work_email: Mapped[str | None] = mapped_column(sa.String(254))
    mobile: Mapped[str | None] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(12), default="active", server_default="active")
    # The platform user who is this employee (self-service); one per department.
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    # Optimistic locking: officers edit concurrently; a stale edit is refused (409).
    version_id: Mapped[int] = mapped_column(default=1, server_default="1")

    __mapper_args__ = {"version_id_col": version_id}

    grade: Mapped[Grade] = relationship(lazy="joined")
    position: Mapped[Position | None] = relationship()
    org_unit: Mapped[OrgUnit | None] = relationship()
    manager: Mapped[Employee | None] = relationship(remote_side=[id])

    @hybrid_property
    def nationality_category(self) -> str:
        """UAE national, GCC national or other (pension vs gratuity rules differ)."""
        if self.nationality == UAE:
            return "uae"
        return "gcc" if self.nationality in GCC else "other"

    @nationality_category.inplace.expression
    @classmethod
    def _nationality_category_expression(cls) -> sa.ColumnElement[str]:
        return sa.case(
            (cls.nationality == UAE, "uae"),
            (cls.nationality.in_(sorted(GCC)), "gcc"),
            else_="other",
        )

    @property
    def is_uae_national(self) -> bool:
        return self.nationality == UAE

    def name(self, language: str = "en") -> str:
        return self.name_ar if language == "ar" else self.name_en
