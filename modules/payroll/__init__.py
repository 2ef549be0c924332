"""The payroll module: salary components and rules as data, monthly runs, payslips, WPS file.

`setup(app)` registers the API (/api/v1/payroll, /api/v1/me/payslips), the
"payroll.compute" job, the `grp payroll` commands and the ORM guard that keeps
approved payslips immutable; importing the package does nothing else.
It also registers the officer pages (/payroll: runs, payslips, review, reports,
components), the daily preparation of next month's draft runs
(`modules.payroll.scheduled`: `PAYROLL_PREPARE_DAY`, `PAYROLL_SCHEDULE_ENABLED`)
and the variance thresholds (`PAYROLL_VARIANCE_PERCENT`, `PAYROLL_VARIANCE_AMOUNT`).
"""

from __future__ import annotations

from typing import Any

from flask import Flask


def setup(app: Flask) -> None:
    """Register the payroll API, job, commands and payslip guards on `app`."""
    import modules.payroll.models  # noqa: F401 - map the tables before the app uses them
    from grp.extensions import api
    from grp.workflow.jobs import register_job_handler
    from modules.payroll.api import register_api
    from modules.payroll.cli import payroll_cli
    from modules.payroll.jobs import JOB_KIND, compute_run_job
    from modules.payroll.services import install_payslip_guards

    install_payslip_guards()
    register_api(api)
    register_job_handler(app, JOB_KIND, compute_run_job)
    app.cli.add_command(payroll_cli)
    _setup_inputs(app)
    # PDF payslips: pages, self-service, the run export job and its settings.
    from modules.payroll.document_views import setup_documents

    setup_documents(app)
    # Officer and finance pages (/payroll), review settings, next month's run prepared daily.
    from modules.payroll.scheduled import setup_schedule
    from modules.payroll.views import setup_pages

    setup_pages(app)
    setup_schedule(app)


def _setup_inputs(app: Flask) -> None:
    """Inputs pages, the retro look-back setting, and the payroll lock on HR's leave.

    `PAYROLL_RETRO_MONTHS` (`GRP_PAYROLL_RETRO_MONTHS`, 12): how many months back
    a regular run looks for paid months to correct (0: no retro pay).
    """
    import os
    from pathlib import Path

    from modules.hr.services.leave import register_period_lock_check
    from modules.payroll.input_views import inputs_bp
    from modules.payroll.services.inputs import payroll_period_lock

    app.config.setdefault(
        "PAYROLL_RETRO_MONTHS", int(os.environ.get("GRP_PAYROLL_RETRO_MONTHS", 12))
    )
    # The inputs page keeps a checked import file until its uploader confirms it.
    app.config.setdefault("PAYROLL_IMPORT_DIR", Path(app.instance_path) / "payroll_imports")
    app.register_blueprint(inputs_bp)
    register_period_lock_check(app, payroll_period_lock)


def seed_demo(app: Flask, session: Any, *, employees: int) -> None:
    """Give every department the default salary components and rules (idempotent)."""
    import sqlalchemy as sa

    from grp.models import Department
    from grp.tenancy import department_context
    from modules.payroll.services import seed_payroll_defaults

    for department_id in session.scalars(sa.select(Department.id).order_by(Department.id)):
        with department_context(session, department_id):
            seed_payroll_defaults(session)
            session.commit()
