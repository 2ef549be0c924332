"""Benchmark phase: where the time goes, for the targets that are hard to meet.

    python -m bench.profile_phase [--requests 40]

* payroll: `compute_run` of the largest department for a scratch month under cProfile
  (rolled back, nothing is kept): the time in the arithmetic, the formula parser, the
  bulk INSERTs, the reads.
* api: each endpoint of the API phase called `--requests` times through the app
  (Flask's test client, no HTTP server) under cProfile, and once more with only SQL
  timing: per request the time in SQL and the number of statements, authentication
  and department choice (`begin_request`), the view, and serialisation (marshmallow).

Writes the full profiles to bench/results/profile_*.txt and emits the breakdown.
"""

from __future__ import annotations

import grp_boot  # noqa: F401  (first: `grp` must be the GRP package)

import argparse
import cProfile
import io
import json
import pstats
import time
from typing import Any
from urllib.parse import quote

from sqlalchemy import event

from bench.common import RESULTS, config_from_environment, emit

#: (label, file name suffix, function name) of the functions whose cumulative time is shown.
PAYROLL_PARTS = (
    ("compute_payslip (arithmetic, incl. formulas)", "calculation.py", "compute_payslip"),
    ("formula parsing", "formula.py", "parse"),
    ("bulk INSERT of payslips and lines", "tenancy.py", "bulk_insert"),
    ("streaming the month's contracts", "contracts.py", "contracts_in_period"),
    ("chunk: payslip and line rows", "runs.py", "compute_chunk"),
)
API_PARTS = (
    ("begin_request: token, user, department, roles", "context.py", "begin_request"),
    ("  of which the bearer token and its user", "context.py", "load_user_from_bearer"),
    ("serialisation (marshmallow dump)", "schema.py", "dump"),
    ("count + page query (paginate)", "api.py", "paginate"),
)


def _cumulative(stats: pstats.Stats, parts: tuple[tuple[str, str, str], ...]) -> dict[str, float]:
    """Seconds spent in each part: the largest cumulative time of the functions so named.

    cProfile counts a recursive function's cumulative time once; where one function of
    the name calls another (formula.parse calls Parser.parse), the outer one is the
    largest.
    """
    found: dict[str, float] = {}
    entries = stats.stats.items()  # type: ignore[attr-defined]
    for label, filename, function in parts:
        found[label] = max(
            (
                cumulative
                for (path, _line, name), (_cc, _nc, _tt, cumulative, _callers) in entries
                if name == function and path.endswith(filename)
            ),
            default=0.0,
        )
    return found


def _dump(stats: pstats.Stats, name: str, title: str) -> None:
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(40)
    stats.sort_stats("cumulative").print_stats(40)
    (RESULTS / f"profile_{name}.txt").write_text(f"{title}\n\n{out.getvalue()}")


def profile_payroll(app: Any, fixtures: dict[str, Any]) -> dict[str, Any]:
    """Profile one department's compute_run (a scratch month, rolled back)."""
    from grp.db import db
    from grp.models import User
    from grp.tenancy import department_context
    from modules.payroll.services import compute_run, create_run

    with app.app_context():
        session = db.session
        maker = session.get(User, fixtures["maker_id"])
        with department_context(session, fixtures["department_id"]):
            run = create_run(session, "2027-01")
            profiler = cProfile.Profile()
            started = time.perf_counter()
            profiler.enable()
            compute_run(session, run, maker)
            session.flush()
            profiler.disable()
            elapsed = time.perf_counter() - started
            payslips = run.employee_count
            session.rollback()
    stats = pstats.Stats(profiler)
    _dump(stats, "payroll", f"compute_run of {payslips} payslips (profiled: {elapsed:.1f} s)")
    parts = _cumulative(stats, PAYROLL_PARTS)
    return {
        "payslips": payslips,
        "profiled_seconds": elapsed,
        "parts_seconds": parts,
        "per_payslip_ms": {k: v / payslips * 1000 for k, v in parts.items()} if payslips else {},
    }


def profile_api(app: Any, fixtures: dict[str, Any], requests: int) -> dict[str, Any]:
    """Profile the API phase's endpoints in-process; return the per-request breakdown."""
    from grp.db import db

    department = fixtures["department"]
    officer = fixtures["officer_tokens"][0]
    employee = fixtures["employee_ids"][len(fixtures["employee_ids"]) // 2]
    term = fixtures["search_terms"][0]
    endpoints = {
        "search": (f"/api/v1/hr/employees?q={quote(term)}", officer),
        "detail": (f"/api/v1/hr/employees/{employee}", officer),
        "me": ("/api/v1/me/payslips", fixtures["self_service_tokens"][0]),
    }
    timings: list[float] = []

    def before(conn: Any, *args: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def after(conn: Any, *args: Any) -> None:
        timings.append(time.perf_counter() - conn.info["bench_started"])

    client = app.test_client()
    results = {}
    for name, (path, token) in endpoints.items():
        headers = {"Authorization": f"Bearer {token}", "X-GRP-Department": department}
        for _ in range(5):
            client.get(path, headers=headers)
        with app.app_context():
            event.listen(db.engine, "before_cursor_execute", before)
            event.listen(db.engine, "after_cursor_execute", after)
        timings.clear()
        started = time.perf_counter()
        for _ in range(requests):
            client.get(path, headers=headers)
        plain = (time.perf_counter() - started) / requests
        sql = sum(timings) / requests
        statements = len(timings) / requests
        with app.app_context():
            event.remove(db.engine, "before_cursor_execute", before)
            event.remove(db.engine, "after_cursor_execute", after)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(requests):
            client.get(path, headers=headers)
        profiler.disable()
        stats = pstats.Stats(profiler)
        _dump(stats, f"api_{name}", f"{requests} x GET {path}")
        parts = _cumulative(stats, API_PARTS)
        results[name] = {
            "path": path,
            "request_ms": plain * 1000,
            "sql_ms": sql * 1000,
            "python_ms": (plain - sql) * 1000,
            "statements": statements,
            "parts_ms_profiled": {k: v / requests * 1000 for k, v in parts.items()},
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()

    from grp.app import create_app

    fixtures = json.loads(config_from_environment().fixtures_file.read_text())
    app = create_app()
    RESULTS.mkdir(parents=True, exist_ok=True)
    emit(
        {
            "api": profile_api(app, fixtures, args.requests),
            "payroll": profile_payroll(app, fixtures),
        }
    )


if __name__ == "__main__":
    main()
