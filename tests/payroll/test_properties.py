"""Properties of the default rules over generated employees (no database: the calculation only)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from modules.payroll.calculation import (
    CalculationError,
    ComponentSpec,
    ContractPart,
    RuleSpec,
    compute_payslip,
    days_in_month,
)
from modules.payroll.services.defaults import DEFAULT_PENSIONABLE, default_components
from modules.payroll.wps import Employer, SalaryRecord, build_sif

ALLOWANCES = ("housing", "transport", "general", "social", "children", "cost_of_living", "other")


def _specs() -> list[ComponentSpec]:
    order = {"earning": 0, "deduction": 1, "employer_contribution": 2}
    specs = []
    for data in default_components(DEFAULT_PENSIONABLE):
        rules = tuple(
            RuleSpec(
                kind=rule["kind"],
                source=rule.get("source"),
                base=tuple(filter(None, (rule.get("base") or "").split(","))),
                rate=rule.get("rate"),
                cap=rule.get("cap"),
                prorate_base=rule.get("prorate_base", False),
                formula=rule.get("formula"),
                nationality_categories=frozenset(
                    filter(None, (rule.get("nationality_categories") or "").split(","))
                ),
                pension_schemes=frozenset(
                    filter(None, (rule.get("pension_schemes") or "").split(","))
                ),
            )
            for rule in data["rules"]
        )
        specs.append(
            ComponentSpec(
                code=data["code"],
                name_en=data["name_en"],
                name_ar=data["name_ar"],
                category=data["category"],
                pensionable=data.get("pensionable", False),
                prorated=data.get("prorated", True),
                wps_kind=data.get("wps_kind", "fixed"),
                display_order=data["display_order"],
                rules=rules,
            )
        )
    specs.sort(key=lambda c: (order[c.category], c.display_order))
    return specs


SPECS = _specs()
amounts = st.integers(min_value=0, max_value=6_000_000).map(lambda fils: Decimal(fils) / 100)
employee = st.fixed_dictionaries(
    {
        "basic": st.integers(min_value=300_000, max_value=20_000_000).map(
            lambda fils: Decimal(fils) / 100
        ),
        **{code: amounts for code in ALLOWANCES},
        "days": st.integers(min_value=1, max_value=30),
        "unpaid": st.integers(min_value=0, max_value=30),
        "category": st.sampled_from(["uae", "gcc", "other"]),
        "scheme": st.sampled_from(["law_57_2023", "law_7_1999"]),
    }
)
PERIOD = date(2026, 11, 1)


def _compute(person):
    """Return the payslip, or None when it cannot be paid (a run error, not a payslip).

    That happens for real: a UAE national under Decree-Law 57/2023 joining on the
    last day owes a full month's pension on one day's pay.
    """
    days = person["days"]
    try:
        return _payslip(person, days)
    except CalculationError as exc:
        assert "negative" in str(exc)
        return None


def _payslip(person, days):
    result = compute_payslip(
        SPECS,
        [
            ContractPart(
                amounts={code: person[code] for code in ("basic", *ALLOWANCES)},
                grade="8",
                days=days,
            )
        ],
        period=PERIOD,
        nationality_category=person["category"],
        pension_scheme=person["scheme"] if person["category"] == "uae" else None,
        unpaid_days=min(person["unpaid"], days),
    )
    return result


@settings(max_examples=200, deadline=None)
@given(employee)
def test_net_is_earnings_minus_deductions_of_rounded_lines(person):
    result = _compute(person)
    if result is None:
        assert person["category"] in ("uae", "gcc")  # only pension can exceed the pay
        return
    for line in result.lines:
        assert line.amount == line.amount.quantize(Decimal("0.01"))
    earnings = sum(line.amount for line in result.lines if line.category == "earning")
    deductions = sum(line.amount for line in result.lines if line.category == "deduction")
    assert result.net == earnings - deductions >= 0
    assert result.income("fixed") + result.income("variable") == result.net
    if person["category"] == "other":  # UAE (GPSSA) and GCC (home scheme) nationals contribute
        assert result.total_employer == 0
    assert days_in_month(PERIOD) == 30


@settings(max_examples=50, deadline=None)
@given(st.lists(employee, min_size=1, max_size=8))
def test_wps_total_is_the_sum_of_nets_and_the_run_total(people):
    results = [r for r in (_compute(person) for person in people) if r is not None]
    records = [
        SalaryRecord(
            employee=f"E{index:05d}",
            person_id=f"{index + 1:014d}",
            routing_code="803320101",
            iban="AE070331234567890123456",
            pay_start=PERIOD,
            pay_end=date(2026, 11, 30),
            fixed=result.income("fixed"),
            variable=result.income("variable"),
            unpaid_days=result.unpaid_days,
        )
        for index, result in enumerate(results)
    ]
    sif = build_sif(
        Employer("12345", "803320101"),
        records,
        salary_month=PERIOD,
        created_at=datetime(2026, 11, 28),
    )
    run_total = sum((result.net for result in results), Decimal("0.00"))
    assert sif.total == run_total
    if sif.content is not None and sif.records:
        assert sif.content.strip().split("\r\n")[-1].split(",")[7] == f"{run_total:.2f}"
