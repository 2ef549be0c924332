"""Users API: creation with roles per department, scoping for department admins, audit."""

from __future__ import annotations

import sqlalchemy as sa

from grp.models import AuditEntry, User

NEW_USER = {
    "username": "new.hr",
    "password": "a-long-password",
    "name": "Fatima Al Mansoori",
    "roles": [{"department": "POLICE", "role": "hr_officer"}],
}


def test_system_admin_creates_a_user_with_roles(api_as, db_session, departments):
    admin = api_as("system_admin", "DM")
    response = admin.post("/api/v1/users", json=NEW_USER)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["roles"] == [{"department": "POLICE", "role": "hr_officer"}]
    assert body["primary_department"] == "POLICE"
    assert "password" not in body and "password_hash" not in body
    user = db_session.scalar(sa.select(User).where(User.username == "new.hr"))
    assert user.password_hash.startswith("$argon2id$")
    # The role assignment is audited under POLICE, where POLICE's administrators read it.
    entries = db_session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.entity == "RoleAssignment", AuditEntry.action == "create"
        )
    ).all()
    entry = next(e for e in entries if e.after["user_id"] == user.id)
    assert entry.department_id == departments["POLICE"].id
    assert entry.actor_name == admin.user.username
    user_entry = db_session.scalar(sa.select(AuditEntry).where(AuditEntry.entity == "User"))
    assert "password_hash" not in user_entry.after


def test_invalid_user_is_422_with_fields_and_nothing_stored(api_as, db_session):
    admin = api_as("system_admin", "DM")
    response = admin.post(
        "/api/v1/users",
        json={
            **NEW_USER,
            "password": "short",
            "roles": [{"department": "NOPE", "role": "hr_officer"}],
        },
    )
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert set(errors) == {"password", "roles"}
    assert "NOPE" in errors["roles"][0]
    assert db_session.scalar(sa.select(User).where(User.username == "new.hr")) is None
    bad_role = admin.post(
        "/api/v1/users", json={**NEW_USER, "roles": [{"department": "POLICE", "role": "king"}]}
    )
    assert bad_role.status_code == 422
    assert "roles" in bad_role.get_json()["errors"]


def test_duplicate_username_is_refused(api_as):
    admin = api_as("system_admin", "DM")
    assert admin.post("/api/v1/users", json=NEW_USER).status_code == 201
    again = admin.post("/api/v1/users", json={**NEW_USER, "username": "NEW.HR"})
    assert again.status_code == 422
    assert "username" in again.get_json()["errors"]


def test_department_admin_assigns_roles_only_in_their_department(api_as):
    police_admin = api_as("department_admin", "POLICE")
    assert police_admin.post("/api/v1/users", json=NEW_USER).status_code == 201
    outside = police_admin.post(
        "/api/v1/users",
        json={**NEW_USER, "username": "x", "roles": [{"department": "DM", "role": "employee"}]},
    )
    assert outside.status_code == 422
    assert "POLICE only" in outside.get_json()["errors"]["roles"][0]
    escalate = police_admin.post(
        "/api/v1/users",
        json={
            **NEW_USER,
            "username": "y",
            "roles": [{"department": "POLICE", "role": "system_admin"}],
        },
    )
    assert escalate.status_code == 422


def test_department_admin_sees_only_their_departments_users(api_as, create_user):
    dm_only = create_user("dm.person", roles=[("DM", "employee")])
    police_person = create_user("police.person", roles=[("POLICE", "employee")])
    police_admin = api_as("department_admin", "POLICE")
    listed = police_admin.get("/api/v1/users").get_json()
    usernames = {u["username"] for u in listed["items"]}
    assert "police.person" in usernames and "dm.person" not in usernames
    assert listed["total"] == len(listed["items"])
    assert police_admin.get(f"/api/v1/users/{dm_only.id}").status_code == 404
    assert police_admin.patch(f"/api/v1/users/{dm_only.id}", json={"name": "x"}).status_code == 404
    assert police_admin.get(f"/api/v1/users/{police_person.id}").status_code == 200


def test_patch_changes_roles_within_scope_and_deactivates(api_as, create_user, client):
    person = create_user("both", roles=[("POLICE", "employee"), ("DM", "employee")])
    police_admin = api_as("department_admin", "POLICE")
    response = police_admin.patch(
        f"/api/v1/users/{person.id}",
        json={"roles": [{"department": "POLICE", "role": "manager"}], "name": "Renamed"},
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["roles"] == [
        {"department": "DM", "role": "employee"},  # untouched: outside POLICE's admin's scope
        {"department": "POLICE", "role": "manager"},
    ]
    assert response.get_json()["name"] == "Renamed"
    off = police_admin.patch(f"/api/v1/users/{person.id}", json={"is_active": False})
    assert off.get_json()["is_active"] is False
    denied = client.post(
        "/api/v1/auth/tokens", json={"username": "both", "password": "correct-horse-battery"}
    )
    assert denied.status_code == 401


def test_patch_validation(api_as, create_user):
    person = create_user("p", roles=[("POLICE", "employee")])
    admin = api_as("department_admin", "POLICE")
    assert admin.patch(f"/api/v1/users/{person.id}", json={}).status_code == 422
    short = admin.patch(f"/api/v1/users/{person.id}", json={"password": "short"})
    assert short.status_code == 422 and "password" in short.get_json()["errors"]
    yourself = admin.patch(f"/api/v1/users/{admin.user.id}", json={"is_active": False})
    assert yourself.status_code == 422


def test_users_api_needs_the_permission(api_as):
    officer = api_as("hr_officer", "POLICE")
    assert officer.get("/api/v1/users").status_code == 403
    assert officer.post("/api/v1/users", json=NEW_USER).status_code == 403


def test_audit_api_shows_only_the_active_departments_entries(api_as, create_user):
    create_user("police.person", roles=[("POLICE", "employee")])
    create_user("dm.person", roles=[("DM", "employee")])
    police_admin = api_as("department_admin", "POLICE")
    entries = police_admin.get("/api/v1/audit?entity=RoleAssignment").get_json()
    assert entries["total"] >= 1
    departments = {e["department_id"] for e in entries["items"]}
    assert len(departments) == 1
    other = police_admin.get("/api/v1/audit?department=DM")
    assert other.status_code == 404
    employee = api_as("employee", "POLICE")
    assert employee.get("/api/v1/audit").status_code == 403


def test_system_admin_reading_another_departments_audit_is_itself_audited(
    api_as, create_user, db_session
):
    create_user("police.person", roles=[("POLICE", "employee")])
    root = api_as("system_admin", "DM")
    response = root.get("/api/v1/audit?department=POLICE")
    assert response.status_code == 200
    assert response.get_json()["total"] >= 1
    read = db_session.scalar(
        sa.select(AuditEntry).where(AuditEntry.action == "cross_department_read")
    )
    assert read.after == {"department": "POLICE"}
    assert read.actor_name == root.user.username


def test_department_update_validates_wps_fields(api_as, db_session, departments):
    root = api_as("system_admin", "DM")
    bad = root.patch(
        "/api/v1/departments/POLICE", json={"wps_employer_id": "123", "bank_routing_code": "abc"}
    )
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]) == {"wps_employer_id", "bank_routing_code"}
    ok = root.patch("/api/v1/departments/POLICE", json={"wps_employer_id": "0000000012345"})
    assert ok.status_code == 200 and ok.get_json()["wps_employer_id"] == "0000000012345"
    officer = api_as("hr_officer", "POLICE")
    assert officer.patch("/api/v1/departments/POLICE", json={"name_en": "x"}).status_code == 403
    assert officer.get("/api/v1/departments/DM").status_code == 404


def test_wps_identifiers_take_ascii_digits_only(api_as):
    root = api_as("system_admin", "DM")
    arabic_indic = "٠١٢٣٤٥٦٧٨٩٠١٢"  # 13 digits, but not ones a WPS file can carry
    response = root.patch("/api/v1/departments/POLICE", json={"wps_employer_id": arabic_indic})
    assert response.status_code == 422
    assert "wps_employer_id" in response.get_json()["errors"]


def test_department_admin_cannot_change_a_system_admin(api_as, create_user):
    root = create_user("root", roles=[("POLICE", "system_admin"), ("POLICE", "employee")])
    police_admin = api_as("department_admin", "POLICE")
    response = police_admin.patch(f"/api/v1/users/{root.id}", json={"is_active": False})
    assert response.status_code == 403
    demote = police_admin.patch(f"/api/v1/users/{root.id}", json={"roles": []})
    assert demote.status_code == 403
