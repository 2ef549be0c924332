"""Notification pages and API: my list, marking read, preferences, the administrators' outbox."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from grp.workflow.notifications import notify
from grp.workflow.notifications.models import (
    DEAD,
    PENDING,
    SENT,
    Notification,
    NotificationSettings,
    OutboxMessage,
)


@pytest.fixture
def notify_user(db_session, departments):
    """Queue approval.waiting for `user` in `department` and commit; return the rows."""

    def _notify(user, department: str = "POLICE", summary: str = "LV-12", link=None):
        if user.email is None:
            user.email = f"{user.username}@example.ae"
        added = notify(
            db_session,
            recipient=user,
            event="approval.waiting",
            context={"summary": summary},
            department_id=departments[department].id,
            link=link,
        )
        db_session.commit()
        return added

    return _notify


def checked(html: str, name: str) -> bool:
    """Tell whether the checkbox `name` is ticked on the page."""
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    assert tag, f"no input {name}"
    return " checked" in tag.group(0)


def set_state(db_session, message_id: int, state: str) -> None:
    db_session.expire_all()
    db_session.get(OutboxMessage, message_id).state = state
    db_session.commit()


# --------------------------------------------------------------------------- API: mine


def test_api_lists_only_my_notifications(api_as, create_user, notify_user):
    me = api_as("employee")
    other = create_user()
    notify_user(me.user, summary="mine")
    notify_user(other, summary="theirs")
    body = me.get("/api/v1/me/notifications").get_json()
    assert body["total"] == 1
    (item,) = body["items"]
    assert item["title"] == "Waiting for your approval: mine"
    assert item["read"] is False and item["read_at"] is None
    assert me.get("/api/v1/me/notifications/unread-count").get_json() == {"unread": 1}


def test_api_marks_read_and_hides_other_users_notifications(api_as, create_user, notify_user):
    me = api_as("employee")
    (mine, *_) = notify_user(me.user)
    (theirs, *_) = notify_user(create_user())
    response = me.post(f"/api/v1/me/notifications/{mine.id}/read")
    assert response.status_code == 200
    assert response.get_json()["read"] is True
    missing = me.post(f"/api/v1/me/notifications/{theirs.id}/read")
    assert missing.status_code == 404
    assert missing.headers["Content-Type"] == "application/problem+json"
    assert me.get("/api/v1/me/notifications?unread=true").get_json()["total"] == 0


def test_api_mark_all_read(api_as, notify_user, db_session):
    me = api_as("employee")
    notify_user(me.user)
    notify_user(me.user)
    assert me.post("/api/v1/me/notifications/read-all").get_json() == {"unread": 0}
    db_session.expire_all()
    assert all(n.read_at for n in db_session.scalars(sa.select(Notification)))


def test_api_needs_sign_in(client):
    assert client.get("/api/v1/me/notifications").status_code == 401


# --------------------------------------------------------------------------- API: preferences


def test_api_preferences_round_trip(api_as, db_session):
    me = api_as("employee")
    initial = me.get("/api/v1/me/notification-preferences").get_json()
    assert initial["mobile"] is None
    waiting = next(e for e in initial["events"] if e["event"] == "approval.waiting")
    assert (waiting["email"], waiting["sms"]) == (True, False)
    assert waiting["label_ar"] == "طلب بانتظار موافقتي"

    response = me.put(
        "/api/v1/me/notification-preferences",
        json={
            "mobile": "+971 50 123 4567",
            "events": [{"event": "approval.waiting", "email": False, "sms": True}],
        },
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["mobile"] == "+971501234567"
    waiting = next(e for e in body["events"] if e["event"] == "approval.waiting")
    assert (waiting["email"], waiting["sms"]) == (False, True)
    db_session.expire_all()
    assert db_session.get(NotificationSettings, me.user.id).mobile == "+971501234567"


def test_api_preferences_validation(api_as, db_session):
    me = api_as("employee")
    wrong = me.put("/api/v1/me/notification-preferences", json={"mobile": "+14155550100"})
    assert wrong.status_code == 422
    assert "mobile" in wrong.get_json()["errors"]
    no_number = me.put(
        "/api/v1/me/notification-preferences",
        json={"events": [{"event": "job.finished", "sms": True}]},
    )
    assert no_number.status_code == 422
    assert "mobile" in no_number.get_json()["errors"]
    unknown = me.put(
        "/api/v1/me/notification-preferences",
        json={"events": [{"event": "nope", "email": True}]},
    )
    assert unknown.status_code == 422 and "events" in unknown.get_json()["errors"]
    db_session.expire_all()
    assert db_session.get(NotificationSettings, me.user.id) is None


# --------------------------------------------------------------------------- API: outbox


def test_department_admin_sees_only_their_departments_outbox(api_as, create_user, notify_user):
    police_admin = api_as("department_admin", "POLICE")
    (_, police_message) = notify_user(create_user(roles=[("POLICE", "employee")]), "POLICE")
    (_, dm_message) = notify_user(create_user(roles=[("DM", "employee")]), "DM")
    body = police_admin.get("/api/v1/notifications/outbox").get_json()
    assert [item["id"] for item in body["items"]] == [police_message.id]
    assert "body" not in body["items"][0]  # bodies may carry salary figures
    assert police_admin.get("/api/v1/notifications/outbox?department=DM").status_code == 404
    assert police_admin.post(f"/api/v1/notifications/outbox/{dm_message.id}/retry").status_code == (
        404
    )

    root = api_as("system_admin", "DM")
    everything = root.get("/api/v1/notifications/outbox").get_json()
    assert {item["id"] for item in everything["items"]} == {police_message.id, dm_message.id}
    only_dm = root.get("/api/v1/notifications/outbox?department=DM").get_json()
    assert [item["id"] for item in only_dm["items"]] == [dm_message.id]


def test_employee_cannot_read_the_outbox(api_as):
    employee = api_as("employee")
    assert employee.get("/api/v1/notifications/outbox").status_code == 403


def test_api_outbox_state_filter_and_retry(api_as, create_user, notify_user, db_session):
    admin = api_as("department_admin", "POLICE")
    (_, message) = notify_user(create_user())
    (_, delivered) = notify_user(create_user())
    set_state(db_session, message.id, DEAD)
    set_state(db_session, delivered.id, SENT)
    dead = admin.get("/api/v1/notifications/outbox?state=dead").get_json()
    assert [item["id"] for item in dead["items"]] == [message.id]
    assert admin.get("/api/v1/notifications/outbox?state=lost").status_code == 422
    response = admin.post(f"/api/v1/notifications/outbox/{message.id}/retry")
    assert response.status_code == 200
    assert (response.get_json()["state"], response.get_json()["attempts"]) == (PENDING, 0)
    conflict = admin.post(f"/api/v1/notifications/outbox/{delivered.id}/retry")
    assert conflict.status_code == 409


# --------------------------------------------------------------------------- pages


def test_my_notifications_page_lists_and_marks_read(client_as, create_user, notify_user):
    browser = client_as("employee")
    (mine, *_) = notify_user(browser.user, summary="Leave LV-77", link="/notifications/preferences")
    (theirs, *_) = notify_user(create_user(), summary="Secret LV-99")
    page = browser.get("/notifications")
    assert page.status_code == 200
    assert "Leave LV-77" in page.text and "Secret LV-99" not in page.text
    assert "You have 1 unread notification." in page.text

    assert browser.post(f"/notifications/{theirs.id}/read").status_code == 404
    assert browser.post(f"/notifications/{theirs.id}/open").status_code == 404
    opened = browser.post(f"/notifications/{mine.id}/open")
    assert opened.status_code == 303
    assert opened.headers["Location"].endswith("/notifications/preferences")
    assert "You have no unread notifications." in browser.get("/notifications").text


def test_notifications_page_shows_arabic_notifications_right_to_left(client_as, notify_user):
    browser = client_as("employee", language="ar")
    (note, *_) = notify_user(browser.user)
    page = browser.get("/notifications").text
    assert re.search(rf'id="notification-{note.id}"[^>]*lang="ar" dir="rtl"', page)
    assert "بانتظار موافقتك: LV-12" in page


def test_preferences_page_saves_choices_and_checks_the_number(client_as, db_session):
    browser = client_as("employee")
    page = browser.get("/notifications/preferences")
    assert page.status_code == 200
    assert "A request waits for my approval" in page.text
    index = re.search(r'aria-label="E-mail: A request waits for my approval"[^>]*', page.text)
    field = re.search(r'name="(email_\d+)"', index.group(0)).group(1)
    number = field.split("_")[1]

    wrong = browser.post(
        "/notifications/preferences",
        data={"mobile": "+971401234567", f"sms_{number}": "y"},
    )
    assert wrong.status_code == 200
    assert 'id="mobile-errors"' in wrong.text and "UAE mobile number" in wrong.text
    missing = browser.post("/notifications/preferences", data={f"sms_{number}": "y"})
    assert "Enter a mobile number to receive SMS." in missing.text

    saved = browser.post(
        "/notifications/preferences", data={"mobile": "0501234567", f"sms_{number}": "y"}
    )
    assert saved.status_code == 303
    db_session.expire_all()
    assert db_session.get(NotificationSettings, browser.user.id).mobile == "+971501234567"
    again = browser.get("/notifications/preferences").text
    assert checked(again, f"sms_{number}")
    # E-mail was not ticked in the post, so it is now off for every event.
    assert not any(checked(again, name) for name in re.findall(r'name="(email_\d+)"', again))


def test_outbox_page_for_department_admin(client_as, create_user, notify_user, db_session):
    browser = client_as("department_admin", "POLICE")
    police_user = create_user(roles=[("POLICE", "employee")], name="Police Person")
    dm_user = create_user(roles=[("DM", "employee")], name="Dm Person")
    (_, police_message) = notify_user(police_user, "POLICE")
    (_, dm_message) = notify_user(dm_user, "DM")
    set_state(db_session, police_message.id, DEAD)
    page = browser.get("/notifications/outbox")
    assert page.status_code == 200
    assert "Police Person" in page.text and "Dm Person" not in page.text
    assert f'id="outbox-{police_message.id}" data-state="dead"' in page.text
    assert "Retry now" in page.text
    assert "asks for your approval" not in page.text  # no message text on the page
    filtered = browser.get("/notifications/outbox?state=sent")
    assert "Police Person" not in filtered.text

    assert browser.post(f"/notifications/outbox/{dm_message.id}/retry").status_code == 404
    retried = browser.post(f"/notifications/outbox/{police_message.id}/retry")
    assert retried.status_code == 303
    db_session.expire_all()
    assert db_session.get(OutboxMessage, police_message.id).state == PENDING


def test_outbox_page_is_forbidden_to_employees(client_as):
    browser = client_as("employee")
    assert browser.get("/notifications/outbox").status_code == 403
    assert browser.post("/notifications/outbox/1/retry").status_code == 403


def test_menu_offers_my_notifications_to_everyone_and_the_outbox_to_admins(client_as):
    employee = client_as("employee").get("/").text
    assert "My notifications" in employee and "Notification outbox" not in employee
    admin = client_as("department_admin").get("/").text
    assert "Notification outbox" in admin


def test_preferences_and_outbox_pages_speak_arabic(client_as, create_user, notify_user):
    employee = client_as("employee", language="ar")
    page = employee.get("/notifications/preferences").text
    assert "طريقة استلامي للإشعارات" in page and "طلب بانتظار موافقتي" in page
    assert 'dir="rtl"' in page
    admin = client_as("department_admin", "POLICE", language="ar")
    notify_user(create_user())
    outbox_page = admin.get("/notifications/outbox").text
    assert "صندوق الإشعارات الصادرة" in outbox_page and "بالانتظار" in outbox_page
