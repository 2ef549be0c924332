"""Review before approval (variance, joiners/leavers/excluded) and the reports, with numbers.

Two months of POLICE (default contract: basic 10,000 + general 10,000 + housing 2,500):

* A (E00001, org unit OPS): the same both months, net 22,500.00;
* B (E00002, OPS): a raise to basic 12,000 from 1 November: net 24,500.00;
* C (E00003): UAE national, Decree-Law 57/2023, DOMAIN.md's worked example
  (basic 20,000, housing 8,000, transport 2,000, social 3,000): pension
  3,410.00 / 4,650.00 on 31,000.00, net 29,590.00;
* D (E00004): contract ends 15 November: half a month, net 11,250.00;
* E (E00005): joins 16 November: half a month, net 11,250.00;
* F (E00006): contract ended 31 October: paid in October only;
* G (E00007): excluded from the November run;
* H (E00008): UAE national, Law 7/1999: pension 5 % / 15 % of 12,500.00.

October is approved; November is computed (and approved for the YTD test).
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from payroll_data import uae_national

D = Decimal
WORKED_EXAMPLE = {
    "start_date": "2024-01-01",
    "basic_salary": "20000.00",
    "housing_allowance": "8000.00",
    "transport_allowance": "2000.00",
    "social_allowance": "3000.00",
    "general_allowance": "0.00",
}


@pytest.fixture
def officers(create_user, payroll_departments):
    return (
        create_user(username="rep.maker", roles=[("POLICE", "payroll_officer")]),
        create_user(username="rep.checker", roles=[("POLICE", "payroll_officer")]),
    )


@pytest.fixture
def months(db_session, in_department, make_employee, officers):
    """Employees A–H, October approved and November computed; their ids and the run ids."""
    from modules.hr.models import Employee
    from modules.hr.services import create_contract_version
    from modules.hr.services.organisation import create_org_unit
    from modules.payroll.services import approve_run, compute_run, create_run, exclude_employee

    maker, checker = officers
    with in_department("POLICE"):
        unit = create_org_unit(
            db_session, {"code": "OPS", "name_en": "Operations", "name_ar": "العمليات"}
        )
        db_session.commit()
        unit_id = unit.id
    ids = {
        "A": make_employee(number=1, org_unit_id=unit_id),
        "B": make_employee(number=2, org_unit_id=unit_id),
        "C": make_employee(number=3, grade=12, band=2, contract=WORKED_EXAMPLE, **uae_national()),
        "D": make_employee(number=4, contract={"end_date": "2026-11-15"}),
        "E": make_employee(number=5, hire_date="2026-11-16", contract={"start_date": "2026-11-16"}),
        "F": make_employee(number=6, contract={"end_date": "2026-10-31"}),
        "G": make_employee(number=7),
        "H": make_employee(
            number=8,
            **uae_national(
                pension_scheme="law_7_1999", first_insured_date="2010-01-01", hire_date="2010-01-01"
            ),
        ),
    }
    with in_department("POLICE"):
        october = create_run(db_session, "2026-10")
        compute_run(db_session, october, maker)
        approve_run(db_session, october, checker)
        employee_b = db_session.get(Employee, ids["B"])
        create_contract_version(
            db_session,
            employee_b,
            {
                "start_date": "2026-11-01",
                "basic_salary": "12000.00",
                "general_allowance": "10000.00",
                "housing_allowance": "2500.00",
            },
        )
        november = create_run(db_session, "2026-11")
        exclude_employee(db_session, november, ids["G"])
        compute_run(db_session, november, maker)
        db_session.commit()
        assert october.errors == [] and november.errors == []
        return {**ids, "october": october.id, "november": november.id, "unit": unit_id}


def _run(db_session, run_id):
    from modules.payroll.services import find_run

    return find_run(db_session, run_id)


def test_variance_flags_changes_above_ten_percent(db_session, in_department, months):
    from modules.payroll.services.reports import Thresholds, variance_report

    with in_department("POLICE"):
        report = variance_report(db_session, _run(db_session, months["november"]))
    assert report.previous.id == months["october"]
    assert report.thresholds == Thresholds(percent=D("10"), amount=None)
    components = {c.code: c for c in report.components}
    basic = components["basic"]
    # October: 7 × 10,000 + C's 20,000; November: A 10,000, B 12,000, C 20,000, D and E half, H.
    assert (basic.previous, basic.current) == (D("80000.00"), D("62000.00"))
    assert basic.difference == D("-18000.00") and basic.percent == D("-22.5")
    assert basic.flagged
    assert not components["pension_employee"].flagged  # C 3,410 + H 625 both months
    assert components["pension_employee"].current == D("4035.00")
    assert report.totals["employee_count"].previous == 7
    assert report.totals["employee_count"].current == 6
    # B's basic rose 20 % (flagged) though the net rose 8.9 % only; D's net halved.
    assert [e.employee_no for e in report.employees] == ["E00002", "E00004"]
    b, d = report.employees
    assert (b.previous, b.current, b.percent, b.flagged) == (
        D("22500.00"),
        D("24500.00"),
        D("8.9"),
        False,
    )
    assert [(c.code, c.previous, c.current, c.flagged) for c in b.components] == [
        ("basic", D("10000.00"), D("12000.00"), True)
    ]
    assert (d.current, d.percent, d.flagged) == (D("11250.00"), D("-50.0"), True)
    assert {c.code for c in d.components} == {"basic", "general", "housing"}
    assert report.employee_count == 2 and not report.truncated


def test_variance_thresholds_are_configurable(db_session, in_department, months, app):
    from modules.payroll.services.reports import configured_thresholds, variance_report

    with in_department("POLICE"):
        run = _run(db_session, months["november"])
        above_25 = variance_report(db_session, run, configured_thresholds("25"))
        assert [e.employee_no for e in above_25.employees] == ["E00004"]
        by_amount = variance_report(db_session, run, configured_thresholds("", "1999.99"))
        assert [e.employee_no for e in by_amount.employees] == ["E00002", "E00004"]
        by_more = variance_report(db_session, run, configured_thresholds("", "2000.00"))
        assert [e.employee_no for e in by_more.employees] == ["E00004"]
        everyone = variance_report(db_session, run, flagged_only=False)
        assert [e.employee_no for e in everyone.employees] == ["E00002", "E00004"]
        limited = variance_report(db_session, run, limit=1)
        assert limited.employee_count == 2 and limited.truncated
        app.config["PAYROLL_VARIANCE_PERCENT"] = "50"
        assert [e.employee_no for e in variance_report(db_session, run).employees] == []


def test_thresholds_refuse_bad_values():
    from grp.errors import ValidationError
    from modules.payroll.services.reports import Thresholds, parse_threshold

    with pytest.raises(ValidationError) as caught:
        parse_threshold("ten", "threshold")
    assert "threshold" in caught.value.errors
    with pytest.raises(ValidationError):
        parse_threshold("-1", "amount")
    rule = Thresholds(percent=D("10"))
    assert not rule.flags(D("100.00"), D("110.00"))  # exactly 10 %: not above
    assert rule.flags(D("100.00"), D("110.01"))
    assert rule.flags(D("0.00"), D("0.01"))  # from nothing
    assert not rule.flags(D("5.00"), D("5.00"))


def test_first_month_has_nothing_to_compare(db_session, in_department, months):
    from modules.payroll.services.reports import run_changes, variance_report

    with in_department("POLICE"):
        october = _run(db_session, months["october"])
        report = variance_report(db_session, october)
        changes = run_changes(db_session, october)
    assert report.previous is None and report.employees == []
    assert {c.code for c in report.components} >= {"basic", "pension_employee"}
    # Without an earlier run, joiners are those whose pay starts after the 1st: none.
    assert changes.joiners == [] and changes.previous is None


def test_joiners_leavers_and_excluded(db_session, in_department, months):
    from modules.payroll.services.reports import run_changes

    with in_department("POLICE"):
        report = run_changes(db_session, _run(db_session, months["november"]))
    assert [(p.employee_no, p.reason, str(p.pay_start)) for p in report.joiners] == [
        ("E00005", "new", "2026-11-16")
    ]
    assert report.joiners[0].net == D("11250.00")
    assert [(p.employee_no, p.reason, str(p.pay_end)) for p in report.leavers] == [
        ("E00004", "leaving", "2026-11-15"),
        ("E00006", "gone", "2026-10-31"),
    ]
    assert [(p.employee_no, p.name_en, p.reason) for p in report.excluded] == [
        ("E00007", "Test Person 7", "excluded")
    ]


def _rows(table):
    return [dict(zip(table.columns, row, strict=True)) for row in table.rows]


def test_register_component_and_org_unit_totals(db_session, in_department, months):
    from modules.payroll.services.reports import (
        component_totals_table,
        org_unit_table,
        register_table,
    )

    with in_department("POLICE"):
        run = _run(db_session, months["november"])
        register = _rows(register_table(db_session, run))
        components = {row["code"]: row for row in _rows(component_totals_table(db_session, run))}
        units = _rows(org_unit_table(db_session, run))
        total_net = run.total_net
    assert [row["employee_no"] for row in register] == [
        "E00001",
        "E00002",
        "E00003",
        "E00004",
        "E00005",
        "E00008",
    ]
    b = register[1]
    assert (b["basic"], b["general"], b["housing"], b["net"]) == (
        D("12000.00"),
        D("10000.00"),
        D("2500.00"),
        D("24500.00"),
    )
    assert b["pension_employee"] is None and b["paid_days"] == 30
    c = register[2]
    assert (c["pension_employee"], c["pension_employer"], c["net"]) == (
        D("3410.00"),
        D("4650.00"),
        D("29590.00"),
    )
    assert sum(row["net"] for row in register) == total_net
    assert components["basic"]["amount"] == D("62000.00")
    assert components["basic"]["employees"] == 6
    assert components["pension_employer"]["amount"] == D("6525.00")  # 4,650 + 1,875
    ops, rest = units
    assert (ops["org_unit_code"], ops["org_unit_name_ar"], ops["employees"]) == (
        "OPS",
        "العمليات",
        2,
    )
    assert (ops["total_earnings"], ops["net"], ops["basic"]) == (
        D("47000.00"),
        D("47000.00"),
        D("22000.00"),
    )
    assert (rest["org_unit_code"], rest["employees"], rest["basic"]) == ("", 4, D("40000.00"))


def test_org_unit_totals_keep_the_unit_of_the_run_after_a_transfer(
    db_session, in_department, months
):
    """Payslips record the org unit when computed; moving the employee later changes nothing."""
    import sqlalchemy as sa

    from modules.hr.models import Employee
    from modules.payroll.services.reports import org_unit_table

    with in_department("POLICE"):
        run = _run(db_session, months["november"])
        for employee in db_session.scalars(
            sa.select(Employee).where(Employee.org_unit_id.is_not(None))
        ):
            employee.org_unit_id = None
        db_session.flush()
        units = _rows(org_unit_table(db_session, run))
    assert [(row["org_unit_code"], row["employees"]) for row in units] == [("OPS", 2), ("", 4)]


def test_pension_per_scheme(db_session, in_department, months):
    from modules.payroll.services.reports import pension_table

    with in_department("POLICE"):
        rows = _rows(pension_table(db_session, _run(db_session, months["november"])))
    assert rows == [
        {
            "scheme": "law_57_2023",
            "employees": 1,
            "contribution_salary": D("31000.00"),
            "employee_share": D("3410.00"),
            "employer_share": D("4650.00"),
            "total": D("8060.00"),
        },
        {
            "scheme": "law_7_1999",
            "employees": 1,
            "contribution_salary": D("12500.00"),
            "employee_share": D("625.00"),
            "employer_share": D("1875.00"),
            "total": D("2500.00"),
        },
    ]


def test_year_to_date_sums_approved_runs_only(db_session, in_department, months, officers):
    from modules.payroll.services import approve_run, compute_run, create_run
    from modules.payroll.services.reports import ytd_employee_count, ytd_table

    with in_department("POLICE"):
        before = {row["employee_no"]: row for row in _rows(ytd_table(db_session, 2026))}
        assert before["E00001"]["net"] == D("22500.00")  # only October is approved
        assert "E00005" not in before
        approve_run(db_session, _run(db_session, months["november"]), officers[1])
        december = create_run(db_session, "2026-12")
        compute_run(db_session, december, officers[0])  # computed, not approved: left out
        db_session.commit()
        rows = {row["employee_no"]: row for row in _rows(ytd_table(db_session, 2026))}
        assert ytd_employee_count(db_session, 2026) == 8
        page = _rows(ytd_table(db_session, 2026, offset=2, limit=2))
        assert _rows(ytd_table(db_session, 2025)) == []
    assert [row["employee_no"] for row in page] == ["E00003", "E00004"]
    a, b, c = rows["E00001"], rows["E00002"], rows["E00003"]
    assert (a["payslips"], a["basic"], a["general"], a["net"]) == (
        2,
        D("20000.00"),
        D("20000.00"),
        D("45000.00"),
    )
    assert (b["basic"], b["net"]) == (D("22000.00"), D("47000.00"))
    assert (c["pension_employee"], c["pension_employer"], c["total_employer"]) == (
        D("6820.00"),
        D("9300.00"),
        D("9300.00"),
    )
    assert rows["E00006"]["payslips"] == 1 and rows["E00007"]["payslips"] == 1


# --------------------------------------------------------------------------- API


@pytest.fixture
def maker_api(officers, api_client):
    return api_client(officers[0], "POLICE")


def test_api_variance_and_changes(months, maker_api, api_as):
    base = f"/api/v1/payroll/runs/{months['november']}"
    variance = maker_api.get(f"{base}/variance")
    assert variance.status_code == 200, variance.json
    body = variance.json
    assert body["previous_run_id"] == months["october"] and body["threshold_percent"] == "10"
    assert [e["employee_no"] for e in body["employees"]] == ["E00002", "E00004"]
    assert body["employees"][0]["components"][0] == {
        "code": "basic",
        "name_en": "Basic salary",
        "name_ar": "الراتب الأساسي",
        "category": "earning",
        "previous": "10000.00",
        "current": "12000.00",
        "difference": "2000.00",
        "percent": "20.0",
        "flagged": True,
    }
    assert body["totals"]["net"]["flagged"] is True
    assert [
        e["employee_no"] for e in maker_api.get(f"{base}/variance?threshold=25").json["employees"]
    ] == ["E00004"]
    bad = maker_api.get(f"{base}/variance?threshold=lots")
    assert bad.status_code == 422 and "threshold" in bad.json["errors"]

    changes = maker_api.get(f"{base}/changes").json
    assert [p["employee_no"] for p in changes["joiners"]] == ["E00005"]
    assert [(p["employee_no"], p["reason"]) for p in changes["leavers"]] == [
        ("E00004", "leaving"),
        ("E00006", "gone"),
    ]
    assert changes["excluded"][0]["name_ar"] == "موظف تجريبي 7"

    other = api_as("payroll_officer", "DM")
    assert other.get(f"{base}/variance").status_code == 404
    assert other.get(f"{base}/changes").status_code == 404
    assert other.get(f"{base}/reports/register.csv").status_code == 404
    employee = api_as("employee", "POLICE")
    assert employee.get(f"{base}/variance").status_code == 403
    assert employee.get(f"{base}/reports/components.csv").status_code == 403


def _csv(response):
    with response:
        text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def test_api_report_downloads(months, maker_api):
    from openpyxl import load_workbook

    base = f"/api/v1/payroll/runs/{months['november']}"
    register = maker_api.get(f"{base}/reports/register.csv")
    assert register.status_code == 200 and register.mimetype == "text/csv"
    rows = _csv(register)
    assert [row["net"] for row in rows] == [
        "22500.00",
        "24500.00",
        "29590.00",
        "11250.00",
        "11250.00",
        "21875.00",
    ]
    assert rows[2]["pension_employee"] == "3410.00" and rows[0]["pension_employee"] == ""

    with maker_api.get(f"{base}/register.xlsx") as xlsx:
        assert xlsx.status_code == 200
        content = xlsx.data
    workbook = load_workbook(io.BytesIO(content))
    table = [list(row) for row in workbook.active.iter_rows(values_only=True)]
    assert workbook.active.cell(row=2, column=len(table[0]) - 1).number_format == "0.00"
    header = table[0]
    assert header == list(rows[0].keys())
    net = header.index("net")
    assert [Decimal(str(row[net])).quantize(D("0.01")) for row in table[1:]] == [
        D(row["net"]) for row in rows
    ]
    with maker_api.get(f"{base}/reports/register.xlsx") as same:
        assert same.status_code == 200 and same.data.startswith(b"PK")

    pension = _csv(maker_api.get(f"{base}/reports/pension.csv"))
    assert pension[0] == {
        "scheme": "law_57_2023",
        "employees": "1",
        "contribution_salary": "31000.00",
        "employee_share": "3410.00",
        "employer_share": "4650.00",
        "total": "8060.00",
    }
    units = _csv(maker_api.get(f"{base}/reports/org-units.csv"))
    assert units[0]["org_unit_code"] == "OPS" and units[0]["net"] == "47000.00"
    with maker_api.get(f"{base}/reports/components.xlsx") as components:
        assert components.status_code == 200
    assert maker_api.get(f"{base}/reports/nonsense.csv").status_code == 404
    assert maker_api.get(f"{base}/reports/register.pdf").status_code == 404

    ytd = _csv(maker_api.get("/api/v1/payroll/reports/ytd.csv?year=2026"))
    assert [row["employee_no"] for row in ytd][:2] == ["E00001", "E00002"]
    assert ytd[0]["net"] == "22500.00" and ytd[0]["payslips"] == "1"
    with maker_api.get("/api/v1/payroll/reports/ytd.xlsx?year=2026") as ytd_xlsx:
        assert ytd_xlsx.status_code == 200
    assert maker_api.get("/api/v1/payroll/reports/ytd.csv").status_code == 422
