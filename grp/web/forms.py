"""Flask-WTF forms of the platform's pages.

Forms check the shape of input (required, length, digits) with translated
messages; the services re-check what they own (unique username, password
policy, role scope) and their errors are shown on the same fields.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
)
from wtforms.widgets import CheckboxInput, ListWidget

from grp.auth.services import MIN_PASSWORD_LENGTH
from grp.organisation import BANK_ROUTING_CODE, WPS_EMPLOYER_ID

# [0-9], not \d: \d also accepts Arabic-Indic digits, which the WPS file cannot carry.
# A plausibility check only; email_validator is not a dependency.
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
MAX_TOKEN_HOURS = 720


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice shown as a list of checkboxes (usable without JavaScript)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class LoginForm(FlaskForm):
    username = StringField(
        _l("Username"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter your username.")), Length(max=150)],
        render_kw={"autocomplete": "username", "autofocus": True},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password."))],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()
    submit = SubmitField(_l("Sign in"))


class DepartmentForm(FlaskForm):
    name_en = StringField(
        _l("Name (English)"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter the English name.")), Length(max=200)],
    )
    name_ar = StringField(
        _l("Name (Arabic)"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter the Arabic name.")), Length(max=200)],
        render_kw={"dir": "rtl", "lang": "ar"},
    )
    wps_employer_id = StringField(
        _l("WPS employer id"),
        filters=[_strip],
        validators=[
            Optional(),
            Regexp(
                WPS_EMPLOYER_ID.pattern, message=_l("Enter exactly 13 digits, or leave it empty.")
            ),
        ],
        description=_l("13 digits, used in the WPS salary file."),
        render_kw={"inputmode": "numeric", "dir": "ltr"},
    )
    bank_routing_code = StringField(
        _l("Bank routing code"),
        filters=[_strip],
        validators=[
            Optional(),
            Regexp(
                BANK_ROUTING_CODE.pattern, message=_l("Enter exactly 9 digits, or leave it empty.")
            ),
        ],
        description=_l("9 digits: the employer's bank in the WPS salary file."),
        render_kw={"inputmode": "numeric", "dir": "ltr"},
    )
    submit = SubmitField(_l("Save"))


class UserCreateForm(FlaskForm):
    username = StringField(
        _l("Username"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter a username.")), Length(max=150)],
        render_kw={"autocomplete": "off"},
    )
    name = StringField(
        _l("Full name"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter the person's name.")), Length(max=200)],
    )
    email = StringField(
        _l("Email"),
        filters=[_strip, lambda v: v or None],
        validators=[
            Optional(),
            Length(max=254),
            Regexp(EMAIL, message=_l("Enter an email address such as name@example.ae.")),
        ],
        render_kw={"type": "email", "dir": "ltr"},
    )
    password = PasswordField(
        _l("Initial password"),
        validators=[
            DataRequired(_l("Enter a password.")),
            Length(
                min=MIN_PASSWORD_LENGTH,
                message=_l("Use at least %(num)d characters.", num=MIN_PASSWORD_LENGTH),
            ),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    language = SelectField(
        _l("Language"),
        choices=[
            SelectChoice("en", "English", render_kw={"lang": "en"}),
            SelectChoice("ar", "العربية", render_kw={"lang": "ar"}),
        ],
    )
    department = SelectField(_l("Department"), coerce=int)
    roles = MultiCheckboxField(
        _l("Roles"), validators=[DataRequired(_l("Choose at least one role."))]
    )
    submit = SubmitField(_l("Create user"))


class UserRolesForm(FlaskForm):
    roles = MultiCheckboxField(_l("Roles"))
    submit = SubmitField(_l("Save roles"))


class UserActiveForm(FlaskForm):
    active = HiddenField(validators=[DataRequired(), Regexp(r"^[01]$")])


class TokenForm(FlaskForm):
    name = StringField(
        _l("Token name"),
        filters=[_strip],
        validators=[DataRequired(_l("Name the token.")), Length(max=100)],
        description=_l("What the token is for, e.g. “finance export”."),
    )
    lifetime_hours = IntegerField(
        _l("Valid for (hours)"),
        validators=[
            InputRequired(_l("Enter a whole number of hours.")),
            NumberRange(
                min=1,
                max=MAX_TOKEN_HOURS,
                message=_l("Choose between 1 and %(max)d hours.", max=MAX_TOKEN_HOURS),
            ),
        ],
        render_kw={"min": 1, "max": MAX_TOKEN_HOURS, "inputmode": "numeric"},
    )
    submit = SubmitField(_l("Create token"))


class PostForm(FlaskForm):
    """A form with no fields: a button that changes state (revoke, sign out), CSRF-checked."""


class LanguageForm(FlaskForm):
    language = HiddenField(validators=[DataRequired()])
    next = HiddenField()


class DepartmentSwitchForm(FlaskForm):
    department_id = SelectField(_l("Department"), coerce=int, validate_choice=False)
    next = HiddenField()
