"""Flask-WTF forms of the HR pages.

Forms check presence and types with translated messages; the services check
the rules (Emirates ID and IBAN check digits, bands, dates, uniqueness) and
their messages, already in the user's language, are shown on the same fields.
Choices that depend on the department or language are filled by the views.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from modules.hr.models import ALLOWANCE_CODES

#: Display labels of coded values, by kind then code.
LABELS: dict[str, dict[str, Any]] = {
    "gender": {"male": _l("Male"), "female": _l("Female")},
    "marital_status": {
        "single": _l("Single"),
        "married": _l("Married"),
        "divorced": _l("Divorced"),
        "widowed": _l("Widowed"),
    },
    "status": {
        "active": _l("Active"),
        "suspended": _l("Suspended"),
        "terminated": _l("Terminated"),
    },
    "pension_scheme": {
        "law_57_2023": _l("GPSSA, Decree-Law 57/2023"),
        "law_7_1999": _l("GPSSA, Law 7/1999"),
    },
    "contract_type": {
        "permanent": _l("Permanent"),
        "fixed_term": _l("Fixed term"),
        "temporary": _l("Temporary"),
    },
    "doc_type": {
        "passport": _l("Passport"),
        "residence_visa": _l("Residence visa"),
        "emirates_id": _l("Emirates ID card"),
        "labour_card": _l("Labour card"),
        "certificate": _l("Certificate"),
        "medical_report": _l("Medical report"),
    },
    "termination_reason": {
        "resignation": _l("Resignation"),
        "end_of_contract": _l("End of contract"),
        "retirement": _l("Retirement"),
        "dismissal": _l("Dismissal"),
        "death": _l("Death"),
        "other": _l("Other"),
    },
    "change_request_state": {
        "pending": _l("Pending"),
        "approved": _l("Approved"),
        "rejected": _l("Rejected"),
        "cancelled": _l("Cancelled"),
    },
    "ledger_kind": {
        "accrual": _l("Accrual"),
        "taken": _l("Taken"),
        "adjustment": _l("Adjustment"),
        "carry_forward": _l("Carried forward"),
        "expiry": _l("Expired"),
        "reversal": _l("Given back"),
    },
    "profile_field": {
        "work_email": _l("Work email"),
        "mobile": _l("Mobile"),
        "iban": _l("IBAN"),
        "bank_routing_code": _l("Bank routing code"),
    },
    "nationality_category": {
        "uae": _l("UAE national"),
        "gcc": _l("GCC national"),
        "other": _l("Other nationality"),
    },
    "allowance": {
        "housing": _l("Housing allowance"),
        "transport": _l("Transport allowance"),
        "general": _l("General allowance"),
        "social": _l("Social allowance"),
        "children": _l("Children allowance"),
        "cost_of_living": _l("Cost of living allowance"),
        "other": _l("Other allowance"),
    },
}


def choices(kind: str, *, blank: Any = None) -> list[SelectChoice]:
    """Return the choices of a kind (code, label), optionally after a blank choice."""
    items = [SelectChoice(code, label) for code, label in LABELS[kind].items()]
    return ([SelectChoice("", blank)] if blank is not None else []) + items


BANDS = [SelectChoice(1, "1"), SelectChoice(2, "2"), SelectChoice(3, "3")]


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def optional_int(value: Any) -> int | None:
    """Coerce a select's value to an int, or None for the blank choice."""
    if value in (None, "", "None"):
        return None
    return int(value)


def _money_field(label: Any, *, required: bool = False) -> DecimalField:
    validators: list[Any] = [
        InputRequired(_l("Enter the amount.")) if required else Optional(),
        NumberRange(min=0, message=_l("The amount cannot be negative.")),
    ]
    return DecimalField(
        label,
        places=2,
        validators=validators,
        render_kw={"inputmode": "decimal", "dir": "ltr"},
    )


class _EmployeeFields(FlaskForm):
    employee_no = StringField(
        _l("Employee number"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter the employee number.")), Length(max=20)],
        render_kw={"dir": "ltr"},
    )
    name_en = StringField(
        _l("Name (English)"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter the English name.")), Length(max=200)],
        render_kw={"lang": "en", "dir": "ltr"},
    )
    name_ar = StringField(
        _l("Name (Arabic)"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter the Arabic name.")), Length(max=200)],
        render_kw={"lang": "ar", "dir": "rtl"},
    )
    emirates_id = StringField(
        _l("Emirates ID"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter the Emirates ID."))],
        description=_l("15 digits, with or without dashes: 784-YYYY-NNNNNNN-C."),
        render_kw={"dir": "ltr", "inputmode": "numeric", "autocomplete": "off"},
    )
    nationality = SelectField(
        _l("Nationality"), validators=[DataRequired(_l("Choose the nationality."))]
    )
    date_of_birth = DateField(
        _l("Date of birth"), validators=[InputRequired(_l("Enter the date of birth."))]
    )
    gender = SelectField(_l("Gender"), choices=choices("gender"))
    marital_status = SelectField(_l("Marital status"), choices=choices("marital_status"))
    children = IntegerField(
        _l("Children"),
        default=0,
        validators=[Optional(), NumberRange(min=0, max=30, message=_l("Enter 0 to 30."))],
        render_kw={"inputmode": "numeric", "min": 0, "max": 30},
    )
    hire_date = DateField(_l("Hire date"), validators=[InputRequired(_l("Enter the hire date."))])
    pension_scheme = SelectField(
        _l("Pension scheme"),
        choices=choices("pension_scheme", blank=_l("None (not a UAE national)")),
        description=_l("UAE nationals only: insured from 2023-10-31 falls under Law 57/2023."),
    )
    first_insured_date = DateField(_l("First insured on"), validators=[Optional()])
    position_id = SelectField(_l("Position"), coerce=optional_int, validate_choice=False)
    org_unit_id = SelectField(_l("Org unit"), coerce=optional_int, validate_choice=False)
    manager_no = StringField(
        _l("Manager's employee number"),
        filters=[_strip],
        validators=[Optional(), Length(max=20)],
        render_kw={"dir": "ltr"},
    )
    iban = StringField(
        _l("IBAN"),
        filters=[_strip],
        validators=[Optional()],
        description=_l("AE and 21 digits, e.g. AE07 0331 2345 6789 0123 456."),
        render_kw={"dir": "ltr", "autocomplete": "off"},
    )
    bank_routing_code = StringField(
        _l("Bank routing code"),
        filters=[_strip],
        validators=[Optional()],
        render_kw={"dir": "ltr", "inputmode": "numeric"},
    )
    wps_person_id = StringField(
        _l("WPS person id"),
        filters=[_strip],
        validators=[Optional()],
        description=_l("14 digits, for the WPS salary file."),
        render_kw={"dir": "ltr", "inputmode": "numeric"},
    )
    work_email = StringField(
        _l("Work email"),
        filters=[_strip],
        validators=[Optional(), Length(max=254)],
        render_kw={"type": "email", "dir": "ltr"},
    )
    mobile = StringField(
        _l("Mobile"),
        filters=[_strip],
        validators=[Optional(), Length(max=20)],
        render_kw={"type": "tel", "dir": "ltr"},
    )
    status = SelectField(_l("Status"), choices=choices("status"))
    username = StringField(
        _l("Platform user (username)"),
        filters=[_strip],
        validators=[Optional(), Length(max=150)],
        description=_l("Links the employee's sign-in for self-service."),
        render_kw={"dir": "ltr", "autocomplete": "off"},
    )


class EmployeeForm(_EmployeeFields):
    """Edit an employee; `version` is the record's version when the form was opened."""

    grade = SelectField(_l("Grade"), coerce=optional_int, validate_choice=False)
    band = SelectField(_l("Band"), coerce=optional_int, choices=BANDS)
    version = HiddenField()
    submit = SubmitField(_l("Save"))


class NewEmployeeForm(_EmployeeFields):
    """Create an employee with the first contract version."""

    grade = SelectField(
        _l("Grade"),
        coerce=optional_int,
        validate_choice=False,
        validators=[InputRequired(_l("Choose the grade."))],
    )
    band = SelectField(_l("Band"), coerce=optional_int, choices=BANDS)
    contract_type = SelectField(_l("Contract type"), choices=choices("contract_type"))
    contract_start = DateField(
        _l("Contract starts on"),
        validators=[Optional()],
        description=_l("Empty: the hire date."),
    )
    contract_end = DateField(_l("Contract ends on"), validators=[Optional()])
    basic_salary = _money_field(_l("Basic salary (AED a month)"), required=True)
    housing_allowance = _money_field(LABELS["allowance"]["housing"])
    transport_allowance = _money_field(LABELS["allowance"]["transport"])
    general_allowance = _money_field(LABELS["allowance"]["general"])
    social_allowance = _money_field(LABELS["allowance"]["social"])
    children_allowance = _money_field(LABELS["allowance"]["children"])
    cost_of_living_allowance = _money_field(LABELS["allowance"]["cost_of_living"])
    other_allowance = _money_field(LABELS["allowance"]["other"])
    submit = SubmitField(_l("Create employee"))


class ContractForm(FlaskForm):
    """A new contract version (salary change, promotion, renewal)."""

    start_date = DateField(
        _l("Effective from"), validators=[InputRequired(_l("Enter the date it takes effect."))]
    )
    end_date = DateField(_l("Ends on"), validators=[Optional()])
    contract_type = SelectField(_l("Contract type"), choices=choices("contract_type"))
    grade = SelectField(_l("Grade"), coerce=optional_int, validate_choice=False)
    band = SelectField(_l("Band"), coerce=optional_int, choices=BANDS)
    basic_salary = _money_field(_l("Basic salary (AED a month)"), required=True)
    housing_allowance = _money_field(LABELS["allowance"]["housing"])
    transport_allowance = _money_field(LABELS["allowance"]["transport"])
    general_allowance = _money_field(LABELS["allowance"]["general"])
    social_allowance = _money_field(LABELS["allowance"]["social"])
    children_allowance = _money_field(LABELS["allowance"]["children"])
    cost_of_living_allowance = _money_field(LABELS["allowance"]["cost_of_living"])
    other_allowance = _money_field(LABELS["allowance"]["other"])
    submit = SubmitField(_l("Add contract version"))


ALLOWANCE_FIELDS = tuple(f"{code}_allowance" for code in ALLOWANCE_CODES)


class DocumentForm(FlaskForm):
    doc_type = SelectField(_l("Document"), choices=choices("doc_type"))
    number = StringField(
        _l("Document number"),
        filters=[_strip],
        validators=[Optional(), Length(max=50)],
        render_kw={"dir": "ltr"},
    )
    issue_date = DateField(_l("Issued on"), validators=[Optional()])
    expiry_date = DateField(_l("Expires on"), validators=[Optional()])
    file = FileField(
        _l("File"),
        validators=[FileRequired(_l("Choose a file to upload."))],
        description=_l("PDF, JPEG or PNG."),
        render_kw={"accept": ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png"},
    )
    submit = SubmitField(_l("Upload"))


class ImportForm(FlaskForm):
    file = FileField(
        _l("CSV or XLSX file"),
        validators=[FileRequired(_l("Choose a file to import."))],
        render_kw={"accept": ".csv,.xlsx"},
    )
    submit = SubmitField(_l("Check the file"))


class ImportConfirmForm(FlaskForm):
    token = HiddenField(validators=[DataRequired()])
    mode = HiddenField(validators=[DataRequired()])


class OrgUnitForm(FlaskForm):
    code = StringField(
        _l("Code"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter a code.")), Length(max=32)],
        render_kw={"dir": "ltr"},
    )
    name_en = StringField(
        _l("Name (English)"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter the English name.")), Length(max=200)],
    )
    name_ar = StringField(
        _l("Name (Arabic)"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter the Arabic name.")), Length(max=200)],
        render_kw={"lang": "ar", "dir": "rtl"},
    )
    parent_id = SelectField(_l("Part of"), coerce=optional_int, validate_choice=False)
    is_active = BooleanField(_l("Active"), default=True)
    submit = SubmitField(_l("Save"))


class PositionForm(FlaskForm):
    code = StringField(
        _l("Code"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter a code.")), Length(max=32)],
        render_kw={"dir": "ltr"},
    )
    title_en = StringField(
        _l("Title (English)"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter the English title.")), Length(max=200)],
    )
    title_ar = StringField(
        _l("Title (Arabic)"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter the Arabic title.")), Length(max=200)],
        render_kw={"lang": "ar", "dir": "rtl"},
    )
    org_unit_id = SelectField(_l("Org unit"), coerce=optional_int, validate_choice=False)
    grade = SelectField(_l("Grade"), coerce=optional_int, validate_choice=False)
    is_active = BooleanField(_l("Active"), default=True)
    submit = SubmitField(_l("Save"))


class GradeForm(FlaskForm):
    name_en = StringField(
        _l("Name (English)"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter the English name.")), Length(max=100)],
    )
    name_ar = StringField(
        _l("Name (Arabic)"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter the Arabic name.")), Length(max=100)],
        render_kw={"lang": "ar", "dir": "rtl"},
    )
    band1_min = _money_field(_l("Band 1 minimum basic"), required=True)
    band1_max = _money_field(_l("Band 1 maximum basic"), required=True)
    band2_min = _money_field(_l("Band 2 minimum basic"))
    band2_max = _money_field(_l("Band 2 maximum basic"))
    band3_min = _money_field(_l("Band 3 minimum basic"))
    band3_max = _money_field(_l("Band 3 maximum basic"))
    submit = SubmitField(_l("Save"))


class AllowanceTypeForm(FlaskForm):
    pensionable = BooleanField(_l("Pensionable"))
    submit = SubmitField(_l("Save"))


class TerminationForm(FlaskForm):
    """End of service: reason and dates; "Calculate" previews, "Confirm" records."""

    reason = SelectField(_l("Reason"), choices=choices("termination_reason", blank=_l("Choose…")))
    reason_text = TextAreaField(
        _l("Details"),
        filters=[_strip],
        validators=[Optional(), Length(max=2000)],
        description=_l("Required when the reason is Other."),
    )
    notice_date = DateField(_l("Notice given on"), validators=[Optional()])
    last_working_day = DateField(
        _l("Last working day"), validators=[InputRequired(_l("Enter the last working day."))]
    )
    preview = SubmitField(_l("Calculate"))
    submit = SubmitField(_l("Confirm the termination"))


class ChangeRequestForm(FlaskForm):
    """An employee asks HR to change their contact or bank details."""

    work_email = StringField(
        _l("Work email"),
        filters=[_strip],
        validators=[Optional(), Length(max=254)],
        render_kw={"type": "email", "dir": "ltr"},
    )
    mobile = StringField(
        _l("Mobile"),
        filters=[_strip],
        validators=[Optional(), Length(max=20)],
        render_kw={"type": "tel", "dir": "ltr"},
    )
    iban = StringField(
        _l("IBAN"),
        filters=[_strip],
        validators=[Optional()],
        description=_l("AE and 21 digits, e.g. AE07 0331 2345 6789 0123 456."),
        render_kw={"dir": "ltr", "autocomplete": "off"},
    )
    bank_routing_code = StringField(
        _l("Bank routing code"),
        filters=[_strip],
        validators=[Optional()],
        render_kw={"dir": "ltr", "inputmode": "numeric"},
    )
    note = TextAreaField(
        _l("Note for HR"), filters=[_strip], validators=[Optional(), Length(max=2000)]
    )
    submit = SubmitField(_l("Send to HR"))


class DecisionForm(FlaskForm):
    """Approve or reject with a comment (a rejection needs one)."""

    comment = TextAreaField(
        _l("Comment"), filters=[_strip], validators=[Optional(), Length(max=2000)]
    )
    approve = SubmitField(_l("Approve"))
    reject = SubmitField(_l("Reject"))


class ButtonForm(FlaskForm):
    """A button posting with the CSRF token (undo, withdraw)."""
