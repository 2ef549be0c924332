"""HR services: the rules, callable from pages, the API, the CLI, jobs and other modules.

Services flush, never commit. Other modules (payroll) use these, never the tables:

* `contract_in_force(session, employee, on_date)` and `contracts_in_period(...)`
* `pensionable_allowances(session)`
* `employee_of_user(session, user_id)`, `find_employee_by_number(session, number)`
* end of service: `settlements_in_period(session, start, end) -> {employee_id: Settlement}`
  (gratuity, remaining annual leave days and their encashment of the leavers
  whose last working day is in the period; modules.hr.services.termination)
* leave (`modules.hr.services.leave`): `working_days(session, start, end)`,
  `unpaid_leave_days(session, employee_id, start, end)`, and
  `register_period_lock_check(app, check)` for payroll to refuse leave in a locked period
"""

from __future__ import annotations

from modules.hr.services.contracts import (
    contract_history,
    contract_in_force,
    contracts_in_period,
    create_contract_version,
)
from modules.hr.services.employees import (
    EmployeeFilters,
    StaleEmployeeError,
    create_employee,
    employee_list_query,
    employee_of_user,
    find_employee,
    find_employee_by_number,
    update_employee,
)
from modules.hr.services.organisation import ensure_hr_defaults, pensionable_allowances
from modules.hr.services.termination import (
    Settlement,
    TerminationPreview,
    preview_termination,
    settlements_in_period,
    terminate_employee,
    undo_termination,
)

__all__ = [
    "EmployeeFilters",
    "Settlement",
    "StaleEmployeeError",
    "TerminationPreview",
    "contract_history",
    "contract_in_force",
    "contracts_in_period",
    "create_contract_version",
    "create_employee",
    "employee_list_query",
    "employee_of_user",
    "ensure_hr_defaults",
    "find_employee",
    "find_employee_by_number",
    "pensionable_allowances",
    "preview_termination",
    "settlements_in_period",
    "terminate_employee",
    "undo_termination",
    "update_employee",
]
