"""Test data of the payroll tests."""

from __future__ import annotations

from typing import Any


def uae_national(**changes: Any) -> dict[str, Any]:
    """Employee changes for a UAE national under Decree-Law 57/2023."""
    values = {
        "nationality": "AE",
        "pension_scheme": "law_57_2023",
        "first_insured_date": "2024-01-01",
        "hire_date": "2024-01-01",
    }
    values.update(changes)
    return values
