"""Scheduled payroll work: preparing next month's draft run, and reminding the officers.

Every day (`payroll.prepare_next_month`, 02:30 UTC = 06:30 in Dubai) the
scheduler calls `run_payroll_preparation`. From the prepare day of the month
on (`PAYROLL_PREPARE_DAY`, environment `GRP_PAYROLL_PREPARE_DAY`, default 20;
a day past the month's end means its last day), it creates next month's draft
regular run in every active department that has salary components and no
regular run for that month yet, and reminds the department's payroll
officers (in-app and e-mail, in their language: event
"payroll.run.prepared").

Running on every day from the prepare day, not only on it, lets a scheduler
that was down on the 20th catch up on the 21st; it is idempotent because a
department's regular run of a month is unique (the database refuses a
second), so a second call creates nothing and so reminds nobody again.
`PAYROLL_SCHEDULE_ENABLED` (`GRP_PAYROLL_SCHEDULE_ENABLED`, default on) set
off leaves the job unregistered.
"""

from __future__ import annotations

import os
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session

from modules.payroll.models import PayComponent, PayrollRun

JOB_ID = "payroll.prepare_next_month"
EVENT = "payroll.run.prepared"
DEFAULT_PREPARE_DAY = 20
ACTOR_NAME = "job:payroll-prepare"

#: The officers' reminder (no amounts: notifications never carry pay).
TEMPLATE = {
    "label_en": "A payroll run is prepared",
    "label_ar": "تم تجهيز مسير رواتب",
    "subject_en": "Payroll of {{ period }} is ready for your inputs",
    "subject_ar": "مسير رواتب شهر {{ period }} جاهز لإدخالاتك",
    "body_en": "GRP created the draft payroll run of {{ period }} for {{ department_en }}.\n\n"
    "Enter the month's one-off inputs and unpaid days, then compute the run, "
    "review its variance report and send it for approval.",
    "body_ar": "أنشأ النظام مسودة مسير رواتب شهر {{ period }} لـ {{ department_ar }}.\n\n"
    "أدخل مدخلات الشهر وأيام الإجازة بدون راتب، ثم احسب المسير وراجع تقرير "
    "الفروقات وأرسله للاعتماد.",
}


def _flag(value: Any) -> bool:
    return str(value).strip().lower() not in ("0", "false", "no", "off", "")


def next_month(today: date) -> date:
    """Return the 1st of the month after `today`'s."""
    return date(today.year + 1, 1, 1) if today.month == 12 else date(today.year, today.month + 1, 1)


def is_prepare_time(today: date, prepare_day: int) -> bool:
    """Tell whether `today` is on or after the month's prepare day (capped at its last day)."""
    return today.day >= min(prepare_day, monthrange(today.year, today.month)[1])


@dataclass
class PreparationReport:
    """What one call did: the runs created (department code → run id), officers reminded."""

    period: date | None = None
    created: dict[str, int] = field(default_factory=dict)
    reminded: int = 0


def prepare_department_run(session: Session, period: date) -> PayrollRun | None:
    """Create the current department's draft regular run of `period` if it should have one.

    None when the department has no salary components (payroll not set up) or
    already has that month's regular run (also when a concurrent call just
    created it).
    """
    from modules.payroll.services.runs import DuplicateRunError, create_run

    if session.scalar(sa.select(PayComponent.id).where(PayComponent.is_active).limit(1)) is None:
        return None
    if session.scalar(
        sa.select(PayrollRun.id).where(PayrollRun.period == period, PayrollRun.sequence == 0)
    ):
        return None
    try:
        return create_run(session, period, "regular")
    except DuplicateRunError:
        return None


def remind_officers(session: Session, run: PayrollRun, department: Any) -> int:
    """Tell the department's payroll officers that `run` waits for them; return how many."""
    from grp.workflow.approvals.services import role_holders
    from grp.workflow.notifications import notify

    officers = role_holders(session, department.id, "payroll_officer")
    for officer in officers:
        notify(
            session,
            recipient=officer,
            event=EVENT,
            context={
                "period": f"{run.period:%Y-%m}",
                "department_en": department.name_en,
                "department_ar": department.name_ar,
            },
            department_id=department.id,
            link=f"/payroll/runs/{run.id}",
        )
    return len(officers)


def prepare_payroll_runs(
    session: Session, *, today: date, prepare_day: int = DEFAULT_PREPARE_DAY
) -> PreparationReport:
    """Prepare next month's runs in every department (see the module docstring); commits.

    Commits per department, so one department's failure leaves the others'
    runs and reminders in place.
    """
    from grp.models import Department
    from grp.tenancy import department_context

    report = PreparationReport()
    if not is_prepare_time(today, prepare_day):
        return report
    period = report.period = next_month(today)
    departments = list(
        session.scalars(sa.select(Department).where(Department.is_active).order_by(Department.id))
    )
    for department in departments:
        with department_context(session, department.id):
            run = prepare_department_run(session, period)
            if run is not None:
                report.created[department.code] = run.id
                report.reminded += remind_officers(session, run, department)
            session.commit()
    return report


def run_payroll_preparation() -> dict[str, Any]:
    """The scheduler's entry point: today in Dubai, the configured prepare day."""
    from grp.audit import set_actor
    from grp.db import db
    from modules.hr.services.values import local_today

    session = db.session
    set_actor(session, None, ACTOR_NAME)
    day = int(current_app.config.get("PAYROLL_PREPARE_DAY", DEFAULT_PREPARE_DAY))
    report = prepare_payroll_runs(session, today=local_today(), prepare_day=day)
    return {
        "period": f"{report.period:%Y-%m}" if report.period else None,
        "created": report.created,
        "reminded": report.reminded,
    }


def setup_schedule(app: Flask) -> None:
    """Read the settings, register the reminder's texts and (when enabled) the daily job."""
    from grp.workflow.jobs import register_scheduled_job
    from grp.workflow.notifications import register_notification_template

    app.config.setdefault(
        "PAYROLL_PREPARE_DAY", os.environ.get("GRP_PAYROLL_PREPARE_DAY") or DEFAULT_PREPARE_DAY
    )
    app.config.setdefault(
        "PAYROLL_SCHEDULE_ENABLED", _flag(os.environ.get("GRP_PAYROLL_SCHEDULE_ENABLED", "1"))
    )
    try:
        day = int(app.config["PAYROLL_PREPARE_DAY"])
    except (TypeError, ValueError):
        day = 0
    if not 1 <= day <= 31:
        # A bad setting stops start-up rather than silently never preparing a run.
        raise ValueError("PAYROLL_PREPARE_DAY must be a day of the month, 1 to 31")
    app.config["PAYROLL_PREPARE_DAY"] = day
    app.config["PAYROLL_SCHEDULE_ENABLED"] = _flag(app.config["PAYROLL_SCHEDULE_ENABLED"])
    register_notification_template(app, EVENT, **TEMPLATE)
    if app.config["PAYROLL_SCHEDULE_ENABLED"]:
        register_scheduled_job(
            app,
            JOB_ID,
            "modules.payroll.scheduled:run_payroll_preparation",
            "cron",
            description="Create next month's draft payroll runs from the prepare day and "
            "remind the payroll officers (safe to run twice).",
            hour=2,
            minute=30,
        )


def schedule_enabled() -> bool:
    """Tell whether the current app prepares runs on schedule."""
    return bool(has_app_context() and current_app.config.get("PAYROLL_SCHEDULE_ENABLED"))
