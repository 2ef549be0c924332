"""The HR module: organisation, grades and bands, employees, contracts, documents, leave.

`setup(app)` registers the pages (/hr/..., /hr/leave/...), the API
(/api/v1/hr/..., /api/v1/me), the `grp hr` commands, the module's settings,
and for leave: the approval document type "hr.leave_request", the manager
resolver (the employee records' managers) and the monthly accrual job;
importing the package does nothing else. Other modules use `modules.hr.services`, never the tables.

Settings (environment variable, default):

* `HR_DOCUMENT_DIR` (`GRP_HR_DOCUMENT_DIR`, `<instance>/hr_documents`): uploaded documents.
* `HR_DOCUMENT_MAX_BYTES` (`GRP_HR_DOCUMENT_MAX_BYTES`, 5 MiB): largest document.
* `HR_IMPORT_MAX_ROWS` (`GRP_HR_IMPORT_MAX_ROWS`, 50,000): largest import file.
* `HR_DOCUMENT_REMINDER_DAYS` (`GRP_HR_DOCUMENT_REMINDER_DAYS`, "30"): days before
  expiry that documents are reminded of, comma-separated ("60,30,7").
* `HR_LEAVE_ENCASHMENT_DIVISOR` (`GRP_HR_LEAVE_ENCASHMENT_DIVISOR`, 30): remaining
  annual leave is paid at basic / this many days per day at the end of service.

Scheduled jobs: monthly leave accrual (1st, 01:00), year-end carry-forward
(1 January, 00:30), document expiry reminders (daily, 06:00). Approval
document types: "hr.leave_request" and "hr.change_request" (self-service
changes of contact and bank details).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from flask import Flask


def setup(app: Flask) -> None:
    """Register the HR pages, API, commands and settings on `app`."""
    import modules.hr.models  # noqa: F401 - map the tables before the app uses them
    from grp.extensions import api
    from modules.hr.api import register_api
    from modules.hr.cli import hr_cli
    from modules.hr.leave_api import register_leave_api
    from modules.hr.leave_views import leave_bp
    from modules.hr.profile_api import register_profile_api
    from modules.hr.views import bp

    # Endpoint files that add routes to the blueprints above, before they are registered.
    for endpoints in ("profile_views", "termination_api", "termination_views"):
        importlib.import_module(f"modules.hr.{endpoints}")

    instance = Path(app.instance_path)
    app.config.setdefault(
        "HR_DOCUMENT_DIR",
        Path(os.environ.get("GRP_HR_DOCUMENT_DIR") or instance / "hr_documents"),
    )
    app.config.setdefault(
        "HR_DOCUMENT_MAX_BYTES", int(os.environ.get("GRP_HR_DOCUMENT_MAX_BYTES", 5 * 1024 * 1024))
    )
    app.config.setdefault(
        "HR_IMPORT_MAX_ROWS", int(os.environ.get("GRP_HR_IMPORT_MAX_ROWS", 50_000))
    )
    app.config.setdefault(
        "HR_DOCUMENT_REMINDER_DAYS", os.environ.get("GRP_HR_DOCUMENT_REMINDER_DAYS", "30")
    )
    app.config.setdefault(
        "HR_LEAVE_ENCASHMENT_DIVISOR",
        int(os.environ.get("GRP_HR_LEAVE_ENCASHMENT_DIVISOR", 30)),
    )
    # Pages keep an uploaded import file between the dry run and "import the valid rows".
    app.config.setdefault("HR_IMPORT_DIR", instance / "hr_imports")
    app.register_blueprint(bp)
    app.register_blueprint(leave_bp)
    register_api(api)
    register_leave_api(api)
    register_profile_api(api)
    app.cli.add_command(hr_cli)
    _setup_leave(app)
    _setup_self_service(app)
    _setup_reminders(app)


def _setup_leave(app: Flask) -> None:
    """Route leave requests through the approval engine and accrue leave monthly."""
    from grp.workflow.approvals import register_document_type, set_manager_resolver
    from grp.workflow.jobs import register_scheduled_job
    from modules.hr.services.leave import DOCUMENT_TYPE, leave_decided, resolve_manager

    register_document_type(app, DOCUMENT_TYPE, "Leave request", "طلب إجازة", leave_decided)
    # HR owns the org chart: a user's manager is their employee record's manager.
    set_manager_resolver(app, resolve_manager)
    register_scheduled_job(
        app,
        "hr.leave.monthly_accrual",
        "modules.hr.services.leave:run_monthly_accrual",
        "cron",
        description="Accrue monthly leave (catches up missed months; safe to run twice).",
        day=1,
        hour=1,
    )
    # Before the accrual of 1 January (which would do the same for each employee it accrues).
    register_scheduled_job(
        app,
        "hr.leave.carry_forward",
        "modules.hr.services.leave:run_carry_forward",
        "cron",
        description="Carry leave balances into the new year, capped (safe to run twice).",
        month=1,
        day=1,
        hour=0,
        minute=30,
    )


def _setup_self_service(app: Flask) -> None:
    """Route employees' change requests of their details through the approval engine."""
    from grp.workflow.approvals import register_document_type
    from modules.hr.services.change_requests import DOCUMENT_TYPE, change_request_decided

    register_document_type(
        app, DOCUMENT_TYPE, "Change of my details", "تعديل بياناتي", change_request_decided
    )


def _setup_reminders(app: Flask) -> None:
    """Remind HR officers and employees daily of documents about to expire."""
    from grp.workflow.jobs import register_scheduled_job
    from grp.workflow.notifications import register_notification_template
    from modules.hr.services.reminders import OFFICER_EVENT, OFFICER_TEMPLATE, parse_thresholds

    parse_thresholds(app.config["HR_DOCUMENT_REMINDER_DAYS"])  # a bad setting stops start-up
    register_notification_template(app, OFFICER_EVENT, **OFFICER_TEMPLATE)
    register_scheduled_job(
        app,
        "hr.documents.expiry_reminders",
        "modules.hr.services.reminders:run_document_reminders",
        "cron",
        description="Remind HR and employees of documents about to expire (once per threshold).",
        hour=6,
        minute=0,
    )


def seed_demo(app: Flask, session: Any, *, employees: int) -> None:
    """Fill every department with demo organisation, grades and `employees` employees in total.

    Idempotent: what exists is kept and a second run adds nothing. Links the
    demo logins (`police.employee`, `dm.manager`, ...) to employee records.
    """
    from modules.hr.demo import seed

    seed(session, employees=employees)
