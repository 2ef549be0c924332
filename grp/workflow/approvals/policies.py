"""Approval policies: checking and saving them, and matching them to documents.

Amounts: a policy or step applies *above* its `min_amount` and *up to and
including* its `max_amount`, so "up to 10,000" and "above 10,000" meet without
overlap. Attribute conditions map an attribute to a value or a list of
allowed values (`{"leave_type": ["annual", "sick"]}`); a document lacking the
attribute does not match, and neither does a document without an amount meet
an amount condition.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from grp.auth.permissions import BUILT_IN_ROLES, SYSTEM_ADMIN
from grp.db import utcnow
from grp.money import MoneyError, to_decimal, to_fils
from grp.tenancy import current_department_id
from grp.workflow.approvals.errors import (
    N_,
    ApprovalValidationError,
    Message,
    NoPolicyError,
    PolicyConflictError,
)
from grp.workflow.approvals.models import (
    ALL,
    APPROVER_KINDS,
    ESCALATE_TO_ROLE,
    ESCALATION_KINDS,
    MODES,
    ROLE,
    USERS,
    ApprovalPolicy,
    ApprovalStep,
)
from grp.workflow.approvals.registry import members_of, registry

MAX_MANAGER_LEVELS = 10
MAX_ESCALATION_HOURS = 24 * 365
MAX_CONDITIONS = 20


def _normalised(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def conditions_match(conditions: Mapping[str, Any] | None, attributes: Mapping[str, Any]) -> bool:
    """Tell whether every condition holds: a value, or a list of allowed values, per attribute."""
    for key, wanted in (conditions or {}).items():
        if key not in attributes or attributes[key] is None:
            return False
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if _normalised(attributes[key]) not in {_normalised(v) for v in allowed}:
            return False
    return True


def amount_matches(
    minimum: Decimal | None, maximum: Decimal | None, amount: Decimal | None
) -> bool:
    """Tell whether `amount` is above `minimum` and at most `maximum` (bounds may be absent).

    A document without an amount meets no amount condition.
    """
    if minimum is None and maximum is None:
        return True
    if amount is None:
        return False
    if minimum is not None and not amount > minimum:
        return False
    return maximum is None or amount <= maximum


def select_policy(
    session: Session, document_type_code: str, amount: Decimal | None, attributes: Mapping[str, Any]
) -> ApprovalPolicy:
    """Return the active policy of the current department that applies to the document."""
    policies = session.scalars(
        sa.select(ApprovalPolicy)
        .where(ApprovalPolicy.document_type == document_type_code, ApprovalPolicy.active)
        .order_by(ApprovalPolicy.priority, ApprovalPolicy.id)
    )
    for policy in policies:
        if amount_matches(policy.min_amount, policy.max_amount, amount) and conditions_match(
            policy.conditions, attributes
        ):
            return policy
    raise NoPolicyError(
        f"no active approval policy of this department applies to {document_type_code!r} "
        "documents like this one; a department administrator adds one under Approval policies"
    )


# --------------------------------------------------------------------------- policies

POLICY_FIELDS = (
    "document_type",
    "name",
    "active",
    "priority",
    "min_amount",
    "max_amount",
    "conditions",
    "auto_approve",
)
STEP_FIELDS = (
    "name",
    "approver_kind",
    "role_code",
    "user_ids",
    "manager_levels",
    "mode",
    "min_amount",
    "max_amount",
    "conditions",
    "escalate_after_hours",
    "escalation_kind",
    "escalation_role_code",
)
ASSIGNABLE_ROLES = tuple(code for code in BUILT_IN_ROLES if code != SYSTEM_ADMIN)


def _add(errors: dict[str, Any], name: str, message: str) -> None:
    errors.setdefault(name, []).append(message)


def _clean_money(errors: dict[str, Any], data: Mapping[str, Any], name: str) -> Decimal | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    try:
        amount = to_decimal(value)
        to_fils(amount)
    except MoneyError:
        _add(
            errors,
            name,
            Message(N_("Enter an amount with at most two decimals, such as 10000.00.")),
        )
        return None
    if amount < 0:
        _add(errors, name, Message(N_("Enter an amount of zero or more.")))
        return None
    return amount


def _clean_range(
    errors: dict[str, Any], data: Mapping[str, Any]
) -> tuple[Decimal | None, Decimal | None]:
    low, high = _clean_money(errors, data, "min_amount"), _clean_money(errors, data, "max_amount")
    if low is not None and high is not None and high <= low:
        _add(errors, "max_amount", Message(N_("The maximum must be above the minimum.")))
    return low, high


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, bool)) and not (
        isinstance(value, str) and not value.strip()
    )


def clean_conditions(errors: dict[str, Any], value: Any) -> dict[str, Any] | None:
    """Check attribute conditions: {"leave_type": ["annual", "sick"], "category": "it"}."""
    if value in (None, {}, ""):
        return None
    if not isinstance(value, dict):
        _add(
            errors,
            "conditions",
            Message(N_('Give conditions as {"attribute": value or [values]}.')),
        )
        return None
    if len(value) > MAX_CONDITIONS:
        _add(
            errors,
            "conditions",
            Message(N_("Give at most %(count)d conditions."), count=MAX_CONDITIONS),
        )
    cleaned: dict[str, Any] = {}
    for key, wanted in value.items():
        if not isinstance(key, str) or not key.strip() or len(key) > 64:
            _add(errors, "conditions", Message(N_("Name each attribute with 1 to 64 characters.")))
            continue
        values = wanted if isinstance(wanted, list) else [wanted]
        if not values or not all(_scalar(v) for v in values):
            _add(
                errors,
                "conditions",
                Message(
                    N_("Give %(attribute)s a value or a list of values (text or numbers)."),
                    attribute=key,
                ),
            )
            continue
        cleaned[key.strip()] = wanted
    return cleaned or None


def _clean_int(
    errors: dict[str, Any],
    data: Mapping[str, Any],
    name: str,
    low: int,
    high: int,
    default: int | None,
) -> int | None:
    value = data.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        _add(
            errors,
            name,
            Message(N_("Enter a whole number from %(low)d to %(high)d."), low=low, high=high),
        )
        return default
    return value


def _clean_step(
    session: Session, data: Mapping[str, Any], department_id: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    errors: dict[str, Any] = {}
    step: dict[str, Any] = {}
    name = (data.get("name") or "").strip()
    if not name:
        _add(errors, "name", Message(N_("Name the step.")))
    elif len(name) > 200:
        _add(errors, "name", Message(N_("Use at most 200 characters.")))
    step["name"] = name
    kind = data.get("approver_kind")
    if kind not in APPROVER_KINDS:
        _add(
            errors,
            "approver_kind",
            Message(N_("Choose one of %(choices)s."), choices=", ".join(APPROVER_KINDS)),
        )
    step["approver_kind"] = kind
    step["role_code"] = None
    step["user_ids"] = None
    step["manager_levels"] = _clean_int(errors, data, "manager_levels", 1, MAX_MANAGER_LEVELS, 1)
    if kind == ROLE:
        role = data.get("role_code")
        if role not in ASSIGNABLE_ROLES:
            _add(
                errors,
                "role_code",
                Message(N_("Choose a role: %(roles)s."), roles=", ".join(ASSIGNABLE_ROLES)),
            )
        step["role_code"] = role
    elif kind == USERS:
        ids = data.get("user_ids") or []
        if (
            not isinstance(ids, list)
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
            or not ids
        ):
            _add(errors, "user_ids", Message(N_("Name at least one user.")))
        else:
            found = members_of(session, department_id, ids)
            missing = [str(i) for i in ids if i not in found or not found[i].is_active]
            if missing:
                _add(
                    errors,
                    "user_ids",
                    Message(
                        N_("Not active users of this department: %(users)s."),
                        users=", ".join(missing),
                    ),
                )
            step["user_ids"] = list(dict.fromkeys(ids))
    mode = data.get("mode") or ALL
    if mode not in MODES:
        _add(errors, "mode", Message(N_("Choose one of %(choices)s."), choices=", ".join(MODES)))
    step["mode"] = mode
    step["min_amount"], step["max_amount"] = _clean_range(errors, data)
    step["conditions"] = clean_conditions(errors, data.get("conditions"))
    hours = _clean_int(errors, data, "escalate_after_hours", 1, MAX_ESCALATION_HOURS, None)
    step["escalate_after_hours"] = hours
    escalation = data.get("escalation_kind") or None
    step["escalation_kind"] = escalation
    step["escalation_role_code"] = None
    if escalation is not None and escalation not in ESCALATION_KINDS:
        _add(
            errors,
            "escalation_kind",
            Message(N_("Choose one of %(choices)s, or none."), choices=", ".join(ESCALATION_KINDS)),
        )
    elif escalation is None and hours is not None:
        _add(errors, "escalation_kind", Message(N_("Choose whom an overdue step is escalated to.")))
    elif escalation == ESCALATE_TO_ROLE:
        role = data.get("escalation_role_code")
        if role not in ASSIGNABLE_ROLES:
            _add(
                errors,
                "escalation_role_code",
                Message(N_("Choose a role: %(roles)s."), roles=", ".join(ASSIGNABLE_ROLES)),
            )
        step["escalation_role_code"] = role
    return step, errors


def clean_policy(
    session: Session, data: Mapping[str, Any], *, policy: ApprovalPolicy | None = None
) -> dict[str, Any]:
    """Check a policy and its steps; return the cleaned values or raise ApprovalValidationError.

    Errors are per field; a step's are under `steps` by the step's index
    (`{"steps": {1: {"role_code": [...]}}}`), as marshmallow reports nested lists.
    """
    department_id = current_department_id(session)
    errors: dict[str, Any] = {}
    cleaned: dict[str, Any] = {}
    code = data.get("document_type")
    if not code:
        _add(errors, "document_type", Message(N_("Choose a document type.")))
    elif code not in registry().document_types:
        _add(
            errors,
            "document_type",
            Message(N_("No module registered the document type %(code)s."), code=code),
        )
    cleaned["document_type"] = code
    name = (data.get("name") or "").strip()
    if not name:
        _add(errors, "name", Message(N_("Name the policy.")))
    elif len(name) > 200:
        _add(errors, "name", Message(N_("Use at most 200 characters.")))
    elif code:
        clash = sa.select(ApprovalPolicy.id).where(
            ApprovalPolicy.document_type == code, sa.func.lower(ApprovalPolicy.name) == name.lower()
        )
        if policy is not None:
            clash = clash.where(ApprovalPolicy.id != policy.id)
        if session.scalar(clash) is not None:
            _add(errors, "name", Message(N_("Another policy of this document type has this name.")))
    cleaned["name"] = name
    cleaned["active"] = bool(data.get("active", True))
    cleaned["auto_approve"] = bool(data.get("auto_approve", False))
    cleaned["priority"] = _clean_int(errors, data, "priority", 0, 10_000, 100)
    cleaned["min_amount"], cleaned["max_amount"] = _clean_range(errors, data)
    cleaned["conditions"] = clean_conditions(errors, data.get("conditions"))
    steps = data.get("steps") or []
    step_errors: dict[int, Any] = {}
    cleaned["steps"] = []
    for index, raw in enumerate(steps):
        step, problems = _clean_step(session, raw, department_id)
        cleaned["steps"].append(step)
        if problems:
            step_errors[index] = problems
    if step_errors:
        errors["steps"] = step_errors
    elif not steps and not cleaned["auto_approve"]:
        _add(
            errors,
            "steps",
            Message(N_("Add at least one step, or approve matching documents automatically.")),
        )
    if errors:
        raise ApprovalValidationError(errors)
    return cleaned


def _apply(policy: ApprovalPolicy, cleaned: dict[str, Any]) -> None:
    existing = list(policy.steps)  # loaded first: a lazy load would flush a half-made change
    for name in POLICY_FIELDS:
        setattr(policy, name, cleaned[name])
    # Update rows in place by position: replacing them would insert sequence 1 again
    # before the old sequence 1 is deleted, against the unique key.
    for index, values in enumerate(cleaned["steps"]):
        if index < len(existing):
            step = existing[index]
        else:
            step = ApprovalStep(sequence=index + 1)
            policy.steps.append(step)
        step.sequence = index + 1
        for name in STEP_FIELDS:
            setattr(step, name, values[name])
    for step in existing[len(cleaned["steps"]) :]:
        policy.steps.remove(step)


def create_policy(session: Session, data: Mapping[str, Any]) -> ApprovalPolicy:
    """Create an approval policy in the current department from checked `data`."""
    cleaned = clean_policy(session, data)
    policy = ApprovalPolicy()
    session.add(policy)
    _apply(policy, cleaned)
    session.flush()
    return policy


def update_policy(
    session: Session,
    policy: ApprovalPolicy,
    data: Mapping[str, Any],
    *,
    expected_version: int | None = None,
) -> ApprovalPolicy:
    """Replace a policy's settings and steps; requests already submitted keep their route.

    `expected_version` (what the editor read) turns a concurrent change into
    `PolicyConflictError` instead of a silent overwrite.
    """
    if expected_version is not None and expected_version != policy.version:
        raise PolicyConflictError("the policy was changed meanwhile; reload it and edit again")
    cleaned = clean_policy(session, data, policy=policy)
    with session.no_autoflush:
        _apply(policy, cleaned)
        # A new version even when only steps changed: requests record the version they followed.
        policy.updated_at = utcnow()
    try:
        session.flush()
    except StaleDataError as exc:
        raise PolicyConflictError(
            "the policy was changed meanwhile; reload it and edit again"
        ) from exc
    return policy


def policy_as_data(policy: ApprovalPolicy) -> dict[str, Any]:
    """Return the policy's editable values in the shape `create_policy` takes."""
    return {
        **{name: getattr(policy, name) for name in POLICY_FIELDS},
        "steps": [{name: getattr(step, name) for name in STEP_FIELDS} for step in policy.steps],
    }
