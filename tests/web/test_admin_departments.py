"""Department pages: the list for everyone, editing for system administrators."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from grp.models import AuditEntry, Department


def department(code: str) -> Department:
    from grp.db import db

    db.session.expire_all()
    return db.session.scalar(sa.select(Department).where(Department.code == code))


def rows_of(page: str) -> int:
    return page.split("<tbody>")[1].count("<tr>")


def valid_form(dept: Department, **changes: str) -> dict[str, str]:
    data = {
        "name_en": dept.name_en,
        "name_ar": dept.name_ar,
        "wps_employer_id": dept.wps_employer_id or "",
        "bank_routing_code": dept.bank_routing_code or "",
    }
    data.update(changes)
    return data


def test_system_admin_sees_all_25_departments_with_wps_fields(client_as):
    page = client_as("system_admin").get("/admin/departments")
    assert page.status_code == 200
    assert rows_of(page.text) == 25
    police = department("POLICE")
    assert police.wps_employer_id and police.wps_employer_id in page.text
    assert police.bank_routing_code in page.text
    assert "شرطة دبي" in page.text and "Security and Justice" in page.text
    assert f"/admin/departments/{police.id}/edit" in page.text


def test_others_see_only_their_own_departments_and_no_edit_link(client_as):
    page = client_as("hr_officer", "DM").get("/admin/departments")
    assert page.status_code == 200
    assert rows_of(page.text) == 1
    assert "Dubai Municipality" in page.text and "Dubai Police" not in page.text
    assert "/edit" not in page.text


def test_system_admin_edits_a_department(client_as):
    admin = client_as("system_admin")
    dm = department("DM")
    response = admin.post(
        f"/admin/departments/{dm.id}/edit",
        data=valid_form(
            dm,
            name_en="Dubai Municipality (DM)",
            wps_employer_id="1234567890123",
            bank_routing_code="",
        ),
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/departments"
    saved = department("DM")
    assert saved.name_en == "Dubai Municipality (DM)"
    assert saved.wps_employer_id == "1234567890123"
    assert saved.bank_routing_code is None  # empty means "not known yet"
    assert "The department DM is saved." in admin.get("/admin/departments").text


def test_edit_page_shows_current_values_with_labels(client_as):
    dm = department("DM")
    page = client_as("system_admin").get(f"/admin/departments/{dm.id}/edit")
    assert page.status_code == 200
    assert '<label for="wps_employer_id">WPS employer id</label>' in page.text
    assert f'value="{dm.wps_employer_id}"' in page.text
    assert 'aria-describedby="wps_employer_id-hint"' in page.text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("wps_employer_id", "12345", "Enter exactly 13 digits, or leave it empty."),
        ("wps_employer_id", "12345678901234", "Enter exactly 13 digits, or leave it empty."),
        ("wps_employer_id", "١٢٣٤٥٦٧٨٩٠١٢٣", "Enter exactly 13 digits, or leave it empty."),
        ("bank_routing_code", "80332010A", "Enter exactly 9 digits, or leave it empty."),
        ("name_en", "  ", "Enter the English name."),
        ("name_ar", "", "Enter the Arabic name."),
    ],
)
def test_invalid_input_gets_a_field_message_and_stores_nothing(client_as, field, value, message):
    from grp.db import db

    admin = client_as("system_admin")
    dm = department("DM")
    before = (dm.name_en, dm.name_ar, dm.wps_employer_id, dm.bank_routing_code)
    audit_count = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    response = admin.post(
        f"/admin/departments/{dm.id}/edit",
        data=valid_form(dm, **{"name_en": "Renamed", field: value}),
    )
    assert response.status_code == 200
    errors = response.text.split(f'id="{field}-errors"')[1].split("</ul>")[0]
    assert message.replace("'", "&#39;") in errors
    field_input = response.text.split(f'id="{field}"')[0].rsplit("<input", 1)[1]
    assert 'aria-invalid="true"' in field_input
    assert f"{field}-errors" in field_input  # the message is announced with the field
    after = department("DM")
    assert (after.name_en, after.name_ar, after.wps_employer_id, after.bank_routing_code) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == audit_count


def test_field_messages_are_translated(client_as):
    admin = client_as("system_admin")
    admin.post("/language", data={"language": "ar"})
    dm = department("DM")
    response = admin.post(
        f"/admin/departments/{dm.id}/edit", data=valid_form(dm, wps_employer_id="12")
    )
    assert "أدخل 13 رقمًا بالضبط، أو اترك الحقل فارغًا." in response.text


def test_only_system_admins_edit_departments(client_as):
    dm = department("DM")
    department_admin = client_as("department_admin", "DM")
    assert department_admin.get(f"/admin/departments/{dm.id}/edit").status_code == 403
    response = department_admin.post(
        f"/admin/departments/{dm.id}/edit", data=valid_form(dm, name_en="Hacked")
    )
    assert response.status_code == 403
    assert department("DM").name_en == "Dubai Municipality"


def test_editing_an_unknown_department_is_404(client_as):
    assert client_as("system_admin").get("/admin/departments/99999/edit").status_code == 404
