"""Payroll formulas: DOMAIN.md rules as formulas, errors with positions, no code execution."""

from __future__ import annotations

from decimal import Decimal

import pytest

from modules.payroll.formula import FormulaError, parse

D = Decimal

# The worked example of the payroll issue: UAE national under Decree-Law 57/2023.
NATIONAL = {
    "BASIC": D("20000.00"),
    "HOUSING": D("8000.00"),
    "TRANSPORT": D("2000.00"),
    "SOCIAL": D("3000.00"),
    "NATIONALITY": "AE",
    "PENSION_SCHEME": "law_57_2023",
}
PENSIONABLE = "BASIC + HOUSING + SOCIAL"
KNOWN = set(NATIONAL) | {"DAYS_PAID", "DAYS_IN_MONTH"}


def test_gpssa_employee_and_employer_contributions():
    employee = parse(f"round(min({PENSIONABLE}, 100000) * 11%)", KNOWN)
    employer = parse(f"round(min({PENSIONABLE}, 100000) * 15%)", KNOWN)
    assert employee.evaluate_amount(NATIONAL) == D("3410.00")
    assert employer.evaluate_amount(NATIONAL) == D("4650.00")


def test_contribution_salary_is_capped():
    rich = {**NATIONAL, "BASIC": D("150000.00")}
    formula = parse(f"round(min({PENSIONABLE}, 100000) * 11%)", KNOWN)
    assert formula.evaluate_amount(rich) == D("11000.00")


def test_conditions_on_nationality_and_scheme():
    formula = parse(
        'if(NATIONALITY == "AE" and PENSION_SCHEME == "law_7_1999", '
        f"round(({PENSIONABLE}) * 5%), "
        f'if(NATIONALITY == "AE", round(({PENSIONABLE}) * 11%), 0))',
        KNOWN,
    )
    assert formula.evaluate_amount(NATIONAL) == D("3410.00")
    assert formula.evaluate_amount({**NATIONAL, "PENSION_SCHEME": "law_7_1999"}) == D("1550.00")
    assert formula.evaluate_amount({**NATIONAL, "NATIONALITY": "IN"}) == D("0")


def test_proration_of_a_joiner():
    # Joining on 16 November 2026: paid 15 of 30 days.
    formula = parse("round(BASIC * DAYS_PAID / DAYS_IN_MONTH)", KNOWN)
    values = {"BASIC": D("10000.00"), "DAYS_PAID": D(15), "DAYS_IN_MONTH": D(30)}
    assert formula.evaluate_amount(values) == D("5000.00")
    values["BASIC"] = D("4000.00")
    assert formula.evaluate_amount(values) == D("2000.00")


def test_rounding_is_half_up_to_the_fils():
    assert parse("round(X)", {"X"}).evaluate_amount({"X": D("2.675")}) == D("2.68")
    assert parse("round(X)", {"X"}).evaluate_amount({"X": D("0.005")}) == D("0.01")
    assert parse("round(-X)", {"X"}).evaluate_amount({"X": D("0.005")}) == D("-0.01")


def test_arithmetic_is_exact_decimal():
    assert parse("0.1 + 0.2").evaluate({}) == D("0.3")
    assert parse("-(2 - 5) * 3").evaluate({}) == D("9")
    assert parse("2 + 3 * 4").evaluate({}) == D("14")


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("BASIC * ", 8, "expected a number"),
        ("BASIC * (HOUSING + 2", 20, "expected ')'"),
        ("BASIC $ 2", 6, "unexpected character '$'"),
        ("BASIK * 2", 0, "unknown name 'BASIK'"),
        ("BASIC + floor(HOUSING)", 8, "unknown function 'floor'"),
        ("round(BASIC, 2)", 0, "round() takes 1 arguments, not 2"),
        ("if(BASIC > 1, 2)", 0, "if() takes 3 arguments, not 2"),
        ('NATIONALITY == "AE', 15, "unterminated text"),
        ("1.2.3", 0, "malformed number"),
        ("", 0, "empty"),
        ("BASIC HOUSING", 6, "unexpected 'HOUSING'"),
    ],
)
def test_invalid_formulas_are_refused_with_the_position(text, position, message):
    with pytest.raises(FormulaError) as error:
        parse(text, KNOWN)
    assert message in error.value.message
    assert error.value.position == position


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "BASIC.__class__",
        "[x for x in ()]",
        "lambda: 1",
        "open('/etc/passwd')",
    ],
)
def test_python_is_not_a_formula(text):
    with pytest.raises(FormulaError):
        parse(text, KNOWN)


def test_evaluation_errors():
    with pytest.raises(FormulaError, match="division by zero"):
        parse("BASIC / 0", KNOWN).evaluate_amount(NATIONAL)
    with pytest.raises(FormulaError, match="expected an amount"):
        parse("NATIONALITY * 2", KNOWN).evaluate(NATIONAL)
    with pytest.raises(FormulaError, match="expected a condition"):
        parse("if(BASIC, 1, 2)", KNOWN).evaluate(NATIONAL)
    with pytest.raises(FormulaError, match="float"):
        parse("X + 1", {"X"}).evaluate({"X": 0.1})
    with pytest.raises(FormulaError, match="does not give an amount"):
        parse("BASIC > 1", KNOWN).evaluate_amount(NATIONAL)


def test_deeply_nested_formulas_are_refused():
    with pytest.raises(FormulaError, match="nested too deeply"):
        parse("(" * 200 + "1" + ")" * 200)


def test_variables_are_listed_for_dependency_order():
    formula = parse(f"min({PENSIONABLE}, 100000) * 11%")
    assert formula.variables == {"BASIC", "HOUSING", "SOCIAL"}
