"""Document expiry reminders: once per document, expiry and threshold; HR and the employee told."""

from __future__ import annotations

from datetime import date, timedelta
from secrets import token_hex

import pytest
import sqlalchemy as sa

from grp.db import db
from grp.workflow.notifications.models import Notification
from modules.hr.models import DocumentReminder, Employee, EmployeeDocument
from modules.hr.services.reminders import (
    parse_thresholds,
    run_document_reminders,
    send_document_reminders,
)

TODAY = date(2026, 11, 29)


@pytest.fixture
def world(create_user, make_employee, in_department):
    """POLICE: an employee with a user and an HR officer; DM: an HR officer, no documents."""
    users = {
        "emp": create_user("emp", roles=[("POLICE", "employee")]),
        "hr1": create_user("hr1", roles=[("POLICE", "hr_officer")]),
        "dmhr": create_user("dmhr", roles=[("DM", "hr_officer")]),
    }
    employee_id = make_employee(user_id=users["emp"].id)
    leaver_id = make_employee()
    return users, employee_id, leaver_id


def add_document(in_department, employee_id, doc_type, expiry):
    with in_department("POLICE"):
        document = EmployeeDocument(
            employee_id=employee_id,
            doc_type=doc_type,
            expiry_date=expiry,
            file_name=f"{doc_type}.pdf",
            content_type="application/pdf",
            size=10,
            sha256="0" * 64,
            storage_key=token_hex(16),
        )
        db.session.add(document)
        db.session.commit()
        return document.id


def notices(user, event):
    return db.session.scalars(
        sa.select(Notification).where(Notification.user_id == user.id, Notification.event == event)
    ).all()


def test_due_documents_are_reminded_once(world, in_department):
    users, employee_id, leaver_id = world
    passport = add_document(in_department, employee_id, "passport", TODAY + timedelta(days=20))
    add_document(in_department, employee_id, "labour_card", TODAY + timedelta(days=100))
    add_document(in_department, employee_id, "residence_visa", TODAY - timedelta(days=1))
    add_document(in_department, leaver_id, "passport", TODAY + timedelta(days=3))
    with in_department("POLICE"):
        db.session.get(Employee, leaver_id).status = "terminated"
        db.session.commit()
        assert send_document_reminders(db.session, today=TODAY) == 1
        db.session.commit()
        assert send_document_reminders(db.session, today=TODAY) == 0  # idempotent
        assert send_document_reminders(db.session, today=TODAY + timedelta(days=1)) == 0
        db.session.commit()
        reminders = db.session.scalars(sa.select(DocumentReminder)).all()
    assert [(r.document_id, r.threshold_days) for r in reminders] == [(passport, 30)]
    mine = notices(users["emp"], "document.expiring")
    assert len(mine) == 1 and "Passport" in mine[0].title
    assert (TODAY + timedelta(days=20)).isoformat() in mine[0].title
    summary = notices(users["hr1"], "hr.documents.expiring")
    assert len(summary) == 1 and "1 employee document(s)" in summary[0].title
    assert "E0000" in summary[0].body
    assert notices(users["dmhr"], "hr.documents.expiring") == []


def test_each_threshold_and_a_renewal_remind_again(world, in_department):
    users, employee_id, _ = world
    expiry = TODAY + timedelta(days=25)
    document_id = add_document(in_department, employee_id, "passport", expiry)
    with in_department("POLICE"):
        assert send_document_reminders(db.session, today=TODAY, thresholds=(30, 7)) == 1
        later = expiry - timedelta(days=5)
        assert send_document_reminders(db.session, today=later, thresholds=(30, 7)) == 1
        assert send_document_reminders(db.session, today=later, thresholds=(30, 7)) == 0
        db.session.get(EmployeeDocument, document_id).expiry_date = later + timedelta(days=6)
        assert send_document_reminders(db.session, today=later, thresholds=(30, 7)) == 1
        db.session.commit()
    assert len(notices(users["emp"], "document.expiring")) == 3


def test_the_daily_job_covers_every_department_and_is_safe_to_rerun(world, in_department, app):
    users, employee_id, _ = world
    soon = date.today() + timedelta(days=10)
    add_document(in_department, employee_id, "emirates_id", soon)
    assert run_document_reminders() == 1
    assert run_document_reminders() == 0
    assert len(notices(users["hr1"], "hr.documents.expiring")) == 1
    assert notices(users["dmhr"], "hr.documents.expiring") == []
    assert "hr.documents.expiry_reminders" in app.extensions["grp.jobs"].scheduled


def test_the_setting_is_read_and_checked():
    assert parse_thresholds("30") == (30,)
    assert parse_thresholds("7, 60,30") == (7, 30, 60)
    assert parse_thresholds(None) == (30,)
    with pytest.raises(ValueError):
        parse_thresholds("soon")
