"""Who reads payslips: audit entries for reads by anyone but the payslip's employee.

A payslip discloses pay and bank details. Officers may read any payslip of their
department, so every read by someone other than the employee (the JSON API, a PDF, an
officer page) leaves an entry in the audit log, written in the reader's transaction (the
view commits it with its response). A run export (ZIP or merged PDF) is one entry per
download naming the run and its payslip count, not one per payslip: a 10,000-payslip
export would otherwise write 10,000 rows per download.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, contains_eager, joinedload, selectinload

from grp.audit import record_event
from grp.models import User
from grp.tenancy import reusable
from modules.hr.services import employee_id_of_user, employee_of_user
from modules.payroll.models import LOCKED_STATES, PayrollRun, Payslip

#: Audit actions (at most 50 characters, the column's width).
PAYSLIP_READ = "payroll.payslip.read"
RUN_EXPORT_READ = "payroll.payslips.export"


def find_payslip(session: Session, payslip_id: int) -> Payslip | None:
    """Return a payslip of the active department with its lines and run, whatever the
    run's state (what an officer may read); another department's is None (404)."""
    return session.scalar(
        sa.select(Payslip)
        .where(Payslip.id == payslip_id)
        .options(selectinload(Payslip.lines), joinedload(Payslip.run))
    )


def _own_payslips(actor_id: int | sa.BindParameter[int], *columns: Any) -> sa.Select:
    """SELECT `columns` (default: Payslip) of the user's own payslips of approved runs.

    Own: of the user's employee record in the active department, a subquery in the same
    statement; a user without one matches nothing. Approved: the run is approved,
    posted or paid (a draft or computed run is not the employee's to see yet).
    """
    return (
        sa.select(*(columns or (Payslip,)))
        .join_from(Payslip, PayrollRun, PayrollRun.id == Payslip.run_id)
        .where(
            Payslip.employee_id == employee_id_of_user(actor_id),
            PayrollRun.state.in_(LOCKED_STATES),
        )
    )


#: An employee's payslips, latest month first; within a month, its latest run first.
LATEST_FIRST = (PayrollRun.period.desc(), PayrollRun.sequence.desc(), Payslip.id.desc())

#: The columns of an employee's own payslip list (MyPayslipSummarySchema), by name.
OWN_LIST_COLUMNS = (
    Payslip.id,
    Payslip.run_id,
    Payslip.employee_id,
    Payslip.employee_no,
    Payslip.name_en,
    Payslip.name_ar,
    Payslip.total_earnings,
    Payslip.total_deductions,
    Payslip.net,
    Payslip.total_employer,
    PayrollRun.period,
    PayrollRun.kind,
    Payslip.pay_start,
    Payslip.pay_end,
    Payslip.paid_days,
    Payslip.unpaid_days,
)


def find_own_payslip(session: Session, payslip_id: int, actor: User) -> Payslip | None:
    """Return `actor`'s own payslip of an approved (or posted, paid) run, else None (404).

    A colleague's payslip, one of a draft or computed run, and another department's
    are all None: their existence is not disclosed.
    """
    return session.scalar(
        _own_payslips(actor.id)
        .where(Payslip.id == payslip_id)
        .options(selectinload(Payslip.lines), contains_eager(Payslip.run))
    )


def own_payslips(session: Session, actor: User) -> list[Payslip]:
    """Return `actor`'s payslips of approved runs, latest month first (no lines loaded)."""
    return list(
        session.scalars(
            _own_payslips(actor.id).options(contains_eager(Payslip.run)).order_by(*LATEST_FIRST)
        )
    )


def own_payslip_rows(actor_id: int) -> tuple[sa.Select, dict[str, Any]]:
    """The user's own payslips of approved runs as rows of `OWN_LIST_COLUMNS`, latest first.

    For the API's list, a page at a time: plain rows, not Payslip and PayrollRun objects
    (a self-service list is among the busiest requests). A reusable statement
    (`grp.tenancy.reusable`, built once) and the values to run it with.
    """
    return _own_rows_statement(), {_OWN_USER: actor_id}


_OWN_USER = "grp_own_payslips_user_id"


@functools.cache
def _own_rows_statement() -> sa.Select:
    mine = sa.bindparam(_OWN_USER, type_=sa.Integer)
    return reusable(_own_payslips(mine, *OWN_LIST_COLUMNS).order_by(*LATEST_FIRST))


def is_own_payslip(session: Session, payslip: Any, actor: User | None) -> bool:
    """Tell whether `actor` is the employee the payslip is for (in its department)."""
    if actor is None:
        return False
    employee = employee_of_user(session, actor.id)
    return employee is not None and employee.id == payslip.employee_id


def record_payslip_read(session: Session, payslip: Any, actor: User | None, *, what: str) -> bool:
    """Log that `actor` read `payslip` as `what` ("json", "pdf", "page"); return whether logged.

    The employee reading their own payslip is not logged: the log is for reads of
    someone else's pay. The caller commits.
    """
    if is_own_payslip(session, payslip, actor):
        return False
    record_event(
        session,
        PAYSLIP_READ,
        entity="Payslip",
        entity_id=str(payslip.id),
        department_id=payslip.department_id,
        details={
            "what": what,
            "run_id": payslip.run_id,
            "employee_id": payslip.employee_id,
            "employee_no": payslip.employee_no,
            "by": actor.username if actor is not None else None,
        },
    )
    return True


def record_run_export_read(
    session: Session, run: Any, actor: User | None, *, file_format: str, payslips: int
) -> None:
    """Log that `actor` downloaded the payslips of a whole run (ZIP or merged PDF)."""
    record_event(
        session,
        RUN_EXPORT_READ,
        entity="PayrollRun",
        entity_id=str(run.id),
        department_id=run.department_id,
        details={
            "what": file_format,
            "period": f"{run.period:%Y-%m}",
            "payslips": payslips,
            "by": actor.username if actor is not None else None,
        },
    )
