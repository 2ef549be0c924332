"""Salary components and rules: validated create/update, and the calculation's view of them."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from grp.errors import ValidationError
from grp.money import MoneyError, round_money, to_decimal
from modules.hr.services import ALLOWANCE_CODES
from modules.payroll.calculation import PENSIONABLE, ComponentSpec, RuleSpec, formula_names
from modules.payroll.formula import FormulaError, parse
from modules.payroll.i18n import _
from modules.payroll.models import CATEGORIES, RULE_KINDS, WPS_KINDS, PayComponent, PayRule

COMPONENT_FIELDS = (
    "code",
    "name_en",
    "name_ar",
    "category",
    "pensionable",
    "prorated",
    "wps_kind",
    "display_order",
    "is_active",
)
RULE_FIELDS = (
    "kind",
    "priority",
    "source",
    "base",
    "rate",
    "cap",
    "prorate_base",
    "grade_amounts",
    "formula",
    "nationality_categories",
    "pension_schemes",
    "is_active",
)
CONTRACT_SOURCES = ("basic", *ALLOWANCE_CODES)
NATIONALITY_CATEGORIES = ("uae", "gcc", "other")
PENSION_SCHEMES = ("law_57_2023", "law_7_1999")


def list_components(session: Session) -> list[PayComponent]:
    """Return the department's components in display order, rules loaded."""
    return list(
        session.scalars(
            sa.select(PayComponent)
            .options(selectinload(PayComponent.rules))
            .order_by(PayComponent.display_order, PayComponent.code)
        )
    )


def find_component(session: Session, component_id: int) -> PayComponent | None:
    return session.scalar(sa.select(PayComponent).where(PayComponent.id == component_id))


def find_rule(session: Session, rule_id: int) -> PayRule | None:
    return session.scalar(sa.select(PayRule).where(PayRule.id == rule_id))


def create_component(session: Session, data: Mapping[str, Any]) -> PayComponent:
    """Validate `data` and add a component to the current department."""
    component = PayComponent()
    _apply_component(session, component, data, creating=True)
    session.add(component)
    session.flush()
    return component


def update_component(session: Session, component: PayComponent, data: Mapping[str, Any]) -> None:
    """Validate `data` and change the component (the code stays: lines and formulas use it)."""
    _apply_component(session, component, data, creating=False)
    session.flush()


def _apply_component(
    session: Session, component: PayComponent, data: Mapping[str, Any], *, creating: bool
) -> None:
    errors: dict[str, list[str]] = {}
    values = {key: data[key] for key in COMPONENT_FIELDS if key in data}
    if not creating:
        values.pop("code", None)
    if creating:
        code = str(values.get("code") or "").strip().lower()
        if not code or not code.replace("_", "").isalnum() or not code[0].isalpha():
            errors["code"] = [_("Use letters, digits and underscores, starting with a letter.")]
        elif session.scalar(sa.select(PayComponent.id).where(PayComponent.code == code)):
            errors["code"] = [_("A component with this code exists.")]
        values["code"] = code
        for name in ("name_en", "name_ar", "category"):
            if not values.get(name):
                errors.setdefault(name, [_("Required.")])
    if "category" in values and values["category"] not in CATEGORIES:
        errors["category"] = [_("One of: %(choices)s.", choices=", ".join(CATEGORIES))]
    if "wps_kind" in values and values["wps_kind"] not in WPS_KINDS:
        errors["wps_kind"] = [_("One of: %(choices)s.", choices=", ".join(WPS_KINDS))]
    if errors:
        raise ValidationError(errors)
    for key, value in values.items():
        setattr(component, key, value)


def create_rule(session: Session, component: PayComponent, data: Mapping[str, Any]) -> PayRule:
    """Validate `data` (formulas are parsed, errors carry their position) and add a rule."""
    rule = PayRule()
    _apply_rule(session, rule, {"kind": None, **data})
    component.rules.append(rule)
    session.flush()
    return rule


def update_rule(session: Session, rule: PayRule, data: Mapping[str, Any]) -> None:
    """Validate `data` as a whole rule (unchanged fields kept) and change the rule."""
    current = {key: getattr(rule, key) for key in RULE_FIELDS}
    current.update({key: data[key] for key in RULE_FIELDS if key in data})
    _apply_rule(session, rule, current)
    session.flush()


def _apply_rule(session: Session, rule: PayRule, data: Mapping[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    values = {key: data[key] for key in RULE_FIELDS if key in data}
    kind = values.get("kind")
    if kind not in RULE_KINDS:
        errors["kind"] = [_("One of: %(choices)s.", choices=", ".join(RULE_KINDS))]
    codes = set(session.scalars(sa.select(PayComponent.code)))
    if kind == "contract" and values.get("source") not in CONTRACT_SOURCES:
        errors["source"] = [_("One of: %(choices)s.", choices=", ".join(CONTRACT_SOURCES))]
    if kind == "percent":
        try:
            rate = Decimal(str(values.get("rate") or ""))
            if not rate.is_finite() or rate < 0:
                raise InvalidOperation
            values["rate"] = f"{rate.normalize():f}"
        except InvalidOperation:
            errors["rate"] = [_("A percentage such as 11 or 12.5.")]
        base = values.get("base") or ""
        base_codes = [c.strip() for c in str(base).split(",") if c.strip()]
        if not base_codes:
            errors["base"] = [_("Name the components of the base (or PENSIONABLE).")]
        unknown = [c for c in base_codes if c != PENSIONABLE and c not in codes]
        if unknown:
            errors["base"] = [_("Unknown component: %(codes)s.", codes=", ".join(unknown))]
        values["base"] = ",".join(base_codes)
    if values.get("cap") not in (None, ""):
        try:
            values["cap"] = round_money(to_decimal(str(values["cap"])))
        except MoneyError:
            errors["cap"] = [_("An amount such as 100000.00.")]
    else:
        values["cap"] = None
    if kind == "grade_table":
        amounts = values.get("grade_amounts")
        if not isinstance(amounts, Mapping) or not amounts:
            errors["grade_amounts"] = [_("A table of grade number to amount.")]
        else:
            try:
                values["grade_amounts"] = {
                    str(int(grade)): str(round_money(to_decimal(str(amount))))
                    for grade, amount in amounts.items()
                }
            except (ValueError, MoneyError):
                errors["grade_amounts"] = [_("Grade numbers and amounts such as 1500.00.")]
    if kind == "formula":
        try:
            parse(values.get("formula") or "", formula_names(sorted(codes)))
        except FormulaError as exc:
            errors["formula"] = [str(exc)]
    for name, allowed in (
        ("nationality_categories", NATIONALITY_CATEGORIES),
        ("pension_schemes", PENSION_SCHEMES),
    ):
        raw = values.get(name) or ""
        items = raw if isinstance(raw, list) else str(raw).split(",")
        items = [item.strip() for item in items if item.strip()]
        if any(item not in allowed for item in items):
            errors[name] = [_("Any of: %(choices)s.", choices=", ".join(allowed))]
        values[name] = ",".join(items) or None
    if errors:
        raise ValidationError(errors)
    for key, value in values.items():
        setattr(rule, key, value)


def component_specs(session: Session) -> list[ComponentSpec]:
    """Return the active components and rules as plain values for the calculation.

    Order: earnings first, then deductions and contributions (their bases are
    earnings), each by display order.
    """
    order = {category: index for index, category in enumerate(CATEGORIES)}
    specs = []
    for component in list_components(session):
        if not component.is_active:
            continue
        rules = tuple(
            RuleSpec(
                kind=rule.kind,
                source=rule.source,
                base=tuple(rule.base_codes()),
                rate=rule.rate,
                cap=rule.cap,
                prorate_base=rule.prorate_base,
                grade_amounts=dict(rule.grade_amounts or {}),
                formula=rule.formula,
                nationality_categories=frozenset(_split(rule.nationality_categories)),
                pension_schemes=frozenset(_split(rule.pension_schemes)),
            )
            for rule in sorted(component.rules, key=lambda r: (r.priority, r.id))
            if rule.is_active
        )
        specs.append(
            ComponentSpec(
                code=component.code,
                name_en=component.name_en,
                name_ar=component.name_ar,
                category=component.category,
                pensionable=component.pensionable,
                prorated=component.prorated,
                wps_kind=component.wps_kind,
                display_order=component.display_order,
                rules=rules,
            )
        )
    specs.sort(key=lambda c: (order[c.category], c.display_order, c.code))
    return specs


def _split(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]
