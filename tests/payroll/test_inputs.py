"""One-off inputs, loans, imports, HR's unpaid leave and period lock, GCC pension."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from payroll_data import approved_run, lines_by_code, payslip_of, uae_national

from grp.errors import ValidationError

D = Decimal


@pytest.fixture
def officers(create_user):
    """Two payroll officers of POLICE: one computes, the other approves."""
    return (
        create_user(username="in.maker", roles=[("POLICE", "payroll_officer")]),
        create_user(username="in.checker", roles=[("POLICE", "payroll_officer")]),
    )


def _computed(db_session, officers, period="2026-11"):
    from modules.payroll.services import compute_run, create_run

    run = create_run(db_session, period)
    compute_run(db_session, run, officers[0])
    db_session.commit()
    return run


# --------------------------------------------------------------------------- inputs


def test_inputs_become_explained_payslip_lines(db_session, make_employee, in_department, officers):
    from modules.payroll.services import add_input

    employee = make_employee(number=7)  # E00007: basic 10,000 + general 10,000 + housing 2,500
    with in_department("POLICE"):
        for component, amount, note in (
            ("overtime", "500.00", "12 hours on 3 November"),
            ("overtime", "250.00", "6 hours on 10 November"),
            ("other_deduction", "200.00", "Canteen"),
        ):
            add_input(
                db_session,
                {
                    "period": "2026-11",
                    "employee_no": "e00007",
                    "component": component,
                    "amount": amount,
                    "note": note,
                },
                actor=officers[0],
            )
        add_input(  # another month: not in November's run
            db_session,
            {
                "period": "2026-12",
                "employee_id": employee,
                "component": "other_earning",
                "amount": "99.00",
            },
            actor=officers[0],
        )
        db_session.commit()
        run = _computed(db_session, officers)
        slip = payslip_of(db_session, run, employee)
        lines = lines_by_code(slip)
        overtime = lines["overtime"]
        assert overtime.amount == D("750.00") and overtime.rule_kind == "input"
        assert overtime.explanation == "12 hours on 3 November; 6 hours on 10 November"
        assert overtime.wps_kind == "variable" and overtime.category == "earning"
        assert lines["other_deduction"].amount == D("200.00")
        assert lines["other_deduction"].explanation == "Canteen"
        assert "other_earning" not in lines
        assert slip.net == D("23050.00")  # 22,500 + 750 − 200
        assert (slip.fixed_income, slip.variable_income) == (D("22500.00"), D("550.00"))
        assert run.total_net == D("23050.00")


def test_input_validation_names_the_field(db_session, make_employee, in_department, officers):
    from modules.payroll.services import add_input

    make_employee(number=3)
    cases = [
        ({"employee_no": "E99999"}, "employee_no", "No employee has the number E99999."),
        ({"component": "basic"}, "component", "basic is not an input component"),
        ({"component": "gratuity"}, "component", "gratuity is not an input component"),
        ({"amount": "0"}, "amount", "The amount must be above zero."),
        ({"amount": "-5.00"}, "amount", "The amount must be above zero."),
        ({"amount": "1.005"}, "amount", "Use at most two decimals (fils)."),
        ({"period": "2026-13"}, "period", "A month such as 2026-11."),
        ({"period": "November"}, "period", "A month such as 2026-11."),
    ]
    with in_department("POLICE"):
        for change, field, message in cases:
            data = {
                "period": "2026-11",
                "employee_no": "E00003",
                "component": "overtime",
                "amount": "100.00",
                **change,
            }
            with pytest.raises(ValidationError) as refused:
                add_input(db_session, data, actor=officers[0])
            assert list(refused.value.errors) == [field], change
            assert message in refused.value.errors[field][0], refused.value.errors


def test_inputs_of_an_approved_month_are_locked(db_session, make_employee, in_department, officers):
    from modules.payroll.models import PayrollInput
    from modules.payroll.services import InputsLocked, add_input, delete_input

    make_employee(number=4)
    data = {
        "period": "2026-11",
        "employee_no": "E00004",
        "component": "overtime",
        "amount": "100.00",
    }
    with in_department("POLICE"):
        item = add_input(db_session, data, actor=officers[0])
        db_session.commit()
        approved_run(db_session, "2026-11", *officers)
        with pytest.raises(InputsLocked, match="2026-11 is approved"):
            add_input(db_session, data, actor=officers[0])
        with pytest.raises(InputsLocked):
            delete_input(db_session, db_session.get(PayrollInput, item.id))
        db_session.rollback()
        # December is open.
        add_input(db_session, {**data, "period": "2026-12"}, actor=officers[0])


# --------------------------------------------------------------------------- loans


def test_a_loan_is_repaid_in_instalments(db_session, make_employee, in_department, officers):
    from modules.payroll.models import PayrollRun
    from modules.payroll.services import compute_run, create_loan, create_run

    employee = make_employee(number=5)
    with in_department("POLICE"):
        loan = create_loan(
            db_session,
            {
                "employee_no": "E00005",
                "principal": "1000.00",
                "instalment": "300.00",
                "first_period": "2026-11",
                "note": "Car",
            },
            actor=officers[0],
        )
        db_session.commit()
        assert (loan.instalment_count, f"{loan.last_period:%Y-%m}") == (4, "2027-02")
        seen = {}
        for period in ("2026-10", "2026-11", "2027-01", "2027-02", "2027-03"):
            run = create_run(db_session, period)
            compute_run(db_session, run, officers[0])
            seen[period] = lines_by_code(payslip_of(db_session, run, employee)).get("loan")
        assert seen["2026-10"] is None and seen["2027-03"] is None
        assert seen["2026-11"].amount == D("300.00")
        assert seen["2026-11"].explanation == (
            f"Loan {loan.id}: instalment 1 of 4, balance after 700.00"
        )
        assert seen["2027-01"].explanation.endswith("instalment 3 of 4, balance after 100.00")
        assert seen["2027-02"].amount == D("100.00")  # the last one is the rest
        assert seen["2027-02"].category == "deduction" and seen["2027-02"].wps_kind == "variable"
        assert db_session.scalar(sa.select(sa.func.count(PayrollRun.id))) == 5


def test_a_loan_by_number_of_instalments_and_its_errors(
    db_session, make_employee, in_department, officers
):
    from modules.payroll.services import create_loan

    make_employee(number=6)
    with in_department("POLICE"):
        loan = create_loan(
            db_session,
            {
                "employee_no": "E00006",
                "principal": "1000.00",
                "instalments": 3,
                "first_period": "2026-11",
            },
            actor=officers[0],
        )
        # 333.34 rounded up, so three instalments repay it: 333.34, 333.34, 333.32.
        assert (loan.instalment, loan.instalment_count) == (D("333.34"), 3)
        assert loan.amount_of(3) == D("333.32")
        with pytest.raises(ValidationError) as refused:
            create_loan(
                db_session,
                {"employee_no": "nobody", "principal": "-1", "first_period": "x"},
                actor=officers[0],
            )
        assert set(refused.value.errors) == {
            "employee_no",
            "principal",
            "first_period",
            "instalment",
        }
        with pytest.raises(ValidationError) as refused:
            create_loan(
                db_session,
                {
                    "employee_no": "E00006",
                    "principal": "100.00",
                    "instalment": "200.00",
                    "first_period": "2026-11",
                },
                actor=officers[0],
            )
        assert refused.value.errors == {
            "instalment": ["The instalment cannot exceed the principal."]
        }


# --------------------------------------------------------------------------- import


CSV_OK = "employee_no,component,amount,note\nE00011,overtime,750.00,12 hours\nE00012,loan,100,\n"
CSV_BAD = (
    "Employee No,Component,Amount,Note\n"
    "E00011,overtime,750.00,fine\n"
    "E99999,overtime,10,unknown employee\n"
    "\n"
    "E00012,basic,10,not an input\n"
    "E00012,other_deduction,0,zero\n"
    "E00012,other_deduction,abc,not a number\n"
)


def _import(db_session, text, mode, period="2026-11", name="inputs.csv"):
    from modules.payroll.services import import_inputs

    data = text.encode() if isinstance(text, str) else text
    return import_inputs(db_session, period, name, io.BytesIO(data), mode=mode)


def test_import_reports_every_bad_row_and_stores_only_when_asked(
    db_session, make_employee, in_department
):
    from modules.payroll.models import PayrollInput

    make_employee(number=11)
    make_employee(number=12)
    count = sa.select(sa.func.count(PayrollInput.id))
    with in_department("POLICE"):
        report = _import(db_session, CSV_BAD, "dry_run")
        assert (report.rows, report.valid, report.stored) == (5, 1, 0)
        problems = {p.line: (p.employee_no, p.errors) for p in report.problems}
        assert sorted(problems) == [3, 5, 6, 7]
        assert problems[3] == ("E99999", {"employee_no": ["No employee has the number E99999."]})
        assert list(problems[5][1]) == ["component"]
        assert problems[6][1] == {"amount": ["The amount must be above zero."]}
        assert problems[7][1] == {"amount": ["Enter an amount such as 12500.00."]}
        assert db_session.scalar(count) == 0
        assert _import(db_session, CSV_BAD, "all").stored == 0
        assert db_session.scalar(count) == 0
        assert _import(db_session, CSV_BAD, "valid_rows").stored == 1
        assert _import(db_session, CSV_OK, "all").stored == 2
        db_session.commit()
        items = db_session.scalars(sa.select(PayrollInput).order_by(PayrollInput.id)).all()
        assert [(i.component_code, i.amount, i.source, i.note) for i in items] == [
            ("overtime", D("750.00"), "import", "fine"),
            ("overtime", D("750.00"), "import", "12 hours"),
            ("loan", D("100.00"), "import", ""),
        ]
        assert {f"{i.period:%Y-%m}" for i in items} == {"2026-11"}


def test_import_from_xlsx_and_unreadable_files(db_session, make_employee, in_department):
    from openpyxl import Workbook

    from modules.payroll.services.inputs import ImportFileError

    make_employee(number=11)
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["employee_no", "component", "amount", "note"])
    sheet.append(["E00011", "other_earning", 1250.5, "Bonus"])
    sheet.append(["E00011", "overtime", 0.125, "three decimals"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    with in_department("POLICE"):
        report = _import(db_session, buffer.getvalue(), "valid_rows", name="inputs.xlsx")
        assert (report.rows, report.stored) == (2, 1)
        assert report.problems[0].line == 3
        assert report.problems[0].errors == {"amount": ["Use at most two decimals (fils)."]}
        with pytest.raises(ImportFileError, match="Missing columns: amount"):
            _import(db_session, "employee_no,component\nE00011,overtime\n", "dry_run")
        with pytest.raises(ImportFileError, match=r"\.csv or \.xlsx"):
            _import(db_session, CSV_OK, "dry_run", name="inputs.txt")
        with pytest.raises(ValidationError):
            _import(db_session, CSV_OK, "dry_run", period="2026/11")


# --------------------------------------------------------------------------- API


@pytest.fixture
def api_officers(create_user, api_client, payroll_departments):
    maker = create_user(username="api.in.maker", roles=[("POLICE", "payroll_officer")])
    checker = create_user(username="api.in.checker", roles=[("POLICE", "payroll_officer")])
    return api_client(maker, "POLICE"), api_client(checker, "POLICE")


def test_inputs_api(api_officers, make_employee, api_as):
    maker, checker = api_officers
    employee = make_employee(number=21)
    created = maker.post(
        "/api/v1/payroll/inputs",
        json={
            "period": "2026-11",
            "employee_no": "E00021",
            "component": "overtime",
            "amount": "300.00",
            "note": "Weekend",
        },
    )
    assert created.status_code == 201, created.json
    assert created.json["period"] == "2026-11" and created.json["amount"] == "300.00"
    assert created.json["employee_id"] == employee and created.json["source"] == "manual"
    bad = maker.post(
        "/api/v1/payroll/inputs",
        json={"period": "2026-11", "employee_no": "E99999", "component": "basic", "amount": "0"},
    )
    assert bad.status_code == 422
    assert set(bad.json["errors"]) == {"employee_no", "component", "amount"}
    listed = maker.get("/api/v1/payroll/inputs?period=2026-11&employee_no=E00021").json
    assert listed["total"] == 1 and listed["items"][0]["note"] == "Weekend"
    assert maker.get("/api/v1/payroll/inputs?period=2026-12").json["total"] == 0

    spare = maker.post(
        "/api/v1/payroll/inputs",
        json={
            "period": "2026-11",
            "employee_id": employee,
            "component": "other_earning",
            "amount": "5.00",
        },
    ).json["id"]
    assert maker.delete(f"/api/v1/payroll/inputs/{spare}").status_code == 204
    assert maker.delete(f"/api/v1/payroll/inputs/{spare}").status_code == 404

    other = api_as("payroll_officer", "DM")
    assert other.get("/api/v1/payroll/inputs").json["total"] == 0
    assert other.delete(f"/api/v1/payroll/inputs/{created.json['id']}").status_code == 404

    upload = maker.post(
        "/api/v1/payroll/inputs/import",
        data={
            "period": "2026-11",
            "dry_run": "false",
            "file": (
                io.BytesIO(b"employee_no,component,amount\nE00021,loan,50\nX,loan,1\n"),
                "in.csv",
            ),
        },
        content_type="multipart/form-data",
    )
    assert upload.status_code == 422
    assert upload.json["errors"]["rows"][0]["line"] == 3
    checked = maker.post(
        "/api/v1/payroll/inputs/import",
        data={
            "period": "2026-11",
            "file": (io.BytesIO(b"employee_no,component,amount\nX,loan,1\n"), "in.csv"),
        },
        content_type="multipart/form-data",
    )
    assert checked.status_code == 200 and checked.json["mode"] == "dry_run"
    assert checked.json["problems"][0]["errors"]["employee_no"]
    stored = maker.post(
        "/api/v1/payroll/inputs/import",
        data={
            "period": "2026-11",
            "dry_run": "false",
            "valid_only": "true",
            "file": (
                io.BytesIO(b"employee_no,component,amount\nE00021,loan,50\nX,loan,1\n"),
                "in.csv",
            ),
        },
        content_type="multipart/form-data",
    )
    assert stored.status_code == 200 and stored.json["stored"] == 1

    run = maker.post("/api/v1/payroll/runs", json={"period": "2026-11"}).json["id"]
    maker.post(f"/api/v1/payroll/runs/{run}/compute?sync=1")
    assert checker.post(f"/api/v1/payroll/runs/{run}/approve").status_code == 200
    slip_id = maker.get(f"/api/v1/payroll/runs/{run}/payslips").json["items"][0]["id"]
    lines = {
        line["component_code"]: line
        for line in maker.get(f"/api/v1/payroll/payslips/{slip_id}").json["lines"]
    }
    assert lines["overtime"]["explanation"] == "Weekend" and lines["loan"]["amount"] == "50.00"
    locked = maker.delete(f"/api/v1/payroll/inputs/{created.json['id']}")
    assert locked.status_code == 409
    again = maker.post(
        "/api/v1/payroll/inputs",
        json={
            "period": "2026-11",
            "employee_id": employee,
            "component": "overtime",
            "amount": "1.00",
        },
    )
    assert again.status_code == 409


def test_loans_api(api_officers, make_employee, api_as):
    maker, _ = api_officers
    employee = make_employee(number=22)
    created = maker.post(
        "/api/v1/payroll/loans",
        json={
            "employee_no": "E00022",
            "principal": "5000.00",
            "instalment": "1000.00",
            "first_period": "2026-12",
        },
    )
    assert created.status_code == 201, created.json
    assert created.json["instalment_count"] == 5 and created.json["last_period"] == "2027-04"
    bad = maker.post(
        "/api/v1/payroll/loans",
        json={"employee_id": employee, "principal": "5000.00", "first_period": "2026-12"},
    )
    assert bad.status_code == 422 and "instalment" in bad.json["errors"]
    assert maker.get(f"/api/v1/payroll/loans?employee_id={employee}").json["total"] == 1
    assert api_as("payroll_officer", "DM").get("/api/v1/payroll/loans").json["total"] == 0


# --------------------------------------------------------------------------- pages


def test_inputs_page_adds_checks_and_imports(client_as, make_employee, payroll_departments):
    make_employee(number=31)
    client = client_as("payroll_officer", "POLICE")
    page = client.get("/payroll/inputs/?period=2026-11")
    assert page.status_code == 200
    assert "No input for this month." in page.get_data(as_text=True)
    refused = client.post(
        "/payroll/inputs/?period=2026-11",
        data={"employee_no": "E99999", "component": "overtime", "amount": "10.00"},
    )
    assert refused.status_code == 422
    assert "No employee has the number E99999." in refused.get_data(as_text=True)
    added = client.post(
        "/payroll/inputs/?period=2026-11",
        data={
            "employee_no": "E00031",
            "component": "overtime",
            "amount": "75.00",
            "note": "Night shift",
        },
    )
    assert added.status_code == 303
    listed = client.get("/payroll/inputs/?period=2026-11").get_data(as_text=True)
    assert "Night shift" in listed and "75.00" in listed
    # Listed by employee number, with the employee's number and name (read from HR).
    make_employee(number=30, name_en="Early Number")
    client.post(
        "/payroll/inputs/?period=2026-11",
        data={"employee_no": "E00030", "component": "overtime", "amount": "5.00"},
    )
    listed = client.get("/payroll/inputs/?period=2026-11").get_data(as_text=True)
    assert "Early Number" in listed
    assert listed.index("E00030") < listed.index("E00031")

    checked = client.post(
        "/payroll/inputs/import?period=2026-11",
        data={
            "file": (
                io.BytesIO(b"employee_no,component,amount\nE00031,loan,20\nX,loan,1\n"),
                "in.csv",
            )
        },
        content_type="multipart/form-data",
    )
    text = checked.get_data(as_text=True)
    assert checked.status_code == 200 and "No employee has the number X." in text
    token = text.split('name="token" value="')[1].split('"')[0]
    confirmed = client.post(
        "/payroll/inputs/import/confirm", data={"token": token, "mode": "valid_rows"}
    )
    assert confirmed.status_code == 303
    assert "20.00" in client.get("/payroll/inputs/?period=2026-11").get_data(as_text=True)
    loans = client.get("/payroll/inputs/loans")
    assert loans.status_code == 200
    granted = client.post(
        "/payroll/inputs/loans",
        data={
            "employee_no": "E00031",
            "principal": "900.00",
            "instalments": "3",
            "first_period": "2026-12",
        },
    )
    assert granted.status_code == 303
    loans_page = client.get("/payroll/inputs/loans").get_data(as_text=True)
    assert "300.00" in loans_page and "E00031" in loans_page


def test_inputs_pages_need_the_permission(client_as, payroll_departments):
    assert client_as("employee", "POLICE").get("/payroll/inputs/").status_code == 403


# --------------------------------------------------------------------------- HR's unpaid leave


def _approved_unpaid_leave(db_session, employee_id, start, end, days):
    from modules.hr.models import LeaveRequest, LeaveType
    from modules.hr.services.leave import ensure_leave_defaults

    ensure_leave_defaults(db_session, approval_policy=False)
    unpaid = db_session.scalar(sa.select(LeaveType).where(LeaveType.code == "unpaid"))
    db_session.add(
        LeaveRequest(
            employee_id=employee_id,
            leave_type_id=unpaid.id,
            start_date=start,
            end_date=end,
            days=D(days),
            state="approved",
        )
    )
    db_session.commit()


def test_unpaid_leave_comes_from_hr_and_a_manual_entry_overrides_it(
    db_session, make_employee, in_department, officers
):
    from modules.payroll.services import compute_run, create_run, set_unpaid_days

    on_leave = make_employee(number=41)
    overridden = make_employee(number=42)
    with in_department("POLICE"):
        # Monday 9 to Wednesday 11 November 2026: 3 working days of unpaid leave.
        _approved_unpaid_leave(db_session, on_leave, date(2026, 11, 9), date(2026, 11, 11), "3")
        _approved_unpaid_leave(db_session, overridden, date(2026, 11, 30), date(2026, 12, 4), "5")
        run = create_run(db_session, "2026-11")
        set_unpaid_days(db_session, run, overridden, 0)
        compute_run(db_session, run, officers[0])
        slip = payslip_of(db_session, run, on_leave)
        assert slip.unpaid_days == 3 and slip.paid_days == 27
        assert lines_by_code(slip)["unpaid_leave"].amount == D("2250.00")  # 22,500 × 3 / 30
        assert slip.net == D("20250.00")
        other = payslip_of(db_session, run, overridden)
        assert other.unpaid_days == 0 and "unpaid_leave" not in lines_by_code(other)


def test_hr_refuses_leave_in_an_approved_payroll_month(
    db_session, make_employee, in_department, officers, create_user
):
    from modules.hr.models import Employee, LeaveType
    from modules.hr.services.leave import create_leave_request, ensure_leave_defaults

    user = create_user(username="leave.emp", roles=[("POLICE", "employee")])
    employee_id = make_employee(number=43, user_id=user.id)
    with in_department("POLICE"):
        ensure_leave_defaults(db_session)
        approved_run(db_session, "2026-11", *officers)
        unpaid = db_session.scalar(sa.select(LeaveType).where(LeaveType.code == "unpaid"))

        def request(start, end):
            return create_leave_request(
                db_session,
                db_session.get(Employee, employee_id),
                {"leave_type_id": unpaid.id, "start_date": start, "end_date": end},
                actor=user,
            )

        with pytest.raises(ValidationError) as refused:
            request("2026-11-30", "2026-12-01")
        assert refused.value.errors.get("start_date") == [
            "These dates fall in a locked payroll period: the payroll of 2026-11 is approved."
        ]
        db_session.rollback()
        # December is open (the request then fails later only for want of a manager to route to).
        with pytest.raises(ValidationError) as routed:
            request("2026-12-07", "2026-12-08")
        assert "start_date" not in routed.value.errors
        assert "no manager" in routed.value.errors["leave_type_id"][0]


# --------------------------------------------------------------------------- GCC pension


def test_gcc_nationals_pay_their_home_scheme_and_uae_nationals_do_not(
    db_session, make_employee, in_department, officers
):
    gcc = make_employee(number=51, nationality="SA")
    uae = make_employee(number=52, contract={"start_date": "2024-01-01"}, **uae_national())
    with in_department("POLICE"):
        run = _computed(db_session, officers)
        gcc_lines = lines_by_code(payslip_of(db_session, run, gcc))
        # Pensionable: basic 10,000 + housing 2,500; placeholder rates 7% and 12.5%.
        assert gcc_lines["gcc_pension_employee"].base == D("12500.00")
        assert gcc_lines["gcc_pension_employee"].amount == D("875.00")
        assert gcc_lines["gcc_pension_employee"].rate == "7%"
        assert gcc_lines["gcc_pension_employer"].amount == D("1562.50")
        assert "pension_employee" not in gcc_lines
        uae_lines = lines_by_code(payslip_of(db_session, run, uae))
        assert "gcc_pension_employee" not in uae_lines and "gcc_pension_employer" not in uae_lines
        assert uae_lines["pension_employee"].amount == D("1375.00")  # 11% of 12,500


def test_the_import_endpoint_is_documented_as_multipart(client):
    spec = client.get("/api/v1/openapi.json").json
    operation = spec["paths"]["/api/v1/payroll/inputs/import"]["post"]
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema == {"$ref": "#/components/schemas/PayrollInputImport"}
    assert {"file", "period", "dry_run", "valid_only"} <= set(
        spec["components"]["schemas"]["PayrollInputImport"]["properties"]
    )
