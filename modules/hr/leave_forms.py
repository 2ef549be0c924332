"""Forms of the leave pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class LeaveRequestForm(FlaskForm):
    """Request leave (for myself, or HR for an employee)."""

    leave_type_id = SelectField(
        _l("Leave type"), coerce=int, validators=[InputRequired(_l("Choose a leave type."))]
    )
    start_date = DateField(_l("First day"), validators=[InputRequired(_l("Enter the first day."))])
    end_date = DateField(_l("Last day"), validators=[InputRequired(_l("Enter the last day."))])
    reason = TextAreaField(_l("Reason"), filters=[_strip], validators=[Length(max=2000)])
    medical_report = FileField(
        _l("Medical report (PDF, JPEG or PNG)"),
        description=_l(
            "Needed for sick leave of more than 2 working days at a time or 6 a year. "
            "Attach it when you send the request."
        ),
        render_kw={"accept": ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png"},
    )
    preview = SubmitField(_l("Count the days"))
    submit = SubmitField(_l("Send for approval"))


class HolidayForm(FlaskForm):
    """Add a public holiday."""

    day = DateField(_l("Date"), validators=[InputRequired(_l("Enter the date."))])
    name_en = StringField(
        _l("Name (English)"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter the English name.")), Length(max=100)],
    )
    name_ar = StringField(
        _l("Name (Arabic)"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter the Arabic name.")), Length(max=100)],
    )
    submit = SubmitField(_l("Add the holiday"))


class LeaveTypeForm(FlaskForm):
    """Change a leave type's rules."""

    name_en = StringField(
        _l("Name (English)"), filters=[_strip], validators=[DataRequired(), Length(max=100)]
    )
    name_ar = StringField(
        _l("Name (Arabic)"), filters=[_strip], validators=[DataRequired(), Length(max=100)]
    )
    paid = BooleanField(_l("Paid"))
    day_basis = SelectField(
        _l("Counted in"),
        choices=[
            SelectChoice("working", _l("Working days")),
            SelectChoice("calendar", _l("Calendar days")),
        ],
    )
    balance_limited = BooleanField(_l("Limited to the balance"))
    accrual = SelectField(
        _l("Accrual"),
        choices=[SelectChoice("none", _l("No accrual")), SelectChoice("monthly", _l("Monthly"))],
    )
    entitlement_rules = StringField(
        _l("Yearly days by grade (such as 12-16:30, 4-11:25, 1-3:18)"),
        filters=[_strip],
        render_kw={"dir": "ltr"},
    )
    carry_forward_cap = StringField(
        _l("Carry-forward cap (days)"), filters=[_strip], validators=[Optional()]
    )
    carry_forward_expiry_months = IntegerField(
        _l("Carried days expire after (months)"), validators=[Optional(), NumberRange(1, 11)]
    )
    max_days_per_request = StringField(
        _l("Most days at a time"), filters=[_strip], validators=[Optional()]
    )
    max_days_per_year = StringField(
        _l("Most days a year"), filters=[_strip], validators=[Optional()]
    )
    document_lifts_limits = BooleanField(_l("A supporting document lifts these limits"))
    once_in_service = BooleanField(_l("Once in service"))
    is_active = BooleanField(_l("Active"))
    submit = SubmitField(_l("Save"))


class NewLeaveTypeForm(LeaveTypeForm):
    """Create a leave type: its code is fixed once created."""

    code = StringField(
        _l("Code"),
        filters=[lambda v: v.strip().lower() if isinstance(v, str) else v],
        validators=[DataRequired(_l("Enter a code.")), Length(max=32)],
        description=_l("Small letters, digits and underscores, such as marriage."),
        render_kw={"dir": "ltr"},
    )


class HolidayCopyForm(FlaskForm):
    """Start a year's holidays from another year's."""

    from_year = IntegerField(
        _l("Copy the holidays of"),
        validators=[InputRequired(_l("Enter a year.")), NumberRange(2000, 2100)],
    )
    to_year = IntegerField(
        _l("Into the year"),
        validators=[InputRequired(_l("Enter a year.")), NumberRange(2000, 2100)],
    )
    copy = SubmitField(_l("Copy the holidays"))


class HolidayConfirmForm(FlaskForm):
    """Confirm an estimated (Hijri) holiday, optionally on another day."""

    day = DateField(_l("Date"), validators=[Optional()])
    confirm = SubmitField(_l("Confirm"))


WEEKDAYS = (
    _l("Monday"),
    _l("Tuesday"),
    _l("Wednesday"),
    _l("Thursday"),
    _l("Friday"),
    _l("Saturday"),
    _l("Sunday"),
)


class WorkingWeekForm(FlaskForm):
    """The department's working weekdays."""

    day0 = BooleanField(WEEKDAYS[0])
    day1 = BooleanField(WEEKDAYS[1])
    day2 = BooleanField(WEEKDAYS[2])
    day3 = BooleanField(WEEKDAYS[3])
    day4 = BooleanField(WEEKDAYS[4])
    day5 = BooleanField(WEEKDAYS[5])
    day6 = BooleanField(WEEKDAYS[6])
    submit = SubmitField(_l("Save"))

    def working_days(self) -> str:
        return "".join("1" if getattr(self, f"day{i}").data else "0" for i in range(7))


class AdjustmentForm(FlaskForm):
    """HR adds an adjustment to an employee's leave ledger."""

    leave_type_id = SelectField(
        _l("Leave type"), coerce=int, validators=[InputRequired(_l("Choose a leave type."))]
    )
    days = StringField(
        _l("Days"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter the days."))],
        description=_l("Positive adds days, negative takes them away, such as 2.5 or -1."),
        render_kw={"dir": "ltr", "inputmode": "decimal"},
    )
    note = StringField(
        _l("Reason"),
        filters=[_strip],
        validators=[DataRequired(_l("Say why the balance is adjusted.")), Length(max=500)],
    )
    entry_date = DateField(_l("Effective on"), validators=[Optional()])
    submit = SubmitField(_l("Add the adjustment"))


class ConfirmForm(FlaskForm):
    """A button posting with the CSRF token (cancel, delete)."""
