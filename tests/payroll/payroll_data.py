"""Test data of the payroll tests."""

from __future__ import annotations

from typing import Any


def uae_national(**changes: Any) -> dict[str, Any]:
    """Employee changes for a UAE national under Decree-Law 57/2023."""
    values = {
        "nationality": "AE",
        "pension_scheme": "law_57_2023",
        "first_insured_date": "2024-01-01",
        "hire_date": "2024-01-01",
    }
    values.update(changes)
    return values


def payslip_of(session: Any, run: Any, employee_id: int) -> Any:
    """Return the employee's payslip in `run` (None if the run has none for them)."""
    import sqlalchemy as sa

    from modules.payroll.models import Payslip

    return session.scalar(
        sa.select(Payslip).where(Payslip.run_id == run.id, Payslip.employee_id == employee_id)
    )


def lines_by_code(payslip: Any) -> dict[str, Any]:
    """Return a payslip's lines by component code (difference lines: see `difference_lines`)."""
    return {line.component_code: line for line in payslip.lines if line.retro_period is None}


def difference_lines(payslip: Any) -> list[tuple[str, str, str, str]]:
    """Return a payslip's difference lines as (month, component, code, signed difference)."""
    return sorted(
        (
            f"{line.retro_period:%Y-%m}",
            line.retro_component,
            line.component_code,
            f"{line.retro_difference:+.2f}",
        )
        for line in payslip.lines
        if line.retro_period is not None
    )


def approved_run(session: Any, period: str, maker: Any, checker: Any, kind: str = "regular") -> Any:
    """Create, compute (by `maker`) and approve (by `checker`) a run of the current department."""
    from modules.payroll.services import approve_run, compute_run, create_run

    run = create_run(session, period, kind)
    compute_run(session, run, maker)
    assert run.errors == [], [e.message for e in run.errors]
    approve_run(session, run, checker)
    session.commit()
    return run
