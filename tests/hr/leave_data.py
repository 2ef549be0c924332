"""Set-up shared by the leave tests (no tests here): a manager, an employee, HR, leave defaults.

In POLICE: `emp` (an employee, grade 8) reports to `mgr`; `hr1` and `hr2`
are HR officers. The leave defaults (DOMAIN.md types, 2026 holidays, Monday-Friday,
the policy "manager, then HR") are seeded, and `emp` has an opening annual
balance of 20 days (on 1 January 2026).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import current_app

from grp.db import db
from grp.models import User
from grp.tenancy import department_context
from modules.hr.models import Employee, LeaveRequest, LeaveType
from modules.hr.services.leave import (
    adjust_balance,
    balance,
    create_leave_request,
    ensure_leave_defaults,
)

#: Wednesday 2 December 2026 to Thursday 10 December: 9 calendar days, a weekend
#: (5-6 December) and National Day (2-3 December): 5 working days.
SPAN = (date(2026, 12, 2), date(2026, 12, 10))
BEFORE = date(2026, 11, 20)


@dataclass
class LeaveWorld:
    """The people of the leave tests and helpers acting in POLICE."""

    police: Any
    users: dict[str, User]
    employee_id: int
    manager_id: int

    def user(self, name: str) -> User:
        return db.session.get(User, self.users[name].id)

    def employee(self) -> Employee:
        return db.session.get(Employee, self.employee_id)

    def leave_type(self, code: str) -> LeaveType:
        return db.session.scalar(sa.select(LeaveType).where(LeaveType.code == code))

    def annual_balance(self) -> Decimal:
        db.session.expire_all()
        return balance(db.session, self.employee_id, self.leave_type("annual").id)

    def request(
        self, start: date = SPAN[0], end: date = SPAN[1], code: str = "annual", **data: Any
    ) -> LeaveRequest:
        """Request leave as the employee and commit; return the request."""
        actor = data.pop("actor", None) or self.user("emp")
        request = create_leave_request(
            db.session,
            self.employee(),
            {"leave_type_id": self.leave_type(code).id, "start_date": start, "end_date": end}
            | data,
            actor=actor,
        )
        db.session.commit()
        return request


PDF = b"%PDF-1.4\n% medical report\n%%EOF\n"


def medical_report(world: LeaveWorld) -> int:
    """Store a medical report (a small PDF) of the employee; return the document's id."""
    from modules.hr.services.documents import store_document

    document = store_document(
        db.session,
        world.employee(),
        stream=io.BytesIO(PDF),
        file_name="report.pdf",
        data={"doc_type": "medical_report"},
        root=current_app.config["HR_DOCUMENT_DIR"],
        max_bytes=1_000_000,
        uploaded_by_id=None,
    )
    db.session.commit()
    return document.id


def build_leave_world(make_employee: Any, create_user: Any, departments: dict[str, Any]) -> Any:
    """Create the people and the defaults; return a LeaveWorld (the session acts in POLICE)."""
    users = {
        "emp": create_user("emp", roles=[("POLICE", "employee")]),
        "mgr": create_user("mgr", roles=[("POLICE", "manager")]),
        "hr1": create_user("hr1", roles=[("POLICE", "hr_officer")]),
        "hr2": create_user("hr2", roles=[("POLICE", "hr_officer")]),
    }
    manager_id = make_employee(user_id=users["mgr"].id)
    employee_id = make_employee(user_id=users["emp"].id, manager_id=manager_id)
    police = departments["POLICE"]
    with department_context(db.session, police.id):
        ensure_leave_defaults(db.session)
        db.session.commit()
    return LeaveWorld(police=police, users=users, employee_id=employee_id, manager_id=manager_id)


def open_balance(world: LeaveWorld, days: str = "20") -> None:
    """Give the employee an opening annual balance (an HR adjustment) and commit."""
    adjust_balance(
        db.session,
        world.employee(),
        world.leave_type("annual"),
        days,
        "opening",
        entry_date=date(2026, 1, 1),
    )
    db.session.commit()
