"""HR models, one file per aggregate; import them from here."""

from __future__ import annotations

from modules.hr.models.change_request import (
    CHANGE_REQUEST_STATES,
    CHANGEABLE_FIELDS,
    ChangeRequest,
)
from modules.hr.models.contract import CONTRACT_TYPES, Contract
from modules.hr.models.document import DOCUMENT_TYPES, DocumentReminder, EmployeeDocument
from modules.hr.models.employee import (
    GENDERS,
    MARITAL_STATUSES,
    NATIONALITY_CATEGORIES,
    PENSION_SCHEMES,
    STATUSES,
    Employee,
)
from modules.hr.models.leave import (
    DAY_BASES,
    ENTRY_KINDS,
    REQUEST_STATES,
    LeaveLedgerEntry,
    LeaveRequest,
    LeaveType,
    PublicHoliday,
    WorkingWeek,
)
from modules.hr.models.org import (
    ALLOWANCE_CODES,
    AllowanceType,
    Grade,
    OrgUnit,
    PayBand,
    Position,
)
from modules.hr.models.search import EmployeeSearchWord
from modules.hr.models.termination import TERMINATION_REASONS, Termination

__all__ = [
    "ALLOWANCE_CODES",
    "CHANGEABLE_FIELDS",
    "CHANGE_REQUEST_STATES",
    "CONTRACT_TYPES",
    "DAY_BASES",
    "ENTRY_KINDS",
    "DOCUMENT_TYPES",
    "GENDERS",
    "MARITAL_STATUSES",
    "NATIONALITY_CATEGORIES",
    "PENSION_SCHEMES",
    "REQUEST_STATES",
    "STATUSES",
    "TERMINATION_REASONS",
    "AllowanceType",
    "ChangeRequest",
    "Contract",
    "DocumentReminder",
    "Employee",
    "EmployeeDocument",
    "EmployeeSearchWord",
    "Grade",
    "LeaveLedgerEntry",
    "LeaveRequest",
    "LeaveType",
    "OrgUnit",
    "PayBand",
    "Position",
    "PublicHoliday",
    "Termination",
    "WorkingWeek",
]
