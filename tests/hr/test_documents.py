"""Documents: content-signature checks, size limit, storage path, download scoping, expiry list."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from modules.hr.models import EmployeeDocument

BASE = "/api/v1/hr/employees"
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


@pytest.fixture
def app_config(tmp_path):
    return {"HR_DOCUMENT_MAX_BYTES": 4096, "HR_DOCUMENT_DIR": tmp_path / "documents"}


@pytest.fixture
def officer(api_as, hr_departments):
    return api_as("hr_officer", "POLICE")


def upload(client, employee_id, content=PDF, name="passport.pdf", **fields):
    data = {"doc_type": "passport", "expiry_date": "2030-01-31", **fields}
    data["file"] = (io.BytesIO(content), name)
    return client.post(
        f"{BASE}/{employee_id}/documents", data=data, content_type="multipart/form-data"
    )


@pytest.mark.parametrize(
    ("content", "name", "content_type"),
    [
        (PDF, "passport.pdf", "application/pdf"),
        (PNG, "scan.PNG", "image/png"),
        (JPEG, "id.jpeg", "image/jpeg"),
    ],
)
def test_pdf_jpeg_and_png_are_stored_under_the_instance_folder(
    officer, make_employee, app, content, name, content_type
):
    employee_id = make_employee()
    response = upload(officer, employee_id, content, name)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["content_type"] == content_type
    assert body["size"] == len(content)
    assert body["file_name"] == name
    stored = list(Path(app.config["HR_DOCUMENT_DIR"]).rglob("*"))
    files = [p for p in stored if p.is_file()]
    assert len(files) == 1 and files[0].read_bytes() == content
    assert name not in str(files[0])  # the path never carries the uploader's name


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"MZ\x90\x00 not a pdf at all", "passport.pdf"),  # disguised executable
        (b"<html><script>alert(1)</script>", "passport.pdf"),
        (PNG, "passport.pdf"),  # a real PNG, but named as a PDF
        (PDF, "passport.exe"),
        (b"", "empty.pdf"),
    ],
)
def test_disguised_or_unsupported_files_are_refused(officer, make_employee, app, content, name):
    employee_id = make_employee()
    response = upload(officer, employee_id, content, name)
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["file"]
    assert not [p for p in Path(app.config["HR_DOCUMENT_DIR"]).rglob("*") if p.is_file()]


def test_files_over_the_configured_size_are_refused_and_not_kept(officer, make_employee, app):
    employee_id = make_employee()
    response = upload(officer, employee_id, PDF + b"0" * 5000)
    assert response.status_code == 422
    assert "larger than" in response.get_json()["errors"]["file"][0]
    assert not [p for p in Path(app.config["HR_DOCUMENT_DIR"]).rglob("*") if p.is_file()]


def test_a_path_in_the_file_name_is_dropped(officer, make_employee):
    employee_id = make_employee()
    response = upload(officer, employee_id, PDF, "../../etc/passwd.pdf")
    assert response.status_code == 201
    assert response.get_json()["file_name"] == "passwd.pdf"


def test_metadata_is_checked(officer, make_employee):
    employee_id = make_employee()
    response = upload(officer, employee_id, expiry_date="", issue_date="2020-01-01")
    assert response.status_code == 422
    assert "expiry_date" in response.get_json()["errors"]
    certificate = upload(officer, employee_id, doc_type="certificate", expiry_date="")
    assert certificate.status_code == 201


def test_download_follows_the_employee_record_rules(
    officer, api_as, api_client, create_user, make_employee
):
    me = create_user("police.me", roles=[("POLICE", "employee")])
    mine = make_employee(user_id=me.id)
    colleague = make_employee()
    my_doc = upload(officer, mine).get_json()["id"]
    colleague_doc = upload(officer, colleague).get_json()["id"]

    with officer.get(f"{BASE}/{mine}/documents/{my_doc}/download") as download:
        assert download.status_code == 200
        assert download.data == PDF
        assert download.mimetype == "application/pdf"
        assert "attachment" in download.headers["Content-Disposition"]
    # The document id must belong to the employee in the path.
    assert officer.get(f"{BASE}/{colleague}/documents/{my_doc}/download").status_code == 404

    employee = api_client(me, "POLICE")
    with employee.get(f"{BASE}/{mine}/documents/{my_doc}/download") as own:
        assert own.status_code == 200
    assert employee.get(f"{BASE}/{colleague}/documents/{colleague_doc}/download").status_code == 404
    assert upload(employee, mine).status_code == 403

    other_department = api_as("hr_officer", "DM")
    assert other_department.get(f"{BASE}/{mine}/documents/{my_doc}/download").status_code == 404
    assert other_department.get(f"{BASE}/{mine}/documents").status_code == 404


def test_expiring_documents_within_n_days(
    officer, make_employee, api_as, db_session, in_department
):
    employee_id = make_employee()
    today = date.today()
    for days, doc_type in ((-3, "passport"), (10, "residence_visa"), (45, "labour_card")):
        assert (
            upload(
                officer,
                employee_id,
                doc_type=doc_type,
                expiry_date=(today + timedelta(days=days)).isoformat(),
            ).status_code
            == 201
        )
    assert upload(officer, employee_id, doc_type="certificate", expiry_date="").status_code == 201
    soon = officer.get("/api/v1/hr/documents/expiring?days=30").get_json()
    assert [d["doc_type"] for d in soon["items"]] == ["passport", "residence_visa"]
    assert soon["items"][0]["employee_no"] == "E00001"
    later = officer.get("/api/v1/hr/documents/expiring?days=60").get_json()
    assert later["total"] == 3
    # Another department's list does not show them.
    assert (
        api_as("hr_officer", "DM").get("/api/v1/hr/documents/expiring?days=60").get_json()["total"]
        == 0
    )
    with in_department("POLICE"):
        assert db_session.scalar(sa.select(sa.func.count()).select_from(EmployeeDocument)) == 4
