"""One employee's payslip for one month, computed rule by rule (no database access).

The run service gathers the facts (the employee, the contract versions
overlapping the month, unpaid days) and the department's components; this
module applies DOMAIN.md's arithmetic:

* a prorated component is paid `monthly × days in contract / calendar days`,
  summed over the contract versions in force in the month (joiners, leavers
  and salary changes); unpaid leave is a deduction computed the same way
  (a formula rule of the defaults);
* an "input" rule pays what the run service found for the employee's month
  (one-off inputs, a loan instalment, an end-of-service settlement), with
  the explanation it was given;
* difference lines (`difference_lines`) correct a month already paid: the
  retro pay of a later run, or an adjustment run of that month;
* each line is rounded to 0.01 half-up; totals are sums of rounded lines;
* net = earnings − deductions; employer contributions are not part of net,
  and a negative net is an error, not a payslip.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from grp.money import round_money
from modules.payroll.formula import Formula, FormulaError, parse

ZERO = Decimal("0.00")
PENSIONABLE = "PENSIONABLE"
#: Facts a formula may use besides the component codes (upper-cased).
FORMULA_FACTS = frozenset(
    {
        "DAYS_IN_MONTH",
        "DAYS_PAID",
        "DAYS_UNPAID",
        "DAYS_WORKED",
        "COUNTRY",
        "EARNINGS",
        "FIXED_MONTHLY",
        "GRADE",
        "NATIONALITY",
        "SCHEME",
    }
)


class CalculationError(ValueError):
    """This employee's payslip cannot be computed (recorded on the run; others go on)."""


@dataclass(frozen=True)
class RuleSpec:
    """The fields of a rule the calculation needs (detached from the session)."""

    kind: str
    source: str | None = None
    base: tuple[str, ...] = ()
    rate: str | None = None
    cap: Decimal | None = None
    prorate_base: bool = False
    grade_amounts: Mapping[str, str] | None = None
    formula: str | None = None
    nationality_categories: frozenset[str] = frozenset()
    pension_schemes: frozenset[str] = frozenset()

    def matches(self, nationality_category: str, pension_scheme: str | None) -> bool:
        if self.nationality_categories and nationality_category not in self.nationality_categories:
            return False
        return not self.pension_schemes or (pension_scheme or "") in self.pension_schemes


@dataclass(frozen=True)
class ComponentSpec:
    code: str
    name_en: str
    name_ar: str
    category: str
    pensionable: bool
    prorated: bool
    wps_kind: str
    display_order: int
    rules: tuple[RuleSpec, ...]


@dataclass(frozen=True)
class ContractPart:
    """A contract version's monthly amounts and the days of the month it covers."""

    amounts: Mapping[str, Decimal | None]  # "basic" and allowance codes
    grade: str
    days: int


@dataclass
class Line:
    code: str
    name_en: str
    name_ar: str
    category: str
    wps_kind: str
    display_order: int
    amount: Decimal
    rule_kind: str
    base: Decimal | None = None
    rate: str | None = None
    days: str | None = None
    formula: str | None = None
    explanation: str | None = None
    retro_period: date | None = None
    retro_component: str | None = None
    retro_difference: Decimal | None = None


@dataclass(frozen=True)
class InputAmount:
    """What an "input" rule pays this month, and why (shown on the payslip line)."""

    amount: Decimal
    explanation: str = ""


#: The components difference lines are paid under: an earning, a deduction, an employer
#: contribution (a department without them gets these names).
RETRO_EARNING = "retro"
RETRO_DEDUCTION = "retro_deduction"
RETRO_EMPLOYER = "retro_employer"
RETRO_CODES = frozenset({RETRO_EARNING, RETRO_DEDUCTION, RETRO_EMPLOYER})


@dataclass
class PayslipResult:
    lines: list[Line] = field(default_factory=list)
    days_in_month: int = 0
    paid_days: int = 0
    unpaid_days: int = 0

    def total(self, category: str) -> Decimal:
        return sum((line.amount for line in self.lines if line.category == category), ZERO)

    @property
    def total_earnings(self) -> Decimal:
        return self.total("earning")

    @property
    def total_deductions(self) -> Decimal:
        return self.total("deduction")

    @property
    def total_employer(self) -> Decimal:
        return self.total("employer_contribution")

    @property
    def net(self) -> Decimal:
        return self.total_earnings - self.total_deductions

    def income(self, wps_kind: str) -> Decimal:
        """Return this payslip's net part paid as WPS `wps_kind` income (fixed or variable)."""
        total = ZERO
        for line in self.lines:
            if line.wps_kind != wps_kind:
                continue
            if line.category == "earning":
                total += line.amount
            elif line.category == "deduction":
                total -= line.amount
        return total


def days_in_month(period: date) -> int:
    return calendar.monthrange(period.year, period.month)[1]


def compute_payslip(
    components: Sequence[ComponentSpec],
    parts: Sequence[ContractPart],
    *,
    period: date,
    nationality_category: str,
    pension_scheme: str | None,
    unpaid_days: int | Decimal = 0,
    inputs: Mapping[str, InputAmount] | None = None,
    country: str = "",
    extra_lines: Sequence[Line] = (),
    allow_negative_net: bool = False,
) -> PayslipResult:
    """Compute every component's line for one employee and month; raise CalculationError.

    `inputs` are the amounts of "input" components by code; `extra_lines`
    (difference lines) are added before net is checked. `allow_negative_net`
    is for recomputing a past month to compare it, never for paying.
    """
    if not parts:
        raise CalculationError("no contract in force in the month")
    month_days = days_in_month(period)
    worked = sum(part.days for part in parts)
    unpaid_days = Decimal(unpaid_days)
    if unpaid_days < 0 or unpaid_days > worked:
        raise CalculationError(
            f"unpaid days ({unpaid_days}) exceed the days in contract ({worked})"
        )
    whole_unpaid = int(unpaid_days.to_integral_value(rounding=ROUND_HALF_UP))
    paid = worked - whole_unpaid
    inputs = inputs or {}
    latest = parts[-1]
    # Earnings are prorated over the days in contract; unpaid days are a deduction line
    # (FIXED_MONTHLY / DAYS_IN_MONTH * DAYS_UNPAID by default), so the payslip shows them.
    part_days = [part.days for part in parts]

    result = PayslipResult(days_in_month=month_days, paid_days=paid, unpaid_days=whole_unpaid)
    paid_amounts: dict[str, Decimal] = {}
    full_amounts: dict[str, Decimal] = {}
    variables: dict[str, Any] = {
        "DAYS_IN_MONTH": Decimal(month_days),
        "DAYS_PAID": Decimal(worked) - unpaid_days,
        "DAYS_UNPAID": unpaid_days,
        "DAYS_WORKED": Decimal(worked),
        "GRADE": latest.grade,
        "NATIONALITY": nationality_category,
        "SCHEME": pension_scheme or "",
        "COUNTRY": country or "",
    }
    full_month = worked == month_days and len(parts) == 1
    days_text = None if full_month else f"{worked}/{month_days}"

    def monthly(rule: RuleSpec, part: ContractPart) -> Decimal:
        if rule.kind == "contract":
            value = part.amounts.get(rule.source or "")
            if value is None:
                raise CalculationError(f"the contract has no amount {rule.source!r}")
            return value
        amounts = rule.grade_amounts or {}
        if part.grade not in amounts:
            raise CalculationError(f"no amount for grade {part.grade} in the grade table")
        return Decimal(str(amounts[part.grade]))

    def base_of(rule: RuleSpec, amounts: Mapping[str, Decimal]) -> Decimal:
        total = ZERO
        for code in rule.base:
            if code == PENSIONABLE:
                total += sum((amounts.get(c.code, ZERO) for c in components if c.pensionable), ZERO)
            else:
                total += amounts.get(code, ZERO)
        return total

    # FIXED_MONTHLY: the full monthly pay of the prorated earnings, the base of day deductions.
    for component in components:
        rule = _first_match(component, nationality_category, pension_scheme)
        if rule is None:
            continue
        if rule.kind in ("contract", "grade_table"):
            full = monthly(rule, latest)
            if component.prorated:
                amount = sum(
                    (
                        monthly(rule, part) * days / month_days
                        for part, days in zip(parts, part_days, strict=True)
                    ),
                    Decimal(0),
                )
            else:
                amount = full
            line_days = days_text if component.prorated else None
            line = _line(component, rule, round_money(amount), days=line_days)
            full_amounts[component.code] = full
        elif rule.kind == "input":
            given = inputs.get(component.code)
            if given is None:
                continue
            line = _line(component, rule, round_money(given.amount))
            line.explanation = given.explanation[:500] or None
            full_amounts[component.code] = line.amount
        elif rule.kind == "percent":
            rate = Decimal(rule.rate or "0")
            base = base_of(rule, paid_amounts if rule.prorate_base else full_amounts)
            if rule.cap is not None:
                cap = rule.cap
                if rule.prorate_base:
                    cap = cap * worked / month_days
                base = min(base, cap)
            line = _line(component, rule, round_money(base * rate / 100), base=round_money(base))
            line.rate = f"{rate.normalize():f}%"
            full_amounts[component.code] = line.amount
        else:
            variables["FIXED_MONTHLY"] = sum(
                (
                    full_amounts.get(c.code, ZERO)
                    for c in components
                    if c.category == "earning" and c.prorated
                ),
                ZERO,
            )
            # EARNINGS: the rounded earnings so far (a day deduction never exceeds them).
            variables["EARNINGS"] = sum(
                (paid_amounts.get(c.code, ZERO) for c in components if c.category == "earning"),
                ZERO,
            )
            for code, value in paid_amounts.items():
                variables[code.upper()] = value
            try:
                amount = _formula(rule.formula or "").evaluate_amount(
                    _with_defaults(variables, components)
                )
            except FormulaError as exc:
                raise CalculationError(f"{component.code}: {exc}") from exc
            line = _line(component, rule, round_money(amount), formula=rule.formula)
            full_amounts[component.code] = line.amount
        if line.amount < 0:
            raise CalculationError(f"{component.code}: negative amount {line.amount}")
        paid_amounts[component.code] = line.amount
        if line.amount != 0:  # a zero allowance is noise on a payslip
            result.lines.append(line)
    result.lines.extend(extra_lines)
    if result.net < 0 and not allow_negative_net:
        raise CalculationError(f"net pay would be negative ({result.net})")
    return result


def amounts_by_code(lines: Sequence[Line]) -> dict[str, Decimal]:
    """Return the lines' amounts summed by component code (difference lines left out)."""
    amounts: dict[str, Decimal] = {}
    for line in lines:
        if line.retro_component is None:
            amounts[line.code] = amounts.get(line.code, ZERO) + line.amount
    return amounts


@dataclass(frozen=True)
class Corrected:
    """A component of a month being corrected: its names and category, what was paid and is due."""

    code: str
    name_en: str
    name_ar: str
    category: str
    paid: Decimal
    due: Decimal


def difference_lines(
    period: date,
    corrected: Sequence[Corrected],
    targets: Mapping[str, ComponentSpec],
    *,
    label: str = "Retro pay",
    label_ar: str = "فروقات بأثر رجعي",
) -> list[Line]:
    """Return the lines that pay (or recover) `due − paid` of each component of `period`.

    An earning paid short is an earning (`retro`), overpaid a deduction
    (`retro_deduction`); a deduction the other way round; an employer
    contribution a signed `retro_employer` line. Each line keeps the month,
    the component and the signed difference, so that a later run counts it as
    paid and never pays the same difference twice.
    """
    lines = []
    for item in corrected:
        difference = round_money(item.due) - round_money(item.paid)
        if difference == 0 or item.code in RETRO_CODES:
            continue
        if item.category == "employer_contribution":
            target, amount = targets[RETRO_EMPLOYER], difference
        elif (item.category == "earning") == (difference > 0):
            target, amount = targets[RETRO_EARNING], abs(difference)
        else:
            target, amount = targets[RETRO_DEDUCTION], abs(difference)
        month = f"{period:%Y-%m}"
        lines.append(
            Line(
                code=target.code,
                name_en=f"{label} {month}: {item.name_en}"[:200],
                name_ar=f"{label_ar} {month}: {item.name_ar}"[:200],
                category=target.category,
                wps_kind=target.wps_kind,
                display_order=target.display_order,
                amount=amount,
                rule_kind="retro",
                base=round_money(item.paid),
                explanation=(
                    f"{label} {month}: {item.name_en}: paid {item.paid:,.2f}, "
                    f"due {item.due:,.2f}, difference {difference:+,.2f}"
                )[:500],
                retro_period=period,
                retro_component=item.code,
                retro_difference=difference,
            )
        )
    return lines


@lru_cache(maxsize=512)
def _formula(text: str) -> Formula:
    """Parse a rule's formula once per process: the hot path evaluates it per employee."""
    return parse(text)


def _with_defaults(
    variables: dict[str, Any], components: Sequence[ComponentSpec]
) -> dict[str, Any]:
    # A component without a line this month is zero in a formula, not an unknown name.
    values = {c.code.upper(): ZERO for c in components}
    values.setdefault("FIXED_MONTHLY", ZERO)
    values.setdefault("EARNINGS", ZERO)
    values.update(variables)
    return values


def _first_match(
    component: ComponentSpec, nationality_category: str, pension_scheme: str | None
) -> RuleSpec | None:
    for rule in component.rules:
        if rule.matches(nationality_category, pension_scheme):
            return rule
    return None


def _line(
    component: ComponentSpec,
    rule: RuleSpec,
    amount: Decimal,
    *,
    base: Decimal | None = None,
    days: str | None = None,
    formula: str | None = None,
) -> Line:
    return Line(
        code=component.code,
        name_en=component.name_en,
        name_ar=component.name_ar,
        category=component.category,
        wps_kind=component.wps_kind,
        display_order=component.display_order,
        amount=amount,
        rule_kind=rule.kind,
        base=base,
        days=days,
        formula=formula,
    )


def formula_names(component_codes: Sequence[str]) -> set[str]:
    """Return the variable names a formula of a department may use."""
    return set(FORMULA_FACTS) | {code.upper() for code in component_codes}
