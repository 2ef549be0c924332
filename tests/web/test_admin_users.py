"""User administration pages: list, create, roles per department, (de)activation."""

from __future__ import annotations

import re

import sqlalchemy as sa

from grp.models import Department, User
from grp.testing.plugin import TEST_PASSWORD


def department_id(code: str) -> int:
    from grp.db import db

    return db.session.scalar(sa.select(Department.id).where(Department.code == code))


def roles_of(user: User) -> set[tuple[str, str]]:
    from grp.db import db

    db.session.expire_all()
    user = db.session.get(User, user.id)
    return {(a.department.code, a.role.code) for a in user.role_assignments}


def new_user_form(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "username": "layla",
        "name": "Layla Al Marri",
        "email": "layla@police.example.ae",
        "password": "a-long-enough-password",
        "language": "ar",
        "roles": ["hr_officer", "manager"],
    }
    data.update(changes)
    return data


# --------------------------------------------------------------------------- list


def test_list_shows_users_with_roles_in_the_active_department(client_as, create_user):
    admin = client_as("department_admin", "POLICE")
    create_user("officer1", roles=[("POLICE", "hr_officer")])
    create_user("elsewhere", roles=[("DM", "hr_officer")])
    page = admin.get("/admin/users")
    assert page.status_code == 200
    assert "officer1" in page.text and "HR officer" in page.text
    assert "elsewhere" not in page.text
    assert admin.user.username in page.text


def test_list_pages_through_users(client_as, create_user, monkeypatch):
    monkeypatch.setattr("grp.web.admin.DEFAULT_PER_PAGE", 2)
    admin = client_as("department_admin", "POLICE", username="aaa-admin")
    for name in ("bbb", "ccc", "ddd"):
        create_user(name, roles=[("POLICE", "employee")])
    first = admin.get("/admin/users")
    assert "aaa-admin" in first.text and "bbb" in first.text and "ccc" not in first.text
    assert "Page 1 of 2" in first.text and "/admin/users?page=2" in first.text
    second = admin.get("/admin/users?page=2")
    assert "ccc" in second.text and "ddd" in second.text and "bbb" not in second.text
    assert admin.get("/admin/users?page=oops").status_code == 200


def test_users_pages_need_the_user_permissions(client_as):
    officer = client_as("hr_officer")
    assert officer.get("/admin/users").status_code == 403
    assert officer.get("/admin/users/new").status_code == 403
    assert officer.post("/admin/users/new", data=new_user_form()).status_code == 403


# --------------------------------------------------------------------------- create


def test_department_admin_creates_a_user_in_their_department(client_as, user_named):
    admin = client_as("department_admin", "POLICE")
    form = admin.get("/admin/users/new").text
    assert 'id="department"' not in form  # fixed to the active department
    assert 'value="system_admin"' not in form  # not theirs to grant
    response = admin.post("/admin/users/new", data=new_user_form())
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/users"
    created = user_named("layla")
    assert created.name == "Layla Al Marri" and created.language == "ar"
    assert roles_of(created) == {("POLICE", "hr_officer"), ("POLICE", "manager")}
    assert "The user layla is created." in admin.get("/admin/users").text
    # and the new user can sign in with the initial password
    browser = admin.application.test_client()
    signed_in = browser.post(
        "/login", data={"username": "layla", "password": "a-long-enough-password"}
    )
    assert signed_in.status_code == 303


def test_create_user_shows_field_messages(client_as, create_user, user_named):
    admin = client_as("department_admin", "POLICE")
    create_user("taken", roles=[("DM", "employee")])
    response = admin.post(
        "/admin/users/new",
        data=new_user_form(username="taken", name="", password="short", email="nope", roles=[]),
    )
    assert response.status_code == 200
    text = response.text
    assert "Enter the person" in text.split('id="name-errors"')[1].split("</ul>")[0]
    assert "Use at least 10 characters." in text.split('id="password-errors"')[1]
    assert "Enter an email address such as name@example.ae." in text
    assert "Choose at least one role." in text.split('id="roles-errors"')[1]
    assert user_named("layla") is None


def test_a_taken_username_is_a_field_message_from_the_service(client_as, create_user):
    admin = client_as("department_admin", "POLICE")
    create_user("taken", roles=[("DM", "employee")])
    response = admin.post("/admin/users/new", data=new_user_form(username="TAKEN"))
    assert response.status_code == 200
    assert (
        "This username is taken; choose another." in response.text.split('id="username-errors"')[1]
    )
    admin.post("/language", data={"language": "ar"})
    response = admin.post("/admin/users/new", data=new_user_form(username="TAKEN"))
    assert "اسم المستخدم هذا مستخدم بالفعل" in response.text


def test_department_admin_cannot_grant_system_admin(client_as, user_named):
    admin = client_as("department_admin", "POLICE")
    response = admin.post("/admin/users/new", data=new_user_form(roles=["system_admin"]))
    assert response.status_code == 200
    assert 'id="roles-errors"' in response.text
    assert user_named("layla") is None


def test_system_admin_creates_a_user_in_any_department(client_as, user_named):
    admin = client_as("system_admin", "POLICE")
    form = admin.get("/admin/users/new").text
    assert 'id="department"' in form and "Dubai Municipality" in form
    response = admin.post(
        "/admin/users/new",
        data=new_user_form(department=department_id("DM"), roles=["payroll_officer"]),
    )
    assert response.status_code == 303
    assert roles_of(user_named("layla")) == {("DM", "payroll_officer")}


# --------------------------------------------------------------------------- roles


def test_department_admin_edits_roles_in_their_department_only(client_as, create_user):
    admin = client_as("department_admin", "POLICE")
    user = create_user(roles=[("POLICE", "employee"), ("DM", "finance_officer")])
    page = admin.get(f"/admin/users/{user.id}/roles")
    assert page.status_code == 200
    checked = re.findall(r'<input checked[^>]*value="([a-z_]+)"', page.text)
    assert checked == ["employee"]
    assert 'value="system_admin"' not in page.text
    response = admin.post(
        f"/admin/users/{user.id}/roles", data={"roles": ["hr_officer", "manager"]}
    )
    assert response.status_code == 303
    assert roles_of(user) == {
        ("POLICE", "hr_officer"),
        ("POLICE", "manager"),
        ("DM", "finance_officer"),  # another department's role is not theirs to touch
    }


def test_department_admin_gets_404_for_a_user_only_in_another_department(client_as, create_user):
    admin = client_as("department_admin", "POLICE")
    outsider = create_user(roles=[("DM", "hr_officer")])
    assert admin.get(f"/admin/users/{outsider.id}/roles").status_code == 404
    response = admin.post(f"/admin/users/{outsider.id}/roles", data={"roles": ["employee"]})
    assert response.status_code == 404
    response = admin.post(f"/admin/users/{outsider.id}/active", data={"active": "0"})
    assert response.status_code == 404
    assert roles_of(outsider) == {("DM", "hr_officer")}
    assert admin.get("/admin/users/999999/roles").status_code == 404


def test_department_admin_cannot_change_a_system_admin(client_as, create_user, fresh):
    admin = client_as("department_admin", "POLICE")
    root = create_user(roles=[("POLICE", "system_admin")])
    response = admin.post(f"/admin/users/{root.id}/roles", data={"roles": ["employee"]})
    assert response.status_code == 403
    assert roles_of(root) == {("POLICE", "system_admin")}
    assert admin.post(f"/admin/users/{root.id}/active", data={"active": "0"}).status_code == 403
    assert fresh(User, root.id).is_active


def test_system_admin_edits_roles_in_any_department(client_as, create_user):
    admin = client_as("system_admin", "POLICE")
    user = create_user(roles=[("DM", "employee")])
    dm = department_id("DM")
    page = admin.get(f"/admin/users/{user.id}/roles?department={dm}")
    assert page.status_code == 200
    assert "Roles in Dubai Municipality" in page.text
    response = admin.post(
        f"/admin/users/{user.id}/roles?department={department_id('COURTS')}",
        data={"roles": ["manager"]},
    )
    assert response.status_code == 303
    assert roles_of(user) == {("DM", "employee"), ("COURTS", "manager")}
    assert admin.get(f"/admin/users/{user.id}/roles?department=999999").status_code == 404


def test_removing_all_roles_takes_the_user_out_of_the_department(client_as, create_user):
    admin = client_as("department_admin", "POLICE")
    user = create_user(roles=[("POLICE", "employee"), ("DM", "employee")])
    response = admin.post(f"/admin/users/{user.id}/roles", data={})
    assert response.status_code == 303
    assert roles_of(user) == {("DM", "employee")}
    assert admin.get(f"/admin/users/{user.id}/roles").status_code == 404


# --------------------------------------------------------------------------- (de)activation


def test_deactivate_and_reactivate(client_as, create_user, fresh, login):
    admin = client_as("department_admin", "POLICE")
    user = create_user("badr", roles=[("POLICE", "employee")])
    response = admin.post(f"/admin/users/{user.id}/active", data={"active": "0"})
    assert response.status_code == 303
    assert not fresh(User, user.id).is_active
    assert "badr is deactivated." in admin.get("/admin/users").text
    refused = admin.application.test_client().post(
        "/login", data={"username": "badr", "password": TEST_PASSWORD}
    )
    assert refused.status_code == 200
    admin.post(f"/admin/users/{user.id}/active", data={"active": "1"})
    assert fresh(User, user.id).is_active
    login(admin.application.test_client(), fresh(User, user.id))


def test_deactivation_ends_an_open_session(client_as, create_user, login):
    admin = client_as("department_admin", "POLICE")
    user = create_user(roles=[("POLICE", "employee")])
    browser = admin.application.test_client()
    login(browser, user)
    assert browser.get("/").status_code == 200
    admin.post(f"/admin/users/{user.id}/active", data={"active": "0"})
    assert browser.get("/").status_code == 302


def test_an_admin_cannot_deactivate_themselves(client_as, fresh):
    admin = client_as("department_admin", "POLICE")
    response = admin.post(f"/admin/users/{admin.user.id}/active", data={"active": "0"})
    assert response.status_code == 303
    assert fresh(User, admin.user.id).is_active
    assert "You cannot deactivate yourself." in admin.get("/admin/users").text


def test_active_flag_must_be_0_or_1(client_as, create_user):
    admin = client_as("department_admin", "POLICE")
    user = create_user(roles=[("POLICE", "employee")])
    assert admin.post(f"/admin/users/{user.id}/active", data={"active": "x"}).status_code == 400
