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

With `--workers N` (N > 1) the month is computed as a deployment computes it: N job
worker processes (`grp worker --concurrency N`, started first, as they run all the
time) take the 25 `payroll.compute` jobs the runs' "compute" starts; the time is from
the first job queued to the last one finished, the peak memory the largest worker's.
"""

from __future__ import annotations

import grp_boot  # noqa: F401  (first: `grp` must be the GRP package)

import argparse
import json
import os
import signal
import subprocess
import time
from typing import Any

import sqlalchemy as sa

from bench.common import (
    GRP,
    ROOT,
    children_peak_rss_mib,
    config_from_environment,
    emit,
    peak_rss_mib,
    rss_mib,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--period", default="2026-11")
    parser.add_argument("--approve", action="store_true")
    parser.add_argument("--only", nargs="*", default=None, metavar="CODE")
    parser.add_argument("--workers", type=int, default=1, help="job worker processes")
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
        if args.workers > 1:
            elapsed, peak = _compute_in_workers(
                session, departments, args, maker, runs, per_department
            )
        else:
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
            "workers": args.workers,
            "runs": runs,
            "approved": approved,
        }
    )


def _compute_in_workers(
    session: Any,
    departments: list[Any],
    args: argparse.Namespace,
    maker: Any,
    runs: dict[str, int],
    per_department: dict[str, float],
) -> tuple[float, float]:
    """Queue every department's compute job for running workers; (seconds, peak MiB)."""
    from grp.audit import set_actor
    from grp.tenancy import department_context
    from grp.workflow.jobs import start_job
    from grp.workflow.jobs.models import FINISHED_STATES, SUCCEEDED, Job
    from modules.payroll.jobs import JOB_KIND
    from modules.payroll.services import create_run

    log = open(os.environ["GRP_INSTANCE_PATH"] + "/payroll_workers.log", "w")  # noqa: SIM115
    workers = subprocess.Popen(  # noqa: S603 - our own console script
        [GRP, "worker", "--concurrency", str(args.workers)],
        cwd=ROOT,
        env={**os.environ, "GRP_JOB_QUEUE": "embedded"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        time.sleep(8)  # the workers start (create_app) before the month's work is queued
        if workers.poll() is not None:
            raise RuntimeError("the workers exited; see payroll_workers.log")
        started = time.perf_counter()
        job_ids = []
        set_actor(session, maker.id, maker.username)
        for department_id, code in departments:
            with department_context(session, department_id):
                run = create_run(session, args.period)
                job = start_job(
                    session,
                    kind=JOB_KIND,
                    department_id=department_id,
                    params={"run_id": run.id},
                    actor=maker,
                    dedupe_key=str(run.id),
                )
                session.commit()
                runs[code] = run.id
                job_ids.append(job.id)
        while True:
            states = (
                session.execute(sa.select(Job.state).where(Job.id.in_(job_ids))).scalars().all()
            )
            session.commit()
            if all(state in FINISHED_STATES for state in states):
                break
            if workers.poll() is not None:
                raise RuntimeError("the workers exited early; see payroll_workers.log")
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
        codes = {department_id: code for department_id, code in departments}
        for job in session.scalars(sa.select(Job).where(Job.id.in_(job_ids))):
            if job.state != SUCCEEDED:
                raise RuntimeError(f"job {job.id} {job.state}: {job.failure_reason}")
            per_department[codes[job.department_id]] = (
                job.finished_at - job.started_at
            ).total_seconds()
        session.commit()
    finally:
        os.killpg(workers.pid, signal.SIGTERM)
        workers.wait(timeout=60)
        log.close()
    return elapsed, children_peak_rss_mib()


if __name__ == "__main__":
    main()
