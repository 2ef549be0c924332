"""Organisation services: sectors and departments."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from grp.errors import ValidationError
from grp.models import Department

# ASCII digits only: `\d` would also accept Arabic-Indic digits, which the WPS
# salary file (ASCII) cannot carry.
WPS_EMPLOYER_ID = re.compile(r"^[0-9]{13}$")
BANK_ROUTING_CODE = re.compile(r"^[0-9]{9}$")
EDITABLE_FIELDS = ("name_en", "name_ar", "wps_employer_id", "bank_routing_code", "is_active")


def update_department(session: Session, department: Department, changes: dict[str, Any]) -> None:
    """Change a department's names, WPS identifiers or active flag; validate all first."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: ["This field cannot be changed."] for name in sorted(unknown)})
    cleaned = dict(changes)
    errors: dict[str, list[str]] = {}
    for name in ("name_en", "name_ar"):
        if name in cleaned:
            cleaned[name] = (cleaned[name] or "").strip()
            if not cleaned[name]:
                errors[name] = ["Enter the name."]
            elif len(cleaned[name]) > 200:
                errors[name] = ["Use at most 200 characters."]
    for name, pattern, digits in (
        ("wps_employer_id", WPS_EMPLOYER_ID, 13),
        ("bank_routing_code", BANK_ROUTING_CODE, 9),
    ):
        if name in cleaned:
            value = (cleaned[name] or "").strip()
            # An empty identifier means "not known yet", stored as NULL.
            cleaned[name] = value or None
            if value and not pattern.match(value):
                errors[name] = [f"Must be exactly {digits} digits (0-9), or empty."]
    if errors:
        raise ValidationError(errors)
    for name, value in cleaned.items():
        setattr(department, name, value)
    session.flush()
