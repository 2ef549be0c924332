"""Payroll runs with the default rules: DOMAIN.md's worked example, proration, errors, approval."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
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


def _lines(payslip):
    return {line.component_code: line for line in payslip.lines}


def _payslip(db_session, run, employee_id):
    from modules.payroll.models import Payslip

    return db_session.scalar(
        sa.select(Payslip).where(Payslip.run_id == run.id, Payslip.employee_id == employee_id)
    )


@pytest.fixture
def officers(create_user):
    """Two payroll officers of POLICE: one computes, the other approves."""
    return (
        create_user(username="pay.maker", roles=[("POLICE", "payroll_officer")]),
        create_user(username="pay.checker", roles=[("POLICE", "payroll_officer")]),
    )


def test_worked_example_and_joiner_proration(db_session, make_employee, in_department, officers):
    from modules.payroll.services import compute_run, create_run

    national = make_employee(grade=12, band=2, contract=WORKED_EXAMPLE, **uae_national())
    joiner = make_employee(
        hire_date="2026-11-16",
        contract={
            "start_date": "2026-11-16",
            "basic_salary": "10000.00",
            "housing_allowance": "4000.00",
            "general_allowance": "0.00",
        },
    )
    with in_department("POLICE"):
        run = create_run(db_session, "2026-11")
        compute_run(db_session, run, officers[0])
        db_session.commit()
        assert run.state == "computed" and run.errors == []

        slip = _payslip(db_session, run, national)
        lines = _lines(slip)
        assert lines["pension_employee"].amount == D("3410.00")
        assert lines["pension_employee"].base == D("31000.00")
        assert lines["pension_employee"].rate == "11%"
        assert lines["pension_employer"].amount == D("4650.00")
        assert slip.total_earnings == D("33000.00")
        assert slip.net == D("29590.00")
        assert slip.total_employer == D("4650.00")
        assert slip.nationality_category == "uae" and slip.grade == "12"

        slip = _payslip(db_session, run, joiner)
        lines = _lines(slip)
        assert lines["basic"].amount == D("5000.00")
        assert lines["housing"].amount == D("2000.00")
        assert lines["basic"].days == "15/30"
        assert "pension_employee" not in lines
        assert slip.net == D("7000.00")
        assert slip.pay_start.isoformat() == "2026-11-16"
        assert run.employee_count == 2
        assert run.total_net == D("36590.00")


def test_law_7_1999_is_pro_rata_and_57_2023_is_a_full_month(
    db_session, make_employee, in_department, officers
):
    from modules.payroll.services import compute_run, create_run

    contract = {**WORKED_EXAMPLE, "start_date": "2026-11-16"}
    new_law = make_employee(
        grade=12, band=2, contract=contract, **uae_national(hire_date="2026-11-16")
    )
    old_law = make_employee(
        grade=12,
        band=2,
        contract=contract,
        **uae_national(
            hire_date="2026-11-16", pension_scheme="law_7_1999", first_insured_date="2010-01-01"
        ),
    )
    with in_department("POLICE"):
        run = create_run(db_session, "2026-11")
        compute_run(db_session, run, officers[0])
        new, old = (
            _lines(_payslip(db_session, run, new_law)),
            _lines(_payslip(db_session, run, old_law)),
        )
        assert new["pension_employee"].amount == D("3410.00")  # full month under 57/2023
        assert new["basic"].amount == D("10000.00")
        assert old["pension_employee"].amount == D("775.00")  # 5% of 15/30 of 31,000
        assert old["pension_employer"].amount == D("2325.00")


def test_unpaid_days_are_a_deduction_of_the_same_proration(
    db_session, make_employee, in_department, officers
):
    from modules.payroll.services import compute_run, create_run

    employee = make_employee()  # basic 10,000 + general 10,000 + housing 2,500
    with in_department("POLICE"):
        run = create_run(db_session, "2026-11", inputs={employee: {"unpaid_days": 3}})
        compute_run(db_session, run, officers[0])
        slip = _payslip(db_session, run, employee)
        assert _lines(slip)["unpaid_leave"].amount == D("2250.00")  # 22,500 × 3 / 30
        assert slip.net == D("20250.00")
        assert slip.unpaid_days == 3 and slip.paid_days == 27


def test_one_employee_error_is_listed_and_blocks_approval(
    db_session, make_employee, in_department, officers
):
    from modules.payroll.models import PayComponent
    from modules.payroll.services import (
        RunStateError,
        approve_run,
        compute_run,
        create_rule,
        create_run,
        exclude_employee,
        find_component,
    )

    good = make_employee()
    bad = make_employee(grade=12, band=2, contract=WORKED_EXAMPLE)
    with in_department("POLICE"):
        # A deduction bigger than the pay of basic > 15,000: that employee's net is negative.
        component_id = db_session.scalar(
            sa.select(PayComponent.id).where(PayComponent.code == "unpaid_leave")
        )
        create_rule(
            db_session,
            find_component(db_session, component_id),
            {"kind": "formula", "priority": 1, "formula": "if(BASIC > 15000, 100000, 0)"},
        )
        run = create_run(db_session, "2026-11")
        compute_run(db_session, run, officers[0])
        db_session.commit()
        assert [(e.employee_id, "negative" in e.message) for e in run.errors] == [(bad, True)]
        assert _payslip(db_session, run, good) is not None
        assert _payslip(db_session, run, bad) is None
        with pytest.raises(RunStateError):
            approve_run(db_session, run, officers[1])
        exclude_employee(db_session, run, bad)
        approve_run(db_session, run, officers[1])
        assert run.state == "approved" and run.employee_count == 1


def test_maker_checker_and_immutable_payslips(db_session, make_employee, in_department, officers):
    from modules.payroll.models import Payslip, PayslipLine
    from modules.payroll.services import (
        ApprovalRefused,
        PayslipLocked,
        approve_run,
        compute_run,
        create_run,
    )

    employee = make_employee()
    maker, checker = officers
    with in_department("POLICE"):
        run = create_run(db_session, "2026-11")
        compute_run(db_session, run, maker)
        with pytest.raises(ApprovalRefused):
            approve_run(db_session, run, maker)
        approve_run(db_session, run, checker)
        db_session.commit()

        slip = _payslip(db_session, run, employee)
        slip.net = D("1.00")
        with pytest.raises(PayslipLocked):
            db_session.flush()
        db_session.rollback()
        slip = _payslip(db_session, run, employee)
        slip.lines[0].amount = D("1.00")
        with pytest.raises(PayslipLocked):
            db_session.flush()
        db_session.rollback()
        with pytest.raises(PayslipLocked):
            db_session.execute(sa.update(Payslip).values(net=D("1.00")))
        db_session.rollback()
        with pytest.raises(PayslipLocked):
            db_session.execute(sa.delete(PayslipLine))
        db_session.rollback()
        with pytest.raises(PayslipLocked):
            db_session.delete(_payslip(db_session, run, employee))
            db_session.flush()
        db_session.rollback()
        with pytest.raises(Exception, match="approved"):
            compute_run(db_session, run, maker)
        run.state = "computed"  # back to an editable state: refused
        with pytest.raises(PayslipLocked):
            db_session.flush()
        db_session.rollback()
        run.total_net = D("1.00")
        with pytest.raises(PayslipLocked):
            db_session.flush()
        db_session.rollback()
        run.state = "posted"  # forward is how an approved run moves on
        db_session.flush()


def test_an_employee_without_the_permission_cannot_approve(
    db_session, make_employee, in_department, officers, create_user
):
    from modules.payroll.services import ApprovalRefused, approve_run, compute_run, create_run

    make_employee()
    admin = create_user(username="dept.admin", roles=[("POLICE", "department_admin")])
    with in_department("POLICE"):
        run = create_run(db_session, "2026-11")
        compute_run(db_session, run, officers[0])
        with pytest.raises(ApprovalRefused):
            approve_run(db_session, run, admin)


def test_one_regular_run_per_department_and_month(db_session, in_department):
    from modules.payroll.services import DuplicateRunError, create_run

    with in_department("POLICE"):
        create_run(db_session, "2026-11")
        with pytest.raises(DuplicateRunError):
            create_run(db_session, "2026-11")
        adjustment = create_run(db_session, "2026-11", "adjustment")
        assert adjustment.sequence == 1
        db_session.commit()
    with in_department("DM"):
        create_run(db_session, "2026-11")  # another department's month is its own
        db_session.commit()


def test_recompute_replaces_the_payslips(db_session, make_employee, in_department, officers):
    from modules.payroll.models import Payslip, PayslipLine
    from modules.payroll.services import compute_run, create_run

    make_employee()
    make_employee()
    with in_department("POLICE"):
        run = create_run(db_session, "2026-11")
        compute_run(db_session, run, officers[0], chunk_employees=1)
        first = db_session.scalar(sa.select(sa.func.count(PayslipLine.id)))
        compute_run(db_session, run, officers[1])
        assert db_session.scalar(sa.select(sa.func.count(Payslip.id))) == 2
        assert db_session.scalar(sa.select(sa.func.count(PayslipLine.id))) == first
        assert run.computed_by_id == officers[1].id


def test_a_salary_change_and_a_leaver_are_prorated_by_version(
    db_session, make_employee, in_department, officers
):
    from modules.hr.models import Employee
    from modules.hr.services import create_contract_version
    from modules.payroll.services import compute_run, create_run

    raised = make_employee(contract={"general_allowance": "0.00", "housing_allowance": "0.00"})
    leaver = make_employee(
        contract={
            "contract_type": "fixed_term",
            "end_date": "2026-11-10",
            "general_allowance": "0.00",
            "housing_allowance": "0.00",
        }
    )
    with in_department("POLICE"):
        employee = db_session.get(Employee, raised)
        create_contract_version(
            db_session,
            employee,
            {
                "start_date": "2026-11-21",
                "contract_type": "permanent",
                "basic_salary": "13000.00",
            },
        )
        run = create_run(db_session, "2026-11")
        compute_run(db_session, run, officers[0])
        assert run.errors == []
        # 20 days at 10,000 and 10 days at 13,000: 6,666.666… + 4,333.333… = 11,000.00.
        basic = _lines(_payslip(db_session, run, raised))["basic"]
        assert basic.amount == D("11000.00")
        assert basic.days == "30/30"
        slip = _payslip(db_session, run, leaver)
        assert _lines(slip)["basic"].amount == D("3333.33")  # 10/30 of 10,000
        assert slip.pay_end.isoformat() == "2026-11-10"
