"""Leave pages: self-service request with the counted days, cancel, the team, HR's lists."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from grp.db import db
from modules.hr.models import LeaveRequest
from modules.hr.services import leave as leave_services


@pytest.fixture
def browse(leave_world, app, login):
    def _as(name: str):
        client = app.test_client()
        login(client, leave_world.user(name))
        return client

    return _as


def form(world, start="2026-12-02", end="2026-12-10", **extra):
    data = {
        "leave_type_id": str(world.leave_type("annual").id),
        "start_date": start,
        "end_date": end,
        "reason": "Family visit",
    }
    data.update(extra)
    return data


def test_the_form_counts_the_days_before_sending(browse, leave_world):
    emp = browse("emp")
    page = emp.get("/hr/leave/")
    assert page.status_code == 200
    assert "20.00" in page.get_data(as_text=True)
    preview = emp.post("/hr/leave/new", data=form(leave_world, preview="1"))
    assert preview.status_code == 200
    assert "These dates count 5 days of leave." in preview.get_data(as_text=True)
    sent = emp.post("/hr/leave/new", data=form(leave_world, submit="1"))
    assert sent.status_code == 303
    page = emp.get("/hr/leave/").get_data(as_text=True)
    assert "Pending" in page and "2026-12-02" in page


def test_refusals_show_the_reason_on_the_form(browse, leave_world):
    emp = browse("emp")
    emp.post("/hr/leave/new", data=form(leave_world, submit="1"))
    again = emp.post("/hr/leave/new", data=form(leave_world, submit="1"))
    assert again.status_code == 200
    assert "overlap" in again.get_data(as_text=True)


def _on(monkeypatch, day: date) -> None:
    """Make `day` today in Dubai for the leave rules (the form's dates are fixed)."""
    monkeypatch.setattr(leave_services, "local_today", lambda: day)


def test_the_employee_cancels_a_pending_request(browse, leave_world, monkeypatch):
    _on(monkeypatch, date(2026, 12, 1))  # the day before the leave starts
    emp = browse("emp")
    emp.post("/hr/leave/new", data=form(leave_world, submit="1"))
    request_id = db.session.scalar(sa.select(sa.func.max(LeaveRequest.id)))
    cancelled = emp.post(f"/hr/leave/requests/{request_id}/cancel")
    assert cancelled.status_code == 303
    assert "Cancelled" in emp.get("/hr/leave/").get_data(as_text=True)


def test_a_started_leave_is_not_cancelled_by_the_employee(browse, leave_world, monkeypatch):
    _on(monkeypatch, date(2026, 12, 2))  # its first day
    emp = browse("emp")
    emp.post("/hr/leave/new", data=form(leave_world, submit="1"))
    request_id = db.session.scalar(sa.select(sa.func.max(LeaveRequest.id)))
    refused = emp.post(f"/hr/leave/requests/{request_id}/cancel", follow_redirects=True)
    assert "A leave that has started can only be cancelled by HR." in refused.get_data(as_text=True)
    assert db.session.get(LeaveRequest, request_id).state == "pending"


def test_the_manager_sees_the_team_and_the_inbox(browse, leave_world):
    browse("emp").post("/hr/leave/new", data=form(leave_world, submit="1"))
    manager = browse("mgr")
    team = manager.get("/hr/leave/team").get_data(as_text=True)
    assert "2026-12-02" in team and "/approvals" in team
    inbox = manager.get("/approvals").get_data(as_text=True)
    assert "Leave request" in inbox or "Annual leave" in inbox


def test_hr_pages(browse, leave_world):
    hr = browse("hr1")
    browse("emp").post("/hr/leave/new", data=form(leave_world, submit="1"))
    assert "2026-12-02" in hr.get("/hr/leave/requests").get_data(as_text=True)
    holidays = hr.get("/hr/leave/holidays?year=2026").get_data(as_text=True)
    assert "National Day" in holidays
    added = hr.post(
        "/hr/leave/holidays",
        data={"day": "2026-12-31", "name_en": "Year end", "name_ar": "نهاية العام"},
    )
    assert added.status_code == 303
    assert "Year end" in hr.get("/hr/leave/holidays?year=2026").get_data(as_text=True)
    annual = leave_world.leave_type("annual")
    assert hr.get(f"/hr/leave/types/{annual.id}/edit").status_code == 200
    saved = hr.post(
        f"/hr/leave/types/{annual.id}/edit",
        data={
            "name_en": "Annual leave",
            "name_ar": "إجازة سنوية",
            "paid": "y",
            "day_basis": "working",
            "balance_limited": "y",
            "accrual": "monthly",
            "entitlement_rules": "12-16:32, 4-11:25, 1-3:18",
            "carry_forward_cap": "30",
            "is_active": "y",
        },
    )
    assert saved.status_code == 303
    db.session.expire_all()
    assert leave_world.leave_type("annual").yearly_days(14) == 32
    assert browse("emp").get("/hr/leave/requests").status_code == 403


def test_an_approval_the_balance_no_longer_covers_is_refused_on_the_page(browse, leave_world):
    from grp.workflow.approvals import decide
    from grp.workflow.approvals.models import ApprovalRequest
    from modules.hr.services.leave import adjust_balance

    browse("emp").post("/hr/leave/new", data=form(leave_world, submit="1"))
    leave_request = db.session.scalar(sa.select(LeaveRequest))
    approval = db.session.get(ApprovalRequest, leave_request.approval_request_id)
    decide(db.session, approval, actor=leave_world.user("mgr"), approve=True)
    adjust_balance(
        db.session, leave_world.employee(), leave_world.leave_type("annual"), "-18", "correction"
    )
    db.session.commit()
    hr = browse("hr1")
    refused = hr.post(f"/approvals/{approval.id}/decide", data={"approve": "1"})
    assert refused.status_code == 303
    page = hr.get(f"/approvals/{approval.id}").get_data(as_text=True)
    assert "The balance no longer covers this request" in page
    db.session.expire_all()
    assert db.session.get(LeaveRequest, leave_request.id).state == "pending"
