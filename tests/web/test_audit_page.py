"""The audit log page of the active department."""

from __future__ import annotations


def test_audit_page_lists_a_change_made_on_the_users_page(client_as, create_user):
    admin = client_as("department_admin", "POLICE", username="police-admin")
    user = create_user("sultan", roles=[("POLICE", "employee")])
    admin.post(f"/admin/users/{user.id}/active", data={"active": "0"})
    page = admin.get("/admin/audit")
    assert page.status_code == 200
    row = page.text.split("<tbody>")[1].split("</tr>")[0]  # newest first
    assert "police-admin" in row
    assert "update" in row and "User" in row and f">{user.id}<" in row
    assert "&#34;is_active&#34;: true" in row and "&#34;is_active&#34;: false" in row


def test_audit_page_shows_only_the_active_department(client_as, create_user):
    admin = client_as("department_admin", "POLICE")
    dm_admin = client_as("department_admin", "DM")
    dm_user = create_user("dm-person", roles=[("DM", "employee")])
    dm_admin.post(f"/admin/users/{dm_user.id}/roles", data={"roles": ["manager"]})
    marker = f"&#34;user_id&#34;: {dm_user.id}"
    dm_log = dm_admin.get("/admin/audit").text
    assert marker in dm_log and "RoleAssignment" in dm_log
    police_log = admin.get("/admin/audit").text
    assert marker not in police_log


def test_audit_page_pages_through_entries(client_as, create_user, monkeypatch):
    monkeypatch.setattr("grp.web.admin.DEFAULT_PER_PAGE", 2)
    admin = client_as("department_admin", "POLICE")
    create_user(roles=[("POLICE", "employee")])
    first = admin.get("/admin/audit")
    assert "/admin/audit?page=2" in first.text
    assert first.text.split("<tbody>")[1].count("<tr>") == 2
    assert admin.get("/admin/audit?page=2").status_code == 200


def test_audit_page_needs_the_audit_permission(client_as):
    assert client_as("hr_officer").get("/admin/audit").status_code == 403
