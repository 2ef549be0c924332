"""The payroll module: salary components and rules as data, monthly runs, payslips, WPS file.

`setup(app)` registers the API (/api/v1/payroll, /api/v1/me/payslips), the
"payroll.compute" job, the `grp payroll` commands and the ORM guard that keeps
approved payslips immutable; importing the package does nothing else.
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
