"""Self-service change requests: the employee asks, HR approves, the record changes (audited)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hr_data import BAD_CHECKSUM_IBANS, VALID_IBANS

from grp.db import db
from grp.models import AuditEntry
from modules.hr.models import ChangeRequest


@pytest.fixture
def people(create_user, make_employee, hr_departments):
    """In POLICE: `emp` and a colleague `col` (employees), `hr1`, `hr2` (HR officers)."""
    users = {
        "emp": create_user("emp", roles=[("POLICE", "employee")]),
        "col": create_user("col", roles=[("POLICE", "employee")]),
        "hr1": create_user("hr1", roles=[("POLICE", "hr_officer")]),
        "hr2": create_user("hr2", roles=[("POLICE", "hr_officer")]),
    }
    ids = {
        "emp": make_employee(user_id=users["emp"].id, iban=None),
        "col": make_employee(user_id=users["col"].id),
        "hr1": make_employee(user_id=users["hr1"].id),
    }
    return users, ids


@pytest.fixture
def as_user(people, api_client):
    users, _ = people

    def _as(name: str, department: str = "POLICE"):
        return api_client(users[name], department)

    return _as


def test_employee_asks_hr_approves_and_the_record_changes_audited(as_user, people, in_department):
    _, ids = people
    emp = as_user("emp")
    asked = emp.post(
        "/api/v1/me/change-requests",
        json={"iban": VALID_IBANS[0], "mobile": "+971 50 765 4321", "note": "New bank"},
    )
    assert asked.status_code == 201, asked.get_json()
    request = asked.get_json()
    assert request["state"] == "pending"
    assert request["changes"] == {"iban": VALID_IBANS[0], "mobile": "+971507654321"}
    assert request["old_values"]["iban"] is None
    assert emp.get(f"/api/v1/hr/employees/{ids['emp']}").get_json()["iban"] is None

    hr = as_user("hr1")
    listed = hr.get("/api/v1/hr/change-requests?state=pending").get_json()
    assert [r["id"] for r in listed["items"]] == [request["id"]]
    approved = hr.post(f"/api/v1/hr/change-requests/{request['id']}/approve", json={})
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["state"] == "approved"

    record = hr.get(f"/api/v1/hr/employees/{ids['emp']}").get_json()
    assert record["iban"] == VALID_IBANS[0] and record["mobile"] == "+971507654321"
    mine = emp.get("/api/v1/me/change-requests").get_json()["items"]
    assert [r["state"] for r in mine] == ["approved"]
    with in_department("POLICE"):
        audits = db.session.scalars(
            sa.select(AuditEntry).where(
                AuditEntry.entity == "Employee", AuditEntry.entity_id == str(ids["emp"])
            )
        ).all()
        assert any(
            a.action == "update" and (a.after or {}).get("iban") == VALID_IBANS[0] for a in audits
        )


def test_an_invalid_iban_is_refused_naming_iban(as_user, in_department):
    emp = as_user("emp")
    refused = emp.post("/api/v1/me/change-requests", json={"iban": BAD_CHECKSUM_IBANS[0]})
    assert refused.status_code == 422
    assert list(refused.get_json()["errors"]) == ["iban"]
    routing = emp.post("/api/v1/me/change-requests", json={"bank_routing_code": "12AB"})
    assert "bank_routing_code" in routing.get_json()["errors"]
    not_mine = emp.post("/api/v1/me/change-requests", json={"name_en": "Someone Else"})
    assert not_mine.status_code == 422  # only contact and bank details
    with in_department("POLICE"):
        assert db.session.scalar(sa.select(sa.func.count(ChangeRequest.id))) == 0


def test_nothing_to_change_and_one_pending_at_a_time(as_user, people):
    _, ids = people
    emp = as_user("emp")
    current = emp.get(f"/api/v1/hr/employees/{ids['emp']}").get_json()
    same = emp.post("/api/v1/me/change-requests", json={"mobile": current["mobile"]})
    assert same.status_code == 422 and "changes" in same.get_json()["errors"]
    first = emp.post("/api/v1/me/change-requests", json={"mobile": "+971501111111"})
    assert first.status_code == 201
    second = emp.post("/api/v1/me/change-requests", json={"mobile": "+971502222222"})
    assert second.status_code == 422 and "waiting for HR" in str(second.get_json()["errors"])
    withdrawn = emp.post(f"/api/v1/me/change-requests/{first.get_json()['id']}/withdraw")
    assert withdrawn.status_code == 200 and withdrawn.get_json()["state"] == "cancelled"
    assert (
        emp.post("/api/v1/me/change-requests", json={"mobile": "+971502222222"}).status_code == 201
    )


def test_rejection_keeps_the_reason_and_the_record(as_user, people):
    _, ids = people
    request_id = (
        as_user("emp")
        .post("/api/v1/me/change-requests", json={"work_email": "me@home.example.ae"})
        .get_json()["id"]
    )
    hr = as_user("hr1")
    assert hr.post(f"/api/v1/hr/change-requests/{request_id}/reject", json={}).status_code == 422
    rejected = hr.post(
        f"/api/v1/hr/change-requests/{request_id}/reject",
        json={"comment": "Use your work address"},
    )
    assert rejected.status_code == 200
    assert rejected.get_json()["decision_comment"] == "Use your work address"
    record = hr.get(f"/api/v1/hr/employees/{ids['emp']}").get_json()
    assert record["work_email"] != "me@home.example.ae"


def test_colleagues_and_other_departments_get_404(as_user, api_as, people):
    request_id = (
        as_user("emp")
        .post("/api/v1/me/change-requests", json={"mobile": "+971501111111"})
        .get_json()["id"]
    )
    assert as_user("emp").get(f"/api/v1/hr/change-requests/{request_id}").status_code == 200
    colleague = as_user("col")
    assert colleague.get(f"/api/v1/hr/change-requests/{request_id}").status_code == 404
    assert colleague.post(f"/api/v1/me/change-requests/{request_id}/withdraw").status_code == 404
    assert colleague.get("/api/v1/hr/change-requests").status_code == 403
    dm = api_as("hr_officer", "DM")
    assert dm.get(f"/api/v1/hr/change-requests/{request_id}").status_code == 404
    assert dm.post(f"/api/v1/hr/change-requests/{request_id}/approve", json={}).status_code == 404
    assert dm.get("/api/v1/hr/change-requests").get_json()["items"] == []


def test_an_officer_cannot_approve_their_own_request(as_user, people):
    _, ids = people
    request_id = (
        as_user("hr1")
        .post("/api/v1/me/change-requests", json={"mobile": "+971503333333"})
        .get_json()["id"]
    )
    assert (
        as_user("hr1").post(f"/api/v1/hr/change-requests/{request_id}/approve").status_code == 403
    )
    assert (
        as_user("hr2").post(f"/api/v1/hr/change-requests/{request_id}/approve").status_code == 200
    )
    record = as_user("hr2").get(f"/api/v1/hr/employees/{ids['hr1']}").get_json()
    assert record["mobile"] == "+971503333333"


def test_profile_pages(people, app, login, in_department, client_as):
    users, ids = people

    def browser(name):
        client = app.test_client()
        login(client, users[name])
        return client

    emp = browser("emp")
    page = emp.get("/hr/me/profile")
    assert page.status_code == 200 and "Request a change of my details" in page.text
    refused = emp.post("/hr/me/profile", data={"iban": BAD_CHECKSUM_IBANS[1], "mobile": ""})
    assert refused.status_code == 422
    assert 'id="iban-errors"' in refused.text
    sent = emp.post(
        "/hr/me/profile",
        data={"iban": VALID_IBANS[1], "mobile": "+971501234567", "work_email": ""},
    )
    assert sent.status_code == 303
    page = emp.get("/hr/me/profile")
    assert "Pending" in page.text and VALID_IBANS[1] in page.text

    hr = browser("hr1")
    inbox = hr.get("/hr/change-requests")
    assert inbox.status_code == 200 and "Test Person" in inbox.text
    with in_department("POLICE"):
        request_id = db.session.scalar(sa.select(sa.func.max(ChangeRequest.id)))
    detail = hr.get(f"/hr/change-requests/{request_id}")
    assert detail.status_code == 200 and VALID_IBANS[1] in detail.text and "Approve" in detail.text
    no_reason = hr.post(f"/hr/change-requests/{request_id}", data={"reject": "1"})
    assert no_reason.status_code == 422 and "Say why you reject" in no_reason.text
    approved = hr.post(f"/hr/change-requests/{request_id}", data={"approve": "1"})
    assert approved.status_code == 303
    assert "Approved" in emp.get("/hr/me/profile").text
    assert browser("col").get(f"/hr/change-requests/{request_id}").status_code == 404
    assert browser("col").get("/hr/change-requests").status_code == 403
    dm = client_as("hr_officer", "DM")
    assert dm.get(f"/hr/change-requests/{request_id}").status_code == 404
    assert "Test Person" not in dm.get("/hr/change-requests").text
