"""Leavers: paid to their last day, with HR's end-of-service settlement in the leaving month."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from payroll_data import approved_run, difference_lines, lines_by_code, payslip_of, uae_national

D = Decimal


@pytest.fixture
def officers(create_user):
    return (
        create_user(username="leaver.maker", roles=[("POLICE", "payroll_officer")]),
        create_user(username="leaver.checker", roles=[("POLICE", "payroll_officer")]),
    )


def _compute(db_session, officers, period="2026-11"):
    from modules.payroll.services import compute_run, create_run

    run = create_run(db_session, period)
    compute_run(db_session, run, officers[0])
    db_session.commit()
    return run


def _terminate(db_session, employee_id, last_day, actor):
    from modules.hr.models import Employee
    from modules.hr.services import terminate_employee

    record = terminate_employee(
        db_session,
        db_session.get(Employee, employee_id),
        reason="resignation",
        last_working_day=last_day,
        actor=actor,
    )
    db_session.commit()
    return record


def test_a_terminated_employee_is_paid_to_the_last_day_with_the_settlement(
    db_session, make_employee, in_department, officers, create_user
):
    from modules.hr.models import Employee
    from modules.hr.services.leave import ensure_leave_defaults

    hr = create_user(username="leaver.hr", roles=[("POLICE", "hr_officer")])
    leaver = make_employee(
        number=1
    )  # hired 2015-03-01: basic 10,000, general 10,000, housing 2,500
    stays = make_employee(number=2)
    with in_department("POLICE"):
        ensure_leave_defaults(db_session)
        record = _terminate(db_session, leaver, "2026-11-15", hr)
        assert db_session.get(Employee, leaver).status == "terminated"
        assert record.gratuity > 0 and record.leave_encashment > 0
        run = _compute(db_session, officers)
        assert run.errors == []
        slip = payslip_of(db_session, run, leaver)
        lines = lines_by_code(slip)
        assert lines["basic"].amount == D("5000.00") and lines["basic"].days == "15/30"
        assert lines["housing"].amount == D("1250.00")
        assert slip.pay_end == date(2026, 11, 15)
        gratuity = lines["gratuity"]
        assert gratuity.amount == record.gratuity and gratuity.rule_kind == "input"
        assert gratuity.days is None and gratuity.wps_kind == "variable"
        assert gratuity.explanation == "End-of-service gratuity, last working day 2026-11-15"
        encashment = lines["leave_encashment"]
        assert encashment.amount == record.leave_encashment
        assert encashment.explanation == (
            f"{record.leave_days.normalize():f} days of annual leave not taken, "
            "last working day 2026-11-15"
        )
        assert slip.net == D("11250.00") + record.gratuity + record.leave_encashment
        assert slip.variable_income == record.gratuity + record.leave_encashment
        assert {"gratuity", "leave_encashment"}.isdisjoint(
            lines_by_code(payslip_of(db_session, run, stays))
        )
        # December: the leaver is no longer in the run, nor is the settlement paid again.
        december = _compute(db_session, officers, "2026-12")
        assert payslip_of(db_session, december, leaver) is None


def test_settlements_follow_hrs_interface(
    db_session, make_employee, in_department, officers, monkeypatch
):
    """Against the interface alone: `settlements_in_period(session, start, end)` by employee."""
    from modules.hr import services as hr_services

    national = make_employee(
        number=3,
        contract={
            "start_date": "2024-01-01",
            "contract_type": "fixed_term",
            "end_date": "2026-11-20",
        },
        **uae_national(),
    )
    asked = []

    def settlements_in_period(session, start, end):
        asked.append((start, end))
        return {
            national: hr_services.Settlement(
                employee_id=national,
                last_working_day=date(2026, 11, 20),
                gratuity=D("0.00"),  # a UAE national: pension, no gratuity
                leave_days=D("12.50"),
                leave_encashment=D("4166.67"),
            )
        }

    monkeypatch.setattr(hr_services, "settlements_in_period", settlements_in_period)
    with in_department("POLICE"):
        run = _compute(db_session, officers)
        assert (date(2026, 11, 1), date(2026, 11, 30)) in asked
        lines = lines_by_code(payslip_of(db_session, run, national))
        assert "gratuity" not in lines
        assert lines["leave_encashment"].amount == D("4166.67")
        assert lines["leave_encashment"].explanation.startswith("12.5 days of annual leave")
        # Not pensionable: the pension base is 20/30 of basic 10,000 + housing 2,500 only,
        # and under Decree-Law 57/2023 the full month's base.
        assert lines["pension_employee"].base == D("12500.00")
        assert lines["basic"].amount == D("6666.67")


def test_without_hrs_settlements_leavers_are_still_prorated(
    db_session, make_employee, in_department, officers, monkeypatch
):
    from modules.hr import services as hr_services

    monkeypatch.delattr(hr_services, "settlements_in_period")
    leaver = make_employee(
        number=4, contract={"contract_type": "fixed_term", "end_date": "2026-11-10"}
    )
    with in_department("POLICE"):
        run = _compute(db_session, officers)
        lines = lines_by_code(payslip_of(db_session, run, leaver))
        assert lines["basic"].amount == D("3333.33")
        assert "gratuity" not in lines


def test_a_loan_balance_is_recovered_in_the_leaving_month(
    db_session, make_employee, in_department, officers, create_user
):
    from modules.payroll.services import create_loan

    hr = create_user(username="leaver.hr2", roles=[("POLICE", "hr_officer")])
    leaver = make_employee(number=5)
    with in_department("POLICE"):
        loan = create_loan(
            db_session,
            {
                "employee_id": leaver,
                "principal": "3000.00",
                "instalment": "500.00",
                "first_period": "2026-10",
            },
            actor=officers[0],
        )
        db_session.commit()
        _terminate(db_session, leaver, "2026-11-30", hr)
        run = _compute(db_session, officers)
        line = lines_by_code(payslip_of(db_session, run, leaver))["loan"]
        assert line.amount == D("2500.00")  # instalments 2 to 6: all that is left
        assert line.explanation == (
            f"Loan {loan.id}: instalments 2 to 6 of 6, the remaining balance recovered on leaving"
        )


def test_a_termination_in_a_paid_month_is_corrected_by_an_adjustment_run(
    db_session, make_employee, in_department, officers, create_user
):
    """Recorded after October was paid, a last day of 15 October takes back half the month
    and pays the settlement, through an adjustment run of October."""
    from modules.hr.models import Termination

    hr = create_user(username="leaver.hr3", roles=[("POLICE", "hr_officer")])
    leaver = make_employee(number=6)
    with in_department("POLICE"):
        approved_run(db_session, "2026-10", *officers)
        try:
            record = _terminate(db_session, leaver, "2026-10-15", hr)
        except Exception as exc:  # HR may refuse a last day in a paid month: then nothing to do
            pytest.skip(f"HR refuses a termination in a paid month: {exc}")
        assert db_session.scalar(sa.select(sa.func.count(Termination.id))) == 1
        from modules.payroll.services import compute_run, create_run

        adjustment = create_run(db_session, "2026-10", "adjustment")
        compute_run(db_session, adjustment, officers[0])
        slip = payslip_of(db_session, adjustment, leaver)
        differences = dict(
            ((component, code), amount)
            for _month, component, code, amount in difference_lines(slip)
        )
        assert differences[("basic", "retro_deduction")] == "-5161.29"  # 16/31 of 10,000
        if record.gratuity > 0:
            assert differences[("gratuity", "retro")] == f"+{record.gratuity:.2f}"


def test_an_adjustment_run_finds_who_was_paid_but_has_no_contract_any_more(
    db_session, make_employee, in_department, officers, create_user
):
    hr = create_user(username="leaver.hr4", roles=[("POLICE", "hr_officer")])
    leaver = make_employee(number=7)
    with in_department("POLICE"):
        approved_run(db_session, "2026-10", *officers)
        _terminate(db_session, leaver, "2026-09-30", hr)  # recorded late: October was paid
        from modules.payroll.services import compute_run, create_run

        adjustment = create_run(db_session, "2026-10", "adjustment")
        compute_run(db_session, adjustment, officers[0])
        assert [(e.employee_id, e.message.split(":")[0]) for e in adjustment.errors] == [
            (leaver, "the difference is a recovery of 22,500.00")
        ]
