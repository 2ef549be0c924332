"""HR officer pages: list in SQL, field messages, stale edits, scoping, import, organisation."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from hr_data import BAD_EMIRATES_ID, employee_data

from grp.db import db
from modules.hr.models import Employee, EmployeeDocument, OrgUnit, Position

PDF = b"%PDF-1.4\n%%EOF\n"


@pytest.fixture
def app_config(tmp_path):
    return {"HR_DOCUMENT_DIR": tmp_path / "documents", "HR_IMPORT_DIR": tmp_path / "imports"}


@pytest.fixture
def officer(client_as, hr_departments):
    return client_as("hr_officer", "POLICE")


def errors_of(html: str, field: str) -> str:
    """The text of a field's error list (empty when it has none)."""
    if f'id="{field}-errors"' not in html:
        return ""
    return html.split(f'id="{field}-errors"')[1].split("</ul>")[0]


def new_employee_form(number: int = 1, **changes) -> dict:
    data = employee_data(number)
    data.pop("grade"), data.pop("band")
    form = {
        **{k: v for k, v in data.items() if v is not None},
        "grade": "8",
        "band": "2",
        "status": "active",
        "pension_scheme": "",
        "contract_type": "permanent",
        "basic_salary": "10000.00",
        "general_allowance": "10000.00",
    }
    form.update(changes)
    return form


def employee_named(employee_no: str):
    from grp.models import Department
    from grp.tenancy import department_context

    db.session.expire_all()
    police = db.session.scalar(sa.select(Department).where(Department.code == "POLICE"))
    with department_context(db.session, police.id):
        return db.session.scalar(sa.select(Employee).where(Employee.employee_no == employee_no))


# --------------------------------------------------------------------------- list


def test_list_pages_search_and_filter_in_sql(officer, make_employee, monkeypatch):
    for number in range(1, 8):
        make_employee(
            number=number,
            name_en=f"Person {number:02d}",
            status="suspended" if number == 7 else "active",
        )
    monkeypatch.setattr("modules.hr.views.DEFAULT_PER_PAGE", 3)
    statements: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", capture)
    try:
        page = officer.get("/hr/employees?status=active&sort=-name_en&page=2")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", capture)
    assert page.status_code == 200
    rows = re.findall(r"Person (\d\d)", page.text)
    assert rows == ["03", "02", "01"]  # active, descending, second page of three
    assert "Page 2 of 2" in page.text
    employee_selects = [
        s for s in statements if "FROM hr_employees" in s and "count(" not in s.lower()
    ]
    assert employee_selects and all("LIMIT" in s for s in employee_selects), employee_selects
    assert any("count(" in s.lower() and "hr_employees" in s for s in statements)


def test_list_search_by_emirates_id_without_dashes_and_arabic_names_rtl(officer, make_employee):
    make_employee(number=1, emirates_id="784-1990-1234567-6", name_ar="عائشة المنصوري")
    make_employee(number=2)
    page = officer.get("/hr/employees?q=784199012345676")
    assert "E00001" in page.text and "E00002" not in page.text
    assert '<td lang="ar" dir="rtl">عائشة المنصوري</td>' in page.text


def test_list_needs_the_permission(client_as, hr_departments):
    assert client_as("employee", "POLICE").get("/hr/employees").status_code == 403


# --------------------------------------------------------------------------- create and edit


def test_create_form_shows_field_messages_then_creates(officer):
    refused = officer.post(
        "/hr/employees/new",
        data=new_employee_form(emirates_id=BAD_EMIRATES_ID, iban="AE310333000010767710393"),
    )
    assert refused.status_code == 200
    assert "check digit does not match" in errors_of(refused.text, "emirates_id")
    assert "check digits do not match" in errors_of(refused.text, "iban")
    assert employee_named("E00001") is None

    band = officer.post("/hr/employees/new", data=new_employee_form(basic_salary="5000"))
    assert "(9,000.00–14,000.00)" in errors_of(band.text, "basic_salary")

    created = officer.post("/hr/employees/new", data=new_employee_form())
    assert created.status_code == 303, errors_of(created.text, "employee_no")
    employee = employee_named("E00001")
    assert created.headers["Location"] == f"/hr/employees/{employee.id}"
    detail = officer.get(created.headers["Location"])
    assert "Test Person 1" in detail.text and "10,000.00" in detail.text


def test_field_messages_are_in_arabic_for_arabic_users(officer):
    officer.post("/language", data={"language": "ar"})
    page = officer.post("/hr/employees/new", data=new_employee_form(emirates_id=BAD_EMIRATES_ID))
    assert 'dir="rtl"' in page.text
    message = errors_of(page.text, "emirates_id")
    assert message and not re.search(r"[A-Za-z]{4,}", message), message


def test_edit_form_refuses_a_stale_edit_with_a_message(officer, make_employee, api_as):
    employee_id = make_employee()
    form = officer.get(f"/hr/employees/{employee_id}/edit")
    assert 'name="version" type="hidden" value="1"' in form.text
    # Another officer saves first.
    api_as("hr_officer", "POLICE").patch(
        f"/api/v1/hr/employees/{employee_id}", json={"version": 1, "children": 4}
    )
    data = {**new_employee_form(), "version": "1", "children": "1"}
    stale = officer.post(f"/hr/employees/{employee_id}/edit", data=data)
    assert stale.status_code == 409
    assert "Someone else changed this employee" in stale.text
    assert 'value="2"' in stale.text  # the form now carries the current version
    assert employee_named("E00001").children == 4
    saved = officer.post(f"/hr/employees/{employee_id}/edit", data={**data, "version": "2"})
    assert saved.status_code == 303
    assert employee_named("E00001").children == 1


def test_manager_and_user_are_entered_by_number_and_username(officer, make_employee, create_user):
    make_employee(number=1)
    person = make_employee(number=2)
    create_user("police.person", roles=[("POLICE", "employee")])
    data = {**new_employee_form(2), "version": "1", "manager_no": "nope", "username": "ghost"}
    page = officer.post(f"/hr/employees/{person}/edit", data=data)
    assert "No employee has this number." in errors_of(page.text, "manager_no")
    data.update(manager_no="e00001", username="police.person")
    assert officer.post(f"/hr/employees/{person}/edit", data=data).status_code == 303
    assert employee_named("E00002").manager_id == employee_named("E00001").id


# --------------------------------------------------------------------------- scoping


def test_pages_answer_404_for_another_departments_employee_and_document(
    client_as, make_employee, in_department
):
    officer = client_as("hr_officer", "POLICE")
    police_employee = make_employee("POLICE")
    upload = officer.post(
        f"/hr/employees/{police_employee}/documents",
        data={
            "doc_type": "passport",
            "expiry_date": "2030-01-01",
            "file": (io.BytesIO(PDF), "p.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert upload.status_code == 303
    with in_department("POLICE"):
        document_id = db.session.scalar(sa.select(sa.func.max(EmployeeDocument.id)))
    dm_officer = client_as("hr_officer", "DM")
    for path in (
        f"/hr/employees/{police_employee}",
        f"/hr/employees/{police_employee}/edit",
        f"/hr/employees/{police_employee}/contracts/new",
        f"/hr/employees/{police_employee}/documents/{document_id}",
    ):
        assert dm_officer.get(path).status_code == 404, path
    with officer.get(f"/hr/employees/{police_employee}/documents/{document_id}") as own:
        assert own.status_code == 200 and own.data == PDF


def test_an_employee_sees_their_own_record_and_not_a_colleagues(
    client_as, create_user, login, make_employee, app
):
    me = create_user("police.me", roles=[("POLICE", "employee")])
    mine = make_employee(user_id=me.id)
    colleague = make_employee()
    browser = app.test_client()
    login(browser, me)
    assert browser.get("/hr/me").headers["Location"] == f"/hr/employees/{mine}"
    own = browser.get(f"/hr/employees/{mine}")
    assert own.status_code == 200 and "Contract history" in own.text
    assert "Edit" not in own.text.split("<main")[1].split("Contract history")[0]
    assert browser.get(f"/hr/employees/{colleague}").status_code == 404
    assert browser.get(f"/hr/employees/{mine}/edit").status_code == 403


def test_my_record_without_a_link_says_so(client_as, hr_departments):
    page = client_as("employee", "POLICE").get("/hr/me")
    assert page.status_code == 200 and "No employee record is linked" in page.text


# --------------------------------------------------------------------------- contracts, documents


def test_new_contract_version_page(officer, make_employee):
    employee_id = make_employee()
    form = officer.get(f"/hr/employees/{employee_id}/contracts/new")
    assert 'value="10000.00"' in form.text  # starts from the contract in force
    refused = officer.post(
        f"/hr/employees/{employee_id}/contracts/new",
        data={
            "start_date": "2025-01-01",
            "grade": "8",
            "band": "2",
            "basic_salary": "20000",
            "contract_type": "permanent",
        },
    )
    assert "Basic 20,000.00 is outside grade 8 band 2" in errors_of(refused.text, "basic_salary")
    done = officer.post(
        f"/hr/employees/{employee_id}/contracts/new",
        data={
            "start_date": "2025-01-01",
            "grade": "8",
            "band": "2",
            "basic_salary": "12000",
            "contract_type": "permanent",
        },
    )
    assert done.status_code == 303
    detail = officer.get(f"/hr/employees/{employee_id}").text
    assert "2024-12-31" in detail and "12,000.00" in detail


def test_document_upload_page_refuses_a_disguised_file(officer, make_employee):
    employee_id = make_employee()
    refused = officer.post(
        f"/hr/employees/{employee_id}/documents",
        data={
            "doc_type": "passport",
            "expiry_date": "2030-01-01",
            "file": (io.BytesIO(b"MZ not a pdf"), "passport.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    assert "Upload a PDF, JPEG or PNG file." in errors_of(refused.text, "file")


def test_expiring_documents_page(officer, make_employee):
    employee_id = make_employee()
    officer.post(
        f"/hr/employees/{employee_id}/documents",
        data={
            "doc_type": "residence_visa",
            "expiry_date": "2000-01-01",
            "file": (io.BytesIO(PDF), "visa.pdf"),
        },
        content_type="multipart/form-data",
    )
    page = officer.get("/hr/documents/expiring?days=30")
    assert "Residence visa" in page.text and "(expired)" in page.text


# --------------------------------------------------------------------------- import, export


def test_import_page_dry_run_then_import_the_valid_rows(officer, app):
    header = (
        "employee_no,name_en,name_ar,emirates_id,nationality,date_of_birth,gender,"
        "hire_date,grade,band,basic_salary\n"
    )
    good = "E1,Good One,موظف,784-1990-1234567-6,IN,1980-01-01,male,2010-01-01,8,2,10000\n"
    bad = f"E2,Bad Two,موظف,{BAD_EMIRATES_ID},IN,1980-01-01,male,2010-01-01,8,2,10000\n"
    page = officer.post(
        "/hr/employees/import",
        data={"file": (io.BytesIO((header + good + bad).encode()), "staff.csv")},
        content_type="multipart/form-data",
    )
    assert page.status_code == 200
    assert "2 rows read: 1 valid, 1 with errors." in page.text
    assert "<td>3</td>" in page.text and "emirates_id" in page.text
    assert employee_named("E1") is None
    token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
    assert 'name="mode" value="valid_rows"' in page.text
    done = officer.post("/hr/employees/import/confirm", data={"token": token, "mode": "valid_rows"})
    assert done.status_code == 303
    assert employee_named("E1") is not None and employee_named("E2") is None
    # The stored file is gone, and a token is no key to another user's upload.
    again = officer.post("/hr/employees/import/confirm", data={"token": token, "mode": "all"})
    assert again.status_code == 404


def test_export_from_the_list_page(officer, make_employee):
    make_employee()
    response = officer.get("/hr/employees/export?format=csv&q=Test")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "E00001" in response.get_data().decode("utf-8-sig")


# --------------------------------------------------------------------------- organisation


def test_organisation_pages_create_units_positions_and_edit_grades(
    officer, db_session, in_department
):
    unit = officer.post(
        "/hr/org-units/new",
        data={
            "code": "HR",
            "name_en": "Human Resources",
            "name_ar": "الموارد البشرية",
            "is_active": "y",
        },
    )
    assert unit.status_code == 303
    with in_department("POLICE"):
        unit_id = db_session.scalar(sa.select(OrgUnit.id).where(OrgUnit.code == "HR"))
    child = officer.post(
        "/hr/org-units/new",
        data={
            "code": "HR-REC",
            "name_en": "Recruitment",
            "name_ar": "التوظيف",
            "parent_id": str(unit_id),
            "is_active": "y",
        },
    )
    assert child.status_code == 303
    with in_department("POLICE"):
        child_id = db_session.scalar(sa.select(OrgUnit.id).where(OrgUnit.code == "HR-REC"))
    loop = officer.post(
        f"/hr/org-units/{unit_id}/edit",
        data={
            "code": "HR",
            "name_en": "Human Resources",
            "name_ar": "الموارد البشرية",
            "parent_id": str(child_id),
        },
    )
    assert "sub-units" in errors_of(loop.text, "parent_id")
    tree = officer.get("/hr/organisation").text
    assert tree.index("Human Resources") < tree.index("Recruitment")

    position = officer.post(
        "/hr/positions/new",
        data={
            "code": "HR-02",
            "title_en": "HR Specialist",
            "title_ar": "أخصائي موارد بشرية",
            "org_unit_id": str(unit_id),
            "grade": "9",
            "is_active": "y",
        },
    )
    assert position.status_code == 303
    with in_department("POLICE"):
        assert (
            db_session.scalar(sa.select(Position).where(Position.code == "HR-02")).grade.number == 9
        )
    assert "HR Specialist" in officer.get("/hr/positions").text

    grade = officer.post(
        "/hr/grades/8/edit",
        data={
            "name_en": "Grade 8",
            "name_ar": "الدرجة 8",
            "band1_min": "8000",
            "band1_max": "7000",
        },
    )
    assert "not above the maximum" in grade.text
    saved = officer.post(
        "/hr/grades/8/edit",
        data={
            "name_en": "Grade 8",
            "name_ar": "الدرجة 8",
            "band1_min": "7000",
            "band1_max": "16000",
        },
    )
    assert saved.status_code == 303
    assert "7,000.00 – 16,000.00" in officer.get("/hr/grades").text


def test_removing_a_band_in_use_is_refused(officer, make_employee):
    make_employee()  # grade 8 band 2
    page = officer.post(
        "/hr/grades/8/edit",
        data={
            "name_en": "Grade 8",
            "name_ar": "الدرجة 8",
            "band1_min": "7000",
            "band1_max": "16000",
            # Browsers send the emptied inputs too.
            **dict.fromkeys(("band2_min", "band2_max", "band3_min", "band3_max"), ""),
        },
    )
    assert "hold a band you are removing" in page.text


def test_grades_can_be_loaded_for_a_department_without_them(client_as, departments):
    officer = client_as("hr_officer", "DHA")
    assert "no grades yet" in officer.get("/hr/employees/new").text
    assert officer.post("/hr/grades/defaults").status_code == 303
    page = officer.get("/hr/grades").text
    assert "Grade 16" in page and "9,000.00 – 14,000.00" in page
    assert "no grades yet" not in officer.get("/hr/employees/new").text
