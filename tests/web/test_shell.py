"""The page shell: language and department switch, menu, error pages, security headers."""

from __future__ import annotations

import sqlalchemy as sa

from grp.auth.permissions import public
from grp.models import Department, User


def department_id(code: str) -> int:
    from grp.db import db

    return db.session.scalar(sa.select(Department.id).where(Department.code == code))


# --------------------------------------------------------------------------- language


def test_pages_are_english_and_left_to_right_by_default(client):
    page = client.get("/login")
    assert '<html lang="en" dir="ltr">' in page.text


def test_switching_to_arabic_renders_right_to_left(client, create_user, login, fresh):
    user = create_user(name="Aisha", roles=[("POLICE", "hr_officer")])
    login(client, user)
    response = client.post("/language", data={"language": "ar", "next": "/"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    home = client.get("/")
    assert '<html lang="ar" dir="rtl">' in home.text
    assert "مرحبًا، Aisha" in home.text
    assert "تسجيل الخروج" in home.text  # the sign-out button
    assert "موظف الموارد البشرية" in home.text  # the role, named in Arabic
    # Kept for the user's next visit, not only this browser session.
    assert fresh(User, user.id).language == "ar"


def test_a_users_saved_language_applies_after_sign_in(client, create_user, login):
    user = create_user(language="ar", roles=[("POLICE", "employee")])
    login(client, user)
    assert 'dir="rtl"' in client.get("/").text


def test_language_switch_works_before_sign_in(client):
    response = client.post("/language", data={"language": "ar", "next": "/login"})
    assert response.headers["Location"] == "/login"
    page = client.get("/login")
    assert '<html lang="ar" dir="rtl">' in page.text
    assert "اسم المستخدم" in page.text
    client.post("/language", data={"language": "en"})
    assert 'dir="ltr"' in client.get("/login").text


def test_language_switch_refuses_unknown_languages_and_foreign_redirects(client):
    assert client.post("/language", data={"language": "fr"}).status_code == 400
    response = client.post("/language", data={"language": "ar", "next": "https://evil.example"})
    assert response.headers["Location"] == "/"


# --------------------------------------------------------------------------- department


def test_switching_between_the_users_departments(client, create_user, login):
    user = create_user(roles=[("POLICE", "hr_officer"), ("DM", "department_admin")])
    login(client, user)
    home = client.get("/")
    assert "Dubai Municipality" in home.text  # first by code, as neither is primary
    switcher = home.text.split('id="department-switch"')[1].split("</select>")[0]
    assert "Dubai Police" in switcher and "Dubai Municipality" in switcher
    assert "Dubai Courts" not in switcher

    response = client.post("/department", data={"department_id": department_id("POLICE")})
    assert response.status_code == 303
    home = client.get("/")
    assert "You are now working in Dubai Police." in home.text
    assert "HR officer" in home.text and "Department administrator" not in home.text

    client.post("/department", data={"department_id": department_id("DM"), "next": "/admin/users"})
    assert client.get("/admin/users").status_code == 200  # department_admin in DM


def test_switching_to_a_department_the_user_has_no_role_in_is_404(client, create_user, login):
    user = create_user(roles=[("POLICE", "hr_officer")])
    login(client, user)
    response = client.post("/department", data={"department_id": department_id("DM")})
    assert response.status_code == 404
    assert client.post("/department", data={"department_id": "x"}).status_code == 404
    home = client.get("/")
    assert "Dubai Police" in home.text and "Dubai Municipality" not in home.text


def test_department_switch_needs_sign_in(client, departments):
    response = client.post("/department", data={"department_id": department_id("DM")})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


# --------------------------------------------------------------------------- menu


def menu_of(page: str) -> str:
    return page.split('<nav class="main-menu"')[1].split("</nav>")[0]


def test_menu_shows_only_permitted_entries(client_as):
    employee_menu = menu_of(client_as("employee").get("/").text)
    assert "/tokens" in employee_menu and "/admin/departments" in employee_menu
    assert "/admin/users" not in employee_menu and "/admin/audit" not in employee_menu

    admin_menu = menu_of(client_as("department_admin").get("/").text)
    assert "/admin/users" in admin_menu and "/admin/audit" in admin_menu


def test_menu_includes_module_entries_by_permission(app, client_as):
    app.extensions["grp"].menu.append(
        {
            "label_en": "Payroll runs",
            "label_ar": "مسيرات الرواتب",
            "endpoint": "admin.audit",
            "permission": "platform.audit.read",
        }
    )
    app.extensions["grp"].menu.append(
        {
            "label_en": "Missing page",
            "label_ar": "صفحة مفقودة",
            "endpoint": "nowhere.index",
            "permission": "platform.profile.read",
        }
    )
    admin = client_as("department_admin")
    assert "Payroll runs" in menu_of(admin.get("/").text)
    assert "Missing page" not in admin.get("/").text
    admin.post("/language", data={"language": "ar"})
    assert "مسيرات الرواتب" in menu_of(admin.get("/").text)
    assert "Payroll runs" not in client_as("employee").get("/").text


# --------------------------------------------------------------------------- errors


def test_403_page_in_both_languages(client_as):
    employee = client_as("employee")
    response = employee.get("/admin/users")
    assert response.status_code == 403
    assert "Not permitted" in response.text
    employee.post("/language", data={"language": "ar"})
    response = employee.get("/admin/users")
    assert response.status_code == 403
    assert "غير مسموح" in response.text and 'dir="rtl"' in response.text


def test_404_page_in_both_languages_without_a_user(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "Page not found" in response.text
    assert "Sign in" in response.text  # the layout renders without a user
    client.post("/language", data={"language": "ar"})
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "الصفحة غير موجودة" in response.text


def test_404_page_for_a_signed_in_user_keeps_the_layout(client_as):
    response = client_as("hr_officer").get("/no/such/page")
    assert response.status_code == 404
    assert 'id="department-switch"' in response.text


def test_405_uses_the_generic_error_page(client):
    response = client.get("/logout")
    assert response.status_code == 405
    assert "This action is not possible here" in response.text


def test_an_unhandled_error_renders_the_500_page(app, client_as):
    @app.get("/boom")
    @public
    def boom() -> str:
        raise RuntimeError("broken on purpose")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    browser = client_as("hr_officer")
    response = browser.get("/boom")
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "broken on purpose" not in response.text
    assert 'id="department-switch"' in response.text


def test_an_unhandled_api_error_stays_problem_json(app, client):
    @app.get("/api/v1/boom")
    @public
    def api_boom() -> str:
        raise RuntimeError("broken on purpose")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/api/v1/boom")
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"


def test_api_404_stays_problem_json(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


# --------------------------------------------------------------------------- security


def test_pages_carry_security_headers(client):
    response = client.get("/login")
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy.split("script-src")[1]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_every_response_gets_the_security_headers_once(client, tmp_path):
    from grp.app import SECURITY_HEADERS, create_app

    for response in (client.get("/login"), client.get("/api/v1/no-such-thing")):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.getlist(name) == [value], (response.request.path, name)
        assert "Strict-Transport-Security" not in response.headers  # development: plain HTTP
    production = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'production.sqlite3'}",
            "SECRET_KEY": "x" * 32,
            "INSTANCE_PATH": str(tmp_path),
            "GRP_PRODUCTION": True,
            "SESSION_COOKIE_SECURE": True,
        }
    )

    @production.get("/framed")
    def framed():  # a view that sets one of the headers itself keeps its own value
        return "ok", 200, {"x-frame-options": "SAMEORIGIN"}

    response = production.test_client().get("/framed")
    assert response.status_code == 200
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_session_cookie_is_http_only_and_same_site_lax(client, create_user):
    from grp.testing.plugin import TEST_PASSWORD

    create_user("noura")
    response = client.post("/login", data={"username": "noura", "password": TEST_PASSWORD})
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, response.headers
    attributes = [part.strip().lower() for part in cookies[0].split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes


def test_pages_use_no_inline_script(client_as):
    page = client_as("department_admin").get("/admin/users").text
    assert "<script" not in page
    assert '<link rel="stylesheet" href="/static/css/grp.css">' in page


def test_stylesheet_is_served(client):
    response = client.get("/static/css/grp.css")
    assert response.status_code == 200
    assert "margin-inline" in response.text
    response.close()
