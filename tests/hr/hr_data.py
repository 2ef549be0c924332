"""Valid and invalid test data of the HR tests (DOMAIN.md's identifiers), shared by the modules."""

from __future__ import annotations

from typing import Any

from grp.identifiers import make_emirates_id, make_uae_iban

VALID_EMIRATES_IDS = ("784-1990-1234567-6", "784-2000-1234567-2")
VALID_IBANS = ("AE070331234567890123456", "AE890570000011000494010")
BAD_CHECKSUM_IBANS = (
    "AE310333000010767710393",
    "AE160240043520123456701",
    "AE020340000221234567001",
)
BAD_LENGTH_IBAN = "AE920330000010790321544728"
BAD_EMIRATES_ID = "784199012345671"


def employee_data(number: int, **changes: Any) -> dict[str, Any]:
    """Valid API/service input for an employee (grade 8 band 2: basic 9,000-14,000)."""
    data: dict[str, Any] = {
        "employee_no": f"E{number:05d}",
        "name_en": f"Test Person {number}",
        "name_ar": f"موظف تجريبي {number}",
        "emirates_id": make_emirates_id(1985, 500_000 + number),
        "nationality": "IN",
        "date_of_birth": "1985-04-12",
        "gender": "female",
        "marital_status": "married",
        "children": 2,
        "hire_date": "2015-03-01",
        "grade": 8,
        "band": 2,
        "iban": make_uae_iban("033", f"{number:016d}"),
        "work_email": f"person{number}@police.example.ae",
        "mobile": "+971501234567",
    }
    data.update(changes)
    return data


def contract_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "start_date": "2015-03-01",
        "basic_salary": "10000.00",
        "general_allowance": "10000.00",
        "housing_allowance": "2500.00",
    }
    data.update(changes)
    return data
