"""The default components and rules of a department: DOMAIN.md's payroll, as data.

Besides the contract components, unpaid leave and the GPSSA pension:

* one-off inputs (`overtime`, `other_earning`, `other_deduction`) and loan
  instalments (`loan`): "input" rules, WPS variable income;
* the end-of-service settlement of a leaver (`gratuity`, `leave_encashment`),
  fed from HR's settlements: "input" rules, neither pensionable nor prorated;
* difference lines of retro pay and adjustment runs (`retro`,
  `retro_deduction`, `retro_employer`): no rules, the run service fills them;
* the home-scheme pension of GCC nationals (`gcc_pension_employee`,
  `gcc_pension_employer`), with **placeholder** rates (see `GCC_PENSION`).
"""

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
GCC = "gcc"
LAW_57 = "law_57_2023"
LAW_7 = "law_7_1999"

#: Components an officer may give one-off amounts (PayrollInput) or loans for.
OVERTIME = "overtime"
OTHER_EARNING = "other_earning"
OTHER_DEDUCTION = "other_deduction"
LOAN = "loan"
#: Components fed from HR's end-of-service settlement, never entered by hand.
GRATUITY = "gratuity"
LEAVE_ENCASHMENT = "leave_encashment"
SETTLEMENT_CODES = frozenset({GRATUITY, LEAVE_ENCASHMENT})

#: GCC nationals' home-scheme pension (DOMAIN.md: "GCC nationals: their home scheme,
#: configurable"). PLACEHOLDERS, not sourced values: each GCC state's law sets its own
#: rates and ceiling (Saudi GOSI, Kuwait PIFSS, Bahrain SIO, Oman SPF, Qatar GRSIA),
#: remitted through the GCC extension of insurance protection. Set the real rates on the
#: department's rules; per country, a formula rule can test COUNTRY ("SA", "KW", ...).
GCC_PENSION = {
    "employee_rate": "7",
    "employer_rate": "12.5",
    "cap": Decimal("100000.00"),
    # Pro rata from the joining date, as GPSSA's Law 7/1999 for government employees.
    "prorate_base": True,
}


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


def _gcc_pension_rule(employee_rate: bool) -> dict[str, Any]:
    return {
        "kind": "percent",
        "priority": 10,
        "base": "PENSIONABLE",
        "rate": GCC_PENSION["employee_rate" if employee_rate else "employer_rate"],
        "cap": GCC_PENSION["cap"],
        "prorate_base": GCC_PENSION["prorate_base"],
        "nationality_categories": GCC,
    }


def _input_component(
    code: str, name_en: str, name_ar: str, category: str, order: int
) -> dict[str, Any]:
    """A component paid from inputs: WPS variable, not prorated, not pensionable."""
    return {
        "code": code,
        "name_en": name_en,
        "name_ar": name_ar,
        "category": category,
        "prorated": False,
        "wps_kind": "variable",
        "display_order": order,
        "rules": [{"kind": "input", "priority": 10}],
    }


def _difference_component(
    code: str, name_en: str, name_ar: str, category: str, order: int
) -> dict[str, Any]:
    """A component of difference lines (retro pay, adjustment runs): no rule computes it."""
    return {
        "code": code,
        "name_en": name_en,
        "name_ar": name_ar,
        "category": category,
        "prorated": False,
        "wps_kind": "variable",
        "display_order": order,
        "rules": [],
    }


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
        _input_component(OVERTIME, "Overtime", "العمل الإضافي", "earning", 100),
        _input_component(OTHER_EARNING, "Other earning", "مستحقات أخرى", "earning", 110),
        _input_component(
            GRATUITY, "End-of-service gratuity", "مكافأة نهاية الخدمة", "earning", 120
        ),
        _input_component(
            LEAVE_ENCASHMENT, "Leave encashment", "بدل نقدي عن رصيد الإجازات", "earning", 130
        ),
        _difference_component("retro", "Retro pay", "فروقات رواتب بأثر رجعي", "earning", 150),
        {
            "code": "gcc_pension_employee",
            "name_en": "GCC pension contribution (employee)",
            "name_ar": "اشتراك التقاعد لمواطني دول مجلس التعاون (الموظف)",
            "category": "deduction",
            "prorated": False,
            "wps_kind": "fixed",
            "display_order": 215,
            "rules": [_gcc_pension_rule(employee_rate=True)],
        },
        _input_component(LOAN, "Loan instalment", "قسط القرض", "deduction", 230),
        _input_component(OTHER_DEDUCTION, "Other deduction", "استقطاعات أخرى", "deduction", 240),
        _difference_component(
            "retro_deduction", "Retro deduction", "استرداد فروقات بأثر رجعي", "deduction", 250
        ),
        {
            "code": "gcc_pension_employer",
            "name_en": "GCC pension contribution (employer)",
            "name_ar": "اشتراك التقاعد لمواطني دول مجلس التعاون (جهة العمل)",
            "category": "employer_contribution",
            "prorated": False,
            "wps_kind": "fixed",
            "display_order": 305,
            "rules": [_gcc_pension_rule(employee_rate=False)],
        },
        _difference_component(
            "retro_employer",
            "Retro employer contribution",
            "فروقات اشتراك جهة العمل بأثر رجعي",
            "employer_contribution",
            350,
        ),
    ]
    return components


def difference_component_specs() -> dict[str, Any]:
    """Return the default difference components as calculation specs, by code.

    A department seeded before they existed still gets difference lines, under
    these names, until `grp payroll defaults` adds the components themselves.
    """
    from modules.payroll.calculation import ComponentSpec

    return {
        data["code"]: ComponentSpec(
            code=data["code"],
            name_en=data["name_en"],
            name_ar=data["name_ar"],
            category=data["category"],
            pensionable=False,
            prorated=False,
            wps_kind=data["wps_kind"],
            display_order=data["display_order"],
            rules=(),
        )
        for data in default_components(set())
        if data["code"] in ("retro", "retro_deduction", "retro_employer")
    }


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
