"""Payroll services: components and rules, defaults, runs and payslips (flush, never commit)."""

from __future__ import annotations

from modules.payroll.services.components import (
    component_specs,
    create_component,
    create_rule,
    find_component,
    find_rule,
    list_components,
    update_component,
    update_rule,
)
from modules.payroll.services.defaults import seed_payroll_defaults
from modules.payroll.services.inputs import (
    InputsLocked,
    add_input,
    create_loan,
    delete_input,
    import_inputs,
    payroll_period_lock,
)
from modules.payroll.services.lifecycle import LifecycleRefused, mark_run_paid, post_run
from modules.payroll.services.runs import (
    ApprovalRefused,
    DuplicateRunError,
    PayslipLocked,
    RunStateError,
    approve_run,
    compute_run,
    create_run,
    exclude_employee,
    find_run,
    install_payslip_guards,
    set_unpaid_days,
)

__all__ = [
    "ApprovalRefused",
    "DuplicateRunError",
    "InputsLocked",
    "LifecycleRefused",
    "PayslipLocked",
    "RunStateError",
    "add_input",
    "approve_run",
    "component_specs",
    "compute_run",
    "create_component",
    "create_loan",
    "create_rule",
    "create_run",
    "delete_input",
    "exclude_employee",
    "find_component",
    "find_rule",
    "find_run",
    "import_inputs",
    "install_payslip_guards",
    "list_components",
    "mark_run_paid",
    "payroll_period_lock",
    "post_run",
    "seed_payroll_defaults",
    "set_unpaid_days",
    "update_component",
    "update_rule",
]
