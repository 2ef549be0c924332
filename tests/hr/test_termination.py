"""End of service: the gratuity working (DOMAIN.md check), leave settlement, undo, payroll feed."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hr_data import contract_data

from grp.db import db
from grp.errors import ValidationError
from modules.hr.models import Contract, Employee, LeaveRequest, Termination
from modules.hr.services import Settlement, settlements_in_period
from modules.hr.services.leave import ensure_leave_defaults, register_period_lock_check
from modules.hr.services.termination import preview_termination, terminate_employee

D = Decimal
BASE = "/api/v1/hr/employees"
HIRED = date(2019, 1, 1)
#: Exactly 7 years of 365 days, both ends included.
SEVEN_YEARS = HIRED + timedelta(days=7 * 365 - 1)  # 2025-12-29 (2020 and 2024 are leap years)


@pytest.fixture
def officer(api_as, hr_departments):
    return api_as("hr_officer", "POLICE")


@pytest.fixture
def seven_years(make_employee, in_department):
    """A non-national hired 2019-01-01 on basic 10,000, with the leave defaults in POLICE."""
    employee_id = make_employee(
        hire_date=HIRED.isoformat(), contract=contract_data(start_date=HIRED.isoformat())
    )
    with in_department("POLICE"):
        ensure_leave_defaults(db.session)
        db.session.commit()
    return employee_id


def body(last_day=SEVEN_YEARS, reason="resignation", **extra):
    return {"reason": reason, "last_working_day": last_day.isoformat(), **extra}


# --------------------------------------------------------------------------- API


def test_domain_check_basic_10000_for_exactly_7_years_is_55000(officer, seven_years):
    preview = officer.post(f"{BASE}/{seven_years}/termination/preview", json=body())
    assert preview.status_code == 200, preview.get_json()
    result = preview.get_json()
    assert result["gratuity"] == "55000.00"
    working = result["gratuity_working"]
    assert working["service_days"] == 2555 and working["unpaid_days"] == 0
    assert working["entitlement_days"] == "165.00"  # 5 x 21 + 2 x 30
    assert working["cap"] == "240000.00" and working["capped"] is False
    assert working["daily_wage"] == "333.33"
    # No accrual was ever run: 2025's twelve months of 25 days are projected and encashed.
    assert result["leave_days"] == "25.00"
    assert result["leave_working"]["projected_days"] == "25.00"
    assert result["leave_encashment"] == "8333.33"  # 10,000 / 30 x 25
    # A preview stores nothing.
    assert officer.get(f"{BASE}/{seven_years}/termination").status_code == 404
    assert officer.get(f"{BASE}/{seven_years}").get_json()["status"] == "active"


def test_recording_ends_the_contract_and_the_employment(officer, seven_years, in_department):
    created = officer.post(
        f"{BASE}/{seven_years}/termination",
        json=body(notice_date="2025-11-30", reason_text="Moving abroad"),
    )
    assert created.status_code == 201, created.get_json()
    record = created.get_json()
    assert record["gratuity"] == "55000.00" and record["reason"] == "resignation"
    assert record["notice_date"] == "2025-11-30"
    read = officer.get(f"{BASE}/{seven_years}/termination").get_json()
    assert read["gratuity_working"]["service_days"] == 2555
    assert officer.get(f"{BASE}/{seven_years}").get_json()["status"] == "terminated"
    history = officer.get(f"{BASE}/{seven_years}/contracts").get_json()
    assert history[0]["end_date"] == SEVEN_YEARS.isoformat()
    again = officer.post(f"{BASE}/{seven_years}/termination", json=body())
    assert again.status_code == 422 and "employee" in again.get_json()["errors"]
    with in_department("POLICE"):
        settled = settlements_in_period(db.session, date(2025, 12, 1), date(2025, 12, 31))
        assert settled == {
            seven_years: Settlement(
                employee_id=seven_years,
                last_working_day=SEVEN_YEARS,
                gratuity=D("55000.00"),
                leave_days=D("25.00"),
                leave_encashment=D("8333.33"),
            )
        }
        assert settlements_in_period(db.session, date(2026, 1, 1), date(2026, 1, 31)) == {}


def test_a_uae_national_gets_no_gratuity_with_the_reason(officer, make_employee):
    national = make_employee(
        nationality="AE",
        pension_scheme="law_7_1999",
        first_insured_date="2019-01-01",
        hire_date=HIRED.isoformat(),
        contract=contract_data(start_date=HIRED.isoformat()),
    )
    preview = officer.post(f"{BASE}/{national}/termination/preview", json=body())
    assert preview.status_code == 200
    assert preview.get_json()["gratuity"] == "0.00"
    assert preview.get_json()["gratuity_working"]["not_paid_because"] == "uae_national"
    assert preview.get_json()["gratuity_working"]["service_days"] == 2555


def test_under_one_year_gets_no_gratuity(officer, make_employee):
    new = make_employee(hire_date="2026-01-01", contract=contract_data(start_date="2026-01-01"))
    preview = officer.post(
        f"{BASE}/{new}/termination/preview", json=body(date(2026, 12, 30), "end_of_contract")
    )
    assert preview.status_code == 200
    assert preview.get_json()["gratuity"] == "0.00"
    assert preview.get_json()["gratuity_working"]["not_paid_because"] == "under_one_year"


def test_bad_input_is_422_naming_the_field(officer, seven_years):
    url = f"{BASE}/{seven_years}/termination"
    wrong_reason = officer.post(url, json=body(reason="fired"))
    assert wrong_reason.status_code == 422 and "reason" in wrong_reason.get_json()["errors"]
    before_hire = officer.post(url, json=body(date(2018, 12, 31)))
    assert before_hire.status_code == 422
    assert "hire date" in before_hire.get_json()["errors"]["last_working_day"][0]
    other = officer.post(url, json=body(reason="other"))
    assert "reason_text" in other.get_json()["errors"]
    late_notice = officer.post(url, json=body(notice_date="2026-01-05"))
    assert "notice_date" in late_notice.get_json()["errors"]
    not_a_date = officer.post(f"{url}/preview", json=body() | {"last_working_day": "31/13/2025"})
    assert not_a_date.status_code == 422 and "last_working_day" in not_a_date.get_json()["errors"]
    assert officer.get(f"{BASE}/{seven_years}").get_json()["status"] == "active"


def test_another_department_and_other_roles_are_refused(api_as, officer, seven_years):
    dm = api_as("hr_officer", "DM")
    url = f"{BASE}/{seven_years}/termination"
    assert dm.post(f"{url}/preview", json=body()).status_code == 404
    assert dm.post(url, json=body()).status_code == 404
    assert officer.post(url, json=body()).status_code == 201
    assert dm.get(url).status_code == 404
    assert dm.delete(url).status_code == 404
    payroll = api_as("payroll_officer", "POLICE")
    assert payroll.post(url, json=body()).status_code == 403
    assert api_as("employee", "POLICE").get(url).status_code == 403


def test_undo_restores_status_and_contract_until_payroll_locks_it(officer, seven_years, app):
    url = f"{BASE}/{seven_years}/termination"
    officer.post(url, json=body())
    assert officer.delete(url).status_code == 204
    assert officer.get(url).status_code == 404
    assert officer.get(f"{BASE}/{seven_years}").get_json()["status"] == "active"
    assert officer.get(f"{BASE}/{seven_years}/contracts").get_json()[0]["end_date"] is None
    officer.post(url, json=body())
    register_period_lock_check(app, lambda session, employee, start, end: "December 2025 is paid")
    refused = officer.delete(url)
    assert refused.status_code == 422
    assert "December 2025 is paid" in refused.get_json()["errors"]["termination"][0]
    assert officer.get(f"{BASE}/{seven_years}").get_json()["status"] == "terminated"


# --------------------------------------------------------------------------- service


def test_later_contract_versions_are_removed_and_restored(
    make_employee, in_department, create_user
):
    from modules.hr.services.contracts import create_contract_version
    from modules.hr.services.termination import find_termination, undo_termination

    employee_id = make_employee()
    hr = create_user("hr.term", roles=[("POLICE", "hr_officer")])
    with in_department("POLICE"):
        employee = db.session.get(Employee, employee_id)
        create_contract_version(
            db.session,
            employee,
            {"start_date": "2027-01-01", "basic_salary": "12000.00", "grade": 9, "band": 1},
        )
        db.session.commit()
        assert employee.grade.number == 9
        terminate_employee(
            db.session, employee, reason="retirement", last_working_day="2026-12-31", actor=hr
        )
        db.session.commit()
        versions = db.session.scalars(
            sa.select(Contract).where(Contract.employee_id == employee_id)
        ).all()
        assert [(v.version, v.end_date) for v in versions] == [(1, date(2026, 12, 31))]
        assert employee.grade.number == 8  # the version left in force
        undo_termination(db.session, find_termination(db.session, employee))
        db.session.commit()
        db.session.expire_all()
        versions = db.session.scalars(
            sa.select(Contract)
            .where(Contract.employee_id == employee_id)
            .order_by(Contract.version)
        ).all()
        assert [(v.version, v.end_date, v.basic_salary) for v in versions] == [
            (1, date(2026, 12, 31), D("10000.00")),
            (2, None, D("12000.00")),
        ]
        assert db.session.get(Employee, employee_id).grade.number == 9
        assert db.session.scalar(sa.select(sa.func.count(Termination.id))) == 0


def test_unpaid_leave_and_later_requests(leave_world):
    from grp.workflow.approvals import decide
    from grp.workflow.approvals.models import ApprovalRequest
    from modules.hr.gratuity import gratuity_between

    unpaid = leave_world.request(date(2026, 11, 30), date(2026, 12, 4), code="unpaid")
    for approver in ("mgr", "hr1"):
        approval = db.session.get(ApprovalRequest, unpaid.approval_request_id)
        decide(db.session, approval, actor=leave_world.user(approver), approve=True)
        db.session.commit()
    later = leave_world.request(date(2026, 12, 14), date(2026, 12, 18))
    employee = leave_world.employee()
    last_day = date(2026, 12, 11)
    across = leave_world.request(date(2026, 12, 10), date(2026, 12, 11), code="study")
    assert across.state == "pending"
    with pytest.raises(ValidationError) as refused:
        preview_termination(
            db.session, employee, reason="resignation", last_working_day="2026-12-10"
        )
    assert "runs past this day" in refused.value.errors["last_working_day"][0]

    preview = preview_termination(
        db.session, employee, reason="resignation", last_working_day=last_day
    )
    assert preview.gratuity_working["unpaid_days"] == 5  # calendar days 30 Nov - 4 Dec
    expected = gratuity_between(D("10000.00"), date(2015, 3, 1), last_day, 5)
    assert preview.gratuity == expected.amount
    assert preview.cancelled_requests == [later.id]
    # 20 opening days plus 2026's twelve projected months of 25 days.
    assert preview.leave_days == D("45.00") and preview.leave_encashment == D("15000.00")

    record = terminate_employee(
        db.session,
        employee,
        reason="resignation",
        last_working_day=last_day,
        actor=leave_world.user("hr1"),
    )
    db.session.commit()
    assert db.session.get(LeaveRequest, later.id).state == "cancelled"
    assert db.session.get(LeaveRequest, across.id).state == "pending"  # ends on the last day
    assert record.leave_days == D("45.00")
    assert leave_world.employee().status == "terminated"


# --------------------------------------------------------------------------- page


def test_the_screen_previews_then_confirms(client_as, seven_years):
    officer = client_as("hr_officer", "POLICE")
    url = f"/hr/employees/{seven_years}/termination"
    page = officer.get(url)
    assert page.status_code == 200 and "Calculate" in page.text
    assert "Confirm the termination" not in page.text
    form = {"reason": "resignation", "last_working_day": SEVEN_YEARS.isoformat()}
    preview = officer.post(url, data={**form, "preview": "1"})
    assert preview.status_code == 200
    assert "55,000.00" in preview.text and "2555" in preview.text
    assert "Confirm the termination" in preview.text
    refused = officer.post(
        url, data={"reason": "", "last_working_day": "2018-01-01", "submit": "1"}
    )
    assert refused.status_code == 422
    assert "Choose one of" in refused.text and "before the hire date" in refused.text
    confirmed = officer.post(url, data={**form, "submit": "1"})
    assert confirmed.status_code == 303
    shown = officer.get(url)
    assert "55,000.00" in shown.text and "Undo the termination" in shown.text
    assert client_as("hr_officer", "DM").get(url).status_code == 404
    undone = officer.post(f"{url}/undo")
    assert undone.status_code == 303
    assert "Calculate" in officer.get(url).text


def test_the_screen_in_arabic_shows_the_national_reason(client_as, make_employee):
    national = make_employee(
        nationality="AE", pension_scheme="law_7_1999", first_insured_date="2019-01-01"
    )
    officer = client_as("hr_officer", "POLICE", language="ar")
    preview = officer.post(
        f"/hr/employees/{national}/termination",
        data={"reason": "retirement", "last_working_day": "2026-06-30", "preview": "1"},
    )
    assert preview.status_code == 200
    assert 'dir="rtl"' in preview.text
    assert "لا مكافأة نهاية خدمة" in preview.text  # "No gratuity: ..." in Arabic
