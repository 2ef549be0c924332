"""End of service: an employee's termination and its settlement, as recorded.

One termination per employee (undoing it deletes the row; the audit log keeps
it). The gratuity and leave working are snapshots taken when it was recorded,
so the screen and payroll show what was decided even if rules or contracts
change later. Index (department_id, last_working_day) serves payroll's
"leavers of this month" (`modules.hr.services.termination.settlements_in_period`).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grp.db import AuditedMixin, Base, Money, TenantMixin, TimestampMixin
from modules.hr.models.employee import STATUSES, Employee
from modules.hr.models.leave import Days

#: Why employment ended.
TERMINATION_REASONS = (
    "resignation",
    "end_of_contract",
    "retirement",
    "dismissal",
    "death",
    "other",
)


class Termination(TenantMixin, TimestampMixin, AuditedMixin, Base):
    """The end of an employee's service: reason, last working day and settlement."""

    __tablename__ = "hr_terminations"
    __tenancy__ = "department"
    __table_args__ = (
        sa.UniqueConstraint("department_id", "employee_id"),
        sa.Index(
            "ix_hr_terminations_department_id_last_working_day",
            "department_id",
            "last_working_day",
        ),
        sa.CheckConstraint(
            "reason IN ('resignation', 'end_of_contract', 'retirement', 'dismissal', "
            "'death', 'other')",
            name="reason",
        ),
        sa.CheckConstraint(
            "previous_status IN ('active', 'suspended', 'terminated')", name="previous_status"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(sa.ForeignKey("hr_employees.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(sa.String(20))
    reason_text: Mapped[str] = mapped_column(sa.Text, default="")
    last_working_day: Mapped[date]
    notice_date: Mapped[date | None]
    recorded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    # The basic wage the gratuity and encashment were computed on.
    basic_salary: Mapped[Decimal] = mapped_column(Money())
    gratuity: Mapped[Decimal] = mapped_column(Money())
    gratuity_working: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    leave_days: Mapped[Decimal] = mapped_column(Days())
    leave_encashment: Mapped[Decimal] = mapped_column(Money())
    leave_working: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    # What undoing restores: the status before, and the contract versions changed or removed.
    previous_status: Mapped[str] = mapped_column(sa.String(12), default=STATUSES[0])
    contract_changes: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    employee: Mapped[Employee] = relationship()
