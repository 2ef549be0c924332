"""The end of a run's life: approved → posted (to the general ledger) → paid.

DOMAIN.md's lifecycle is draft → computed → approved → posted → paid, forward
only. `services.runs` owns the first three states; this module moves an
approved run on. Neither step touches a payslip: the ORM guard of
`services.runs` lets an approved run change only its state (forward) and who
posted / paid it and when, so these are the only writes an approved run takes.

Posting to the ledger belongs to the finance module, which depends on payroll
and not the other way round. So `post_run` only records the step and sends
the `run_posted` signal in the caller's transaction; the finance glue will
connect a receiver that writes the journal entry (flush only), and a failure
there rolls the posting back with it:

    run_posted.connect(post_payroll_journal, sender=app)   # receiver(app, run=, session=, actor=)

`run_paid` is sent the same way when the bank payment is confirmed.
"""

from __future__ import annotations

from blinker import Namespace
from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from grp.db import utcnow
from grp.models import User
from grp.tenancy import current_department_id
from modules.payroll.models import PayrollRun
from modules.payroll.services.runs import RunStateError

#: Permission to post an approved run (and what the API and pages require).
POST_PERMISSION = "payroll.run.post"
#: Permission to record that a posted run was paid by the bank.
PAY_PERMISSION = "payroll.run.pay"

_signals = Namespace()
#: Sent after a run is posted, in the posting's transaction (the finance hook).
run_posted = _signals.signal("payroll-run-posted")
#: Sent after a run is marked paid, in that transaction.
run_paid = _signals.signal("payroll-run-paid")


class LifecycleRefused(PermissionError):
    """The actor may not move the run on (API 403)."""


def _allowed(actor: User | None, permission: str, session: Session) -> bool:
    from grp.auth.context import registry
    from grp.auth.services import role_codes_in

    department_id = current_department_id(session)
    if actor is None or department_id is None:
        return False
    return registry().allows(role_codes_in(actor, department_id), permission)


def _move(
    session: Session, run: PayrollRun, actor: User, *, permission: str, source: str, target: str
) -> None:
    if not _allowed(actor, permission, session):
        raise LifecycleRefused(f"this needs {permission}")
    if run.state != source:
        raise RunStateError(f"the run is {run.state}; only a {source} run can become {target}")
    run.state = target


def post_run(session: Session, run: PayrollRun, actor: User) -> PayrollRun:
    """Post an approved run to the general ledger: approved → posted.

    Records who posted it and when, then sends `run_posted` for the finance
    module to write the journal entry in the same transaction.
    """
    _move(session, run, actor, permission=POST_PERMISSION, source="approved", target="posted")
    run.posted_by_id = actor.id
    run.posted_at = utcnow()
    session.flush()
    if has_app_context():
        run_posted.send(current_app._get_current_object(), run=run, session=session, actor=actor)
    return run


def mark_run_paid(session: Session, run: PayrollRun, actor: User) -> PayrollRun:
    """Record that the bank paid a posted run: posted → paid (who and when)."""
    _move(session, run, actor, permission=PAY_PERMISSION, source="posted", target="paid")
    run.paid_by_id = actor.id
    run.paid_at = utcnow()
    session.flush()
    if has_app_context():
        run_paid.send(current_app._get_current_object(), run=run, session=session, actor=actor)
    return run
