"""HR services: the rules, callable from pages, the API, the CLI, jobs and other modules.

Services flush, never commit. Other modules (payroll) use these, never the tables:

* contracts: `contract_in_force(session, employee, on_date)`, `contracts_in_period(...)`,
  and for a chunk of employees `contract_versions(session, employee_ids, start, end)`
  and `contracts_changed_since(session, employee_ids, since)`
* `pensionable_allowances(session)`, `ALLOWANCE_CODES`, `org_unit_names(session, ids)`
* employees: `employee_of_user(session, user_id)` (`employee_id_of_user(user_id)` as a
  subquery), `find_employee_by_number(session, number)`,
  and in bulk (modules.hr.services.lookups) `employees_by_id(session, ids)`,
  `employee_number_of(column)` (a subquery to sort by),
  `employee_ids_by_number(session, numbers)`,
  `existing_employee_ids(session, ids)`, `employee_names(session, ids)`
* end of service: `settlements_in_period(session, start, end) -> {employee_id: Settlement}`
  (gratuity, remaining annual leave days and their encashment of the leavers
  whose last working day is in the period; modules.hr.services.termination)
* leave (`modules.hr.services.leave`): `working_days(session, start, end)`,
  `unpaid_leave_days(session, employee_id, start, end)`, in bulk
  `employees_on_unpaid_leave(session, start, end)` and
  `unpaid_leave_days_by_employee(session, {employee_id: (first, last)})`, and
  `register_period_lock_check(app, check)` for payroll to refuse leave in a locked period
"""

from __future__ import annotations

from modules.hr.models import ALLOWANCE_CODES
from modules.hr.services.contracts import (
    contract_history,
    contract_in_force,
    contract_versions,
    contracts_changed_since,
    contracts_in_period,
    create_contract_version,
)
from modules.hr.services.employees import (
    EmployeeFilters,
    StaleEmployeeError,
    create_employee,
    employee_id_of_user,
    employee_list_query,
    employee_list_rows,
    employee_of_user,
    find_employee,
    find_employee_by_number,
    update_employee,
)
from modules.hr.services.leave import (
    employees_on_unpaid_leave,
    unpaid_leave_days,
    unpaid_leave_days_by_employee,
)
from modules.hr.services.lookups import (
    EmployeeName,
    employee_ids_by_number,
    employee_names,
    employee_number_of,
    employees_by_id,
    existing_employee_ids,
)
from modules.hr.services.organisation import (
    OrgUnitName,
    ensure_hr_defaults,
    org_unit_names,
    pensionable_allowances,
)
from modules.hr.services.termination import (
    Settlement,
    TerminationPreview,
    preview_termination,
    settlements_in_period,
    terminate_employee,
    undo_termination,
)

__all__ = [
    "ALLOWANCE_CODES",
    "EmployeeFilters",
    "EmployeeName",
    "OrgUnitName",
    "Settlement",
    "StaleEmployeeError",
    "TerminationPreview",
    "contract_history",
    "contract_in_force",
    "contract_versions",
    "contracts_changed_since",
    "contracts_in_period",
    "create_contract_version",
    "create_employee",
    "employee_ids_by_number",
    "employee_list_query",
    "employee_list_rows",
    "employee_names",
    "employee_number_of",
    "employees_by_id",
    "employee_id_of_user",
    "employee_of_user",
    "employees_on_unpaid_leave",
    "ensure_hr_defaults",
    "existing_employee_ids",
    "find_employee",
    "find_employee_by_number",
    "org_unit_names",
    "pensionable_allowances",
    "preview_termination",
    "settlements_in_period",
    "terminate_employee",
    "undo_termination",
    "unpaid_leave_days",
    "unpaid_leave_days_by_employee",
    "update_employee",
]
