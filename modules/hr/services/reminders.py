"""Daily reminders of employee documents about to expire.

* Thresholds come from the setting `HR_DOCUMENT_REMINDER_DAYS` (environment
  `GRP_HR_DOCUMENT_REMINDER_DAYS`): days before expiry, comma-separated,
  default "30". A document not yet expired whose expiry is within the
  largest threshold is due for the smallest threshold it has reached.
* Once per document, expiry date and threshold: each reminder sent is
  recorded (`DocumentReminder`, unique), so running twice sends nothing new
  and a renewed document (a new expiry date) is reminded again. The
  notification service's own idempotency key protects the delivery of each
  message; it cannot tell two `notify` calls apart, hence the record here.
* The employee (their linked, active user) gets one "document.expiring"
  notification per document; each HR officer of the department gets one
  "hr.documents.expiring" summary per run listing the documents newly due.
* Documents of terminated employees and documents already expired are left
  out (the expiry list page shows expired ones).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from grp.models import User
from grp.tenancy import current_department_id
from modules.hr.models import DocumentReminder, Employee, EmployeeDocument
from modules.hr.services.values import local_today

DEFAULT_THRESHOLDS = (30,)
EMPLOYEE_EVENT = "document.expiring"
OFFICER_EVENT = "hr.documents.expiring"
#: Documents listed by name in an officer's summary; the rest are counted.
SUMMARY_LINES = 20

#: Names of document types in notifications (rendered in the recipient's language).
DOC_NAMES = {
    "passport": ("Passport", "جواز السفر"),
    "residence_visa": ("Residence visa", "تأشيرة الإقامة"),
    "emirates_id": ("Emirates ID card", "بطاقة الهوية الإماراتية"),
    "labour_card": ("Labour card", "بطاقة العمل"),
    "certificate": ("Certificate", "الشهادة"),
    "medical_report": ("Medical report", "التقرير الطبي"),
}


def parse_thresholds(value: Any) -> tuple[int, ...]:
    """Read "30" or "60,30,7" (or a sequence of ints) into sorted positive day counts."""
    if value is None or value == "":
        return DEFAULT_THRESHOLDS
    items = value.split(",") if isinstance(value, str) else list(value)
    days = sorted({int(str(item).strip()) for item in items if str(item).strip()})
    if not days or days[0] < 0 or days[-1] > 3650:
        raise ValueError("reminder days must be between 0 and 3650")
    return tuple(days)


def reminder_thresholds() -> tuple[int, ...]:
    """Return the configured thresholds (`HR_DOCUMENT_REMINDER_DAYS`)."""
    if not has_app_context():
        return DEFAULT_THRESHOLDS
    return parse_thresholds(current_app.config.get("HR_DOCUMENT_REMINDER_DAYS"))


def _doc_name(doc_type: str, language: str) -> str:
    names = DOC_NAMES.get(doc_type, (doc_type, doc_type))
    return names[1] if language == "ar" else names[0]


def send_document_reminders(
    session: Session, *, today: date | None = None, thresholds: Iterable[int] | None = None
) -> int:
    """Send the reminders newly due in the current department; return how many documents."""
    from grp.workflow.approvals.services import role_holders
    from grp.workflow.notifications import notify

    today = today or local_today()
    levels = tuple(sorted(thresholds)) if thresholds is not None else reminder_thresholds()
    horizon = today + timedelta(days=levels[-1])
    rows = session.execute(
        sa.select(EmployeeDocument, Employee)
        .join(Employee, Employee.id == EmployeeDocument.employee_id)
        .where(
            EmployeeDocument.expiry_date.is_not(None),
            EmployeeDocument.expiry_date >= today,
            EmployeeDocument.expiry_date <= horizon,
            Employee.status != "terminated",
        )
        .order_by(EmployeeDocument.expiry_date, EmployeeDocument.id)
    ).all()
    if not rows:
        return 0
    sent = set(
        session.execute(
            sa.select(
                DocumentReminder.document_id,
                DocumentReminder.expiry_date,
                DocumentReminder.threshold_days,
            ).where(DocumentReminder.expiry_date >= today)
        ).all()
    )
    due: list[tuple[EmployeeDocument, Employee, int]] = []
    for document, employee in rows:
        days_left = (document.expiry_date - today).days
        level = min(t for t in levels if days_left <= t)
        if (document.id, document.expiry_date, level) not in sent:
            due.append((document, employee, level))
    if not due:
        return 0
    department_id = current_department_id(session)
    officers = role_holders(session, department_id, "hr_officer")
    user_ids = {employee.user_id for _, employee, _ in due if employee.user_id}
    users = {
        u.id: u
        for u in session.scalars(sa.select(User).where(User.id.in_(user_ids), User.is_active))
    }
    for document, employee, level in due:
        recipients = 0
        user = users.get(employee.user_id) if employee.user_id else None
        if user is not None:
            notify(
                session,
                recipient=user,
                event=EMPLOYEE_EVENT,
                context={
                    "document": _doc_name(document.doc_type, user.language),
                    "expires_on": document.expiry_date.isoformat(),
                },
                link=f"/hr/employees/{employee.id}#documents",
            )
            recipients += 1
        session.add(
            DocumentReminder(
                document_id=document.id,
                expiry_date=document.expiry_date,
                threshold_days=level,
                recipients=recipients + len(officers),
            )
        )
    for officer in officers:
        lines = [
            f"{employee.employee_no} {employee.name(officer.language)}: "
            f"{_doc_name(document.doc_type, officer.language)} {document.expiry_date.isoformat()}"
            for document, employee, _ in due[:SUMMARY_LINES]
        ]
        notify(
            session,
            recipient=officer,
            event=OFFICER_EVENT,
            context={
                "count": len(due),
                "days": levels[-1],
                "lines": lines,
                "more": max(len(due) - SUMMARY_LINES, 0),
            },
            link=f"/hr/documents/expiring?days={levels[-1]}",
        )
    session.flush()
    return len(due)


def run_document_reminders() -> int:
    """Send due reminders in every department: the function the scheduler calls daily."""
    from grp.audit import set_actor
    from grp.db import db
    from grp.models import Department
    from grp.tenancy import department_context

    session = db.session
    set_actor(session, None, "job:hr-document-reminders")
    sent = 0
    for department_id in list(session.scalars(sa.select(Department.id).order_by(Department.id))):
        with department_context(session, department_id):
            sent += send_document_reminders(session)
            # Commit per department: department_context rolls back what is left unflushed.
            session.commit()
    return sent


#: The officers' summary (registered in setup; the employee's uses the platform's text).
OFFICER_TEMPLATE = {
    "label_en": "Employee documents are about to expire",
    "label_ar": "وثائق موظفين على وشك الانتهاء",
    "subject_en": "{{ count }} employee document(s) expire within {{ days }} days",
    "subject_ar": "{{ count }} من وثائق الموظفين تنتهي خلال {{ days }} يوماً",
    "body_en": "These documents expire soon:\n\n{% for line in lines %}{{ line }}\n{% endfor %}"
    "{% if more %}and {{ more }} more.\n{% endif %}\nOpen the expiry list in GRP to follow up.",
    "body_ar": "تنتهي صلاحية هذه الوثائق قريباً:\n\n{% for line in lines %}{{ line }}\n"
    "{% endfor %}{% if more %}و{{ more }} وثيقة أخرى.\n{% endif %}\n"
    "افتح قائمة الوثائق قريبة الانتهاء في النظام للمتابعة.",
}
