"""Import (CSV, XLSX) with a dry run that reports every bad row; export of the filtered list."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest
import sqlalchemy as sa
from hr_data import BAD_EMIRATES_ID, employee_data
from openpyxl import Workbook, load_workbook

from grp.identifiers import make_emirates_id
from modules.hr.imports import IMPORT_COLUMNS
from modules.hr.models import Contract, Employee

IMPORT = "/api/v1/hr/employees/import"
EXPORT = "/api/v1/hr/employees/export"


def import_row(number: int, **changes) -> dict:
    row = employee_data(number, emirates_id=make_emirates_id(1980, number), **changes)
    row.setdefault("basic_salary", "9500.00")
    row.setdefault("general_allowance", "9500.00")
    return row


def thousand_rows_with_three_bad() -> tuple[list[dict], dict[int, set[str]]]:
    """1,000 rows; rows at lines 12, 502 and 1001 are bad (line 1 is the header)."""
    rows = [import_row(n) for n in range(1, 1001)]
    rows[10]["emirates_id"] = BAD_EMIRATES_ID
    rows[500].update(iban="AE310333000010767710393", basic_salary="5000.00", gender="")
    rows[999]["employee_no"] = rows[0]["employee_no"]
    expected = {12: {"emirates_id"}, 502: {"iban", "basic_salary", "gender"}, 1001: {"employee_no"}}
    return rows, expected


def csv_bytes(rows: list[dict]) -> bytes:
    columns = [c for c in IMPORT_COLUMNS if any(c in row for row in rows)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def xlsx_bytes(rows: list[dict]) -> bytes:
    columns = [c for c in IMPORT_COLUMNS if any(c in row for row in rows)]
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(columns)
    for row in rows:
        sheet.append([_cell(row.get(c)) for c in columns])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _cell(value):
    # Spreadsheets hold numbers and dates as such, not text.
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value  # an impossible date stays text, as a person would type it
    if isinstance(value, str) and re.fullmatch(r"\d+\.\d\d", value):
        return float(value)
    return value


def post_file(client, content: bytes, name: str, mode: str = "dry_run"):
    return client.post(
        IMPORT,
        data={"file": (io.BytesIO(content), name), "mode": mode},
        content_type="multipart/form-data",
    )


@pytest.fixture
def officer(api_as, hr_departments):
    return api_as("hr_officer", "POLICE")


def counts(db_session, in_department):
    with in_department("POLICE"):
        employees = db_session.scalar(sa.select(sa.func.count()).select_from(Employee))
        contracts = db_session.scalar(sa.select(sa.func.count()).select_from(Contract))
    return employees, contracts


def test_csv_dry_run_reports_exactly_the_bad_rows_and_stores_nothing(
    officer, db_session, in_department
):
    rows, expected = thousand_rows_with_three_bad()
    content = csv_bytes(rows)
    response = post_file(officer, content, "staff.csv")
    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert (report["rows"], report["valid"], report["stored"]) == (1000, 997, 0)
    assert {p["line"]: set(p["errors"]) for p in report["problems"]} == expected
    by_line = {p["line"]: p["errors"] for p in report["problems"]}
    assert "check digit" in by_line[12]["emirates_id"][0]
    assert "Basic 5,000.00 is outside grade 8 band 2" in by_line[502]["basic_salary"][0]
    assert by_line[1001]["employee_no"] == ["Line 2 has the same value."]
    assert counts(db_session, in_department) == (0, 0)

    refused = post_file(officer, content, "staff.csv", mode="all")
    assert refused.status_code == 422
    assert [r["line"] for r in refused.get_json()["errors"]["rows"]] == [12, 502, 1001]
    assert counts(db_session, in_department) == (0, 0)

    stored = post_file(officer, content, "staff.csv", mode="valid_rows")
    assert stored.status_code == 200, stored.get_json()
    assert stored.get_json()["stored"] == 997
    assert counts(db_session, in_department) == (997, 997)
    with in_department("POLICE"):
        sample = db_session.scalar(sa.select(Employee).where(Employee.employee_no == "E00500"))
        assert sample.grade.number == 8 and sample.band == 2
        contract = db_session.scalar(sa.select(Contract).where(Contract.employee_id == sample.id))
        assert str(contract.basic_salary) == "9500.00"
        assert contract.start_date == sample.hire_date

    # The same file again: every row is now a duplicate or still bad; nothing more is stored.
    again = post_file(officer, content, "staff.csv", mode="valid_rows").get_json()
    assert (again["valid"], again["stored"], len(again["problems"])) == (0, 0, 1000)
    assert counts(db_session, in_department) == (997, 997)


def test_xlsx_import_with_dry_run_and_valid_rows(officer, db_session, in_department):
    rows = [import_row(n) for n in range(1, 41)]
    rows[4]["nationality"] = "ZZ"
    rows[20]["hire_date"] = "2050-13-01"
    content = xlsx_bytes(rows)
    report = post_file(officer, content, "staff.xlsx").get_json()
    assert (report["rows"], report["valid"]) == (40, 38)
    assert {p["line"]: list(p["errors"]) for p in report["problems"]} == {
        6: ["nationality"],
        22: ["hire_date"],
    }
    assert counts(db_session, in_department) == (0, 0)
    stored = post_file(officer, content, "staff.xlsx", mode="valid_rows").get_json()
    assert stored["stored"] == 38
    assert counts(db_session, in_department) == (38, 38)


def test_managers_may_be_rows_of_the_same_file_and_loops_are_refused(
    officer, db_session, in_department
):
    rows = [
        import_row(1),
        import_row(2, manager_employee_no="E00001"),
        import_row(3, manager_employee_no="E00004"),
        import_row(4, manager_employee_no="E00003"),
        import_row(5, manager_employee_no="NOPE"),
        import_row(6, manager_employee_no="E00005"),
    ]
    report = post_file(officer, csv_bytes(rows), "m.csv").get_json()
    problems = {p["line"]: p["errors"]["manager_employee_no"][0] for p in report["problems"]}
    assert set(problems) == {4, 5, 6, 7}
    assert "loop" in problems[4] and "loop" in problems[5]
    assert "NOPE" in problems[6]
    assert "line 6" in problems[7]
    stored = post_file(officer, csv_bytes(rows), "m.csv", mode="valid_rows").get_json()
    assert stored["stored"] == 2
    with in_department("POLICE"):
        boss, report_ = (
            db_session.scalar(sa.select(Employee).where(Employee.employee_no == number))
            for number in ("E00001", "E00002")
        )
        assert report_.manager_id == boss.id


def test_unreadable_files_are_refused_with_a_reason(officer):
    assert "Missing columns" in post_file(officer, b"name\nx\n", "a.csv").get_json()["detail"]
    unknown = post_file(officer, b"employee_no,shoe_size\nE1,42\n", "a.csv").get_json()
    assert "Unknown columns: shoe_size." in unknown["detail"]
    assert ".csv or .xlsx" in post_file(officer, b"x", "staff.pdf").get_json()["detail"]
    assert (
        "UTF-8"
        in post_file(officer, "name_en\n\xe9\n".encode("latin-1"), "a.csv").get_json()["detail"]
    )
    assert "readable" in post_file(officer, b"not a zip", "a.xlsx").get_json()["detail"]


def test_import_needs_its_permission(api_as, hr_departments):
    assert post_file(api_as("employee", "POLICE"), b"x", "a.csv").status_code == 403


# --------------------------------------------------------------------------- export


@pytest.fixture
def exported_staff(officer):
    rows = [import_row(n) for n in range(1, 6)]
    rows[1]["status"] = "suspended"
    rows[2].update(name_en="=HYPERLINK(1)", mobile="+971501112233")
    assert post_file(officer, csv_bytes(rows), "s.csv", mode="all").status_code == 200
    return rows


def test_csv_export_streams_the_filtered_list_with_the_import_columns(officer, exported_staff):
    response = officer.get(f"{EXPORT}?format=csv&status=active")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.is_streamed
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(IMPORT_COLUMNS)
    assert sorted(r["employee_no"] for r in rows) == ["E00001", "E00003", "E00004", "E00005"]
    third = next(r for r in rows if r["employee_no"] == "E00003")
    assert third["name_en"] == "'=HYPERLINK(1)"  # no formula injection into spreadsheets
    assert third["basic_salary"] == "9500.00" and third["contract_start"] == "2015-03-01"


def test_export_reimports_into_another_department(officer, api_as, exported_staff):
    with officer.get(f"{EXPORT}?format=xlsx") as exported:
        assert exported.status_code == 200
        content = exported.data
    workbook = load_workbook(io.BytesIO(content), read_only=True)
    values = list(workbook.active.iter_rows(values_only=True))
    workbook.close()
    assert list(values[0]) == list(IMPORT_COLUMNS) and len(values) == 6
    dm_officer = api_as("hr_officer", "DM")
    report = post_file(dm_officer, content, "from-police.xlsx").get_json()
    assert report["problems"] == [] and report["valid"] == 5
    csv_export = officer.get(f"{EXPORT}?format=csv").get_data()
    assert post_file(dm_officer, csv_export, "from-police.csv").get_json()["problems"] == []


def test_export_needs_its_permission(api_as, hr_departments):
    assert api_as("employee", "POLICE").get(EXPORT).status_code == 403
