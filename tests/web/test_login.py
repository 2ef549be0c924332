"""Sign-in, throttling and sign-out through the web pages."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from grp.models import LoginThrottle
from grp.testing.plugin import TEST_PASSWORD


def throttle_of(username: str):
    from grp.db import db

    db.session.expire_all()
    return db.session.scalar(sa.select(LoginThrottle).where(LoginThrottle.username == username))


def test_login_page_has_labelled_fields(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert '<label for="username">Username</label>' in response.text
    assert '<label for="password">Password</label>' in response.text
    assert 'name="username"' in response.text and 'type="password"' in response.text


def test_sign_in_redirects_home_and_greets_the_user(client, create_user):
    user = create_user("salma", name="Salma Al Mansoori", roles=[("POLICE", "hr_officer")])
    response = client.post("/login", data={"username": "salma", "password": TEST_PASSWORD})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "Welcome, Salma Al Mansoori" in home.text
    assert "Dubai Police" in home.text and "شرطة دبي" in home.text
    assert "HR officer" in home.text
    assert user.name in home.text


def test_username_is_not_case_sensitive(client, create_user):
    create_user("omar")
    response = client.post("/login", data={"username": " OMAR ", "password": TEST_PASSWORD})
    assert response.status_code == 303


def test_a_page_that_needs_sign_in_sends_to_login_and_back(client, create_user):
    create_user("fatima", roles=[("POLICE", "employee")])
    response = client.get("/tokens")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    login_page = client.get(response.headers["Location"])
    assert 'name="next" type="hidden" value="/tokens"' in login_page.text
    signed_in = client.post(
        "/login", data={"username": "fatima", "password": TEST_PASSWORD, "next": "/tokens"}
    )
    assert signed_in.headers["Location"] == "/tokens"


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "x"],
)
def test_next_must_be_a_path_on_this_site(client, create_user, target):
    create_user("khalid")
    response = client.post(
        "/login", data={"username": "khalid", "password": TEST_PASSWORD, "next": target}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_wrong_password_is_refused_and_counted(client, create_user):
    create_user("hamdan")
    response = client.post("/login", data={"username": "hamdan", "password": "wrong-password"})
    assert response.status_code == 200
    assert "Wrong username or password." in response.text
    assert throttle_of("hamdan").failures == 1
    assert client.get("/").status_code == 302  # still signed out


def test_empty_fields_get_their_own_messages(client):
    response = client.post("/login", data={"username": "", "password": ""})
    assert response.status_code == 200
    assert "Enter your username." in response.text
    assert "Enter your password." in response.text


def test_five_wrong_passwords_lock_sign_in_even_with_the_right_one(client, create_user):
    create_user("mariam")
    for attempt in range(1, 5):
        response = client.post("/login", data={"username": "mariam", "password": f"bad-{attempt}"})
        assert response.status_code == 200, attempt
    fifth = client.post("/login", data={"username": "mariam", "password": "bad-5"})
    assert fifth.status_code == 429
    assert "Too many failed sign-in attempts. Sign-in is locked for 15 more minutes." in fifth.text
    right = client.post("/login", data={"username": "mariam", "password": TEST_PASSWORD})
    assert right.status_code == 429
    assert "Sign-in is locked for 15 more minutes." in right.text
    assert right.headers["Retry-After"] == "900"
    assert throttle_of("mariam").locked_until is not None
    assert client.get("/").status_code == 302


def test_lock_message_is_translated(client, create_user):
    create_user("rashid")
    client.post("/language", data={"language": "ar"})
    for attempt in range(5):
        response = client.post("/login", data={"username": "rashid", "password": f"bad-{attempt}"})
    assert response.status_code == 429
    assert "محاولات تسجيل دخول فاشلة كثيرة" in response.text
    assert "15" in response.text


def test_a_deactivated_user_cannot_sign_in(client, create_user):
    from grp.db import db

    user = create_user("retired")
    user.is_active = False
    db.session.commit()
    response = client.post("/login", data={"username": "retired", "password": TEST_PASSWORD})
    assert response.status_code == 200
    assert "Wrong username or password." in response.text


def test_sign_out_ends_the_session(client, create_user, login):
    user = create_user(roles=[("POLICE", "employee")])
    login(client, user)
    assert client.get("/").status_code == 200
    response = client.post("/logout")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert "You are signed out." in client.get("/login").text
    assert client.get("/").status_code == 302


def test_sign_out_needs_a_post(client, create_user, login):
    login(client, create_user())
    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200


def test_a_new_sign_in_forgets_the_previous_users_department(client, create_user, login):
    first = create_user(roles=[("POLICE", "employee"), ("DM", "employee")])
    login(client, first)
    client.post("/department", data={"department_id": _department_id("POLICE")})
    client.post("/logout")
    second = create_user(roles=[("DM", "employee"), ("POLICE", "employee")])
    login(client, second)
    with client.session_transaction() as session:
        assert "department_id" not in session


def _department_id(code: str) -> int:
    from grp.db import db
    from grp.models import Department

    return db.session.scalar(sa.select(Department.id).where(Department.code == code))


def test_a_session_cookie_taken_to_another_browser_is_signed_out(client, create_user, login):
    # Strong session protection: the session is bound to the address and user agent
    # it was signed in from; shown elsewhere it is cleared, here and afterwards.
    user = create_user("hamad", roles=[("POLICE", "employee")])
    login(client, user)
    assert client.get("/tokens").status_code == 200
    stolen = client.get("/tokens", headers={"User-Agent": "another browser"})
    assert stolen.status_code == 302
    assert stolen.headers["Location"].startswith("/login")
    assert client.get("/tokens").status_code == 302


def test_only_requests_with_a_session_are_checked_against_their_client(
    app, client, create_user, login, api_as, monkeypatch
):
    from grp.extensions import login_manager

    hashed: list[str] = []

    def identifier() -> str:
        hashed.append("session")
        return "client"

    monkeypatch.setattr(login_manager, "_session_identifier_generator", identifier)
    employee = api_as("employee")
    assert employee.get("/api/v1/me/payslips").status_code == 200
    assert client.get("/login").status_code == 200
    assert hashed == []  # a bearer token, then no session at all: nothing to protect
    user = create_user("noura", roles=[("POLICE", "employee")])
    login(client, user)
    assert client.get("/tokens").status_code == 200
    assert hashed  # a browser session is still checked
