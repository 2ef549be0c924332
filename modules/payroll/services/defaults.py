"""The default components and rules of a department: DOMAIN.md's payroll, as data."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from modules.hr.services import pensionable_allowances
from modules.payroll.models import PayComponent, PayRule

#: Allowances that count towards the GPSSA contribution salary when HR has no settings.
DEFAULT_PENSIONABLE = {"housing", "social", "children", "cost_of_living"}

_CONTRACT_COMPONENTS = (
    ("basic", "Basic salary", "الراتب الأساسي"),
    ("housing", "Housing allowance", "بدل السكن"),
    ("transport", "Transport allowance", "بدل المواصلات"),
    ("general", "General allowance", "البدل العام"),
    ("social", "Social allowance", "العلاوة الاجتماعية"),
    ("children", "Children allowance", "علاوة الأبناء"),
    ("cost_of_living", "Cost of living allowance", "بدل غلاء المعيشة"),
    ("other", "Other allowance", "بدلات أخرى"),
)
UAE = "uae"
LAW_57 = "law_57_2023"
LAW_7 = "law_7_1999"


def _pension_rules(employee_rate: bool) -> list[dict[str, Any]]:
    """Decree-Law 57/2023: full month, cap 100,000; Law 7/1999: pro rata, cap 300,000."""
    return [
        {
            "kind": "percent",
            "priority": 10,
            "base": "PENSIONABLE",
            "rate": "11" if employee_rate else "15",
            "cap": Decimal("100000.00"),
            "prorate_base": False,
            "nationality_categories": UAE,
            "pension_schemes": LAW_57,
        },
        {
            "kind": "percent",
            "priority": 20,
            "base": "PENSIONABLE",
            "rate": "5" if employee_rate else "15",
            "cap": Decimal("300000.00"),
            "prorate_base": True,
            "nationality_categories": UAE,
            "pension_schemes": LAW_7,
        },
    ]


def default_components(pensionable: set[str]) -> list[dict[str, Any]]:
    """Return the default components with their rules (`pensionable`: allowance codes)."""
    components: list[dict[str, Any]] = []
    for order, (code, name_en, name_ar) in enumerate(_CONTRACT_COMPONENTS, start=1):
        components.append(
            {
                "code": code,
                "name_en": name_en,
                "name_ar": name_ar,
                "category": "earning",
                "pensionable": code == "basic" or code in pensionable,
                "prorated": True,
                "wps_kind": "fixed",
                "display_order": order * 10,
                "rules": [{"kind": "contract", "source": code, "priority": 10}],
            }
        )
    components += [
        {
            "code": "unpaid_leave",
            "name_en": "Unpaid leave",
            "name_ar": "إجازة بدون راتب",
            "category": "deduction",
            "prorated": False,
            "wps_kind": "fixed",
            "display_order": 200,
            "rules": [
                {
                    "kind": "formula",
                    "priority": 10,
                    # Capped at the earnings: rounding each earning line separately
                    # must not make a fully unpaid month a negative one.
                    "formula": "min(FIXED_MONTHLY / DAYS_IN_MONTH * DAYS_UNPAID, EARNINGS)",
                }
            ],
        },
        {
            "code": "pension_employee",
            "name_en": "Pension contribution (employee)",
            "name_ar": "اشتراك التقاعد (الموظف)",
            "category": "deduction",
            "prorated": False,
            "wps_kind": "fixed",
            "display_order": 210,
            "rules": _pension_rules(employee_rate=True),
        },
        {
            "code": "pension_employer",
            "name_en": "Pension contribution (employer)",
            "name_ar": "اشتراك التقاعد (جهة العمل)",
            "category": "employer_contribution",
            "prorated": False,
            "wps_kind": "fixed",
            "display_order": 300,
            "rules": _pension_rules(employee_rate=False),
        },
    ]
    return components


def seed_payroll_defaults(session: Session) -> bool:
    """Create the default components and rules the current department lacks; return if any.

    Idempotent: a component that exists (edited or not) is kept as it is.
    """
    existing = set(session.scalars(sa.select(PayComponent.code)))
    pensionable = pensionable_allowances(session) or DEFAULT_PENSIONABLE
    created = False
    for data in default_components(pensionable):
        if data["code"] in existing:
            continue
        rules = data.pop("rules")
        component = PayComponent(**data)
        component.rules = [PayRule(**rule) for rule in rules]
        session.add(component)
        created = True
    session.flush()
    return created
