"""Payroll tables: salary components and their rules (data), runs, run errors, payslips, lines.

Components and rules are per department and edited by payroll officers; the
defaults (`modules.payroll.services.defaults`) reproduce DOMAIN.md. A run is one
department's month; its payslips snapshot the employee as of the period and
every line records how it was computed, so an approved payslip can be read
years later without the rules or the employee record of that time.

Unique keys: one component code per department; one run per department, month
and `sequence` (0 is the regular run, adjustments count from 1), which is how
"one regular run per department and month" is enforced on both databases; one
payslip per employee in a run.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grp.db import AuditedMixin, Base, Money, TenantMixin, TimestampMixin, UTCDateTime

CATEGORIES = ("earning", "deduction", "employer_contribution")
WPS_KINDS = ("fixed", "variable")
#: "input": the amount comes from outside the rules (one-off inputs, loan instalments,
#: an end-of-service settlement), see modules.payroll.services.inputs.
RULE_KINDS = ("contract", "percent", "grade_table", "formula", "input")
RUN_KINDS = ("regular", "adjustment")
RUN_STATES = ("draft", "computed", "approved", "posted", "paid")
#: Run states whose payslips can no longer change (DOMAIN.md: approved payslips are immutable).
LOCKED_STATES = ("approved", "posted", "paid")


class PayComponent(TenantMixin, TimestampMixin, AuditedMixin, Base):
    """A salary component of a department: an earning, a deduction or an employer contribution."""

    __tablename__ = "payroll_components"
    __tenancy__ = "department"
    __table_args__ = (
        sa.UniqueConstraint("department_id", "code"),
        sa.CheckConstraint(f"category IN {CATEGORIES}", name="category"),
        sa.CheckConstraint(f"wps_kind IN {WPS_KINDS}", name="wps_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40))
    name_en: Mapped[str] = mapped_column(sa.String(200))
    name_ar: Mapped[str] = mapped_column(sa.String(200))
    category: Mapped[str] = mapped_column(sa.String(24))
    pensionable: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    prorated: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    wps_kind: Mapped[str] = mapped_column(sa.String(10), default="fixed", server_default="fixed")
    display_order: Mapped[int] = mapped_column(default=100, server_default="100")
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())

    rules: Mapped[list[PayRule]] = relationship(
        back_populates="component", order_by="PayRule.priority", cascade="all, delete-orphan"
    )


class PayRule(TenantMixin, TimestampMixin, AuditedMixin, Base):
    """How a component is computed for the employees its conditions match.

    The rules of a component are tried by `priority`; the first whose
    conditions match computes the line (none matching: no line).

    * `contract`: `source` is "basic" or an allowance code of the contract;
    * `percent`: `rate` percent of the sum of `base` (component codes, or
      "PENSIONABLE" for every pensionable component), capped at `cap`; with
      `prorate_base` the paid (prorated) amounts, else the full monthly ones;
    * `grade_table`: `grade_amounts` maps a grade number to a monthly amount;
    * `formula`: `formula` in the payroll formula language.
    """

    __tablename__ = "payroll_rules"
    __tenancy__ = "department"
    __table_args__ = (
        sa.Index("ix_payroll_rules_department_id_component_id", "department_id", "component_id"),
        sa.CheckConstraint(f"kind IN {RULE_KINDS}", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    component_id: Mapped[int] = mapped_column(
        sa.ForeignKey("payroll_components.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(sa.String(16))
    priority: Mapped[int] = mapped_column(default=100, server_default="100")
    source: Mapped[str | None] = mapped_column(sa.String(40))
    base: Mapped[str | None] = mapped_column(sa.String(400))  # comma-separated codes
    # A percentage as text: exact on SQLite too, where Numeric is a float.
    rate: Mapped[str | None] = mapped_column(sa.String(20))
    cap: Mapped[Decimal | None] = mapped_column(Money())
    prorate_base: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    grade_amounts: Mapped[dict[str, str] | None] = mapped_column(sa.JSON)
    formula: Mapped[str | None] = mapped_column(sa.Text)
    # Conditions: comma-separated values; empty matches everyone.
    nationality_categories: Mapped[str | None] = mapped_column(sa.String(40))
    pension_schemes: Mapped[str | None] = mapped_column(sa.String(80))
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())

    component: Mapped[PayComponent] = relationship(back_populates="rules")

    def base_codes(self) -> list[str]:
        return [code.strip() for code in (self.base or "").split(",") if code.strip()]

    def matches(self, nationality_category: str, pension_scheme: str | None) -> bool:
        """Return whether the rule's conditions admit an employee with these facts."""
        categories = _values(self.nationality_categories)
        schemes = _values(self.pension_schemes)
        if categories and nationality_category not in categories:
            return False
        return not schemes or (pension_scheme or "") in schemes


def _values(text: str | None) -> set[str]:
    return {value.strip() for value in (text or "").split(",") if value.strip()}


class PayrollRun(TenantMixin, TimestampMixin, AuditedMixin, Base):
    """One department's payroll for one calendar month (`period` is its 1st day)."""

    __tablename__ = "payroll_runs"
    __tenancy__ = "department"
    __table_args__ = (
        sa.UniqueConstraint("department_id", "period", "sequence"),
        sa.CheckConstraint(f"kind IN {RUN_KINDS}", name="kind"),
        sa.CheckConstraint(f"state IN {RUN_STATES}", name="state"),
        sa.CheckConstraint(
            "(kind = 'regular' AND sequence = 0) OR (kind <> 'regular' AND sequence > 0)",
            name="sequence",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[date]
    kind: Mapped[str] = mapped_column(sa.String(12))
    sequence: Mapped[int] = mapped_column(sa.SmallInteger, default=0, server_default="0")
    state: Mapped[str] = mapped_column(sa.String(12), default="draft", server_default="draft")
    # Inputs of the month by employee id, e.g. {"17": {"unpaid_days": 2}}.
    inputs: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    excluded_employee_ids: Mapped[list[int] | None] = mapped_column(sa.JSON)
    computed_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    computed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    approved_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Posting to the general ledger (finance) and the bank payment, each by whom and when.
    posted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    employee_count: Mapped[int] = mapped_column(default=0, server_default="0")
    total_earnings: Mapped[Decimal] = mapped_column(
        Money(), default=Decimal("0"), server_default="0"
    )
    total_deductions: Mapped[Decimal] = mapped_column(
        Money(), default=Decimal("0"), server_default="0"
    )
    total_net: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"), server_default="0")
    total_employer: Mapped[Decimal] = mapped_column(
        Money(), default=Decimal("0"), server_default="0"
    )

    errors: Mapped[list[PayrollRunError]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="PayrollRunError.id"
    )


class PayrollRunError(TenantMixin, Base):
    """An employee the run could not compute, and why; blocks approval until fixed or excluded."""

    __tablename__ = "payroll_run_errors"
    __tenancy__ = "department"
    __table_args__ = (
        sa.Index("ix_payroll_run_errors_department_id_run_id", "department_id", "run_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("payroll_runs.id", ondelete="CASCADE"))
    employee_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("hr_employees.id", ondelete="SET NULL")
    )
    employee_no: Mapped[str | None] = mapped_column(sa.String(20))
    message: Mapped[str] = mapped_column(sa.String(500))

    run: Mapped[PayrollRun] = relationship(back_populates="errors")


class Payslip(TenantMixin, Base):
    """One employee's pay for a run, with the employee's details as of the period."""

    __tablename__ = "payroll_payslips"
    __tenancy__ = "department"
    __table_args__ = (
        sa.UniqueConstraint("department_id", "run_id", "employee_id"),
        sa.Index("ix_payroll_payslips_department_id_employee_id", "department_id", "employee_id"),
        # A run's payslips are listed, exported and written to the WPS file by employee number.
        sa.Index(
            "ix_payroll_payslips_department_id_run_id_employee_no",
            "department_id",
            "run_id",
            "employee_no",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("payroll_runs.id", ondelete="CASCADE"))
    employee_id: Mapped[int] = mapped_column(sa.ForeignKey("hr_employees.id", ondelete="RESTRICT"))
    employee_no: Mapped[str] = mapped_column(sa.String(20))
    name_en: Mapped[str] = mapped_column(sa.String(200))
    name_ar: Mapped[str] = mapped_column(sa.String(200))
    grade: Mapped[str | None] = mapped_column(sa.String(20))
    # The employee's org unit when the run was computed, so reports per org unit of an
    # old run do not move with later transfers.
    org_unit_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("hr_org_units.id", ondelete="SET NULL")
    )
    nationality_category: Mapped[str] = mapped_column(sa.String(10))
    pension_scheme: Mapped[str | None] = mapped_column(sa.String(20))
    iban: Mapped[str | None] = mapped_column(sa.String(23))
    bank_routing_code: Mapped[str | None] = mapped_column(sa.String(9))
    wps_person_id: Mapped[str | None] = mapped_column(sa.String(14))
    pay_start: Mapped[date]
    pay_end: Mapped[date]
    days_in_month: Mapped[int] = mapped_column(sa.SmallInteger)
    paid_days: Mapped[int] = mapped_column(sa.SmallInteger)
    unpaid_days: Mapped[int] = mapped_column(sa.SmallInteger, default=0, server_default="0")
    total_earnings: Mapped[Decimal] = mapped_column(Money())
    total_deductions: Mapped[Decimal] = mapped_column(Money())
    net: Mapped[Decimal] = mapped_column(Money())
    total_employer: Mapped[Decimal] = mapped_column(Money())
    fixed_income: Mapped[Decimal] = mapped_column(Money())  # WPS split of net
    variable_income: Mapped[Decimal] = mapped_column(Money())

    run: Mapped[PayrollRun] = relationship()
    lines: Mapped[list[PayslipLine]] = relationship(
        back_populates="payslip", order_by="(PayslipLine.display_order, PayslipLine.id)"
    )


class PayslipLine(TenantMixin, Base):
    """One component of a payslip: the rounded amount and how it was computed."""

    __tablename__ = "payroll_payslip_lines"
    __tenancy__ = "department"
    __table_args__ = (
        sa.Index(
            "ix_payroll_payslip_lines_department_id_payslip_id", "department_id", "payslip_id"
        ),
        sa.Index("ix_payroll_payslip_lines_department_id_run_id", "department_id", "run_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payslip_id: Mapped[int] = mapped_column(
        sa.ForeignKey("payroll_payslips.id", ondelete="CASCADE")
    )
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("payroll_runs.id", ondelete="CASCADE"))
    component_code: Mapped[str] = mapped_column(sa.String(40))
    name_en: Mapped[str] = mapped_column(sa.String(200))
    name_ar: Mapped[str] = mapped_column(sa.String(200))
    category: Mapped[str] = mapped_column(sa.String(24))
    wps_kind: Mapped[str] = mapped_column(sa.String(10))
    display_order: Mapped[int]
    amount: Mapped[Decimal] = mapped_column(Money())
    rule_kind: Mapped[str] = mapped_column(sa.String(16))
    base: Mapped[Decimal | None] = mapped_column(Money())
    rate: Mapped[str | None] = mapped_column(sa.String(20))
    days: Mapped[str | None] = mapped_column(sa.String(20))  # "15/30": paid / calendar days
    formula: Mapped[str | None] = mapped_column(sa.Text)
    # Why the line is there when no rule says it: an input's note, "instalment 3 of 10",
    # a settlement, a retro difference ("Retro pay 2026-10: Basic salary: paid ..., due ...").
    explanation: Mapped[str | None] = mapped_column(sa.String(500))
    # A difference line (retro pay, adjustment run): the month and component it corrects,
    # and the signed difference in that component's own terms (what "paid" sums).
    retro_period: Mapped[date | None]
    retro_component: Mapped[str | None] = mapped_column(sa.String(40))
    retro_difference: Mapped[Decimal | None] = mapped_column(Money())

    payslip: Mapped[Payslip] = relationship(back_populates="lines")


# --------------------------------------------------------------------------- inputs and loans

INPUT_SOURCES = ("manual", "import")


class PayrollInput(TenantMixin, TimestampMixin, AuditedMixin, Base):
    """A one-off amount of one employee's month: overtime, another earning or deduction.

    It becomes a payslip line of its component (a component with an "input"
    rule) in the regular run of `period`; once that run is approved the
    month's inputs can no longer change.
    """

    __tablename__ = "payroll_inputs"
    __tenancy__ = "department"
    __table_args__ = (
        sa.Index(
            "ix_payroll_inputs_department_id_period_employee_id",
            "department_id",
            "period",
            "employee_id",
        ),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint(f"source IN {INPUT_SOURCES}", name="source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[date]  # the 1st of the month
    employee_id: Mapped[int] = mapped_column(sa.ForeignKey("hr_employees.id", ondelete="RESTRICT"))
    component_code: Mapped[str] = mapped_column(sa.String(40))
    amount: Mapped[Decimal] = mapped_column(Money())
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    source: Mapped[str] = mapped_column(sa.String(10), default="manual", server_default="manual")
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )


class PayrollLoan(TenantMixin, TimestampMixin, AuditedMixin, Base):
    """A loan to an employee, repaid by a deduction each month from `first_period`.

    Instalment n (n = 1 in `first_period`) is `instalment`, the last one what is
    left of the principal; the schedule follows the calendar, so a month the
    employee is not paid (excluded, no contract) is not caught up by itself.
    In the leaving month the whole remaining balance is deducted. A cancelled
    loan (`is_active` false) yields nothing.
    """

    __tablename__ = "payroll_loans"
    __tenancy__ = "department"
    __table_args__ = (
        sa.Index("ix_payroll_loans_department_id_employee_id", "department_id", "employee_id"),
        sa.CheckConstraint("principal > 0", name="principal_positive"),
        sa.CheckConstraint("instalment > 0 AND instalment <= principal", name="instalment"),
        sa.CheckConstraint("instalment_count > 0", name="instalment_count"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(sa.ForeignKey("hr_employees.id", ondelete="RESTRICT"))
    principal: Mapped[Decimal] = mapped_column(Money())
    instalment: Mapped[Decimal] = mapped_column(Money())
    instalment_count: Mapped[int] = mapped_column(sa.SmallInteger)
    first_period: Mapped[date]  # the 1st of the month of the first instalment
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    @property
    def last_period(self) -> date:
        """The month of the last instalment."""
        months = (
            self.first_period.year * 12 + self.first_period.month - 1 + self.instalment_count - 1
        )
        return date(months // 12, months % 12 + 1, 1)

    def instalment_number(self, period: date) -> int:
        """Return which instalment falls in `period` (1-based; outside 1..count: none)."""
        return (
            (period.year - self.first_period.year) * 12 + period.month - self.first_period.month + 1
        )

    def amount_of(self, number: int) -> Decimal:
        """Return instalment `number`'s amount: the instalment, the last one the rest."""
        if number < 1 or number > self.instalment_count:
            return Decimal("0.00")
        if number < self.instalment_count:
            return self.instalment
        return self.principal - self.instalment * (self.instalment_count - 1)

    def balance_after(self, number: int) -> Decimal:
        """Return what is left to repay after instalment `number`."""
        if number >= self.instalment_count:
            return Decimal("0.00")
        return self.principal - self.instalment * max(number, 0)
