"""A read-only request's caller checks ride with its first statement, and still hold.

On PostgreSQL a GET by a cached caller sends the department setting and the caller's
checks with the request's first statement, in one round trip (grp/auth/context.py,
`set_department_checked_later`; grp/driver.py, `ride_along`). The checks are answered
before the statement's rows are used, and before any answer leaves: a caller the
database contradicts gets the answer a freshly loaded caller would get, never the data
its cached roles would have allowed. On SQLite the checks go first, as before.
"""

from __future__ import annotations

import pytest

from grp.auth import services
from grp.auth.context import require_permission
from grp.db import db, utcnow
from grp.models import ApiToken
from grp.testing.plugin import TEST_PASSWORD


def token_for(client, username: str) -> dict:
    response = client.post(
        "/api/v1/auth/tokens", json={"username": username, "password": TEST_PASSWORD}
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def get(client, token: str, path: str):
    return client.get(path, headers={"Authorization": f"Bearer {token}"})


def replace_the_employee_list(app, monkeypatch, view) -> None:
    """Serve `view` at GET /api/v1/hr/employees for this test (Flask takes no new route
    once it has answered a request)."""
    endpoint = next(
        rule.endpoint for rule in app.url_map.iter_rules() if rule.rule == "/api/v1/hr/employees"
    )
    monkeypatch.setitem(app.view_functions, endpoint, view)


@pytest.fixture
def employee_id(make_employee) -> int:
    return make_employee(contract=None)


@pytest.fixture
def officer(client, create_user, hr_departments):
    user = create_user("hr.police", roles=[("POLICE", "hr_officer")])
    return user, token_for(client, "hr.police")


@pytest.mark.postgres
def test_a_cached_callers_read_sends_its_checks_in_the_same_round_trip(
    client, officer, employee_id, sql_statements, driver_pipelines
):
    _, token = officer
    assert get(client, token["token"], f"/api/v1/hr/employees/{employee_id}").status_code == 200
    sql_statements.clear()
    driver_pipelines["n"] = 0
    answer = get(client, token["token"], f"/api/v1/hr/employees/{employee_id}")
    assert answer.status_code == 200
    assert answer.get_json()["id"] == employee_id
    assert len(sql_statements) == 2, sql_statements
    assert "set_config" in sql_statements[0] and "api_tokens" in sql_statements[0]
    assert "hr_employees" in sql_statements[1]
    assert driver_pipelines["n"] == 1


def test_a_read_by_a_caller_whose_role_was_taken_gets_no_data(
    client, officer, employee_id, db_session
):
    user, token = officer
    assert get(client, token["token"], f"/api/v1/hr/employees/{employee_id}").status_code == 200
    services.set_user_roles(db_session, user, [("POLICE", "employee")])
    db_session.commit()
    # Its cached roles would read any employee; the database says it is an employee now.
    refused = get(client, token["token"], f"/api/v1/hr/employees/{employee_id}")
    assert refused.status_code == 404
    assert "name_en" not in refused.get_data(as_text=True)
    assert get(client, token["token"], "/api/v1/hr/employees").status_code == 403


def test_a_read_with_a_revoked_token_gets_no_data(client, officer, employee_id, db_session):
    _, token = officer
    assert get(client, token["token"], f"/api/v1/hr/employees/{employee_id}").status_code == 200
    db_session.get(ApiToken, token["id"]).revoked_at = utcnow()
    db_session.commit()
    refused = get(client, token["token"], f"/api/v1/hr/employees/{employee_id}")
    assert refused.status_code == 401
    assert "name_en" not in refused.get_data(as_text=True)


def test_a_role_granted_meanwhile_counts_for_a_read_refused_by_the_cached_roles(
    client, create_user, hr_departments, employee_id, db_session
):
    user = create_user("clerk", roles=[("POLICE", "employee")])
    token = token_for(client, "clerk")["token"]
    assert get(client, token, "/api/v1/hr/employees").status_code == 403
    services.set_user_roles(db_session, user, [("POLICE", "hr_officer")])
    db_session.commit()
    # Refused by the cached roles before any statement (403), checked before it leaves.
    listed = get(client, token, "/api/v1/hr/employees")
    assert listed.status_code == 200, listed.get_json()
    assert listed.get_json()["total"] == 1
    # Its detail: the cached roles' query found nothing (404); the checks that rode
    # with it said so, and the request was answered afresh.
    services.set_user_roles(db_session, user, [("POLICE", "employee")])
    db_session.commit()
    assert get(client, token, f"/api/v1/hr/employees/{employee_id}").status_code == 404
    services.set_user_roles(db_session, user, [("POLICE", "hr_officer")])
    db_session.commit()
    assert get(client, token, f"/api/v1/hr/employees/{employee_id}").status_code == 200


def test_checks_lost_with_a_rollback_are_sent_before_the_answer(
    app, client, officer, db_session, monkeypatch
):
    @require_permission("hr.employee.read")
    def rolled_back(**kwargs):
        db.session.connection()  # the checks wait on this connection ...
        db.session.rollback()  # ... which goes back to the pool without sending them
        return {"answered": True}

    replace_the_employee_list(app, monkeypatch, rolled_back)
    user, token = officer
    assert get(client, token["token"], "/api/v1/hr/employees").get_json() == {"answered": True}
    services.set_user_roles(db_session, user, [("POLICE", "employee")])
    db_session.commit()
    assert get(client, token["token"], "/api/v1/hr/employees").status_code == 403


@pytest.mark.postgres
def test_checks_are_sent_after_a_failed_flush_the_view_answered_for_itself(
    app, client, officer, db_session, monkeypatch
):
    import sqlalchemy as sa

    from grp.models import User

    @require_permission("hr.employee.read")
    def failed_flush(**kwargs):
        db.session.connection()
        db.session.rollback()  # the checks' connection goes back unsent ...
        db.session.add(User(username=None))
        try:
            db.session.flush()  # ... and the session is left inactive
        except sa.exc.IntegrityError:
            assert not db.session.is_active
        return {"answered": True}

    replace_the_employee_list(app, monkeypatch, failed_flush)
    user, token = officer
    assert get(client, token["token"], "/api/v1/hr/employees").get_json() == {"answered": True}
    services.set_user_roles(db_session, user, [("POLICE", "employee")])
    db_session.commit()
    assert get(client, token["token"], "/api/v1/hr/employees").status_code == 403
