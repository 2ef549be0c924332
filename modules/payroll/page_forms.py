"""Flask-WTF forms of the payroll officer pages (modules/payroll/views.py).

Forms check shape (required, numbers, month format) with translated messages;
the payroll services check the rules (a unique regular run, a formula that
parses, known component codes) and their messages are shown on the same fields.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from grp.web.forms import MultiCheckboxField
from modules.payroll.models import CATEGORIES, RULE_KINDS, RUN_KINDS, WPS_KINDS

#: Display labels of coded values, by kind then code.
LABELS = {
    "state": {
        "draft": _l("Draft"),
        "computed": _l("Computed"),
        "approved": _l("Approved"),
        "posted": _l("Posted"),
        "paid": _l("Paid"),
    },
    "kind": {"regular": _l("Regular"), "adjustment": _l("Adjustment (off-cycle)")},
    "category": {
        "earning": _l("Earning"),
        "deduction": _l("Deduction"),
        "employer_contribution": _l("Employer contribution"),
    },
    "wps_kind": {"fixed": _l("Fixed income"), "variable": _l("Variable income")},
    "rule_kind": {
        "contract": _l("From the contract"),
        "percent": _l("Percentage of a base"),
        "grade_table": _l("Amount by grade"),
        "formula": _l("Formula"),
        "input": _l("Entered amounts (inputs, loans, settlements)"),
        "retro": _l("Difference of an earlier month"),
    },
    "nationality_category": {"uae": _l("UAE"), "gcc": _l("GCC"), "other": _l("Other")},
    "scheme": {
        "law_57_2023": _l("GPSSA, Decree-Law 57/2023"),
        "law_7_1999": _l("GPSSA, Law 7/1999"),
        "gcc": _l("GCC home scheme"),
    },
    "reason": {
        "new": _l("Not paid last month"),
        "joined": _l("Joined this month"),
        "gone": _l("Paid last month, not in this run"),
        "leaving": _l("Pay ends before the month's end"),
        "excluded": _l("Excluded from this run"),
    },
    "report": {
        "register": _l("Payroll register"),
        "components": _l("Totals per component"),
        "org-units": _l("Totals per org unit"),
        "pension": _l("Pension contributions per scheme"),
    },
}

MONTH = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


def _choices(kind: str, codes: tuple[str, ...]) -> list[SelectChoice]:
    return [SelectChoice(code, LABELS[kind].get(code, code)) for code in codes]


class RunForm(FlaskForm):
    period = StringField(
        _l("Month"),
        description=_l("The month to pay, such as 2026-11."),
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        validators=[
            DataRequired(_l("Enter the month.")),
            Regexp(MONTH, message=_l("A month such as 2026-11.")),
        ],
        render_kw={"inputmode": "numeric", "placeholder": "2026-11", "dir": "ltr"},
    )
    kind = SelectField(
        _l("Kind of run"),
        choices=_choices("kind", RUN_KINDS),
        default="regular",
        description=_l(
            "One regular run per month. An adjustment run pays the differences of a month "
            "already paid."
        ),
    )
    submit = SubmitField(_l("Create the run"))


class UnpaidDaysForm(FlaskForm):
    employee_no = StringField(
        _l("Employee number"),
        validators=[DataRequired(_l("Enter the employee number.")), Length(max=20)],
        render_kw={"dir": "ltr"},
    )
    unpaid_days = IntegerField(
        _l("Unpaid days"),
        description=_l("Replaces the unpaid leave approved in HR for this month. Recompute after."),
        validators=[
            InputRequired(_l("Enter a number of days.")),
            NumberRange(min=0, max=31, message=_l("From 0 to 31 days.")),
        ],
    )
    submit = SubmitField(_l("Save the unpaid days"))


class ExcludeForm(FlaskForm):
    employee_id = HiddenField(validators=[DataRequired()])


class ComponentForm(FlaskForm):
    code = StringField(
        _l("Code"),
        description=_l("Letters, digits and underscores; formulas use it in capitals."),
        validators=[DataRequired(_l("Enter a code.")), Length(max=40)],
        render_kw={"dir": "ltr"},
    )
    name_en = StringField(
        _l("Name (English)"), validators=[DataRequired(_l("Enter a name.")), Length(max=200)]
    )
    name_ar = StringField(
        _l("Name (Arabic)"),
        validators=[DataRequired(_l("Enter a name.")), Length(max=200)],
        render_kw={"dir": "rtl", "lang": "ar"},
    )
    category = SelectField(_l("Category"), choices=_choices("category", CATEGORIES))
    pensionable = BooleanField(_l("Pensionable (part of the pension contribution salary)"))
    prorated = BooleanField(_l("Prorated by paid days"), default=True)
    wps_kind = SelectField(_l("WPS income"), choices=_choices("wps_kind", WPS_KINDS))
    display_order = IntegerField(
        _l("Order on the payslip"),
        default=100,
        validators=[InputRequired(_l("Enter a number.")), NumberRange(min=0, max=10000)],
    )
    is_active = BooleanField(_l("Active"), default=True)
    submit = SubmitField(_l("Save the component"))


class RuleForm(FlaskForm):
    kind = SelectField(
        _l("Kind of rule"), choices=_choices("rule_kind", tuple(k for k in RULE_KINDS))
    )
    priority = IntegerField(
        _l("Priority"),
        description=_l("Rules are tried from the lowest number; the first that applies computes."),
        default=100,
        validators=[InputRequired(_l("Enter a number.")), NumberRange(min=0, max=10000)],
    )
    source = StringField(
        _l("Contract amount"),
        description=_l("For a contract rule: basic, or an allowance code such as housing."),
        validators=[Optional(), Length(max=40)],
        render_kw={"dir": "ltr"},
    )
    base = StringField(
        _l("Base"),
        description=_l("For a percentage: component codes separated by commas, or PENSIONABLE."),
        validators=[Optional(), Length(max=400)],
        render_kw={"dir": "ltr"},
    )
    rate = StringField(
        _l("Rate (percent)"),
        description=_l("For a percentage, such as 11 or 12.5."),
        validators=[Optional(), Length(max=20)],
        render_kw={"dir": "ltr", "inputmode": "decimal"},
    )
    cap = StringField(
        _l("Cap of the base"),
        description=_l("An amount such as 100000.00; empty for none."),
        validators=[Optional(), Length(max=20)],
        render_kw={"dir": "ltr", "inputmode": "decimal"},
    )
    prorate_base = BooleanField(_l("Prorate the base by the days in contract"))
    grade_amounts = TextAreaField(
        _l("Amounts by grade"),
        description=_l("For an amount by grade: one line per grade, such as 12=1500.00."),
        validators=[Optional()],
        render_kw={"dir": "ltr", "rows": 4},
    )
    formula = TextAreaField(
        _l("Formula"),
        description=_l(
            "For a formula, such as min(FIXED_MONTHLY / DAYS_IN_MONTH * DAYS_UNPAID, EARNINGS). "
            "Names: component codes in capitals and DAYS_IN_MONTH, DAYS_PAID, DAYS_UNPAID, "
            "DAYS_WORKED, FIXED_MONTHLY, EARNINGS, GRADE, NATIONALITY, SCHEME, COUNTRY."
        ),
        validators=[Optional()],
        render_kw={"dir": "ltr", "rows": 3, "spellcheck": "false"},
    )
    nationality_categories = MultiCheckboxField(
        _l("Only for nationalities"),
        description=_l("None ticked: everyone."),
        choices=_choices("nationality_category", ("uae", "gcc", "other")),
    )
    pension_schemes = MultiCheckboxField(
        _l("Only for pension schemes"),
        description=_l("None ticked: any scheme, or none."),
        choices=_choices("scheme", ("law_57_2023", "law_7_1999")),
    )
    is_active = BooleanField(_l("Active"), default=True)
    submit = SubmitField(_l("Save the rule"))
