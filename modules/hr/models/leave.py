"""Leave: types with entitlement rules, the working week, public holidays, the ledger, requests.

Leave days are exact decimals with two places (monthly accrual of 25 days a
year is 2.08 or 2.09 a month); they are stored as integer hundredths (`Days`)
because SQLite stores `Numeric` as a float.

Balances are never stored: a balance is the sum of the employee's ledger
entries of the type, computed in SQL (`modules.hr.services.leave.balance`).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from grp.db import AuditedMixin, Base, TenantMixin, TimestampMixin, UTCDateTime
from modules.hr.models.document import EmployeeDocument
from modules.hr.models.employee import Employee

HUNDREDTH = Decimal("0.01")

#: Counting bases of a leave type.
DAY_BASES = ("working", "calendar")
#: How a leave type's entitlement is earned.
ACCRUALS = ("none", "monthly")
#: Ledger entry kinds; each entry's `days` carries its sign (taken and expiry are negative).
ENTRY_KINDS = ("accrual", "taken", "adjustment", "carry_forward", "expiry", "reversal")
#: Leave request states.
REQUEST_STATES = ("pending", "approved", "rejected", "cancelled")
#: Requests that hold days: they overlap others and count against limits.
ACTIVE_STATES = ("pending", "approved")
#: The default working week: Monday to Friday (Python weekday 0-4), Saturday and Sunday off.
DEFAULT_WORKING_WEEK = "1111100"


def to_days(value: Any) -> Decimal:
    """Return `value` as a Decimal of days with two places."""
    return Decimal(str(value)).quantize(HUNDREDTH, rounding=ROUND_HALF_UP)


class Days(TypeDecorator):
    """Exact leave days: integer hundredths in the database, `Decimal` in Python."""

    impl = sa.Integer
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> int | None:
        if value is None:
            return None
        return int(to_days(value) * 100)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(int(value)) / 100).quantize(HUNDREDTH)


class LeaveType(TenantMixin, TimestampMixin, AuditedMixin, Base):
    """A kind of leave and its entitlement rules, editable per department.

    `entitlement_rules` are the yearly days by grade: a list of
    `{"min_grade": 12, "max_grade": 16, "days": 30}`; an employee gets the
    first rule their grade falls in (none: no entitlement).
    """

    __tablename__ = "hr_leave_types"
    __tenancy__ = "department"
    __table_args__ = (
        sa.UniqueConstraint("department_id", "code"),
        sa.CheckConstraint("day_basis IN ('working', 'calendar')", name="day_basis"),
        sa.CheckConstraint("accrual IN ('none', 'monthly')", name="accrual"),
        sa.CheckConstraint(
            "carry_forward_expiry_months BETWEEN 1 AND 11", name="carry_forward_expiry_months"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32))
    name_en: Mapped[str] = mapped_column(sa.String(100))
    name_ar: Mapped[str] = mapped_column(sa.String(100))
    paid: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    day_basis: Mapped[str] = mapped_column(sa.String(10), default="working")
    # Balance-limited types cannot be taken beyond the employee's ledger balance.
    balance_limited: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    accrual: Mapped[str] = mapped_column(sa.String(10), default="none")
    entitlement_rules: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    # Days left at the year end above this are forfeited (an "expiry" entry); None: no cap.
    carry_forward_cap: Mapped[Decimal | None] = mapped_column(Days())
    # Carried-forward days not taken in the first N months of the new year expire; None: never.
    carry_forward_expiry_months: Mapped[int | None] = mapped_column(sa.SmallInteger)
    max_days_per_request: Mapped[Decimal | None] = mapped_column(Days())
    max_days_per_year: Mapped[Decimal | None] = mapped_column(Days())
    # The per-request and per-year limits do not apply when a supporting document
    # (a medical report for sick leave) is provided.
    document_lifts_limits: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    once_in_service: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())

    def name(self, language: str = "en") -> str:
        return self.name_ar if language == "ar" else self.name_en

    def yearly_days(self, grade_number: int) -> Decimal:
        """Return the yearly entitlement of an employee of `grade_number` (0 without a rule)."""
        for rule in self.entitlement_rules or []:
            low, high = int(rule.get("min_grade", 1)), int(rule.get("max_grade", 99))
            if low <= grade_number <= high:
                return to_days(rule["days"])
        return Decimal("0.00")


class WorkingWeek(TenantMixin, TimestampMixin, AuditedMixin, Base):
    """The department's working weekdays (absent: Monday to Friday)."""

    __tablename__ = "hr_working_weeks"
    __tenancy__ = "department"
    __table_args__ = (sa.UniqueConstraint("department_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Monday..Sunday, "1" working: "1111100" is Monday to Friday.
    working_days: Mapped[str] = mapped_column(sa.String(7), default=DEFAULT_WORKING_WEEK)


class PublicHoliday(TenantMixin, TimestampMixin, AuditedMixin, Base):
    """A public holiday: one row per day, edited by officers as moon sightings move them.

    `hijri`: the day follows the Islamic calendar (moves about 11 days earlier
    each year); `to_confirm`: the date is an estimate (copied from an earlier
    year) an officer has not confirmed yet.
    """

    __tablename__ = "hr_public_holidays"
    __tenancy__ = "department"
    __table_args__ = (sa.UniqueConstraint("department_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date]
    name_en: Mapped[str] = mapped_column(sa.String(100))
    name_ar: Mapped[str] = mapped_column(sa.String(100))
    hijri: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    to_confirm: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    def name(self, language: str = "en") -> str:
        return self.name_ar if language == "ar" else self.name_en


class LeaveRequest(TenantMixin, TimestampMixin, AuditedMixin, Base):
    """An employee's request for leave, approved through the approval engine."""

    __tablename__ = "hr_leave_requests"
    __tenancy__ = "department"
    __table_args__ = (
        sa.Index("ix_hr_leave_requests_department_id_employee_id", "department_id", "employee_id"),
        sa.Index("ix_hr_leave_requests_department_id_state", "department_id", "state"),
        sa.CheckConstraint(
            "state IN ('pending', 'approved', 'rejected', 'cancelled')", name="state"
        ),
        sa.CheckConstraint("end_date >= start_date", name="dates"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(sa.ForeignKey("hr_employees.id", ondelete="RESTRICT"))
    leave_type_id: Mapped[int] = mapped_column(
        sa.ForeignKey("hr_leave_types.id", ondelete="RESTRICT")
    )
    start_date: Mapped[date]
    end_date: Mapped[date]
    days: Mapped[Decimal] = mapped_column(Days())
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    has_document: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # The supporting document (a medical report) attached; `has_document` says one is.
    document_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("hr_documents.id", ondelete="SET NULL")
    )
    state: Mapped[str] = mapped_column(sa.String(12), default="pending")
    decision_comment: Mapped[str] = mapped_column(sa.Text, default="")
    requested_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    approval_request_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("approval_requests.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    employee: Mapped[Employee] = relationship()
    leave_type: Mapped[LeaveType] = relationship(lazy="joined")
    document: Mapped[EmployeeDocument | None] = relationship()


class LeaveLedgerEntry(TenantMixin, TimestampMixin, AuditedMixin, Base):
    """A movement of an employee's leave balance of one type.

    `period` makes the automatic entries idempotent: an accrual is unique per
    employee, type and month ("2026-03"), a year-end expiry per year ("2026"),
    the expiry of unused carried-forward days per year ("2026-CF");
    a taken or reversal entry is unique per request. NULLs (manual entries) repeat.
    """

    __tablename__ = "hr_leave_ledger"
    __tenancy__ = "department"
    __table_args__ = (
        sa.UniqueConstraint("department_id", "employee_id", "leave_type_id", "kind", "period"),
        sa.UniqueConstraint("department_id", "request_id", "kind"),
        sa.Index(
            "ix_hr_leave_ledger_department_id_employee_id_leave_type_id",
            "department_id",
            "employee_id",
            "leave_type_id",
            "entry_date",
        ),
        sa.CheckConstraint(
            "kind IN ('accrual', 'taken', 'adjustment', 'carry_forward', 'expiry', 'reversal')",
            name="kind",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(sa.ForeignKey("hr_employees.id", ondelete="RESTRICT"))
    leave_type_id: Mapped[int] = mapped_column(
        sa.ForeignKey("hr_leave_types.id", ondelete="RESTRICT")
    )
    kind: Mapped[str] = mapped_column(sa.String(16))
    days: Mapped[Decimal] = mapped_column(Days())
    entry_date: Mapped[date]
    period: Mapped[str | None] = mapped_column(sa.String(7))
    request_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("hr_leave_requests.id", ondelete="RESTRICT")
    )
    note: Mapped[str] = mapped_column(sa.Text, default="")

    leave_type: Mapped[LeaveType] = relationship(lazy="joined")
