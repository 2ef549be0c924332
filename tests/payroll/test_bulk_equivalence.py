"""The bulk, chunked payroll computation gives exactly what computing employee by employee gives.

`compute_run` streams the month's contracts, groups them by employee, computes a chunk
at a time and writes payslips and lines with multi-row INSERTs. The reference here
reads each employee's contracts and HR unpaid leave on its own and calls
`compute_payslip` directly, rule by rule, one employee at a time. Chunks of 3 make
chunk boundaries fall between (and next to) employees with two contract versions.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from payroll_data import uae_national

PERIOD = date(2026, 11, 1)
MONTH_END = date(2026, 11, 30)
D = Decimal

#: Payslip columns that must agree (besides the lines).
PAYSLIP_FIELDS = (
    "employee_no",
    "name_en",
    "name_ar",
    "grade",
    "nationality_category",
    "pension_scheme",
    "iban",
    "bank_routing_code",
    "wps_person_id",
    "pay_start",
    "pay_end",
    "days_in_month",
    "paid_days",
    "unpaid_days",
    "total_earnings",
    "total_deductions",
    "net",
    "total_employer",
    "fixed_income",
    "variable_income",
)
LINE_FIELDS = (
    "category",
    "wps_kind",
    "display_order",
    "amount",
    "rule_kind",
    "base",
    "rate",
    "days",
    "formula",
    "name_en",
    "name_ar",
)
WORKED_EXAMPLE = {
    "start_date": "2024-01-01",
    "basic_salary": "20000.00",
    "housing_allowance": "8000.00",
    "transport_allowance": "2000.00",
    "social_allowance": "3000.00",
    "general_allowance": "0.00",
}


@pytest.fixture
def officer(create_user):
    return create_user(username="bulk.maker", roles=[("POLICE", "payroll_officer")])


@pytest.fixture
def workforce(db_session, make_employee, in_department) -> dict[str, int]:
    """A varied department: who each employee is, by a name the test uses."""
    from modules.hr.models import Contract, Employee, LeaveRequest, LeaveType
    from modules.hr.services.contracts import create_contract_version
    from modules.hr.services.leave import ensure_leave_defaults

    people: dict[str, int] = {}
    people["full_month"] = make_employee()
    people["national_57"] = make_employee(
        grade=12, band=2, contract=WORKED_EXAMPLE, **uae_national()
    )
    # Two versions (a raise from the 16th): the first chunk of 3 ends on this employee.
    people["raise_mid_month"] = make_employee(nationality="EG")
    people["raise_and_national_7"] = make_employee(
        grade=12,
        band=2,
        contract=WORKED_EXAMPLE,
        **uae_national(
            pension_scheme="law_7_1999", first_insured_date="2010-01-01", hire_date="2024-01-01"
        ),
    )
    people["joiner"] = make_employee(
        hire_date="2026-11-16", contract={"start_date": "2026-11-16", "basic_salary": "9500.00"}
    )
    people["national_7_joiner"] = make_employee(
        grade=12,
        band=2,
        contract={**WORKED_EXAMPLE, "start_date": "2026-11-10"},
        **uae_national(
            hire_date="2026-11-10", pension_scheme="law_7_1999", first_insured_date="2009-05-01"
        ),
    )
    people["national_57_joiner"] = make_employee(
        grade=12,
        band=2,
        contract={**WORKED_EXAMPLE, "start_date": "2026-11-20"},
        **uae_national(hire_date="2026-11-20", first_insured_date="2026-11-20"),
    )
    people["leaver"] = make_employee(nationality="PH")
    people["gcc"] = make_employee(nationality="SA")
    people["manual_unpaid"] = make_employee(nationality="JO")
    people["hr_unpaid_leave"] = make_employee(nationality="PK")
    people["too_many_unpaid"] = make_employee(nationality="GB")
    people["left_before"] = make_employee(nationality="IN")
    people["national_7_long_serving"] = make_employee(
        contract={"start_date": "2020-02-01"},
        **uae_national(
            hire_date="2020-02-01", pension_scheme="law_7_1999", first_insured_date="2020-02-01"
        ),
    )

    with in_department("POLICE"):
        by_id = {
            e.id: e
            for e in db_session.scalars(sa.select(Employee).where(Employee.id.in_(people.values())))
        }
        for name in ("raise_mid_month", "raise_and_national_7"):
            create_contract_version(
                db_session,
                by_id[people[name]],
                {
                    "start_date": "2026-11-16",
                    "basic_salary": "12000.00" if name == "raise_mid_month" else "22000.00",
                    "general_allowance": "12000.00" if name == "raise_mid_month" else "0.00",
                    "housing_allowance": "2500.00" if name == "raise_mid_month" else "8000.00",
                    "transport_allowance": "0.00" if name == "raise_mid_month" else "2000.00",
                    "social_allowance": "0.00" if name == "raise_mid_month" else "3000.00",
                },
            )
        for name, end in (("leaver", date(2026, 11, 20)), ("left_before", date(2026, 10, 31))):
            contract = db_session.scalar(
                sa.select(Contract).where(Contract.employee_id == people[name])
            )
            contract.end_date = end
        ensure_leave_defaults(db_session, approval_policy=False)
        unpaid = db_session.scalar(sa.select(LeaveType).where(LeaveType.code == "unpaid"))
        db_session.add(
            LeaveRequest(
                employee_id=people["hr_unpaid_leave"],
                leave_type_id=unpaid.id,
                start_date=date(2026, 11, 9),
                end_date=date(2026, 11, 11),
                days=D("3"),
                state="approved",
            )
        )
        db_session.commit()
    return people


def _stored(db_session, run) -> tuple[dict[int, dict[str, Any]], dict[int, str]]:
    """The run's payslips (fields and lines) and errors, by employee."""
    from sqlalchemy.orm import selectinload

    from modules.payroll.models import PayrollRunError, Payslip

    slips = {}
    for slip in db_session.scalars(
        sa.select(Payslip).where(Payslip.run_id == run.id).options(selectinload(Payslip.lines))
    ):
        slips[slip.employee_id] = {
            **{name: getattr(slip, name) for name in PAYSLIP_FIELDS},
            "lines": sorted(
                (line.component_code, *(getattr(line, name) for name in LINE_FIELDS))
                for line in slip.lines
            ),
        }
    errors = {
        error.employee_id: error.message
        for error in db_session.scalars(
            sa.select(PayrollRunError).where(PayrollRunError.run_id == run.id)
        )
    }
    return slips, errors


def _one_by_one(db_session, run) -> tuple[dict[int, dict[str, Any]], dict[int, str]]:
    """Compute every employee on their own: their contracts, their leave, compute_payslip."""
    from modules.hr.models import Contract, Employee
    from modules.hr.services.leave import unpaid_leave_days
    from modules.payroll.calculation import CalculationError, ContractPart, compute_payslip
    from modules.payroll.services.components import component_specs

    specs = component_specs(db_session)
    manual = run.inputs or {}
    slips, errors = {}, {}
    for employee in db_session.scalars(sa.select(Employee).order_by(Employee.id)):
        versions = list(
            db_session.scalars(
                sa.select(Contract)
                .where(
                    Contract.employee_id == employee.id,
                    Contract.start_date <= MONTH_END,
                    sa.or_(Contract.end_date.is_(None), Contract.end_date >= PERIOD),
                )
                .order_by(Contract.start_date)
            )
        )
        if not versions:
            continue
        parts = []
        for contract in versions:
            first = max(PERIOD, contract.start_date, employee.hire_date)
            last = min(MONTH_END, contract.end_date or MONTH_END)
            if last >= first:
                parts.append(
                    ContractPart(
                        amounts={"basic": contract.basic_salary, **contract.allowances()},
                        grade=str(contract.grade.number),
                        days=(last - first).days + 1,
                    )
                )
        pay_start = max(PERIOD, versions[0].start_date, employee.hire_date)
        pay_end = min(MONTH_END, versions[-1].end_date or MONTH_END)
        if str(employee.id) in manual:
            unpaid: Any = int(manual[str(employee.id)]["unpaid_days"])
        else:
            unpaid = unpaid_leave_days(db_session, employee.id, pay_start, pay_end)
        try:
            result = compute_payslip(
                specs,
                parts,
                period=PERIOD,
                nationality_category=employee.nationality_category,
                pension_scheme=employee.pension_scheme,
                country=employee.nationality,
                unpaid_days=unpaid,
            )
        except CalculationError as exc:
            errors[employee.id] = str(exc)
            continue
        values = {
            "employee_no": employee.employee_no,
            "name_en": employee.name_en,
            "name_ar": employee.name_ar,
            "grade": str(versions[-1].grade.number),
            "nationality_category": employee.nationality_category,
            "pension_scheme": employee.pension_scheme,
            "iban": employee.iban,
            "bank_routing_code": employee.bank_routing_code,
            "wps_person_id": employee.wps_person_id,
            "pay_start": pay_start,
            "pay_end": pay_end,
            "days_in_month": result.days_in_month,
            "paid_days": result.paid_days,
            "unpaid_days": result.unpaid_days,
            "total_earnings": result.total_earnings,
            "total_deductions": result.total_deductions,
            "net": result.net,
            "total_employer": result.total_employer,
            "fixed_income": result.income("fixed"),
            "variable_income": result.income("variable"),
        }
        values["lines"] = sorted(
            (line.code, *(getattr(line, name) for name in LINE_FIELDS)) for line in result.lines
        )
        slips[employee.id] = values
    return slips, errors


def test_chunked_bulk_compute_equals_computing_one_employee_at_a_time(
    db_session, in_department, workforce, officer
):
    from modules.payroll.services import compute_run, create_run

    people = workforce
    with in_department("POLICE"):
        run = create_run(
            db_session,
            "2026-11",
            inputs={
                people["manual_unpaid"]: {"unpaid_days": 4},
                people["too_many_unpaid"]: {"unpaid_days": 31},
            },
        )
        db_session.commit()
        compute_run(db_session, run, officer, chunk_employees=3)
        db_session.commit()
        bulk, bulk_errors = _stored(db_session, run)
        reference, reference_errors = _one_by_one(db_session, run)

    # The same employees, the same errors, and field for field the same payslips and lines.
    assert set(bulk) == set(reference)
    assert bulk_errors == reference_errors
    assert set(bulk_errors) == {people["too_many_unpaid"]}
    assert people["left_before"] not in bulk
    for employee_id, expected in reference.items():
        assert bulk[employee_id] == expected, employee_id
    assert run.employee_count == len(reference)
    assert run.total_net == sum((slip["net"] for slip in reference.values()), D("0.00"))

    # The reference is the DOMAIN.md arithmetic, not just the bulk path again.
    worked = bulk[people["national_57"]]
    assert worked["net"] == D("29590.00") and worked["total_employer"] == D("4650.00")
    joiner = bulk[people["joiner"]]
    assert joiner["pay_start"] == date(2026, 11, 16) and joiner["paid_days"] == 15
    leaver = bulk[people["leaver"]]
    assert leaver["pay_end"] == date(2026, 11, 20) and leaver["paid_days"] == 20
    assert bulk[people["manual_unpaid"]]["unpaid_days"] == 4
    assert bulk[people["hr_unpaid_leave"]]["unpaid_days"] == 3  # Mon 9 to Wed 11 November
    raised = {line[0]: line for line in bulk[people["raise_mid_month"]]["lines"]}
    assert raised["basic"][4] == D("10000.00") * 15 / 30 + D("12000.00") * 15 / 30


def test_chunk_size_changes_nothing(db_session, in_department, workforce, officer):
    from modules.payroll.services import compute_run, create_run

    with in_department("POLICE"):
        run = create_run(db_session, "2026-11")
        db_session.commit()
        compute_run(db_session, run, officer, chunk_employees=3)
        db_session.commit()
        small = _stored(db_session, run)
        compute_run(db_session, run, officer, chunk_employees=1000)
        db_session.commit()
        large = _stored(db_session, run)
        compute_run(db_session, run, officer, chunk_employees=1)
        db_session.commit()
        single = _stored(db_session, run)
    assert small == large == single
    assert len(small[0]) == len(workforce) - 1  # everyone but the one who left in October
