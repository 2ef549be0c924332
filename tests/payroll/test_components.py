"""Components and rules as data: defaults, the `grp payroll defaults` command, rule validation."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa


def test_defaults_command_is_idempotent(runner, db_session, departments):
    from grp.tenancy import department_context
    from modules.payroll.models import PayComponent, PayRule

    first = runner.invoke(args=["payroll", "defaults", "--department", "POLICE"])
    assert first.exit_code == 0, first.output
    assert "POLICE: defaults created" in first.output
    second = runner.invoke(args=["payroll", "defaults", "--department", "POLICE"])
    assert "POLICE: already complete" in second.output
    with department_context(db_session, departments["POLICE"].id):
        codes = set(db_session.scalars(sa.select(PayComponent.code)))
        assert {"basic", "housing", "unpaid_leave", "pension_employee", "pension_employer"} <= codes
        pension = db_session.scalars(
            sa.select(PayRule)
            .join(PayComponent)
            .where(PayComponent.code == "pension_employee")
            .order_by(PayRule.priority)
        ).all()
        assert [(r.rate, r.cap, r.pension_schemes) for r in pension] == [
            ("11", Decimal("100000.00"), "law_57_2023"),
            ("5", Decimal("300000.00"), "law_7_1999"),
        ]
    assert runner.invoke(args=["payroll", "defaults", "--department", "NOPE"]).exit_code != 0


def test_rule_validation(db_session, in_department):
    from grp.errors import ValidationError
    from modules.payroll.models import PayComponent
    from modules.payroll.services import create_rule, update_rule

    with in_department("POLICE"):
        basic = db_session.scalar(sa.select(PayComponent).where(PayComponent.code == "basic"))
        with pytest.raises(ValidationError) as caught:
            create_rule(db_session, basic, {"kind": "formula", "formula": "BASIC +"})
        assert caught.value.errors["formula"][0].endswith("(at character 8)")
        with pytest.raises(ValidationError) as caught:
            create_rule(db_session, basic, {"kind": "percent", "rate": "x", "base": "nope"})
        assert set(caught.value.errors) == {"rate", "base"}
        with pytest.raises(ValidationError) as caught:
            create_rule(db_session, basic, {"kind": "contract", "source": "bonus"})
        assert "source" in caught.value.errors
        rule = create_rule(
            db_session,
            basic,
            {
                "kind": "grade_table",
                "grade_amounts": {"8": "1500"},
                "pension_schemes": "law_7_1999",
            },
        )
        assert rule.grade_amounts == {"8": "1500.00"}
        with pytest.raises(ValidationError):
            update_rule(db_session, rule, {"nationality_categories": "martian"})


def test_a_grade_table_rule_pays_by_grade(db_session, make_employee, in_department, create_user):
    from modules.payroll.services import (
        compute_run,
        create_component,
        create_rule,
        create_run,
    )

    employee = make_employee()  # grade 8
    officer = create_user(roles=[("POLICE", "payroll_officer")])
    with in_department("POLICE"):
        component = create_component(
            db_session,
            {
                "code": "grade_bonus",
                "name_en": "Grade allowance",
                "name_ar": "علاوة الدرجة",
                "category": "earning",
                "prorated": False,
            },
        )
        create_rule(db_session, component, {"kind": "grade_table", "grade_amounts": {"8": "750"}})
        run = create_run(db_session, "2026-11")
        compute_run(db_session, run, officer)
        assert run.errors == []
        assert run.total_net == Decimal("23250.00")
        assert employee
