"""Leave API: types, holidays, balances, requests and their approval, scoped to who may see them."""

from __future__ import annotations

import pytest

from grp.db import db


@pytest.fixture
def as_user(leave_world, api_client):
    def _as(name: str, department: str = "POLICE"):
        return api_client(leave_world.user(name), department)

    return _as


def request_leave(client, start="2026-12-02", end="2026-12-10", code="annual", world=None):
    types = {t["code"]: t["id"] for t in client.get("/api/v1/hr/leave-types").json}
    return client.post(
        "/api/v1/hr/leave-requests",
        json={"leave_type_id": types[code], "start_date": start, "end_date": end},
    )


def test_employee_requests_manager_and_hr_approve(as_user, leave_world):
    emp = as_user("emp")
    created = request_leave(emp)
    assert created.status_code == 201, created.json
    assert created.json["days"] == "5.00" and created.json["state"] == "pending"
    request_id = created.json["id"]

    # HR cannot skip the manager; the manager approves, then HR.
    assert as_user("hr1").post(f"/api/v1/hr/leave-requests/{request_id}/approve").status_code == 403
    manager = as_user("mgr")
    assert manager.get(f"/api/v1/hr/leave-requests/{request_id}").status_code == 200
    assert manager.post(f"/api/v1/hr/leave-requests/{request_id}/approve").status_code == 200
    approved = as_user("hr1").post(f"/api/v1/hr/leave-requests/{request_id}/approve")
    assert approved.status_code == 200 and approved.json["state"] == "approved"

    balances = {b["leave_type"]: b for b in emp.get("/api/v1/me/leave-balances").json}
    assert balances["annual"]["balance"] == "15.00"
    mine = emp.get("/api/v1/me/leave-requests").json
    assert [r["state"] for r in mine["items"]] == ["approved"]
    by_hr = as_user("hr1").get(f"/api/v1/hr/employees/{leave_world.employee_id}/leave-balances")
    assert {b["leave_type"]: b["balance"] for b in by_hr.json}["annual"] == "15.00"


def test_refusals_are_422_with_the_field(as_user):
    emp = as_user("emp")
    assert request_leave(emp).status_code == 201
    overlapping = request_leave(emp, "2026-12-09", "2026-12-11", code="unpaid")
    assert overlapping.status_code == 422
    assert "overlap" in str(overlapping.json["errors"]["start_date"])
    too_long = request_leave(emp, "2026-12-14", "2027-01-29")
    assert too_long.status_code == 422 and "available" in str(too_long.json["errors"]["days"])


def test_rejection_needs_a_reason_and_keeps_it(as_user):
    request_id = request_leave(as_user("emp")).json["id"]
    manager = as_user("mgr")
    assert manager.post(f"/api/v1/hr/leave-requests/{request_id}/reject").status_code == 422
    rejected = manager.post(
        f"/api/v1/hr/leave-requests/{request_id}/reject", json={"comment": "Audit week"}
    )
    assert rejected.status_code == 200
    assert (rejected.json["state"], rejected.json["decision_comment"]) == ("rejected", "Audit week")


def test_cancel_restores_the_balance(as_user):
    emp = as_user("emp")
    request_id = request_leave(emp).json["id"]
    as_user("mgr").post(f"/api/v1/hr/leave-requests/{request_id}/approve")
    as_user("hr1").post(f"/api/v1/hr/leave-requests/{request_id}/approve")
    cancelled = as_user("hr1").post(f"/api/v1/hr/leave-requests/{request_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json["state"] == "cancelled"
    balances = {b["leave_type"]: b for b in emp.get("/api/v1/me/leave-balances").json}
    assert balances["annual"]["balance"] == "20.00"


def test_colleagues_and_other_departments_get_404(as_user, leave_world, create_user, api_client):
    request_id = request_leave(as_user("emp")).json["id"]
    colleague = api_client(create_user("colleague", roles=[("POLICE", "employee")]), "POLICE")
    assert colleague.get(f"/api/v1/hr/leave-requests/{request_id}").status_code == 404
    assert colleague.post(f"/api/v1/hr/leave-requests/{request_id}/cancel").status_code == 404
    assert (
        colleague.get(f"/api/v1/hr/employees/{leave_world.employee_id}/leave-balances").status_code
        == 404
    )
    dm_hr = api_client(create_user("dm.hr", roles=[("DM", "hr_officer")]), "DM")
    assert dm_hr.get(f"/api/v1/hr/leave-requests/{request_id}").status_code == 404
    assert colleague.get("/api/v1/hr/leave-requests").status_code == 403


def test_hr_edits_holidays_and_leave_types(as_user):
    hr = as_user("hr1")
    holidays = hr.get("/api/v1/hr/holidays?year=2026").json
    assert len(holidays) == 12
    national = next(h for h in holidays if h["day"] == "2026-12-03")
    moved = hr.patch(f"/api/v1/hr/holidays/{national['id']}", json={"day": "2026-12-04"})
    assert moved.status_code == 200
    clash = hr.post(
        "/api/v1/hr/holidays", json={"day": "2026-12-02", "name_en": "X", "name_ar": "س"}
    )
    assert clash.status_code == 422 and "day" in clash.json["errors"]
    annual = next(t for t in hr.get("/api/v1/hr/leave-types").json if t["code"] == "annual")
    changed = hr.patch(
        f"/api/v1/hr/leave-types/{annual['id']}",
        json={"entitlement_rules": [{"min_grade": 1, "max_grade": 16, "days": 22}]},
    )
    assert changed.status_code == 200
    assert changed.json["entitlement_rules"] == [{"min_grade": 1, "max_grade": 16, "days": 22.0}]
    assert (
        as_user("emp")
        .post("/api/v1/hr/holidays", json={"day": "2026-12-20", "name_en": "X", "name_ar": "س"})
        .status_code
        == 403
    )
    db.session.rollback()
