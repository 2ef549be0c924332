"""The per-process caller cache (grp/auth/callers.py): fast, and never trusted on its own.

Every change that matters to who a caller is or what they may do must take effect on
the very next request although the caller is cached: revoked or expired tokens,
deactivated users, roles taken or granted, departments deactivated, renamed users.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from grp.auth import services
from grp.auth.callers import CachedCaller, CallerCache, detached_copy, fingerprint_of
from grp.db import db, utcnow
from grp.models import ApiToken, Department, User
from grp.testing.plugin import TEST_PASSWORD


def token_for(client, username):
    response = client.post(
        "/api/v1/auth/tokens", json={"username": username, "password": TEST_PASSWORD}
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def me(client, token, department=None):
    headers = {"Authorization": f"Bearer {token}"}
    if department:
        headers["X-GRP-Department"] = department
    return client.get("/api/v1/auth/me", headers=headers)


@pytest.fixture
def statements(sql_statements):
    return sql_statements


def loads_the_caller(statement: str) -> bool:
    """The statement that reads a user with all columns (the loading one, not the check)."""
    return "password_hash" in statement


def callers(app) -> CallerCache:
    return app.extensions["grp"].callers


def test_a_known_caller_is_checked_not_loaded(app, client, create_user, statements):
    create_user("hr.police", roles=[("POLICE", "hr_officer")])
    token = token_for(client, "hr.police")["token"]
    statements.clear()
    assert me(client, token).status_code == 200
    assert any(loads_the_caller(s) for s in statements)
    assert len(callers(app)) == 1
    statements.clear()
    second = me(client, token)
    assert second.status_code == 200
    assert second.get_json()["roles"] == ["hr_officer"]
    assert not any(loads_the_caller(s) for s in statements), statements
    # The check reads the token, the user, their assignments and departments.
    assert len(statements) == 1
    for table in ("api_tokens", "users", "role_assignments", "departments"):
        assert table in statements[0]


def test_a_revoked_token_stops_at_once(app, client, create_user, db_session):
    create_user("hr.police", roles=[("POLICE", "hr_officer")])
    token = token_for(client, "hr.police")
    assert me(client, token["token"]).status_code == 200
    db_session.get(ApiToken, token["id"]).revoked_at = utcnow()
    db_session.commit()
    assert me(client, token["token"]).status_code == 401
    assert len(callers(app)) == 0


def test_an_expired_token_stops_at_once(client, create_user, db_session):
    create_user("hr.police", roles=[("POLICE", "hr_officer")])
    token = token_for(client, "hr.police")
    assert me(client, token["token"]).status_code == 200
    db_session.get(ApiToken, token["id"]).expires_at = utcnow() - timedelta(seconds=1)
    db_session.commit()
    assert me(client, token["token"]).status_code == 401


def test_a_token_that_expired_while_cached_is_refused(app, client, create_user, monkeypatch):
    create_user("hr.police", roles=[("POLICE", "hr_officer")])
    token = token_for(client, "hr.police")
    assert me(client, token["token"]).status_code == 200
    later = utcnow() + timedelta(hours=25)  # tokens live 24 hours
    monkeypatch.setattr("grp.auth.context.utcnow", lambda: later)
    monkeypatch.setattr("grp.models.utcnow", lambda: later)
    assert me(client, token["token"]).status_code == 401
    assert len(callers(app)) == 0


def test_a_deactivated_user_stops_at_once(client, create_user, db_session):
    user = create_user("leaver", roles=[("POLICE", "employee")])
    token = token_for(client, "leaver")["token"]
    assert me(client, token).status_code == 200
    user.is_active = False
    db_session.commit()
    assert me(client, token).status_code == 401


def test_a_deactivation_by_a_bulk_update_is_seen_too(client, create_user, db_session):
    user = create_user("leaver", roles=[("POLICE", "employee")])
    token = token_for(client, "leaver")["token"]
    assert me(client, token).status_code == 200
    db_session.execute(sa.update(User).where(User.id == user.id).values(is_active=False))
    db_session.commit()
    assert me(client, token).status_code == 401


def test_a_role_taken_away_counts_on_the_next_request(client, create_user, db_session):
    user = create_user("both", roles=[("POLICE", "hr_officer"), ("DM", "finance_officer")])
    token = token_for(client, "both")["token"]
    assert me(client, token, "DM").get_json()["roles"] == ["finance_officer"]
    services.set_user_roles(db_session, user, [("POLICE", "hr_officer")])
    db_session.commit()
    refused = me(client, token, "DM")
    assert refused.status_code == 403
    assert "DM" in refused.get_json()["detail"]


def test_a_role_changed_in_place_counts_on_the_next_request(client, create_user, db_session):
    user = create_user("officer", roles=[("POLICE", "hr_officer")])
    token = token_for(client, "officer")["token"]
    assert me(client, token).get_json()["roles"] == ["hr_officer"]
    services.set_user_roles(db_session, user, [("POLICE", "employee")])
    db_session.commit()
    assert me(client, token).get_json()["roles"] == ["employee"]


def test_a_role_just_granted_elsewhere_can_be_used_at_once(client, create_user, db_session):
    user = create_user("officer", roles=[("POLICE", "hr_officer")])
    token = token_for(client, "officer")["token"]
    assert me(client, token).status_code == 200
    services.set_user_roles(db_session, user, [("POLICE", "hr_officer"), ("DM", "employee")])
    db_session.commit()
    answer = me(client, token, "DM")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["roles"] == ["employee"]


def test_a_deactivated_department_cannot_be_chosen(client, create_user, db_session, departments):
    create_user("both", roles=[("POLICE", "hr_officer"), ("DM", "finance_officer")])
    token = token_for(client, "both")["token"]
    assert me(client, token, "DM").status_code == 200
    db_session.get(Department, departments["DM"].id).is_active = False
    db_session.commit()
    assert me(client, token, "DM").status_code == 403
    assert me(client, token, "POLICE").status_code == 200


def test_a_renamed_user_is_shown_with_the_new_name(client, create_user, db_session):
    user = create_user("officer", roles=[("POLICE", "hr_officer")], name="Old Name")
    token = token_for(client, "officer")["token"]
    assert me(client, token).get_json()["name"] == "Old Name"
    user.name = "New Name"
    db_session.commit()
    assert me(client, token).get_json()["name"] == "New Name"


def test_another_departments_caller_is_not_mixed_up(client, create_user):
    """Two cached callers of two departments each get their own department and roles."""
    create_user("police.hr", roles=[("POLICE", "hr_officer")])
    create_user("dm.finance", roles=[("DM", "finance_officer")])
    police = token_for(client, "police.hr")["token"]
    dm = token_for(client, "dm.finance")["token"]
    for _ in range(2):
        assert me(client, police).get_json()["department"]["code"] == "POLICE"
        assert me(client, dm).get_json()["department"]["code"] == "DM"
        assert me(client, dm).get_json()["roles"] == ["finance_officer"]
    assert me(client, police, "DM").status_code == 403


def test_a_browser_session_of_a_deactivated_user_ends(client, create_user, login, db_session):
    user = create_user("clerk", roles=[("POLICE", "hr_officer")])
    login(client, user)
    assert client.get("/").status_code == 200
    assert client.get("/").status_code == 200  # cached now
    user.is_active = False
    db_session.commit()
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("app_config", [{"GRP_CALLER_CACHE_SIZE": 0}])
def test_the_cache_can_be_turned_off(app, client, create_user, statements):
    create_user("hr.police", roles=[("POLICE", "hr_officer")])
    token = token_for(client, "hr.police")["token"]
    for _ in range(2):
        statements.clear()
        assert me(client, token).status_code == 200
        assert any(loads_the_caller(s) for s in statements)
    assert len(callers(app)) == 0


def session_entry(user):
    """A browser session's cache entry for `user`, as a request would store it (with its
    role assignments loaded)."""
    assert user.role_assignments is not None
    return CachedCaller(
        key=("user", user.id),
        user=detached_copy(user),
        token_id=None,
        expires_at=None,
        last_used_at=None,
        fingerprint=fingerprint_of(user),
    )


def test_the_cache_keeps_the_most_recently_used(app, create_user):
    cache = CallerCache(capacity=2)
    users = [create_user(f"u{n}") for n in range(3)]
    cache.put(session_entry(users[0]))
    cache.put(session_entry(users[1]))
    assert cache.get(("user", users[0].id)) is not None  # now the most recent
    cache.put(session_entry(users[2]))
    assert len(cache) == 2
    assert cache.get(("user", users[1].id)) is None
    assert cache.get(("user", users[0].id)) is not None


def test_an_entry_past_its_lifetime_is_loaded_again(create_user):
    user = create_user("u")
    cache = CallerCache(capacity=4, lifetime=0.0)
    cache.put(session_entry(user))
    assert cache.get(("user", user.id)) is None


def test_the_detached_copy_carries_roles_and_departments_and_no_session(create_user):
    user = create_user("both", roles=[("POLICE", "hr_officer"), ("DM", "finance_officer")])
    for assignment in user.role_assignments:  # as a request loads it
        assert assignment.role and assignment.department
    copy = detached_copy(user)
    assert sa.inspect(copy).detached
    assert sorted((a.department.code, a.role.code) for a in copy.role_assignments) == [
        ("DM", "finance_officer"),
        ("POLICE", "hr_officer"),
    ]
    assert copy is not user and user in db.session


def test_a_system_administrators_cached_caller_is_checked_too(
    client, create_user, db_session, statements
):
    """Their departments are read before the check (all of them, from the database), so
    the check runs after the transaction began: it must still run."""
    create_user("root", roles=[("DM", "system_admin")])
    token = token_for(client, "root")
    assert me(client, token["token"], "POLICE").status_code == 200
    statements.clear()
    cached = me(client, token["token"], "POLICE")
    assert cached.get_json()["department"]["code"] == "POLICE"
    assert "system_admin" in cached.get_json()["roles"]
    assert any("api_tokens" in s for s in statements), statements
    db_session.get(ApiToken, token["id"]).revoked_at = utcnow()
    db_session.commit()
    assert me(client, token["token"], "POLICE").status_code == 401


# --------------------------------------------------------------------------- the caller object


@pytest.fixture
def caller_probe(app):
    """A page that reports what the request's session holds of its caller, then asks for
    the caller as an ORM object (`acting_user`) and reports that."""
    from flask import g
    from flask_login import current_user

    from grp.auth.context import Caller, acting_user, current_department
    from grp.auth.permissions import public

    @public
    def probe():
        caller = current_user._get_current_object()
        before = {type(o).__name__ for o in db.session.identity_map.values()}
        answer = {
            "is_caller": isinstance(caller, Caller),
            "held_before": sorted(before),
            "id": current_user.id,
            "username": current_user.username,
            "department": (g.department.id, g.department.code) if g.department else None,
        }
        if "recode" in request.args:  # the view changes the department's row itself
            department = db.session.get(Department, g.department.id)
            department.code = request.args["recode"]
            answer["code_after_change"] = g.department.code
            db.session.rollback()
            return answer
        if "rename" in request.args:  # the view changes the user's row itself
            user = db.session.get(User, current_user.id)
            user.name = request.args["rename"]
            db.session.flush()
            answer["name_after_change"] = current_user.name
            answer["same_object"] = acting_user() is user
            db.session.rollback()
            return answer
        user = acting_user()
        department = current_department()
        answer.update(
            orm_in_session=user in db.session,
            same_object=acting_user() is user,
            roles=sorted((a.department.code, a.role.code) for a in user.role_assignments),
            department_in_session=department in db.session,
            same_department=current_department() is department,
            department_name=g.department.name_en,
        )
        return answer

    from flask import request

    app.add_url_rule("/api/v1/caller-probe", "caller_probe", probe)
    return "/api/v1/caller-probe"


def test_a_cached_caller_is_merged_into_the_session_only_when_asked_for(
    client, create_user, caller_probe, statements
):
    create_user("hr.police", roles=[("POLICE", "hr_officer"), ("DM", "finance_officer")])
    token = token_for(client, "hr.police")["token"]
    headers = {"Authorization": f"Bearer {token}", "X-GRP-Department": "DM"}
    assert client.get(caller_probe, headers=headers).status_code == 200  # now cached
    statements.clear()
    answer = client.get(caller_probe, headers=headers).get_json()
    assert answer["is_caller"] and answer["username"] == "hr.police"
    # Neither the user nor the department is in the session until asked for; then
    # the user comes with the roles the cache loaded (no query for them).
    assert answer["held_before"] == []
    dm = db.session.scalar(sa.select(Department).where(Department.code == "DM"))
    assert answer["department"] == [dm.id, "DM"]
    assert answer["department_in_session"] and answer["same_department"]
    assert answer["department_name"] == dm.name_en
    assert answer["orm_in_session"] and answer["same_object"]
    assert answer["roles"] == [["DM", "finance_officer"], ["POLICE", "hr_officer"]]
    assert not any("role_assignments" in s and "password_hash" in s for s in statements)


def test_a_view_that_changes_the_callers_row_reads_its_own_values(
    client, create_user, caller_probe
):
    create_user("hr.police", roles=[("POLICE", "hr_officer")], name="Old Name")
    token = token_for(client, "hr.police")["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(caller_probe, headers=headers).status_code == 200  # now cached
    answer = client.get(f"{caller_probe}?rename=New+Name", headers=headers).get_json()
    assert answer["is_caller"]
    assert answer["name_after_change"] == "New Name"
    assert answer["same_object"]
    answer = client.get(f"{caller_probe}?recode=ZZ", headers=headers).get_json()
    assert answer["department"][1] == "POLICE" and answer["code_after_change"] == "ZZ"


def test_a_cached_caller_needs_its_role_assignments(create_user):
    user = create_user("u")
    with pytest.raises(ValueError, match="role assignments"):
        CachedCaller(
            key=("user", user.id),
            user=detached_copy(user),  # copied before anything loaded the assignments
            token_id=None,
            expires_at=None,
            last_used_at=None,
            fingerprint=fingerprint_of(user),
        )


# --------------------------------------------------------------------------- Flask-Login


@pytest.mark.parametrize("cookie", [False, True])
def test_a_request_without_cookies_loads_its_caller_as_flask_login_does(
    app, client, create_user, cookie, monkeypatch
):
    """GrpLoginManager._load_user's shortcut (no cookies, empty session) answers as
    Flask-Login's own: the same user or anonymous, the same signals."""
    from flask_login.signals import user_accessed, user_loaded_from_request

    create_user("hr.police", roles=[("POLICE", "hr_officer")])
    token = token_for(client, "hr.police")["token"]
    heard: list[str] = []

    def accessed(sender, **kwargs):
        heard.append("accessed")

    def loaded(sender, user, **kwargs):
        heard.append(f"loaded {user.username}")

    user_accessed.connect(accessed, app)
    user_loaded_from_request.connect(loaded, app)
    shortcut_taken: list[bool] = []
    base = type(app.login_manager).__mro__[1]._load_user

    def spy(self):
        shortcut_taken.append(True)
        return base(self)

    monkeypatch.setattr(type(app.login_manager).__mro__[1], "_load_user", spy)
    if cookie:
        client.set_cookie("unrelated", "1")
    headers: dict[str, str] = {}
    try:
        for authorization, expected in (
            (f"Bearer {token}", "hr.police"),
            ("Bearer grp_not-a-token", None),
            (None, None),
        ):
            heard.clear()
            shortcut_taken.clear()
            sent = {**headers, **({"Authorization": authorization} if authorization else {})}
            answer = client.get("/api/v1/auth/me", headers=sent)
            assert answer.status_code == (200 if expected else 401)
            if expected:
                assert answer.get_json()["username"] == expected
            assert heard == (["accessed", f"loaded {expected}"] if expected else ["accessed"])
            # Flask-Login's own method runs only where the request has cookies.
            assert bool(shortcut_taken) is cookie
    finally:
        user_accessed.disconnect(accessed, app)
        user_loaded_from_request.disconnect(loaded, app)
