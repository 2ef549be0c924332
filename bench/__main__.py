"""GRP scale benchmark: 50,000 employees on PostgreSQL, measured against the targets of issue #6.

    bench/run                       # everything (about 8 minutes on 2 cores)
    .venv/bin/python -m bench [--employees 50000] [--largest 10000] [--documents 200]
                              [--duration 15] [--api-rounds 3]
                              [--phases seed payroll wps pdf api profile plans instructions]

Phases (each in its own process, so that its peak memory is its own):

  seed     drop and create the database grp_bench (PostgreSQL at 127.0.0.1:5432, as the
           `postgres` superuser; the app connects as grp_bench_app, under row-level
           security), `grp db upgrade`, then `grp seed-demo --employees N --largest L`
           (timed), VACUUM ANALYZE, and the benchmark's users and tokens
  payroll  one month (2026-11) of all 25 departments: create the run, compute_run,
           commit, in --payroll-workers job worker processes (`grp worker`, default 2:
           one per core) as deployed; time and peak memory; then approve the runs
           (not timed). Before it, not timed, the largest department's
           --history-months earlier months are computed and approved (retro pay looks
           back at them)
  wps      the WPS file of the largest department through the wps.sif endpoint
  pdf      PDF payslips in two worker processes: GRP's renderer and bare WeasyPrint,
           alternately, --pdf-rounds times each (the best round of each counts)
  api      wrk, 16 connections: employee search, employee detail, me/payslips, and a
           bare Flask endpoint reading one row, served alike by gunicorn; in
           --api-rounds interleaved rounds, each endpoint's median round counts
  profile  where the time goes: compute_run and the API endpoints under cProfile, in
           process (bench/results/profile_*.txt)
  plans    EXPLAIN ANALYZE of the list, search and payslip queries (bench/results/plans.txt)
  instructions  (only when named) CPU instructions per API request under callgrind

Without `seed` the phases reuse the existing grp_bench database; `payroll` then empties
the payroll tables first. Prints a table of the figures and the targets met, and writes
bench/results/latest.json (and latest.md, the table in Markdown).
"""

from __future__ import annotations

import grp_boot  # noqa: F401  (first: `grp` must be the GRP package)

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bench import dataset
from bench.common import LARGEST, PERIOD, RESULTS, BenchConfig, load_average, run_phase

#: Earlier months the largest department has approved before the measured month.
HISTORY_MONTHS = ("2026-07", "2026-08", "2026-09", "2026-10")
PHASES = ("seed", "payroll", "wps", "pdf", "api", "profile", "plans")
#: Run only when named (`--phases instructions`): minutes under valgrind.
OPTIONAL_PHASES = ("instructions",)


# --------------------------------------------------------------------------- machine


def machine(config: BenchConfig) -> dict[str, Any]:
    """Describe where the figures were measured."""
    cpu = "unknown"
    for line in open("/proc/cpuinfo").read().splitlines():  # noqa: SIM115, PTH123
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kib = 0
    for line in open("/proc/meminfo").read().splitlines():  # noqa: SIM115, PTH123
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    system = platform.platform()
    try:
        for line in open("/etc/os-release").read().splitlines():  # noqa: SIM115, PTH123
            if line.startswith("PRETTY_NAME="):
                system = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    engine = sa.create_engine(f"{config.server}/postgres", poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        postgres = connection.scalar(sa.text("SHOW server_version"))
    engine.dispose()
    from importlib import metadata

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "os": system,
        "python": platform.python_version(),
        "postgresql": postgres,
        "weasyprint": metadata.version("weasyprint"),
        "sqlalchemy": metadata.version("sqlalchemy"),
        "gunicorn": metadata.version("gunicorn"),
        "wrk": _wrk_version(),
        "cpu_calibration_s": cpu_calibration(),
    }


def cpu_calibration() -> float:
    """Seconds of plain Python (the sum of 10 million squares, best of 3) on this machine.

    Runs of the benchmark on different machines compare through it: every Python-bound
    figure (payroll, API, seeding) moves with it, and "2 cores" differ a lot between
    machines that both say so.
    """
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        sum(i * i for i in range(10_000_000))
        best = min(best, time.perf_counter() - started)
    return round(best, 3)


def _wrk_version() -> str:
    try:
        finished = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)  # noqa: S607
    except OSError:
        return "not installed"
    text = (finished.stdout or finished.stderr).strip().splitlines()
    return text[0].split(" [", 1)[0] if text else "unknown"


# --------------------------------------------------------------------------- phases


def _reset_payroll(config: BenchConfig) -> None:
    """Empty the payroll run tables (as the owner), so the payroll phase can run again."""
    engine = sa.create_engine(config.owner_url, poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "TRUNCATE payroll_payslip_lines, payroll_payslips, payroll_run_errors, "
            "payroll_runs CASCADE"
        )
    engine.dispose()


def _seed(args: argparse.Namespace, config: BenchConfig) -> dict[str, Any]:
    dataset.create_database(config)
    upgrade = dataset.upgrade(config)
    seconds = dataset.seed(config, employees=args.employees, largest=args.largest)
    analyze = dataset.analyze(config)
    fixtures = run_phase("bench.dataset", ["fixtures"], config)
    return {
        "employees": args.employees,
        "largest": args.largest,
        "seconds": seconds,
        "migrate_seconds": upgrade,
        "analyze_seconds": analyze,
        "fixtures": fixtures,
        "rows": _row_counts(config),
    }


def _payroll(args: argparse.Namespace, config: BenchConfig) -> dict[str, Any]:
    if "seed" not in args.phases:
        _reset_payroll(config)
    # Not timed: the largest department's earlier months, approved, as in production,
    # where a month is computed with the months before it behind it (retro pay looks
    # back at them; me/payslips lists them).
    history = []
    for month in HISTORY_MONTHS[len(HISTORY_MONTHS) - args.history_months :]:
        done = run_phase(
            "bench.payroll_phase", ["--period", month, "--only", LARGEST, "--approve"], config
        )
        history.append({"period": month, "seconds": done["seconds"], "payslips": done["payslips"]})
    workers = ["--workers", str(args.payroll_workers)]
    figures = run_phase("bench.payroll_phase", ["--period", PERIOD, "--approve", *workers], config)
    figures["history"] = history
    dataset.analyze(config)  # the new payslips, for the plans of the later phases
    return figures


def _pdf(args: argparse.Namespace, config: BenchConfig) -> dict[str, Any]:
    """Bare WeasyPrint and GRP alternately, `--pdf-rounds` times each; the best of each.

    The machine is shared: alternating and keeping each mode's best round compares
    the two under the most similar load the run saw.
    """
    documents = ["--documents", str(args.documents), "--processes", str(args.processes)]
    rounds: dict[str, list[dict[str, Any]]] = {"bare": [], "grp": []}
    for _ in range(args.pdf_rounds):
        for mode in ("bare", "grp"):
            figures = run_phase("bench.pdf_phase", ["--mode", mode, *documents], config)
            figures["load"] = load_average()
            rounds[mode].append(figures)
    best = {mode: max(found, key=lambda f: f["per_second"]) for mode, found in rounds.items()}
    return {
        **best,
        "ratio": best["grp"]["per_second"] / best["bare"]["per_second"],
        "steady_ratio": best["grp"]["steady_per_second"] / best["bare"]["steady_per_second"],
        "rounds": rounds,
    }


def _api(args: argparse.Namespace, config: BenchConfig) -> dict[str, Any]:
    options = ["--duration", str(args.duration), "--connections", str(args.connections)]
    options += ["--rounds", str(args.api_rounds)]
    if args.workers:
        options += ["--workers", str(args.workers)]
    return run_phase("bench.api_phase", options, config)


PHASE_RUNNERS = {
    "seed": ("creating grp_bench, seeding", _seed),
    "payroll": ("computing 25 departments", _payroll),
    "wps": ("the largest department's file", lambda a, c: run_phase("bench.wps_phase", [], c)),
    "pdf": ("bare WeasyPrint, then GRP", _pdf),
    "api": ("wrk against GRP and the baseline", _api),
    "profile": (
        "cProfile of payroll and the API",
        lambda a, c: run_phase("bench.profile_phase", [], c),
    ),
    "plans": ("EXPLAIN ANALYZE", lambda a, c: run_phase("bench.explain", [], c)),
    "instructions": (
        "callgrind: instructions per request",
        lambda a, c: run_phase("bench.instructions", [], c),
    ),
}


def run_all(
    args: argparse.Namespace, config: BenchConfig, results: dict[str, Any], save: Any
) -> None:
    """Run the chosen phases in order into `results`, saving after each.

    A failing phase is recorded with its error and the others still run (the seed
    failing stops the run: nothing else has data).
    """
    results["load"] = {"start": load_average()}
    for phase in PHASES + OPTIONAL_PHASES:
        if phase not in args.phases:
            continue
        what, runner = PHASE_RUNNERS[phase]
        print(f"{phase}: {what} ...", file=sys.stderr, flush=True)
        try:
            results[phase] = runner(args, config)
        except Exception as exc:  # noqa: BLE001 - reported, the other phases go on
            results.setdefault("failed", {})[phase] = str(exc)
            print(f"  {phase}: FAILED: {exc}", file=sys.stderr, flush=True)
            if phase == "seed":
                break
        results["load"][phase] = load_average()
        print(f"  {phase}: done (load {load_average()})", file=sys.stderr, flush=True)
        save()


def _row_counts(config: BenchConfig) -> dict[str, int]:
    engine = sa.create_engine(config.owner_url, poolclass=sa.pool.NullPool)
    tables = ("hr_employees", "hr_contracts", "hr_leave_requests", "hr_leave_ledger", "users")
    with engine.connect() as connection:
        counts = {t: connection.scalar(sa.text(f"SELECT count(*) FROM {t}")) for t in tables}  # noqa: S608
    engine.dispose()
    return counts


# --------------------------------------------------------------------------- targets


def _target(name: str, value: float | None, limit: float, unit: str, *, most: bool) -> dict:
    """A target: `most` means value <= limit is met (a time), else value >= limit (a rate)."""
    if value is None:
        return {"target": name, "value": None, "limit": limit, "unit": unit, "met": None}
    met = value <= limit if most else value >= limit
    if most:
        margin = f"{limit / value:.1f}x under" if met and value else f"{value / limit:.2f}x over"
    else:
        margin = f"{value / limit:.2f}x the target" if met else f"{value / limit:.0%} of target"
    return {
        "target": name,
        "value": value,
        "limit": limit,
        "unit": unit,
        "op": "<=" if most else ">=",
        "met": met,
        "margin": margin,
    }


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Check the figures against issue #6's targets."""
    found = []
    if "seed" in results:
        found.append(
            _target("seed 50,000 employees", results["seed"]["seconds"], 90, "s", most=True)
        )
    if "payroll" in results:
        payroll = results["payroll"]
        found.append(_target("payroll compute + persist", payroll["seconds"], 30, "s", most=True))
        found.append(_target("payroll peak memory", payroll["peak_rss_mib"], 500, "MiB", most=True))
    if "pdf" in results:
        pdf = results["pdf"]
        found.append(
            _target("PDF payslips/s (2 workers)", pdf["grp"]["per_second"], 10, "/s", most=False)
        )
        found.append(_target("PDF vs bare WeasyPrint", pdf["ratio"], 0.8, "x", most=False))
        found.append(
            _target(
                "PDF worker peak memory", pdf["grp"]["worker_peak_rss_mib"], 300, "MiB", most=True
            )
        )
    if "wps" in results:
        found.append(
            _target("WPS file, 10,000 employees", results["wps"]["seconds"], 3, "s", most=True)
        )
    if "api" in results:
        api = results["api"]
        base = api["baseline"]["per_second"]
        for name, label in (("search", "employee search"), ("me", "me/payslips")):
            if name in api:
                found.append(_target(f"{label} p95", api[name]["p95_ms"], 50, "ms", most=True))
        for name, label in (("search", "search"), ("detail", "detail"), ("me", "me/payslips")):
            if name in api:
                found.append(
                    _target(
                        f"{label} throughput / baseline",
                        api[name]["per_second"] / base,
                        0.5,
                        "x",
                        most=False,
                    )
                )
    return found


# --------------------------------------------------------------------------- report


def table(results: dict[str, Any]) -> list[tuple[str, str]]:
    """The figures as (what, value) rows."""
    rows: list[tuple[str, str]] = []
    if "seed" in results:
        seed = results["seed"]
        rows.append(
            (
                f"seed-demo --employees {seed['employees']:,} --largest {seed['largest']:,}",
                f"{seed['seconds']:.1f} s ({seed['rows']['hr_employees']:,} employees, "
                f"{seed['rows']['hr_contracts']:,} contracts, "
                f"{seed['rows']['hr_leave_requests']:,} leave requests, "
                f"{seed['rows']['hr_leave_ledger']:,} ledger entries)",
            )
        )
    if "payroll" in results:
        p = results["payroll"]
        rows.append(
            (
                "payroll 2026-11, 25 departments (create + compute + commit"
                + (f", {p['workers']} job workers)" if p.get("workers", 1) > 1 else ")"),
                f"{p['seconds']:.1f} s, {p['payslips']:,} payslips, {p['lines']:,} lines "
                f"({p['payslips_per_second']:,.0f}/s), {p['errors']} errors; "
                f"largest {p['slowest_department']} {p['slowest_department_seconds']:.1f} s"
                + (
                    f" (its {len(p['history'])} earlier months approved before)"
                    if p.get("history")
                    else ""
                ),
            )
        )
        rows.append(
            (
                "payroll peak memory (RSS high-water mark)",
                f"{p['peak_rss_mib']:.0f} MiB"
                + (
                    " (the largest job worker process)"
                    if p.get("workers", 1) > 1
                    else f" (before computing: {p['baseline_rss_mib']:.0f} MiB)"
                ),
            )
        )
    if "wps" in results:
        w = results["wps"]
        rows.append(
            (
                "WPS file of the largest department (wps.sif endpoint)",
                f"{w['seconds']:.2f} s median (first {w['first_seconds']:.2f} s), "
                f"{w['edr_lines']:,} EDR lines, {w['bytes'] / 1024:.0f} KiB",
            )
        )
    if "pdf" in results:
        for mode in ("grp", "bare"):
            d = results["pdf"][mode]
            label = "GRP payslip renderer" if mode == "grp" else "bare WeasyPrint, same HTML"
            rows.append(
                (
                    f"PDF payslips, {d['processes']} workers: {label}",
                    f"{d['per_second']:.1f}/s ({d['documents']} in {d['seconds']:.1f} s, "
                    f"steady {d['steady_per_second']:.1f}/s), worker peak "
                    f"{d['worker_peak_rss_mib']:.0f} MiB",
                )
            )
        pdf = results["pdf"]
        rows.append(
            (
                "PDF: GRP / bare (best of each)",
                f"{pdf['ratio']:.0%} (steady state {pdf['steady_ratio']:.0%})",
            )
        )
    if "api" in results:
        api = results["api"]
        for name, label in (
            ("baseline", "bare Flask, one row"),
            ("search", "GET /api/v1/hr/employees?q="),
            ("detail", "GET /api/v1/hr/employees/<id>"),
            ("me", "GET /api/v1/me/payslips"),
            ("search_full", "search, whole records (view=full)"),
            ("search_one_token", "search, all with one token"),
        ):
            if name in api:
                a = api[name]
                errors = a["non_2xx"] + a["socket_errors"]
                cpu = a.get("cpu_ms_per_request")
                rows.append(
                    (
                        f"API {label} ({api['connections']} clients, {api['workers']} workers)",
                        f"{a['per_second']:.0f} req/s, p50 {a['p50_ms']:.1f} / p95 "
                        f"{a['p95_ms']:.1f} / p99 {a['p99_ms']:.1f} ms"
                        + (
                            f"; CPU per request: server {cpu['server']:.2f} ms, "
                            f"PostgreSQL {cpu['postgresql']:.2f} ms"
                            if cpu
                            else ""
                        )
                        + (f", {errors} errors" if errors else "")
                        + _round_figures(a),
                    )
                )
    if "profile" in results:
        for name, figures in results["profile"]["api"].items():
            parts = ", ".join(
                f"{label.strip()} {ms:.1f}"
                for label, ms in figures["parts_ms_profiled"].items()
                if ms
            )
            rows.append(
                (
                    f"profile, one {name} request in process",
                    f"{figures['request_ms']:.1f} ms: SQL {figures['sql_ms']:.1f} ms in "
                    f"{figures['statements']:.0f} statements, Python {figures['python_ms']:.1f} ms "
                    f"(profiled ms: {parts})",
                )
            )
        payroll = results["profile"]["payroll"]
        parts = ", ".join(f"{label} {ms:.2f}" for label, ms in payroll["per_payslip_ms"].items())
        rows.append(
            (
                f"profile, compute_run of {payroll['payslips']:,} payslips",
                f"ms per payslip: {parts}",
            )
        )
    if "instructions" in results:
        counts = results["instructions"]["instructions_per_request"]
        rows.append(
            (
                "API instructions per request (callgrind, in process, app only)",
                ", ".join(f"{name} {count / 1e6:.2f} M" for name, count in counts.items()),
            )
        )
    return rows


def _round_figures(endpoint: dict[str, Any]) -> str:
    """Every API round's throughput and p95, when there was more than one."""
    found = endpoint.get("rounds") or []
    if len(found) < 2:
        return ""
    each = ", ".join(f"{r['per_second']:.0f} req/s p95 {r['p95_ms']:.0f}" for r in found)
    return f" (each round: {each})"


def markdown(results: dict[str, Any]) -> str:
    """The figures and targets as Markdown (bench/results/latest.md)."""
    lines = [
        f"Measured {results['finished_at']} with `{results['command']}`.",
        "",
        "| What | Figure |",
        "| --- | --- |",
    ]
    lines += [f"| {what} | {value} |" for what, value in table(results)]
    lines += ["", "| Target | Limit | Measured | Met |", "| --- | --- | --- | --- |"]
    for t in results["targets"]:
        value = "-" if t["value"] is None else f"{t['value']:.2f} {t['unit']}"
        met = "-" if t["met"] is None else ("yes, " if t["met"] else "**no**, ") + t["margin"]
        lines.append(
            f"| {t['target']} | {t.get('op', '')} {t['limit']} {t['unit']} | {value} | {met} |"
        )
    for phase, error in results.get("failed", {}).items():
        lines += ["", f"Phase `{phase}` failed: {error.splitlines()[0]}"]
    m = results["machine"]
    lines += [
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}; "
        f"Python {m['python']}, PostgreSQL {m['postgresql']}, WeasyPrint {m['weasyprint']}, "
        f"{m['wrk']}; plain-Python calibration {m.get('cpu_calibration_s', '?')} s "
        "(bench/__main__.py cpu_calibration). Load averages (1/5/15 min) at the start "
        "and after each phase: " + "; ".join(f"{k} {v}" for k, v in results["load"].items()) + ".",
    ]
    return "\n".join(lines) + "\n"


def print_report(results: dict[str, Any]) -> None:
    rows = table(results)
    width = max(len(what) for what, _ in rows) if rows else 0
    print()
    for what, value in rows:
        print(f"{what:<{width}}  {value}")
    print()
    for t in results["targets"]:
        state = "n/a" if t["met"] is None else ("MET " if t["met"] else "MISS")
        value = "-" if t["value"] is None else f"{t['value']:.2f}"
        limit = f"{t.get('op', '')} {t['limit']}"
        print(f"[{state}] {t['target']}: {value} {t['unit']} ({limit}) {t.get('margin', '')}")
    for phase, error in results.get("failed", {}).items():
        print(f"[FAILED] phase {phase}: {error}")
    print(f"\nload averages: {results['load']}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=50_000)
    parser.add_argument("--largest", type=int, default=10_000)
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--processes", type=int, default=2, help="PDF worker processes")
    parser.add_argument(
        "--payroll-workers",
        type=int,
        default=2,
        help="job worker processes computing the month (1: all in the phase's own process)",
    )
    parser.add_argument("--pdf-rounds", type=int, default=2, help="PDF runs of each mode")
    parser.add_argument(
        "--history-months",
        type=int,
        default=2,
        choices=range(len(HISTORY_MONTHS) + 1),
        help="earlier months of the largest department approved before the measured one",
    )
    parser.add_argument("--duration", type=int, default=15, help="seconds of wrk per endpoint")
    parser.add_argument(
        "--api-rounds", type=int, default=3, help="API rounds; each endpoint's median counts"
    )
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--workers", type=int, default=None, help="gunicorn workers (default: grp's)"
    )
    parser.add_argument(
        "--phases", nargs="+", choices=PHASES + OPTIONAL_PHASES, default=list(PHASES)
    )
    parser.add_argument("--output", default=str(RESULTS / "latest.json"))
    args = parser.parse_args()

    config = BenchConfig()
    config.instance.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    output = os.path.abspath(args.output)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench " + " ".join(sys.argv[1:]),
        "machine": machine(config),
    }

    def save() -> None:
        results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        results["total_seconds"] = time.perf_counter() - started
        results["targets"] = targets(results)
        with open(output, "w") as out:  # noqa: PTH123
            json.dump(results, out, indent=2, default=str)
        with open(os.path.splitext(output)[0] + ".md", "w") as out:  # noqa: PTH123
            out.write(markdown(results))

    run_all(args, config, results, save)
    save()
    print_report(results)
    print(f"\nwritten: {output}")


if __name__ == "__main__":
    main()
