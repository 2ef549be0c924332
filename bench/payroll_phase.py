"""Benchmark phase: one month's payroll of every department, computed and persisted.

    python -m bench.payroll_phase [--period 2026-11] [--approve] [--only CODE ...]

For each of the 25 departments, in one process: create the regular run of the
month (committed), then `compute_run` it (streams the contracts, computes, writes
payslips and lines in bulk per chunk; committed), as the `payroll.compute` job does.
Emits the total wall time, the time of the largest department, payslip and line
counts, and this process's peak resident memory (ru_maxrss, start-up included;
`baseline_rss_mib` is what the process held before computing). With `--approve` the
runs are then approved by a second user (not timed), for the PDF, WPS and
me/payslips phases. `--only` limits it to some departments (the earlier months the
benchmark approves first, so that the measured month has a history to look back on).
"""

from __future__ import annotations

import grp_boot  # noqa: F401  (first: `grp` must be the GRP package)

import argparse
import json
import time

import sqlalchemy as sa

from bench.common import config_from_environment, emit, peak_rss_mib, rss_mib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--period", default="2026-11")
    parser.add_argument("--approve", action="store_true")
    parser.add_argument("--only", nargs="*", default=None, metavar="CODE")
    args = parser.parse_args()

    from grp.app import create_app
    from grp.audit import set_actor
    from grp.db import db
    from grp.models import Department, User
    from grp.tenancy import department_context
    from modules.payroll.models import PayrollRun, PayrollRunError, Payslip, PayslipLine
    from modules.payroll.services import approve_run, compute_run, create_run

    fixtures = json.loads(config_from_environment().fixtures_file.read_text())
    app = create_app()
    with app.app_context():
        session = db.session
        maker = session.get(User, fixtures["maker_id"])
        checker = session.get(User, fixtures["checker_id"])
        query = sa.select(Department.id, Department.code).order_by(Department.id)
        if args.only:
            query = query.where(Department.code.in_(args.only))
        departments = list(session.execute(query))
        session.commit()
        baseline = rss_mib()
        per_department: dict[str, float] = {}
        runs: dict[str, int] = {}
        started = time.perf_counter()
        for department_id, code in departments:
            set_actor(session, maker.id, maker.username)
            began = time.perf_counter()
            with department_context(session, department_id):
                run = create_run(session, args.period)
                session.commit()
                compute_run(session, run, maker)
                session.commit()
                runs[code] = run.id
            per_department[code] = time.perf_counter() - began
        elapsed = time.perf_counter() - started
        peak = peak_rss_mib()

        counts = {"payslips": 0, "lines": 0, "errors": 0}
        for department_id, code in departments:
            with department_context(session, department_id):
                for key, model in (
                    ("payslips", Payslip),
                    ("lines", PayslipLine),
                    ("errors", PayrollRunError),
                ):
                    counts[key] += session.scalar(
                        sa.select(sa.func.count())
                        .select_from(model)
                        .where(model.run_id == runs[code])
                    )
            session.commit()

        approved = 0
        if args.approve:
            set_actor(session, checker.id, checker.username)
            for department_id, code in departments:
                with department_context(session, department_id):
                    run = session.scalar(sa.select(PayrollRun).where(PayrollRun.id == runs[code]))
                    if not run.errors:
                        approve_run(session, run, checker)
                        approved += 1
                    session.commit()

    largest = max(per_department, key=per_department.get)
    emit(
        {
            "seconds": elapsed,
            "departments": len(departments),
            **counts,
            "payslips_per_second": counts["payslips"] / elapsed if elapsed else None,
            "slowest_department": largest,
            "slowest_department_seconds": per_department[largest],
            "per_department_seconds": per_department,
            "peak_rss_mib": peak,
            "baseline_rss_mib": baseline,
            "runs": runs,
            "approved": approved,
        }
    )


if __name__ == "__main__":
    main()
