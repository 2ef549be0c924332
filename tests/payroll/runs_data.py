"""Runs in a given state, and snapshots of their payslips, for the lifecycle/review/page tests."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def run_in_state(
    db_session: Any,
    in_department: Any,
    state: str,
    *,
    maker: Any,
    checker: Any = None,
    poster: Any = None,
    period: str = "2026-11",
    department: str = "POLICE",
) -> int:
    """Create a run of `period` and take it to `state`; return its id."""
    from modules.payroll.services import (
        approve_run,
        compute_run,
        create_run,
        mark_run_paid,
        post_run,
    )

    with in_department(department):
        run = create_run(db_session, period)
        steps = ("draft", "computed", "approved", "posted", "paid")
        if steps.index(state) >= 1:
            compute_run(db_session, run, maker)
        if steps.index(state) >= 2:
            approve_run(db_session, run, checker)
        if steps.index(state) >= 3:
            post_run(db_session, run, poster or checker)
        if steps.index(state) >= 4:
            mark_run_paid(db_session, run, poster or checker)
        db_session.commit()
        return run.id


def payslip_snapshot(db_session: Any, in_department: Any, run_id: int, department="POLICE"):
    """Every column of the run's payslips and lines, as plain tuples (what must not change)."""
    from modules.payroll.models import Payslip, PayslipLine

    def columns(model: Any) -> list[Any]:
        # ORM attributes, not table columns: a Core select of a tenant table is refused.
        return [attr.class_attribute for attr in sa.inspect(model).column_attrs]

    with in_department(department):
        slips = [
            tuple(row)
            for row in db_session.execute(
                sa.select(*columns(Payslip)).where(Payslip.run_id == run_id).order_by(Payslip.id)
            )
        ]
        lines = [
            tuple(row)
            for row in db_session.execute(
                sa.select(*columns(PayslipLine))
                .where(PayslipLine.run_id == run_id)
                .order_by(PayslipLine.id)
            )
        ]
        db_session.rollback()
    return slips, lines
