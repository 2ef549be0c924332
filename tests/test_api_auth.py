"""API authentication: bearer tokens, throttling, departments, the X-GRP-Department header."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from grp.db import utcnow
from grp.models import ApiToken
from grp.testing.plugin import TEST_PASSWORD


def get_token(client, username, password=TEST_PASSWORD, **extra):
    return client.post(
        "/api/v1/auth/tokens", json={"username": username, "password": password, **extra}
    )


def bearer(token, department=None):
    headers = {"Authorization": f"Bearer {token}"}
    if department:
        headers["X-GRP-Department"] = department
    return headers


def test_token_lists_the_callers_departments(client, create_user):
    create_user("hr.police", roles=[("POLICE", "hr_officer")])
    response = get_token(client, "hr.police")
    assert response.status_code == 201
    body = response.get_json()
    assert body["token"].startswith("grp_")
    assert [d["code"] for d in body["departments"]] == ["POLICE"]
    assert body["default_department"] == "POLICE"
    listed = client.get("/api/v1/departments", headers=bearer(body["token"]))
    assert listed.status_code == 200
    assert listed.get_json()["total"] == 1
    assert listed.get_json()["items"][0]["name_ar"] == "شرطة دبي"


def test_system_admin_sees_all_25_departments(client, create_user):
    create_user("root", roles=[("DM", "system_admin")])
    token = get_token(client, "root").get_json()["token"]
    body = client.get("/api/v1/departments", headers=bearer(token)).get_json()
    assert body["total"] == 25
    assert len(body["items"]) == 25


def test_token_is_stored_only_as_a_digest(client, create_user, db_session):
    create_user("hr.police", roles=[("POLICE", "hr_officer")])
    plain = get_token(client, "hr.police").get_json()["token"]
    stored = db_session.scalar(sa.select(ApiToken))
    assert stored.token_hash != plain and plain not in stored.token_hash
    assert len(stored.token_hash) == 64
    assert plain.startswith(stored.prefix)


def test_wrong_password_is_401_problem_json(client, create_user):
    create_user("hr.police", roles=[("POLICE", "hr_officer")])
    response = get_token(client, "hr.police", "wrong password")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["detail"] == "Wrong username or password."


def test_five_wrong_passwords_lock_the_login(client, create_user):
    create_user("hr.police", roles=[("POLICE", "hr_officer")])
    for _ in range(4):
        assert get_token(client, "hr.police", "wrong password").status_code == 401
    fifth = get_token(client, "hr.police", "wrong password")
    assert fifth.status_code == 429
    locked = get_token(client, "hr.police")  # the right password, too late
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts" in locked.get_json()["detail"]
    assert "15 more minutes" in locked.get_json()["detail"]
    assert int(locked.headers["Retry-After"]) > 0


def test_lock_expires(client, create_user, db_session):
    from grp.models import LoginThrottle

    create_user("hr.police", roles=[("POLICE", "hr_officer")])
    for _ in range(5):
        get_token(client, "hr.police", "wrong password")
    throttle = db_session.get(LoginThrottle, "hr.police")
    throttle.locked_until = utcnow() - timedelta(seconds=1)
    db_session.commit()
    assert get_token(client, "hr.police").status_code == 201


def test_unknown_usernames_are_throttled_alike(client, departments):
    for _ in range(5):
        response = get_token(client, "nobody", "whatever password")
    assert response.status_code == 429


def test_validation_errors_name_the_field(client):
    response = client.post("/api/v1/auth/tokens", json={"username": "x"})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert "password" in response.get_json()["errors"]


def test_expired_and_revoked_tokens_are_refused(client, create_user, db_session):
    create_user("hr.police", roles=[("POLICE", "hr_officer")])
    first = get_token(client, "hr.police").get_json()
    second = get_token(client, "hr.police").get_json()
    assert client.get("/api/v1/departments", headers=bearer(first["token"])).status_code == 200
    token = db_session.get(ApiToken, first["id"])
    token.expires_at = utcnow() - timedelta(minutes=1)
    db_session.commit()
    refused = client.get("/api/v1/departments", headers=bearer(first["token"]))
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    revoke = client.delete(f"/api/v1/auth/tokens/{second['id']}", headers=bearer(second["token"]))
    assert revoke.status_code == 204
    assert client.get("/api/v1/departments", headers=bearer(second["token"])).status_code == 401


def test_a_user_cannot_revoke_someone_elses_token(client, create_user):
    create_user("a", roles=[("POLICE", "employee")])
    create_user("b", roles=[("POLICE", "employee")])
    token_a = get_token(client, "a").get_json()
    token_b = get_token(client, "b").get_json()
    response = client.delete(
        f"/api/v1/auth/tokens/{token_a['id']}", headers=bearer(token_b["token"])
    )
    assert response.status_code == 404
    assert client.get("/api/v1/departments", headers=bearer(token_a["token"])).status_code == 200


def test_inactive_users_get_no_token_and_their_tokens_stop_working(client, create_user, db_session):
    user = create_user("leaver", roles=[("POLICE", "employee")])
    token = get_token(client, "leaver").get_json()["token"]
    user.is_active = False
    db_session.commit()
    assert client.get("/api/v1/departments", headers=bearer(token)).status_code == 401
    assert get_token(client, "leaver").status_code == 401


def test_unauthenticated_api_call_is_401(client):
    response = client.get("/api/v1/departments")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_department_header_picks_among_several(client, create_user):
    create_user("both", roles=[("POLICE", "hr_officer"), ("DM", "finance_officer")])
    body = get_token(client, "both").get_json()
    assert body["default_department"] is None
    assert sorted(d["code"] for d in body["departments"]) == ["DM", "POLICE"]
    me = client.get("/api/v1/auth/me", headers=bearer(body["token"], "DM")).get_json()
    assert me["department"]["code"] == "DM"
    assert me["roles"] == ["finance_officer"]
    me = client.get("/api/v1/auth/me", headers=bearer(body["token"], "police")).get_json()
    assert me["roles"] == ["hr_officer"]
    assert "platform.user.manage" not in me["permissions"]


def test_department_header_for_a_department_not_held_is_403(client, create_user):
    create_user("hr.police", roles=[("POLICE", "hr_officer")])
    token = get_token(client, "hr.police").get_json()["token"]
    response = client.get("/api/v1/auth/me", headers=bearer(token, "DM"))
    assert response.status_code == 403
    assert "DM" in response.get_json()["detail"]


def test_primary_department_is_the_default(client, create_user, db_session, departments):
    user = create_user("both", roles=[("POLICE", "hr_officer"), ("DM", "finance_officer")])
    user.primary_department_id = departments["DM"].id
    db_session.commit()
    token = get_token(client, "both").get_json()["token"]
    assert (
        client.get("/api/v1/auth/me", headers=bearer(token)).get_json()["department"]["code"]
        == "DM"
    )


def test_cookie_authenticated_api_writes_need_the_csrf_token(app, client, create_user):
    app.config["WTF_CSRF_ENABLED"] = True
    create_user("hr.police", roles=[("POLICE", "hr_officer")])
    token = get_token(client, "hr.police").get_json()
    # A bearer token is never sent by a browser on its own: no CSRF token needed.
    ok = client.delete(f"/api/v1/auth/tokens/{token['id']}", headers=bearer(token["token"]))
    assert ok.status_code == 204


def test_a_get_records_the_tokens_last_use_once_a_minute(
    client, create_user, db_session, monkeypatch
):
    """Last use survives a read-only request's rollback, and is not rewritten on every call."""
    create_user("hr.police", roles=[("POLICE", "hr_officer")])
    token = get_token(client, "hr.police").get_json()["token"]

    def last_used():
        db_session.expire_all()
        return db_session.scalar(sa.select(ApiToken.last_used_at))

    assert last_used() is None
    assert client.get("/api/v1/departments", headers=bearer(token)).status_code == 200
    first = last_used()
    assert first is not None and utcnow() - first < timedelta(minutes=1)
    assert client.get("/api/v1/departments", headers=bearer(token)).status_code == 200
    assert last_used() == first  # within the minute: no second write
    later = first + timedelta(minutes=2)
    monkeypatch.setattr("grp.auth.context.utcnow", lambda: later)
    assert client.get("/api/v1/departments", headers=bearer(token)).status_code == 200
    assert last_used() == later
