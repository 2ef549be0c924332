"""Employment contracts, effective-dated: a salary change is a new version.

Versions of one employee never overlap: a new version starts after the latest
one started, and the latest one then ends the day before
(`modules.hr.services.contracts.create_contract_version`). A version is never
edited once created; payroll reads the one in force on a date
(`contract_in_force`).

Indexes: unique (department_id, employee_id, start_date) answers "the version
in force on a date" for one employee; (department_id, start_date) serves
"every contract overlapping a payroll period" of a department.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grp.db import AuditedMixin, Base, Money, TenantMixin, TimestampMixin
from modules.hr.models.employee import Employee
from modules.hr.models.org import ALLOWANCE_CODES, Grade

CONTRACT_TYPES = ("permanent", "fixed_term", "temporary")


def _money(default: str = "0") -> Mapped[Decimal]:
    return mapped_column(Money(), default=Decimal(default), server_default=default)


class Contract(TenantMixin, TimestampMixin, AuditedMixin, Base):
    """One version of an employee's contract: its dates, grade and band, basic and allowances."""

    __tablename__ = "hr_contracts"
    __tenancy__ = "department"
    __table_args__ = (
        sa.UniqueConstraint("department_id", "employee_id", "start_date"),
        sa.UniqueConstraint("department_id", "employee_id", "version"),
        sa.Index("ix_hr_contracts_department_id_start_date", "department_id", "start_date"),
        sa.CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates"),
        sa.CheckConstraint("basic_salary > 0", name="basic_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(sa.ForeignKey("hr_employees.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(sa.SmallInteger)  # 1, 2, ... per employee
    start_date: Mapped[date]
    end_date: Mapped[date | None]
    contract_type: Mapped[str] = mapped_column(sa.String(20))
    grade_id: Mapped[int] = mapped_column(sa.ForeignKey("hr_grades.id", ondelete="RESTRICT"))
    band: Mapped[int] = mapped_column(sa.SmallInteger)
    basic_salary: Mapped[Decimal] = mapped_column(Money())
    housing_allowance: Mapped[Decimal] = _money()
    transport_allowance: Mapped[Decimal] = _money()
    general_allowance: Mapped[Decimal] = _money()
    social_allowance: Mapped[Decimal] = _money()
    children_allowance: Mapped[Decimal] = _money()
    cost_of_living_allowance: Mapped[Decimal] = _money()
    other_allowance: Mapped[Decimal] = _money()

    employee: Mapped[Employee] = relationship()
    grade: Mapped[Grade] = relationship(lazy="joined")

    def allowances(self) -> dict[str, Decimal]:
        """Return the fixed allowances by code (`ALLOWANCE_CODES`), zero ones included."""
        return {code: getattr(self, f"{code}_allowance") for code in ALLOWANCE_CODES}

    @property
    def total_fixed(self) -> Decimal:
        """Basic plus every fixed allowance: the monthly fixed pay of this version."""
        return self.basic_salary + sum(self.allowances().values(), Decimal("0.00"))

    def in_force_on(self, day: date) -> bool:
        return self.start_date <= day and (self.end_date is None or day <= self.end_date)
