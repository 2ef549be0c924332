"""Forms of the notification pages: channel choices per event, and the mobile number."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, SubmitField
from wtforms.validators import Length, Optional, ValidationError

from grp.workflow.notifications.services import EventChoice, normalize_uae_mobile


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class PreferencesForm(FlaskForm):
    """The mobile number; `preferences_form` adds an e-mail and an SMS box per event."""

    mobile = StringField(
        _l("Mobile number for SMS"),
        filters=[_strip],
        validators=[Optional(), Length(max=20)],
        description=_l("A UAE mobile number such as +971501234567. Leave it empty for no SMS."),
        render_kw={"dir": "ltr", "inputmode": "tel", "autocomplete": "tel"},
    )
    submit = SubmitField(_l("Save preferences"))

    def validate_mobile(self, field: StringField) -> None:
        try:
            field.data = normalize_uae_mobile(field.data)
        except ValueError:
            raise ValidationError(_l("Enter a UAE mobile number such as +971501234567.")) from None


def preferences_form(events: list[EventChoice], **kwargs: Any) -> PreferencesForm:
    """Return the preferences form with a pair of boxes per event (`email_<i>`, `sms_<i>`)."""
    boxes: dict[str, Any] = {}
    for index, choice in enumerate(events):
        boxes[f"email_{index}"] = BooleanField(_l("E-mail"), default=choice.email)
        boxes[f"sms_{index}"] = BooleanField(_l("SMS"), default=choice.sms)
    form_class = type("EventPreferencesForm", (PreferencesForm,), boxes)
    return form_class(**kwargs)
