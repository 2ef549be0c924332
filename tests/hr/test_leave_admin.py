"""Leave administration: working week, balance adjustments, new leave types, carry-forward,
holidays of later years, and sick leave with a medical report."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from leave_data import PDF

from grp.db import db
from modules.hr.models import EmployeeDocument, LeaveLedgerEntry, LeaveRequest, PublicHoliday
from modules.hr.services.leave import accrue_department, carry_forward_department

D = Decimal
HR = "/api/v1/hr"


@pytest.fixture
def as_user(leave_world, api_client):
    def _as(name: str, department: str = "POLICE"):
        return api_client(leave_world.user(name), department)

    return _as


@pytest.fixture
def browse(leave_world, app, login):
    def _as(name: str):
        client = app.test_client()
        login(client, leave_world.user(name))
        return client

    return _as


# --------------------------------------------------------------------------- working week


def test_working_week_api_and_page(as_user, browse, api_as, leave_world):
    hr = as_user("hr1")
    assert hr.get(f"{HR}/working-week").get_json() == {"working_days": "1111100"}
    # Friday off: the 5 working days of 2-10 December become 4.
    assert hr.put(f"{HR}/working-week", json={"working_days": "1111000"}).status_code == 200
    sick = leave_world.request(date(2026, 12, 2), date(2026, 12, 10), code="unpaid")
    assert sick.days == D("4.00")
    nothing = hr.put(f"{HR}/working-week", json={"working_days": "0000000"})
    assert nothing.status_code == 422 and "working_days" in nothing.get_json()["errors"]
    assert as_user("emp").put(f"{HR}/working-week", json={"working_days": "1"}).status_code in (
        403,
        422,
    )
    assert api_as("hr_officer", "DM").get(f"{HR}/working-week").get_json() == {
        "working_days": "1111100"
    }

    page = browse("hr1")
    assert "Working week" in page.get("/hr/leave/working-week").text
    saved = page.post("/hr/leave/working-week", data={f"day{i}": "y" for i in range(5)})
    assert saved.status_code == 303
    assert hr.get(f"{HR}/working-week").get_json() == {"working_days": "1111100"}
    refused = page.post("/hr/leave/working-week", data={"submit": "Save"})
    assert refused.status_code == 422 and "Choose at least one working day." in refused.text
    assert browse("emp").get("/hr/leave/working-week").status_code == 403


# --------------------------------------------------------------------------- adjustments


def test_balance_adjustments(as_user, api_as, leave_world, in_department):
    hr = as_user("hr1")
    annual = leave_world.leave_type("annual").id
    url = f"{HR}/employees/{leave_world.employee_id}/leave-balances/adjustments"
    added = hr.post(url, json={"leave_type_id": annual, "days": "2.5", "note": "Overtime"})
    assert added.status_code == 201, added.get_json()
    assert added.get_json()["kind"] == "adjustment" and added.get_json()["days"] == "2.50"
    assert leave_world.annual_balance() == D("22.50")
    taken = hr.post(url, json={"leave_type_id": annual, "days": "-1", "note": "Correction"})
    assert taken.status_code == 201 and leave_world.annual_balance() == D("21.50")

    for data, field in (
        ({"leave_type_id": annual, "days": "abc", "note": "x"}, "days"),
        ({"leave_type_id": annual, "days": "0", "note": "x"}, "days"),
        ({"leave_type_id": annual, "days": "1", "note": "  "}, "note"),
        ({"leave_type_id": 999_999, "days": "1", "note": "x"}, "leave_type_id"),
        ({"leave_type_id": annual, "days": "1"}, "note"),
    ):
        refused = hr.post(url, json=data)
        assert refused.status_code == 422 and field in refused.get_json()["errors"], data
    assert leave_world.annual_balance() == D("21.50")

    ledger = hr.get(f"{HR}/employees/{leave_world.employee_id}/leave-ledger").get_json()
    assert [e["note"] for e in ledger[:2]] == ["Correction", "Overtime"]
    dm = api_as("hr_officer", "DM")
    assert dm.post(url, json={"leave_type_id": annual, "days": "1", "note": "x"}).status_code == 404
    assert (
        as_user("emp")
        .post(url, json={"leave_type_id": annual, "days": "5", "note": "x"})
        .status_code
        == 403
    )


def test_balance_adjustment_page(browse, leave_world, client_as):
    hr = browse("hr1")
    url = f"/hr/leave/employees/{leave_world.employee_id}/balances"
    page = hr.get(url)
    assert page.status_code == 200 and "20.00" in page.text
    annual = str(leave_world.leave_type("annual").id)
    refused = hr.post(url, data={"leave_type_id": annual, "days": "x", "note": "Bonus"})
    assert refused.status_code == 422 and 'id="days-errors"' in refused.text
    added = hr.post(url, data={"leave_type_id": annual, "days": "3", "note": "Bonus days"})
    assert added.status_code == 303
    page = hr.get(url)
    assert "23.00" in page.text and "Bonus days" in page.text
    assert browse("emp").get(url).status_code == 403
    dm = client_as("hr_officer", "DM")
    assert dm.get(url).status_code == 404
    assert dm.post(url, data={"leave_type_id": annual, "days": "3", "note": "x"}).status_code == 404


# --------------------------------------------------------------------------- leave types


def test_create_leave_types(as_user, browse, leave_world):
    hr = as_user("hr1")
    created = hr.post(
        f"{HR}/leave-types",
        json={
            "code": "marriage",
            "name_en": "Marriage leave",
            "name_ar": "إجازة زواج",
            "max_days_per_request": "5",
        },
    )
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["max_days_per_request"] == "5.00"
    assert created.get_json()["paid"] is True and created.get_json()["day_basis"] == "working"
    again = hr.post(f"{HR}/leave-types", json={"code": "marriage", "name_en": "x", "name_ar": "س"})
    assert again.status_code == 422 and "code" in again.get_json()["errors"]
    bad = hr.post(f"{HR}/leave-types", json={"code": "9 bad", "name_en": "", "name_ar": "س"})
    assert bad.status_code == 422 and {"code", "name_en"} <= set(bad.get_json()["errors"])
    valid = {"code": "other_leave", "name_en": "Other", "name_ar": "أخرى"}
    assert as_user("emp").post(f"{HR}/leave-types", json=valid).status_code == 403

    page = browse("hr1")
    assert page.get("/hr/leave/types/new").status_code == 200
    saved = page.post(
        "/hr/leave/types/new",
        data={
            "code": "paternity",
            "name_en": "Paternity leave",
            "name_ar": "إجازة أبوة",
            "paid": "y",
            "day_basis": "working",
            "accrual": "none",
            "max_days_per_request": "5",
            "is_active": "y",
        },
    )
    assert saved.status_code == 303
    assert "Paternity leave" in page.get("/hr/leave/types").text
    duplicate = page.post(
        "/hr/leave/types/new",
        data={
            "code": "paternity",
            "name_en": "Again",
            "name_ar": "مرة",
            "day_basis": "working",
            "accrual": "none",
        },
    )
    assert duplicate.status_code == 200 and "Another leave type has this code." in duplicate.text


# --------------------------------------------------------------------------- carry-forward


def test_year_end_carry_forward_is_capped_and_idempotent(leave_world, runner):
    annual = leave_world.leave_type("annual")
    employee = leave_world.employee()
    from modules.hr.services.leave import adjust_balance

    adjust_balance(db.session, employee, annual, "15", "bonus", entry_date=date(2026, 6, 1))
    db.session.commit()
    assert carry_forward_department(db.session, 2027) == 2
    db.session.commit()
    entries = db.session.scalars(
        sa.select(LeaveLedgerEntry)
        .where(LeaveLedgerEntry.period == "2027")
        .order_by(LeaveLedgerEntry.kind)
    ).all()
    assert [(e.kind, e.days, e.entry_date) for e in entries] == [
        ("carry_forward", D("30.00"), date(2027, 1, 1)),
        ("expiry", D("-35.00"), date(2027, 1, 1)),
    ]
    assert leave_world.annual_balance() == D("30.00")
    assert carry_forward_department(db.session, 2027) == 0
    # The year's first accrual does not carry again; the command reports nothing new.
    accrue_department(db.session, date(2027, 1, 5), employee_ids=[leave_world.employee_id])
    db.session.commit()
    assert leave_world.annual_balance() == D("32.08")
    result = runner.invoke(args=["hr", "carry-forward", "--year", "2027", "--department", "POLICE"])
    assert result.exit_code == 0, result.output
    assert "POLICE: 0 ledger entries added" in result.output
    assert leave_world.annual_balance() == D("32.08")


def test_the_command_carries_every_department(leave_world, runner):
    result = runner.invoke(args=["hr", "carry-forward", "--year", "2027"])
    assert result.exit_code == 0, result.output
    assert "POLICE: 2 ledger entries added" in result.output
    assert "DM: 0 ledger entries added" in result.output
    assert leave_world.annual_balance() == D("20.00")  # under the cap: all of it carried
    bad = runner.invoke(args=["hr", "carry-forward", "--year", "2027", "--department", "NOPE"])
    assert bad.exit_code != 0 and "No department NOPE" in bad.output


# --------------------------------------------------------------------------- holidays


def test_copy_holidays_into_a_later_year(as_user, browse, api_as, leave_world):
    hr = as_user("hr1")
    copied = hr.post(f"{HR}/holidays/copy", json={"from_year": 2026, "to_year": 2027})
    assert copied.status_code == 201, copied.get_json()
    days = {h["day"]: h for h in copied.get_json()}
    assert len(days) == 12
    assert days["2027-01-01"]["to_confirm"] is False and days["2027-01-01"]["hijri"] is False
    assert days["2027-12-02"]["name_en"] == "National Day"
    eid = [h for h in days.values() if h["name_en"] == "Eid al-Fitr"]
    assert [h["day"] for h in eid] == ["2027-03-09", "2027-03-10", "2027-03-11"]
    assert all(h["to_confirm"] and h["hijri"] for h in eid)
    # A second copy adds nothing (the days are taken); same year and empty years are refused.
    assert (
        hr.post(f"{HR}/holidays/copy", json={"from_year": 2026, "to_year": 2027}).get_json() == []
    )
    same = hr.post(f"{HR}/holidays/copy", json={"from_year": 2026, "to_year": 2026})
    assert same.status_code == 422 and "to_year" in same.get_json()["errors"]
    empty = api_as("hr_officer", "DM").post(
        f"{HR}/holidays/copy", json={"from_year": 2026, "to_year": 2027}
    )
    assert empty.status_code == 422 and "from_year" in empty.get_json()["errors"]
    # Confirming (moving to the sighted day) clears the flag.
    moved = hr.patch(f"{HR}/holidays/{eid[0]['id']}", json={"day": "2027-03-10"})
    assert moved.status_code == 422  # that day already has the second day of Eid
    confirmed = hr.patch(f"{HR}/holidays/{eid[0]['id']}", json={"to_confirm": False})
    assert confirmed.status_code == 200 and confirmed.get_json()["to_confirm"] is False

    page = browse("hr1")
    year = page.get("/hr/leave/holidays?year=2027").text
    assert "estimated: to be confirmed" in year and "Hijri" in year
    confirm = page.post(f"/hr/leave/holidays/{eid[1]['id']}/confirm", data={"day": "2027-03-12"})
    assert confirm.status_code == 303
    holiday = db.session.get(PublicHoliday, eid[1]["id"])
    assert (holiday.day, holiday.to_confirm) == (date(2027, 3, 12), False)
    into_2028 = page.post("/hr/leave/holidays/copy", data={"from_year": "2027", "to_year": "2028"})
    assert into_2028.status_code == 303 and into_2028.headers["Location"].endswith("year=2028")
    assert (
        as_user("emp")
        .post(f"{HR}/holidays/copy", json={"from_year": 2026, "to_year": 2028})
        .status_code
        == 403
    )


def test_default_hijri_holidays_are_flagged(leave_world):
    eid = db.session.scalar(sa.select(PublicHoliday).where(PublicHoliday.day == date(2026, 3, 20)))
    new_year = db.session.scalar(
        sa.select(PublicHoliday).where(PublicHoliday.day == date(2026, 1, 1))
    )
    assert eid.hijri and not new_year.hijri


# --------------------------------------------------------------------------- sick leave


def sick_form(world, **extra):
    return {
        "leave_type_id": str(world.leave_type("sick").id),
        "start_date": "2026-12-07",
        "end_date": "2026-12-09",
        "submit": "1",
        **extra,
    }


def test_sick_leave_beyond_two_days_needs_a_medical_report_page(browse, leave_world, app):
    emp = browse("emp")
    refused = emp.post("/hr/leave/new", data=sick_form(leave_world))
    assert refused.status_code == 200 and "without a supporting document" in refused.text
    not_a_pdf = emp.post(
        "/hr/leave/new",
        data=sick_form(leave_world, medical_report=(io.BytesIO(b"hello"), "report.pdf")),
        content_type="multipart/form-data",
    )
    assert 'id="medical_report-errors"' in not_a_pdf.text
    with_report = emp.post(
        "/hr/leave/new",
        data=sick_form(leave_world, medical_report=(io.BytesIO(PDF), "report.pdf")),
        content_type="multipart/form-data",
    )
    assert with_report.status_code == 303
    request = db.session.scalar(sa.select(LeaveRequest))
    assert request.has_document and request.document.doc_type == "medical_report"
    assert db.session.scalar(sa.select(sa.func.count(EmployeeDocument.id))) == 1
    # A refused request leaves no stored file behind.
    overlapping = emp.post(
        "/hr/leave/new",
        data=sick_form(leave_world, medical_report=(io.BytesIO(PDF), "again.pdf")),
        content_type="multipart/form-data",
    )
    assert "overlap" in overlapping.text
    files = [p for p in app.config["HR_DOCUMENT_DIR"].rglob("*") if p.is_file()]
    assert len(files) == 1
    hr_page = browse("hr1").get(f"/hr/leave/requests/{request.id}")
    assert "report.pdf" in hr_page.text


def test_sick_leave_with_a_report_through_the_api(as_user, leave_world, make_employee):
    emp = as_user("emp")
    uploaded = emp.post(
        "/api/v1/me/documents",
        data={"file": (io.BytesIO(PDF), "report.pdf")},
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 201, uploaded.get_json()
    assert uploaded.get_json()["doc_type"] == "medical_report"
    wrong_kind = emp.post(
        "/api/v1/me/documents",
        data={"file": (io.BytesIO(PDF), "p.pdf"), "doc_type": "passport"},
        content_type="multipart/form-data",
    )
    assert wrong_kind.status_code == 422
    sick = leave_world.leave_type("sick").id
    body = {"leave_type_id": sick, "start_date": "2026-12-07", "end_date": "2026-12-09"}
    without = emp.post(f"{HR}/leave-requests", json=body)
    assert without.status_code == 422
    assert "supporting document" in without.get_json()["errors"]["end_date"][0]
    with_report = emp.post(
        f"{HR}/leave-requests", json=body | {"document_id": uploaded.get_json()["id"]}
    )
    assert with_report.status_code == 201 and with_report.get_json()["has_document"] is True
    # A colleague's document does not count.
    hr = as_user("hr1")
    other = make_employee()
    colleague_doc = hr.post(
        f"{HR}/employees/{other}/documents",
        data={"file": (io.BytesIO(PDF), "r.pdf"), "doc_type": "medical_report"},
        content_type="multipart/form-data",
    )
    assert colleague_doc.status_code == 201
    stolen = emp.post(
        f"{HR}/leave-requests",
        json={
            **body,
            "start_date": "2026-12-14",
            "end_date": "2026-12-16",
            "document_id": colleague_doc.get_json()["id"],
        },
    )
    assert stolen.status_code == 422 and "document_id" in stolen.get_json()["errors"]


def test_the_scheduled_job_carries_into_this_year(leave_world, app):
    from modules.hr.services.leave import run_carry_forward

    assert "hr.leave.carry_forward" in app.extensions["grp.jobs"].scheduled
    assert run_carry_forward(2027) == 2
    assert run_carry_forward(2027) == 0
    assert leave_world.annual_balance() == D("20.00")
