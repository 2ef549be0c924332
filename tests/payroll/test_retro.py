"""Retro pay in a later regular run, and adjustment runs: differences are paid once."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from payroll_data import (
    approved_run,
    difference_lines,
    lines_by_code,
    payslip_of,
    uae_national,
)

D = Decimal
#: The default test contract (tests/hr/hr_data.py): basic 10,000, general 10,000, housing 2,500.
ALLOWANCES = {"general_allowance": "10000.00", "housing_allowance": "2500.00"}


@pytest.fixture
def officers(create_user):
    return (
        create_user(username="retro.maker", roles=[("POLICE", "payroll_officer")]),
        create_user(username="retro.checker", roles=[("POLICE", "payroll_officer")]),
    )


def _paid_october(db_session, officers):
    """October's regular run, approved, posted and paid."""
    run = approved_run(db_session, "2026-10", *officers)
    run.state = "posted"
    db_session.flush()
    run.state = "paid"
    db_session.commit()
    return run


def _new_basic(db_session, employee_id, basic, start="2026-10-01", **amounts):
    from modules.hr.models import Employee
    from modules.hr.services import create_contract_version

    create_contract_version(
        db_session,
        db_session.get(Employee, employee_id),
        {"start_date": start, "basic_salary": basic, **(amounts or ALLOWANCES)},
    )
    db_session.commit()


def _computed(db_session, officers, period, kind="regular"):
    from modules.payroll.services import compute_run, create_run

    run = create_run(db_session, period, kind)
    compute_run(db_session, run, officers[0])
    db_session.commit()
    return run


def test_a_raise_in_a_paid_month_is_paid_in_the_next_run_once(
    db_session, make_employee, in_department, officers
):
    from modules.payroll.services import compute_run

    raised = make_employee(number=1)
    unchanged = make_employee(number=2)
    with in_department("POLICE"):
        _paid_october(db_session, officers)
        _new_basic(db_session, raised, "11000.00")
        november = _computed(db_session, officers, "2026-11")
        assert november.errors == []
        slip = payslip_of(db_session, november, raised)
        assert difference_lines(slip) == [("2026-10", "basic", "retro", "+1000.00")]
        retro = next(line for line in slip.lines if line.retro_period is not None)
        assert retro.amount == D("1000.00") and retro.base == D("10000.00")
        assert retro.category == "earning" and retro.wps_kind == "variable"
        assert retro.name_en == "Retro pay 2026-10: Basic salary"
        assert retro.explanation == (
            "Retro pay 2026-10: Basic salary: paid 10,000.00, due 11,000.00, difference +1,000.00"
        )
        assert lines_by_code(slip)["basic"].amount == D("11000.00")
        assert slip.net == D("24500.00")  # November at 23,500 and October's 1,000
        assert difference_lines(payslip_of(db_session, november, unchanged)) == []

        compute_run(db_session, november, officers[0])  # again: not twice
        assert difference_lines(payslip_of(db_session, november, raised)) == [
            ("2026-10", "basic", "retro", "+1000.00")
        ]
        assert november.total_net == D("47000.00")
        from modules.payroll.services import approve_run

        approve_run(db_session, november, officers[1])
        db_session.commit()
        december = _computed(db_session, officers, "2026-12")
        assert difference_lines(payslip_of(db_session, december, raised)) == []
        assert payslip_of(db_session, december, raised).net == D("23500.00")


def test_a_decrease_is_recovered_as_a_deduction(db_session, make_employee, in_department, officers):
    lowered = make_employee(number=3)
    with in_department("POLICE"):
        _paid_october(db_session, officers)
        _new_basic(db_session, lowered, "9500.00")
        november = _computed(db_session, officers, "2026-11")
        slip = payslip_of(db_session, november, lowered)
        assert difference_lines(slip) == [("2026-10", "basic", "retro_deduction", "-500.00")]
        line = next(line for line in slip.lines if line.retro_period is not None)
        assert (line.category, line.amount) == ("deduction", D("500.00"))
        assert slip.net == D("21500.00")  # 22,000 − 500


def test_a_change_in_an_earlier_month_corrects_each_paid_month(
    db_session, make_employee, in_department, officers
):
    raised = make_employee(number=4)
    with in_department("POLICE"):
        approved_run(db_session, "2026-09", *officers)
        _paid_october(db_session, officers)
        _new_basic(db_session, raised, "10300.00", start="2026-09-16")
        november = _computed(db_session, officers, "2026-11")
        # September from the 16th: 15/30 of 300; October in full.
        assert difference_lines(payslip_of(db_session, november, raised)) == [
            ("2026-09", "basic", "retro", "+150.00"),
            ("2026-10", "basic", "retro", "+300.00"),
        ]


def test_a_nationals_retro_pay_carries_the_pension_difference(
    db_session, make_employee, in_department, officers
):
    contract = {
        "start_date": "2024-01-01",
        "basic_salary": "20000.00",
        "housing_allowance": "8000.00",
        "transport_allowance": "2000.00",
        "social_allowance": "3000.00",
        "general_allowance": "0.00",
    }
    national = make_employee(number=5, grade=12, band=2, contract=contract, **uae_national())
    with in_department("POLICE"):
        _paid_october(db_session, officers)
        amounts = {k: v for k, v in contract.items() if k.endswith("_allowance")}
        _new_basic(db_session, national, "22000.00", **amounts)
        november = _computed(db_session, officers, "2026-11")
        slip = payslip_of(db_session, november, national)
        # Pensionable 31,000 → 33,000: employee 11% (+220), employer 15% (+300).
        assert difference_lines(slip) == [
            ("2026-10", "basic", "retro", "+2000.00"),
            ("2026-10", "pension_employee", "retro_deduction", "+220.00"),
            ("2026-10", "pension_employer", "retro_employer", "+300.00"),
        ]
        # November: 35,000 earnings − 3,630 pension; October's retro +2,000 − 220.
        assert slip.net == D("31370.00") + D("1780.00")
        assert slip.total_employer == D("4950.00") + D("300.00")


def test_an_adjustment_run_pays_the_difference_and_the_next_run_does_not(
    db_session, make_employee, in_department, officers
):
    from modules.payroll.services import approve_run

    raised = make_employee(number=6)
    make_employee(number=7)  # unchanged: no payslip in the adjustment run
    with in_department("POLICE"):
        _paid_october(db_session, officers)
        _new_basic(db_session, raised, "11000.00")
        adjustment = _computed(db_session, officers, "2026-10", kind="adjustment")
        assert adjustment.sequence == 1 and adjustment.errors == []
        assert adjustment.employee_count == 1 and adjustment.total_net == D("1000.00")
        slip = payslip_of(db_session, adjustment, raised)
        assert difference_lines(slip) == [("2026-10", "basic", "retro", "+1000.00")]
        assert slip.lines[0].name_en == "Adjustment 2026-10: Basic salary"
        # While the adjustment waits for approval, November does not pay it a second time.
        november = _computed(db_session, officers, "2026-11")
        assert difference_lines(payslip_of(db_session, november, raised)) == []
        approve_run(db_session, adjustment, officers[1])
        db_session.commit()
        again = _computed(db_session, officers, "2026-10", kind="adjustment")
        assert again.employee_count == 0  # nothing left to correct
        from modules.payroll.services import compute_run

        compute_run(db_session, november, officers[0])
        assert difference_lines(payslip_of(db_session, november, raised)) == []
        assert payslip_of(db_session, november, raised).net == D("23500.00")


def test_an_adjustment_that_recovers_money_is_an_error_to_exclude(
    db_session, make_employee, in_department, officers
):
    lowered = make_employee(number=8)
    with in_department("POLICE"):
        _paid_october(db_session, officers)
        _new_basic(db_session, lowered, "9500.00")
        adjustment = _computed(db_session, officers, "2026-10", kind="adjustment")
        assert [
            (e.employee_id, "a recovery of 500.00" in e.message) for e in adjustment.errors
        ] == [(lowered, True)]
        # Left out of the adjustment, the next regular run deducts it.
        from modules.payroll.services import exclude_employee

        exclude_employee(db_session, adjustment, lowered)
        november = _computed(db_session, officers, "2026-11")
        assert difference_lines(payslip_of(db_session, november, lowered)) == [
            ("2026-10", "basic", "retro_deduction", "-500.00")
        ]


def test_the_look_back_is_bounded(db_session, make_employee, in_department, officers, app):
    raised = make_employee(number=9)
    with in_department("POLICE"):
        _paid_october(db_session, officers)
        _new_basic(db_session, raised, "11000.00")
        from modules.payroll.services import compute_run, create_run

        run = create_run(db_session, "2027-12")  # October 2026 is 14 months back
        compute_run(db_session, run, officers[0])
        assert difference_lines(payslip_of(db_session, run, raised)) == []
        compute_run(db_session, run, officers[0], retro_months=15)
        assert difference_lines(payslip_of(db_session, run, raised)) == [
            ("2026-10", "basic", "retro", "+1000.00")
        ]


def test_only_changes_since_the_last_approved_run_are_recomputed(
    db_session, make_employee, in_department, officers, monkeypatch
):
    from modules.payroll.services import approve_run, retro

    raised = make_employee(number=10)
    make_employee(number=11)
    recomputed = []
    original = retro.recompute_due

    def counting(specs, parts, **kwargs):
        recomputed.append((kwargs["employee"].id, f"{kwargs['period']:%Y-%m}"))
        return original(specs, parts, **kwargs)

    monkeypatch.setattr(retro, "recompute_due", counting)
    with in_department("POLICE"):
        approved_run(db_session, "2026-09", *officers)
        _paid_october(db_session, officers)
        assert recomputed == []  # nothing changed since September
        _new_basic(db_session, raised, "11000.00")
        november = _computed(db_session, officers, "2026-11")
        assert sorted(recomputed) == [(raised, "2026-09"), (raised, "2026-10")]
        approve_run(db_session, november, officers[1])
        db_session.commit()
        recomputed.clear()
        _computed(db_session, officers, "2026-12")
        assert recomputed == []  # November corrected everything before it


def test_computing_runs_a_fixed_number_of_queries_per_chunk(
    db_session, make_employee, in_department, officers
):
    """No query per employee: inputs, loans, leave, settlements and retro are read per chunk."""
    from modules.payroll.models import PayrollRun
    from modules.payroll.services import add_input, compute_run, create_loan, create_run

    first = [make_employee(number=n) for n in range(20, 23)]
    more = [make_employee(number=n) for n in range(30, 36)]
    with in_department("POLICE"):
        _paid_october(db_session, officers)
        for employee_id in (first[0], *more):
            _new_basic(db_session, employee_id, "10500.00")
        add_input(
            db_session,
            {
                "period": "2026-11",
                "employee_id": first[1],
                "component": "overtime",
                "amount": "10.00",
            },
            actor=officers[0],
        )
        create_loan(
            db_session,
            {
                "employee_id": first[2],
                "principal": "100.00",
                "instalment": "50.00",
                "first_period": "2026-11",
            },
            actor=officers[0],
        )
        run_id = create_run(db_session, "2026-11").id
        db_session.commit()

        def queries(excluded: list[int]) -> int:
            run = db_session.get(PayrollRun, run_id)
            run.excluded_employee_ids = excluded
            db_session.flush()
            statements = []
            engine = db_session.get_bind()

            def count(*_args: object) -> None:
                statements.append(1)

            sa.event.listen(engine, "before_cursor_execute", count)
            try:
                compute_run(db_session, run, officers[0])
            finally:
                sa.event.remove(engine, "before_cursor_execute", count)
            db_session.commit()
            return len(statements)

        queries([])  # from draft; then both from computed, changing the totals
        few = queries(more)
        many = queries([])
        run = db_session.get(PayrollRun, run_id)
        assert run.employee_count == 9
        for employee_id in (first[0], *more):
            assert difference_lines(payslip_of(db_session, run, employee_id)) == [
                ("2026-10", "basic", "retro", "+500.00")
            ]
    assert many == few, (few, many)
