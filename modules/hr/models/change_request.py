"""An employee's request to change their own contact or bank details, approved by HR.

`changes` holds the requested values (field -> new value, already cleaned),
`old_values` the values when it was made. It goes through the approval engine
(document type "hr.change_request"); on approval the employee record is
updated through the normal employee update service (validated again, audited).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grp.db import AuditedMixin, Base, TenantMixin, TimestampMixin, UTCDateTime
from modules.hr.models.employee import Employee

CHANGE_REQUEST_STATES = ("pending", "approved", "rejected", "cancelled")
#: The fields an employee may ask to change (employee input names).
CHANGEABLE_FIELDS = ("work_email", "mobile", "iban", "bank_routing_code")


class ChangeRequest(TenantMixin, TimestampMixin, AuditedMixin, Base):
    """A requested change of an employee's own details."""

    __tablename__ = "hr_change_requests"
    __tenancy__ = "department"
    __table_args__ = (
        sa.Index("ix_hr_change_requests_department_id_employee_id", "department_id", "employee_id"),
        sa.Index("ix_hr_change_requests_department_id_state", "department_id", "state"),
        sa.CheckConstraint(
            "state IN ('pending', 'approved', 'rejected', 'cancelled')", name="state"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(sa.ForeignKey("hr_employees.id", ondelete="CASCADE"))
    changes: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    old_values: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    note: Mapped[str] = mapped_column(sa.Text, default="")
    state: Mapped[str] = mapped_column(sa.String(12), default="pending")
    requested_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    decision_comment: Mapped[str] = mapped_column(sa.Text, default="")
    approval_request_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("approval_requests.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    employee: Mapped[Employee] = relationship()
