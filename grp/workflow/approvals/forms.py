"""Forms of the approval pages: a decision, a policy with its steps, a delegation.

The forms check the shape of the input; the services check the rules
(`services.clean_policy`, `services.create_delegation`) and their errors are
shown on the same fields.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from grp.web.forms import MultiCheckboxField
from grp.workflow.approvals.policies import MAX_ESCALATION_HOURS, MAX_MANAGER_LEVELS

#: Blank step rows offered below a policy's steps (no JavaScript: a blank row is ignored).
SPARE_STEP_ROWS = 2


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class DecisionForm(FlaskForm):
    comment = TextAreaField(
        _l("Comment"),
        filters=[_strip],
        validators=[Length(max=2000)],
        description=_l("Required when you reject: say why."),
        render_kw={"rows": 2},
    )
    approve = SubmitField(_l("Approve"))
    reject = SubmitField(_l("Reject"))


class CancelForm(FlaskForm):
    comment = TextAreaField(_l("Why withdraw it?"), filters=[_strip], validators=[Length(max=2000)])
    submit = SubmitField(_l("Withdraw the request"))


class StepForm(Form):
    """One step row of the policy form (a sub-form: the policy form carries the CSRF token)."""

    name = StringField(_l("Step name"), filters=[_strip], validators=[Length(max=200)])
    approver_kind = SelectField(
        _l("Approved by"),
        choices=[
            SelectChoice("manager", _l("The requester's manager")),
            SelectChoice("role", _l("Holders of a role")),
            SelectChoice("users", _l("Named users")),
        ],
    )
    manager_levels = IntegerField(
        _l("Manager levels up"),
        default=1,
        validators=[Optional(), NumberRange(min=1, max=MAX_MANAGER_LEVELS)],
        description=_l("1 is the direct manager, 2 the manager's manager."),
    )
    role_code = SelectField(_l("Role"), validate_choice=False)
    usernames = StringField(
        _l("Usernames"),
        filters=[_strip],
        description=_l("Separate several with commas."),
        render_kw={"dir": "ltr"},
    )
    mode = SelectField(
        _l("Several approvers"),
        choices=[
            SelectChoice("all", _l("All must approve")),
            SelectChoice("any", _l("One approval is enough")),
        ],
    )
    min_amount = StringField(
        _l("Only above the amount"),
        filters=[_strip],
        render_kw={"inputmode": "decimal", "dir": "ltr"},
    )
    max_amount = StringField(
        _l("Only up to the amount"),
        filters=[_strip],
        render_kw={"inputmode": "decimal", "dir": "ltr"},
    )
    conditions = TextAreaField(
        _l("Only when"),
        filters=[_strip],
        description=_l("One condition a line, such as: leave_type = annual, sick"),
        render_kw={"rows": 2, "dir": "ltr"},
    )
    escalate_after_hours = IntegerField(
        _l("Escalate after (hours)"),
        validators=[Optional(), NumberRange(min=1, max=MAX_ESCALATION_HOURS)],
    )
    escalation_kind = SelectField(
        _l("Escalate to"),
        choices=[
            SelectChoice("", _l("Nobody")),
            SelectChoice("manager", _l("The approver's manager")),
            SelectChoice("role", _l("Holders of a role")),
        ],
    )
    escalation_role_code = SelectField(_l("Escalation role"), validate_choice=False)


class PolicyForm(FlaskForm):
    document_type = SelectField(
        _l("Document type"), validators=[DataRequired(_l("Choose a document type."))]
    )
    name = StringField(
        _l("Policy name"),
        filters=[_strip],
        validators=[DataRequired(_l("Name the policy.")), Length(max=200)],
    )
    active = BooleanField(_l("Active"), default=True)
    priority = IntegerField(
        _l("Priority"),
        default=100,
        validators=[InputRequired(_l("Enter a whole number.")), NumberRange(min=0, max=10_000)],
        description=_l("When several policies match a document, the lowest number is used."),
    )
    min_amount = StringField(
        _l("Only above the amount"),
        filters=[_strip],
        render_kw={"inputmode": "decimal", "dir": "ltr"},
    )
    max_amount = StringField(
        _l("Only up to the amount"),
        filters=[_strip],
        render_kw={"inputmode": "decimal", "dir": "ltr"},
    )
    conditions = TextAreaField(
        _l("Only when"),
        filters=[_strip],
        description=_l("One condition a line, such as: leave_type = annual, sick"),
        render_kw={"rows": 2, "dir": "ltr"},
    )
    auto_approve = BooleanField(
        _l("Approve automatically when no step applies"),
    )
    steps = FieldList(FormField(StepForm), min_entries=1)
    submit = SubmitField(_l("Save policy"))


class DelegationForm(FlaskForm):
    delegator_id = SelectField(_l("Whose approvals"), coerce=int, validate_choice=False)
    delegate_id = SelectField(
        _l("Delegate to"), coerce=int, validators=[InputRequired(_l("Choose the delegate."))]
    )
    starts_on = DateField(_l("First day"), validators=[InputRequired(_l("Enter the first day."))])
    ends_on = DateField(_l("Last day"), validators=[InputRequired(_l("Enter the last day."))])
    document_types = MultiCheckboxField(
        _l("Document types"), description=_l("None chosen: all document types.")
    )
    reason = StringField(_l("Reason"), filters=[_strip], validators=[Length(max=500)])
    submit = SubmitField(_l("Delegate"))


def parse_conditions(text: str | None) -> dict[str, Any] | None:
    """Read "attribute = value, value" lines into conditions; raise ValueError if malformed."""
    conditions: dict[str, Any] = {}
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        key, sep, values = line.partition("=")
        items = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not key.strip() or not items:
            raise ValueError(line.strip())
        conditions[key.strip()] = items[0] if len(items) == 1 else items
    return conditions or None


def format_conditions(conditions: dict[str, Any] | None) -> str:
    """Write a conditions dict as the lines `parse_conditions` reads."""
    lines = []
    for key, wanted in (conditions or {}).items():
        values = wanted if isinstance(wanted, list) else [wanted]
        lines.append(f"{key} = {', '.join(str(v) for v in values)}")
    return "\n".join(lines)
