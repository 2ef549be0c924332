"""Benchmark phase: the WPS salary information file of the largest department's run.

    python -m bench.wps_phase [--repeat 3]

Calls `GET /api/v1/payroll/runs/<id>/wps.sif` through the app (Flask's test client,
so the whole endpoint runs: token, department, permission, the payslip query,
`build_sif`), as the payroll officer, `--repeat` times, and emits the median, first and
fastest times, the file's size and EDR count, and this process's peak memory.
"""

from __future__ import annotations

import grp_boot  # noqa: F401  (first: `grp` must be the GRP package)

import argparse
import json
import statistics
import time

import sqlalchemy as sa

from bench.common import config_from_environment, emit, peak_rss_mib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--period", default="2026-11")
    args = parser.parse_args()

    from grp.app import create_app
    from grp.db import db
    from grp.tenancy import department_context
    from modules.payroll.models import PayrollRun
    from modules.payroll.services.runs import parse_period

    fixtures = json.loads(config_from_environment().fixtures_file.read_text())
    app = create_app()
    with app.app_context():
        with department_context(db.session, fixtures["department_id"]):
            run_id = db.session.scalar(
                sa.select(PayrollRun.id).where(
                    PayrollRun.period == parse_period(args.period), PayrollRun.sequence == 0
                )
            )
        db.session.remove()
    if run_id is None:
        raise SystemExit(f"no regular payroll run of {args.period} in the largest department")
    headers = {
        "Authorization": f"Bearer {fixtures['payroll_token']}",
        "X-GRP-Department": fixtures["department"],
    }
    client = app.test_client()
    url = f"/api/v1/payroll/runs/{run_id}/wps.sif"
    times = []
    body = b""
    for _ in range(args.repeat):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        body = response.get_data()
        times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}: {body[:500]!r}")
    lines = body.decode("ascii").splitlines()
    emit(
        {
            "seconds": statistics.median(times),
            "first_seconds": times[0],
            "best_seconds": min(times),
            "all_seconds": times,
            "edr_lines": sum(1 for line in lines if line.startswith("EDR,")),
            "bytes": len(body),
            "peak_rss_mib": peak_rss_mib(),
        }
    )


if __name__ == "__main__":
    main()
