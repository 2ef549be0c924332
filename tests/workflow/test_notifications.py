"""Notifications: queueing in the transaction, bilingual texts, preferences, in-app list."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from grp.workflow.notifications import (
    NotificationTemplateError,
    UnknownNotificationEvent,
    notify,
    register_notification_template,
    services,
)
from grp.workflow.notifications.models import (
    EMAIL,
    PENDING,
    SMS,
    Notification,
    NotificationPreference,
    OutboxMessage,
)


@pytest.fixture
def person(create_user, db_session):
    """A POLICE employee with an e-mail address: `person(language="ar", email=None)`."""

    def _person(language: str = "en", email: str | None = "person@example.ae", **kwargs):
        user = create_user(language=language, **kwargs)
        user.email = email
        db_session.commit()
        return user

    return _person


def rows(db_session, model):
    db_session.expire_all()
    return db_session.scalars(sa.select(model).order_by(model.id)).all()


WAITING = {"summary": "Leave request LV-12", "requester": "Fatima"}


def test_rolled_back_event_queues_nothing(person, db_session, departments):
    user = person()
    added = notify(
        db_session,
        recipient=user,
        event="approval.waiting",
        context=WAITING,
        department_id=departments["POLICE"].id,
    )
    assert [type(row) for row in added] == [Notification, OutboxMessage]
    db_session.rollback()
    assert rows(db_session, Notification) == []
    assert rows(db_session, OutboxMessage) == []


def test_committed_event_has_one_in_app_row_and_one_outbox_row_per_channel(
    person, db_session, departments
):
    user = person()
    services.update_preferences(
        db_session, user, mobile="+971501234567", choices={"approval.waiting": {"sms": True}}
    )
    db_session.commit()
    notify(
        db_session,
        recipient=user,
        event="approval.waiting",
        context=WAITING,
        department_id=departments["POLICE"].id,
        link="/approvals/12",
    )
    db_session.commit()
    (note,) = rows(db_session, Notification)
    assert (note.user_id, note.event, note.link, note.read_at) == (
        user.id,
        "approval.waiting",
        "/approvals/12",
        None,
    )
    assert note.title == "Waiting for your approval: Leave request LV-12"
    outbox = rows(db_session, OutboxMessage)
    assert {(m.channel, m.address) for m in outbox} == {
        (EMAIL, "person@example.ae"),
        (SMS, "+971501234567"),
    }
    assert all(m.state == PENDING and m.attempts == 0 for m in outbox)
    assert all(m.department_id == departments["POLICE"].id for m in outbox)
    assert len({m.idempotency_key for m in outbox}) == 2  # one key per message


def test_department_defaults_to_the_sessions_department(person, db_session, departments):
    from grp.tenancy import department_context

    user = person()
    with department_context(db_session, departments["DM"].id):
        notify(db_session, recipient=user, event="approval.waiting", context=WAITING)
        db_session.commit()
    (note,) = rows(db_session, Notification)
    assert note.department_id == departments["DM"].id


def test_recipient_language_chooses_the_text(person, db_session):
    english, arabic = person("en"), person("ar", email="arabic@example.ae")
    context = {"summary": "طلب إجازة LV-7", "approved": True, "approver": "Omar"}
    for user in (english, arabic):
        notify(db_session, recipient=user, event="approval.decided", context=context)
    db_session.commit()
    by_user = {m.recipient_id: m for m in rows(db_session, OutboxMessage)}
    assert by_user[english.id].language == "en"
    assert by_user[english.id].subject == "Approved: طلب إجازة LV-7"
    assert by_user[english.id].body == "طلب إجازة LV-7 was approved by Omar."
    assert by_user[arabic.id].language == "ar"
    assert by_user[arabic.id].subject == "تمت الموافقة: طلب إجازة LV-7"
    assert by_user[arabic.id].body == "تمت الموافقة على طلب إجازة LV-7 من قبل Omar."
    notes = {n.user_id: n for n in rows(db_session, Notification)}
    assert notes[arabic.id].title.startswith("تمت الموافقة")


def test_rejection_text_and_optional_comment(person, db_session):
    user = person()
    notify(
        db_session,
        recipient=user,
        event="approval.decided",
        context={"summary": "PO-3", "decision": "rejected", "comment": "Over budget"},
    )
    (message,) = rows(db_session, OutboxMessage)
    assert message.subject == "Rejected: PO-3"
    assert message.body == "PO-3 was rejected.\n\nComment: Over budget"


def test_texts_are_rendered_when_queued_not_when_sent(app, person, db_session):
    user = person()
    register_notification_template(
        app, "test.event", "Old {{ n }}", "قديم {{ n }}", "Old body", "نص قديم"
    )
    notify(db_session, recipient=user, event="test.event", context={"n": 1})
    db_session.commit()
    register_notification_template(
        app, "test.event", "New {{ n }}", "جديد {{ n }}", "New body", "نص جديد"
    )
    notify(db_session, recipient=user, event="test.event", context={"n": 2})
    db_session.commit()
    assert [m.subject for m in rows(db_session, OutboxMessage)] == ["Old 1", "New 2"]


def test_unknown_event_is_a_clear_error(person, db_session):
    with pytest.raises(UnknownNotificationEvent, match="'payroll.exploded'"):
        notify(db_session, recipient=person(), event="payroll.exploded", context={})


def test_templates_are_sandboxed_and_checked_at_registration(app, person, db_session):
    with pytest.raises(NotificationTemplateError, match="does not compile"):
        register_notification_template(app, "test.broken", "{% if %}", "x", "x", "x")
    register_notification_template(
        app, "test.escape", "s", "s", "{{ value.__class__.__mro__ }}", "x"
    )
    with pytest.raises(NotificationTemplateError):
        notify(db_session, recipient=person(), event="test.escape", context={"value": "text"})


def test_subject_is_one_line_so_values_cannot_add_headers(person, db_session):
    user = person()
    notify(
        db_session,
        recipient=user,
        event="approval.waiting",
        context={"summary": "x\r\nBcc: someone@example.com"},
    )
    (message,) = rows(db_session, OutboxMessage)
    assert "\n" not in message.subject and "\r" not in message.subject


def test_link_must_be_a_path_on_this_site(person, db_session):
    with pytest.raises(ValueError, match="path on this site"):
        notify(
            db_session,
            recipient=person(),
            event="approval.waiting",
            context=WAITING,
            link="https://evil.example/login",
        )


# --------------------------------------------------------------------------- preferences


def test_email_is_on_and_sms_off_by_default(person, db_session):
    user = person()
    preferences = services.get_preferences(db_session, user)
    waiting = next(c for c in preferences.events if c.event == "approval.waiting")
    assert (waiting.email, waiting.sms, preferences.mobile) == (True, False, None)
    notify(db_session, recipient=user, event="approval.waiting", context=WAITING)
    assert [m.channel for m in rows(db_session, OutboxMessage)] == [EMAIL]


def test_no_email_address_means_no_email(person, db_session):
    notify(db_session, recipient=person(email=None), event="approval.waiting", context=WAITING)
    assert rows(db_session, OutboxMessage) == []
    assert len(rows(db_session, Notification)) == 1  # the in-app list still has it


def test_disabling_email_for_an_event_queues_no_email(person, db_session):
    user = person()
    services.update_preferences(db_session, user, choices={"approval.waiting": {"email": False}})
    db_session.commit()
    notify(db_session, recipient=user, event="approval.waiting", context=WAITING)
    notify(db_session, recipient=user, event="job.finished", context={"job": "Payroll"})
    db_session.commit()
    assert [m.event for m in rows(db_session, OutboxMessage)] == ["job.finished"]
    assert [n.event for n in rows(db_session, Notification)] == ["approval.waiting", "job.finished"]


def test_sms_needs_a_valid_uae_mobile_number(person, db_session):
    user = person()
    with pytest.raises(services.PreferencesError) as missing:
        services.update_preferences(db_session, user, choices={"job.finished": {"sms": True}})
    assert "mobile" in missing.value.errors
    for wrong in ("+971401234567", "+97150123456", "+٩٧١٥٠١٢٣٤٥٦٧", "0501234"):
        with pytest.raises(services.PreferencesError) as invalid:
            services.update_preferences(db_session, user, mobile=wrong)
        assert "mobile" in invalid.value.errors, wrong
    saved = services.update_preferences(
        db_session, user, mobile="050 123-4567", choices={"job.finished": {"sms": True}}
    )
    db_session.commit()
    assert saved.mobile == "+971501234567"
    # Removing the number while an event still wants SMS is refused.
    with pytest.raises(services.PreferencesError):
        services.update_preferences(db_session, user, mobile="")


def test_unknown_events_in_preferences_are_refused(person, db_session):
    with pytest.raises(services.PreferencesError) as refused:
        services.update_preferences(db_session, person(), choices={"nope.event": {"email": True}})
    assert "events" in refused.value.errors
    assert rows(db_session, NotificationPreference) == []


def test_normalize_uae_mobile_accepts_the_usual_forms():
    for written in ("+971501234567", "00971501234567", "971 50 123 4567", "0501234567"):
        assert services.normalize_uae_mobile(written) == "+971501234567"
    assert services.normalize_uae_mobile("  ") is None


# --------------------------------------------------------------------------- in-app


def test_mark_read_is_per_user(person, db_session):
    owner, other = person(), person()
    (note, *_) = notify(db_session, recipient=owner, event="approval.waiting", context=WAITING)
    db_session.commit()
    assert services.unread_count(db_session, owner) == 1
    with pytest.raises(services.NotificationNotFound):
        services.mark_read(db_session, other, note.id)
    services.mark_read(db_session, owner, note.id)
    db_session.commit()
    assert services.unread_count(db_session, owner) == 0
    first_read = note.read_at
    services.mark_read(db_session, owner, note.id)
    assert note.read_at == first_read  # reading again keeps the first time


def test_job_finished_reads_the_jobs_context(person, db_session):
    user = person()
    context = {
        "job_id": 7,
        "kind": "payroll.compute",
        "state": "failed",
        "done": 3,
        "total": 10,
        "error_count": 2,
        "failure_reason": "The worker stopped.",
    }
    notify(db_session, recipient=user, event="job.finished", context=context)
    notify(
        db_session,
        recipient=user,
        event="job.finished",
        context={"job": "Export", "succeeded": True},
    )
    failed, succeeded = rows(db_session, OutboxMessage)
    assert failed.subject == "payroll.compute #7 has failed"
    assert failed.body == (
        "payroll.compute #7 has failed. 3 of 10 done. 2 with errors.\n\nThe worker stopped."
    )
    assert succeeded.subject == "Export has finished"


# --------------------------------------------------------------------------- settings


def _app_with(tmp_path, **settings):
    from grp.app import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'settings.sqlite3'}",
            "SECRET_KEY": "x",
            "INSTANCE_PATH": str(tmp_path),
            **settings,
        }
    )


def test_development_logs_and_production_sends(tmp_path, monkeypatch):
    monkeypatch.delenv("GRP_NOTIFICATION_CHANNELS", raising=False)
    assert _app_with(tmp_path).config["GRP_NOTIFICATION_CHANNELS"] == "email=log,sms=log"
    production = _app_with(tmp_path, GRP_PRODUCTION=True, SESSION_COOKIE_SECURE=True)
    assert production.config["GRP_NOTIFICATION_CHANNELS"] == "email=smtp,sms=http"
    monkeypatch.setenv("GRP_SMTP_PORT", "2525")
    assert _app_with(tmp_path).config["GRP_SMTP_PORT"] == 2525


def test_wrong_notification_settings_stop_the_app(tmp_path):
    from grp.config import ConfigurationError

    for wrong in (
        {"GRP_NOTIFICATION_CHANNELS": "email=pigeon"},
        {"GRP_NOTIFICATION_CHANNELS": "sms=smtp"},
        {"GRP_SMTP_TLS": "maybe"},
        {"GRP_NOTIFICATION_SENDING_TIMEOUT_SECONDS": 15},
    ):
        with pytest.raises(ConfigurationError):
            _app_with(tmp_path, **wrong)
