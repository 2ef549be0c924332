"""Payroll officer and finance pages: runs, progress, maker-checker, payslips, review, reports."""

from __future__ import annotations

import html

import pytest
import sqlalchemy as sa
from runs_data import payslip_snapshot, run_in_state


@pytest.fixture
def staff(create_user, login, app, payroll_departments):
    """Signed-in browsers of two POLICE payroll officers and a finance officer."""

    def browser(username, role):
        user = create_user(username=username, roles=[("POLICE", role)])
        client = app.test_client()
        login(client, user)
        client.user = user
        return client

    return {
        "maker": browser("page.maker", "payroll_officer"),
        "checker": browser("page.checker", "payroll_officer"),
        "finance": browser("page.finance", "finance_officer"),
    }


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def errors_of(page: str, field: str) -> str:
    if f'id="{field}-errors"' not in page:
        return ""
    return page.split(f'id="{field}-errors"')[1].split("</ul>")[0]


def _run_id(db_session, in_department, period="2026-11"):
    from modules.payroll.models import PayrollRun
    from modules.payroll.services.runs import parse_period

    with in_department("POLICE"):
        run_id = db_session.scalar(
            sa.select(PayrollRun.id).where(PayrollRun.period == parse_period(period))
        )
        db_session.rollback()
        return run_id


def _state(db_session, in_department, run_id):
    from modules.payroll.services import find_run

    db_session.expire_all()
    with in_department("POLICE"):
        state = find_run(db_session, run_id).state
        db_session.rollback()
        return state


def test_create_compute_approve_post_and_pay_through_the_pages(
    app, db_session, in_department, make_employee, staff
):
    from grp.workflow.jobs.worker import run_embedded_worker

    make_employee()
    make_employee()
    maker, checker, finance = staff["maker"], staff["checker"], staff["finance"]
    listing = maker.get("/payroll/runs")
    assert listing.status_code == 200
    assert "New run" in text_of(listing) and 'href="/payroll/runs"' in text_of(listing)

    created = maker.post("/payroll/runs", data={"period": "2026-11", "kind": "regular"})
    assert created.status_code == 303
    run_id = _run_id(db_session, in_department)
    assert created.headers["Location"].endswith(f"/payroll/runs/{run_id}")
    twice = maker.post("/payroll/runs", data={"period": "2026-11", "kind": "regular"})
    assert twice.status_code == 422
    assert "regular run for this month already" in errors_of(text_of(twice), "period")
    bad = maker.post("/payroll/runs", data={"period": "November", "kind": "regular"})
    assert bad.status_code == 422 and "2026-11" in errors_of(text_of(bad), "period")

    assert maker.post(f"/payroll/runs/{run_id}/compute").status_code == 303
    running = text_of(maker.get(f"/payroll/runs/{run_id}"))
    assert '<meta http-equiv="refresh" content="3">' in running
    assert "<progress" in running and 'data-testid="job-state">Queued' in running
    assert "Compute again" not in running and ">Compute<" not in running
    assert run_embedded_worker(app, once=True) == 1

    done = text_of(maker.get(f"/payroll/runs/{run_id}"))
    assert 'http-equiv="refresh"' not in done
    assert 'data-testid="run-state">Computed' in done
    assert 'data-testid="total-net">45,000.00' in done
    assert "E00001" in done and "E00002" in done
    # The maker does not get an Approve button, but the reason.
    assert ">Approve<" not in done and "another payroll officer must approve it" in done
    refused = maker.post(f"/payroll/runs/{run_id}/approve", follow_redirects=True)
    assert "another payroll officer must approve it" in text_of(refused)
    assert _state(db_session, in_department, run_id) == "computed"
    # Finance reads runs but neither computes nor approves.
    finance_view = text_of(finance.get(f"/payroll/runs/{run_id}"))
    assert ">Approve<" not in finance_view and ">Compute again<" not in finance_view
    assert finance.post(f"/payroll/runs/{run_id}/approve").status_code == 403

    assert ">Approve<" in text_of(checker.get(f"/payroll/runs/{run_id}"))
    approved = checker.post(f"/payroll/runs/{run_id}/approve", follow_redirects=True)
    assert "The run is approved" in text_of(approved)
    assert _state(db_session, in_department, run_id) == "approved"

    page = text_of(finance.get(f"/payroll/runs/{run_id}"))
    assert "Post to the ledger" in page and "WPS salary file" in page
    assert finance.post(f"/payroll/runs/{run_id}/mark-paid").status_code == 303
    assert _state(db_session, in_department, run_id) == "approved"  # not posted yet
    assert finance.post(f"/payroll/runs/{run_id}/post").status_code == 303
    assert _state(db_session, in_department, run_id) == "posted"
    paid = finance.post(f"/payroll/runs/{run_id}/mark-paid", follow_redirects=True)
    assert "The run is marked paid" in text_of(paid)
    assert _state(db_session, in_department, run_id) == "paid"
    final = text_of(finance.get(f"/payroll/runs/{run_id}"))
    assert "Marked paid by" in final and "Page.Finance" in final


def test_a_locked_run_refuses_every_change_from_the_pages(
    db_session, in_department, make_employee, staff
):
    employee = make_employee()
    maker, checker = staff["maker"], staff["checker"]
    run_id = run_in_state(
        db_session, in_department, "approved", maker=maker.user, checker=checker.user
    )
    before = payslip_snapshot(db_session, in_department, run_id)
    base = f"/payroll/runs/{run_id}"
    for path, data in (
        (f"{base}/compute", {}),
        (f"{base}/exclude", {"employee_id": str(employee)}),
        (f"{base}/unpaid-days", {"employee_no": "E00001", "unpaid_days": "2"}),
        (f"{base}/approve", {}),
    ):
        for client in (maker, checker):
            response = client.post(path, data=data)
            assert response.status_code in (303, 422), path
            assert payslip_snapshot(db_session, in_department, run_id) == before, path
    page = text_of(checker.get(base))
    assert "can no longer change" in page and "Unpaid days" not in page
    assert _state(db_session, in_department, run_id) == "approved"


def test_errors_can_be_excluded_and_unpaid_days_entered(
    db_session, in_department, make_employee, staff
):
    from modules.payroll.services import compute_run, find_run

    make_employee()
    joiner = make_employee(hire_date="2026-11-16", contract={"start_date": "2026-11-16"})
    maker = staff["maker"]
    maker.post("/payroll/runs", data={"period": "2026-11", "kind": "regular"})
    run_id = _run_id(db_session, in_department)

    unknown = maker.post(
        f"/payroll/runs/{run_id}/unpaid-days", data={"employee_no": "X999", "unpaid_days": "1"}
    )
    assert unknown.status_code == 422
    assert "No employee has this number" in errors_of(text_of(unknown), "employee_no")
    too_many = maker.post(
        f"/payroll/runs/{run_id}/unpaid-days", data={"employee_no": "E00002", "unpaid_days": "40"}
    )
    assert too_many.status_code == 422 and errors_of(text_of(too_many), "unpaid_days")
    # 20 unpaid days for someone in contract 15 days of the month: an error on the run.
    saved = maker.post(
        f"/payroll/runs/{run_id}/unpaid-days",
        data={"employee_no": "E00002", "unpaid_days": "20"},
        follow_redirects=True,
    )
    assert "20 unpaid days are recorded for E00002" in text_of(saved)
    with in_department("POLICE"):
        compute_run(db_session, find_run(db_session, run_id), maker.user)
        db_session.commit()
    page = text_of(maker.get(f"/payroll/runs/{run_id}"))
    assert "Employees with errors" in page and "unpaid days (20) exceed" in page
    assert "Fix or exclude the employees with errors" not in page  # the maker sees maker-checker
    checker_page = text_of(staff["checker"].get(f"/payroll/runs/{run_id}"))
    assert "Fix or exclude the employees with errors" in checker_page
    assert ">Approve<" not in checker_page

    excluded = maker.post(
        f"/payroll/runs/{run_id}/exclude",
        data={"employee_id": str(joiner)},
        follow_redirects=True,
    )
    assert "The employee is excluded from this run" in text_of(excluded)
    with in_department("POLICE"):
        run = find_run(db_session, run_id)
        assert run.errors == [] and run.excluded_employee_ids == [joiner]
        db_session.rollback()
    assert ">Approve<" in text_of(staff["checker"].get(f"/payroll/runs/{run_id}"))
    changes = text_of(maker.get(f"/payroll/runs/{run_id}/changes"))
    assert "E00002" in changes.split('data-testid="excluded"')[1]


def test_payslips_are_paginated_and_searched_in_sql(
    db_session, in_department, make_employee, staff, monkeypatch
):
    for number in range(1, 6):
        make_employee(number=number)
    run_id = run_in_state(db_session, in_department, "computed", maker=staff["maker"].user)
    monkeypatch.setattr("modules.payroll.views.PAYSLIPS_PER_PAGE", 2)
    page2 = text_of(staff["checker"].get(f"/payroll/runs/{run_id}?page=2"))
    assert "5 payslips found" in page2 and "Page 2 of 3" in page2
    table = page2.split('data-testid="payslips"')[1]
    assert "E00003" in table and "E00004" in table and "E00001" not in table
    found = text_of(staff["checker"].get(f"/payroll/runs/{run_id}?q=person 5"))
    assert "1 payslips found" in found and "E00005" in found.split('data-testid="payslips"')[1]
    arabic = text_of(staff["checker"].get(f"/payroll/runs/{run_id}?q=تجريبي 4"))
    assert "E00004" in arabic.split('data-testid="payslips"')[1]


def test_payslip_page_explains_every_line_in_both_languages(
    db_session, in_department, make_employee, staff, client_as
):
    from modules.payroll.models import Payslip

    make_employee(hire_date="2026-11-16", contract={"start_date": "2026-11-16"})
    run_id = run_in_state(db_session, in_department, "computed", maker=staff["maker"].user)
    with in_department("POLICE"):
        slip_id = db_session.scalar(sa.select(Payslip.id).where(Payslip.run_id == run_id))
        db_session.rollback()
    page = text_of(staff["finance"].get(f"/payroll/payslips/{slip_id}"))
    assert "Basic salary" in page and "الراتب الأساسي" in page
    assert "Monthly amount from the contract × 15/30 days (paid / calendar)" in page
    assert "المبلغ الشهري من العقد × 15/30 يوماً" in page
    assert 'data-testid="payslip-net">11,250.00' in page
    assert client_as("payroll_officer", "DM").get(f"/payroll/payslips/{slip_id}").status_code == 404
    assert client_as("employee", "POLICE").get(f"/payroll/payslips/{slip_id}").status_code == 403


def test_payslip_page_read_is_audited(db_session, in_department, make_employee, staff):
    from grp.models import AuditEntry

    make_employee()
    run_id = run_in_state(db_session, in_department, "computed", maker=staff["maker"].user)
    from modules.payroll.models import Payslip

    with in_department("POLICE"):
        slip_id = db_session.scalar(sa.select(Payslip.id).where(Payslip.run_id == run_id))
        db_session.rollback()
    assert staff["checker"].get(f"/payroll/payslips/{slip_id}").status_code == 200
    entries = db_session.execute(
        sa.select(AuditEntry.action, AuditEntry.entity_id).where(
            AuditEntry.action == "payroll.payslip.read"
        )
    ).all()
    assert entries == [("payroll.payslip.read", str(slip_id))]


def test_pages_of_another_department_are_404_and_need_permissions(
    db_session, in_department, make_employee, staff, client_as
):
    make_employee()
    run_id = run_in_state(db_session, in_department, "computed", maker=staff["maker"].user)
    pages = [
        f"/payroll/runs/{run_id}",
        f"/payroll/runs/{run_id}/variance",
        f"/payroll/runs/{run_id}/changes",
        f"/payroll/runs/{run_id}/reports",
        f"/payroll/runs/{run_id}/reports/register.csv",
        f"/payroll/runs/{run_id}/wps",
    ]
    other = client_as("payroll_officer", "DM")
    for path in pages:
        assert other.get(path).status_code == 404, path
    for path in (f"/payroll/runs/{run_id}/compute", f"/payroll/runs/{run_id}/approve"):
        assert other.post(path).status_code == 404, path
    employee = client_as("employee", "POLICE")
    for path in [*pages, "/payroll/runs", "/payroll/components", "/payroll/ytd"]:
        assert employee.get(path).status_code == 403, path
    assert employee.post("/payroll/runs", data={"period": "2026-12"}).status_code == 403
    # Finance reads reports but not the per-employee register without payslip access? It has it.
    assert staff["finance"].get(f"/payroll/runs/{run_id}/reports/register.csv").status_code == 200
    menu = text_of(staff["finance"].get("/payroll/runs"))
    assert 'href="/payroll/runs"' in menu and 'href="/payroll/ytd"' in menu
    assert "New run" not in menu


def _two_months(db_session, in_department, make_employee, staff):
    from modules.hr.models import Employee
    from modules.hr.services import create_contract_version

    make_employee(number=1, bank_routing_code="803320101", wps_person_id="00000012345678")
    raised = make_employee(number=2, bank_routing_code="803320101", wps_person_id="00000012345679")
    maker, checker = staff["maker"].user, staff["checker"].user
    october = run_in_state(
        db_session, in_department, "approved", maker=maker, checker=checker, period="2026-10"
    )
    with in_department("POLICE"):
        create_contract_version(
            db_session,
            db_session.get(Employee, raised),
            {
                "start_date": "2026-11-01",
                "basic_salary": "12000.00",
                "general_allowance": "10000.00",
                "housing_allowance": "2500.00",
            },
        )
        db_session.commit()
    november = run_in_state(db_session, in_department, "approved", maker=maker, checker=checker)
    return october, november


def test_review_and_report_pages(db_session, in_department, make_employee, staff):
    _, november = _two_months(db_session, in_department, make_employee, staff)
    client = staff["finance"]
    variance = text_of(client.get(f"/payroll/runs/{november}/variance"))
    employees = variance.split('data-testid="variance-employees"')[1]
    assert "E00002" in employees and "E00001" not in employees
    assert "10,000.00 → 12,000.00 (+20.0%)" in employees
    assert "+2,000.00" in variance.split('data-testid="variance-components"')[1]
    high = text_of(client.get(f"/payroll/runs/{november}/variance?threshold=25"))
    assert 'data-testid="variance-employees"' not in high
    bad = client.get(f"/payroll/runs/{november}/variance?threshold=lots")
    assert bad.status_code == 200 and "A number of 0 or more" in errors_of(
        text_of(bad), "threshold"
    )

    reports = text_of(client.get(f"/payroll/runs/{november}/reports"))
    components = reports.split('data-testid="report-components"')[1].split("</table>")[0]
    assert "22,000.00" in components  # basic: 10,000 + 12,000
    assert "Totals per org unit" in reports and "Pension contributions per scheme" in reports
    with client.get(f"/payroll/runs/{november}/reports/register.csv") as csv_file:
        assert csv_file.status_code == 200
        body = csv_file.get_data(as_text=True)
    assert "E00002" in body and "24500.00" in body
    with client.get(f"/payroll/runs/{november}/reports/components.xlsx") as xlsx:
        assert xlsx.status_code == 200 and xlsx.data.startswith(b"PK")
    assert client.get(f"/payroll/runs/{november}/reports/nope.csv").status_code == 404

    with client.get(f"/payroll/runs/{november}/wps") as sif:
        assert sif.status_code == 200, sif.get_data(as_text=True)[:500]
        lines = sif.get_data(as_text=True).strip().split("\r\n")
    assert [line.split(",")[0] for line in lines] == ["EDR", "EDR", "SCR"]
    assert lines[-1].split(",")[7] == "47000.00"

    ytd = text_of(client.get("/payroll/ytd?year=2026"))
    table = ytd.split('data-testid="ytd"')[1]
    assert "45,000.00" in table and "47,000.00" in table  # A: 2 × 22,500; B: 22,500 + 24,500
    with client.get("/payroll/ytd.csv?year=2026") as ytd_csv:
        assert "45000.00" in ytd_csv.get_data(as_text=True)


def test_wps_page_lists_employees_without_bank_data(
    db_session, in_department, make_employee, staff
):
    make_employee()  # no WPS person id nor routing code
    run_id = run_in_state(
        db_session,
        in_department,
        "approved",
        maker=staff["maker"].user,
        checker=staff["checker"].user,
    )
    response = staff["finance"].get(f"/payroll/runs/{run_id}/wps")
    assert response.status_code == 409
    table = text_of(response).split('data-testid="wps-exceptions"')[1]
    assert "E00001" in table and "wps_person_id" in table and "bank_routing_code" in table
    draft = run_in_state(
        db_session, in_department, "computed", maker=staff["maker"].user, period="2026-12"
    )
    not_yet = staff["finance"].get(f"/payroll/runs/{draft}/wps")
    assert not_yet.status_code == 409 and "Only an approved run" in text_of(not_yet)


def test_components_and_rules_pages(staff, payroll_departments, client_as):
    maker = staff["maker"]
    listing = text_of(maker.get("/payroll/components"))
    assert "Basic salary" in listing and "PENSIONABLE" in listing and "New component" in listing
    created = maker.post(
        "/payroll/components/new",
        data={
            "code": "fuel",
            "name_en": "Fuel allowance",
            "name_ar": "بدل الوقود",
            "category": "earning",
            "wps_kind": "fixed",
            "display_order": "95",
            "prorated": "y",
            "is_active": "y",
        },
    )
    assert created.status_code == 303
    again = maker.post(
        "/payroll/components/new",
        data={
            "code": "fuel",
            "name_en": "Fuel",
            "name_ar": "وقود",
            "category": "earning",
            "wps_kind": "fixed",
            "display_order": "95",
        },
    )
    assert again.status_code == 200 and "exists" in errors_of(text_of(again), "code")
    component_id = int(text_of(maker.get("/payroll/components")).split('id="c-')[-1].split('"')[0])
    bad_rule = maker.post(
        f"/payroll/components/{component_id}/rules/new",
        data={"kind": "formula", "priority": "10", "formula": "BASIC * * 2", "is_active": "y"},
    )
    assert bad_rule.status_code == 200
    assert "(at character 9)" in errors_of(text_of(bad_rule), "formula")
    good_rule = maker.post(
        f"/payroll/components/{component_id}/rules/new",
        data={"kind": "formula", "priority": "10", "formula": "BASIC * 5%", "is_active": "y"},
    )
    assert good_rule.status_code == 303
    page = text_of(maker.get("/payroll/components"))
    assert "BASIC * 5%" in page
    rule_id = int(page.split("/payroll/rules/")[-1].split("/edit")[0])
    table_rule = maker.post(
        f"/payroll/rules/{rule_id}/edit",
        data={
            "kind": "grade_table",
            "priority": "10",
            "grade_amounts": "12 1500",
            "is_active": "y",
        },
    )
    assert "12=1500.00" in errors_of(text_of(table_rule), "grade_amounts")
    saved = maker.post(
        f"/payroll/rules/{rule_id}/edit",
        data={
            "kind": "grade_table",
            "priority": "10",
            "grade_amounts": "12=1500\n8=900.50",
            "is_active": "y",
        },
    )
    assert saved.status_code == 303
    edit = text_of(maker.get(f"/payroll/rules/{rule_id}/edit"))
    assert "8=900.50\n12=1500.00" in edit
    renamed = maker.post(
        f"/payroll/components/{component_id}/edit",
        data={
            "code": "ignored",
            "name_en": "Fuel allowance (monthly)",
            "name_ar": "بدل الوقود",
            "category": "earning",
            "wps_kind": "fixed",
            "display_order": "96",
        },
    )
    assert renamed.status_code == 303
    assert "Fuel allowance (monthly)" in text_of(maker.get("/payroll/components"))
    finance = client_as("finance_officer", "POLICE")
    assert finance.get("/payroll/components").status_code == 200
    assert finance.get("/payroll/components/new").status_code == 403
    other = client_as("payroll_officer", "DM")
    assert other.get(f"/payroll/components/{component_id}/edit").status_code == 404
    assert other.get(f"/payroll/rules/{rule_id}/edit").status_code == 404


def test_pages_render_in_arabic(db_session, in_department, make_employee, staff):
    make_employee()
    run_id = run_in_state(db_session, in_department, "computed", maker=staff["maker"].user)
    client = staff["checker"]
    client.post("/language", data={"language": "ar", "next": "/payroll/runs"})
    page = text_of(client.get(f"/payroll/runs/{run_id}"))
    assert 'dir="rtl"' in page and "موافقة" in page
    for path in ("/payroll/runs", f"/payroll/runs/{run_id}/variance", "/payroll/components"):
        assert client.get(path).status_code == 200, path
