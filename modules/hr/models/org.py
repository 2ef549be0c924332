"""Organisation inside a department: org units, positions, grades and pay bands, allowances.

Grades follow Executive Council Resolution 6/2020 (16 grades, each with 1-3 pay
bands). The bands and the allowance types are data, seeded with defaults per
department (`modules.hr.services.organisation.ensure_hr_defaults`) and editable.
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grp.db import AuditedMixin, Base, Money, TenantMixin, TimestampMixin

#: The fixed allowances of a contract, in display order; each is a Money column
#: `<code>_allowance` on `Contract` and a row of `AllowanceType` (names, pensionable flag).
ALLOWANCE_CODES = (
    "housing",
    "transport",
    "general",
    "social",
    "children",
    "cost_of_living",
    "other",
)


class OrgUnit(TenantMixin, TimestampMixin, AuditedMixin, Base):
    """A section of the department (قسم / إدارة), in a tree."""

    __tablename__ = "hr_org_units"
    __tenancy__ = "department"
    __table_args__ = (
        sa.UniqueConstraint("department_id", "code"),
        sa.Index("ix_hr_org_units_department_id_parent_id", "department_id", "parent_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("hr_org_units.id", ondelete="RESTRICT")
    )
    code: Mapped[str] = mapped_column(sa.String(32))
    name_en: Mapped[str] = mapped_column(sa.String(200))
    name_ar: Mapped[str] = mapped_column(sa.String(200))
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())

    parent: Mapped[OrgUnit | None] = relationship(remote_side=[id])


class Grade(TenantMixin, TimestampMixin, AuditedMixin, Base):
    """One of the 16 grades (درجة) of the department's pay structure."""

    __tablename__ = "hr_grades"
    __tenancy__ = "department"
    __table_args__ = (
        sa.UniqueConstraint("department_id", "number"),
        sa.CheckConstraint("number BETWEEN 1 AND 16", name="number_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(sa.SmallInteger)
    name_en: Mapped[str] = mapped_column(sa.String(100))
    name_ar: Mapped[str] = mapped_column(sa.String(100))

    bands: Mapped[list[PayBand]] = relationship(
        back_populates="grade", order_by="PayBand.band", cascade="all, delete-orphan"
    )

    def band_range(self, band: int) -> PayBand | None:
        """Return the pay band numbered `band`, or None."""
        return next((b for b in self.bands if b.band == band), None)


class PayBand(TenantMixin, TimestampMixin, AuditedMixin, Base):
    """A pay band of a grade: the range a contract's basic salary must fall in."""

    __tablename__ = "hr_pay_bands"
    __tenancy__ = "department"
    __table_args__ = (
        sa.UniqueConstraint("department_id", "grade_id", "band"),
        sa.CheckConstraint("band BETWEEN 1 AND 3", name="band_range"),
        sa.CheckConstraint("min_basic > 0 AND min_basic <= max_basic", name="min_max"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    grade_id: Mapped[int] = mapped_column(sa.ForeignKey("hr_grades.id", ondelete="CASCADE"))
    band: Mapped[int] = mapped_column(sa.SmallInteger)
    min_basic: Mapped[Decimal] = mapped_column(Money())
    max_basic: Mapped[Decimal] = mapped_column(Money())

    grade: Mapped[Grade] = relationship(back_populates="bands")

    def contains(self, amount: Decimal) -> bool:
        """Tell whether a monthly basic salary of `amount` is within the band (inclusive)."""
        return self.min_basic <= amount <= self.max_basic


class AllowanceType(TenantMixin, TimestampMixin, AuditedMixin, Base):
    """Names and the pensionable flag of one fixed allowance (`ALLOWANCE_CODES`).

    Pensionable allowances count towards the GPSSA contribution salary
    (DOMAIN.md, Payroll): by default housing, social, children and cost of living.
    """

    __tablename__ = "hr_allowance_types"
    __tenancy__ = "department"
    __table_args__ = (sa.UniqueConstraint("department_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32))
    name_en: Mapped[str] = mapped_column(sa.String(100))
    name_ar: Mapped[str] = mapped_column(sa.String(100))
    pensionable: Mapped[bool] = mapped_column(default=False, server_default=sa.false())


class Position(TenantMixin, TimestampMixin, AuditedMixin, Base):
    """A position (وظيفة) in an org unit, usually at a grade."""

    __tablename__ = "hr_positions"
    __tenancy__ = "department"
    __table_args__ = (
        sa.UniqueConstraint("department_id", "code"),
        sa.Index("ix_hr_positions_department_id_org_unit_id", "department_id", "org_unit_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32))
    title_en: Mapped[str] = mapped_column(sa.String(200))
    title_ar: Mapped[str] = mapped_column(sa.String(200))
    org_unit_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("hr_org_units.id", ondelete="RESTRICT")
    )
    grade_id: Mapped[int | None] = mapped_column(sa.ForeignKey("hr_grades.id", ondelete="RESTRICT"))
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())

    org_unit: Mapped[OrgUnit | None] = relationship()
    grade: Mapped[Grade | None] = relationship()
