"""Benchmark phase: API latency and throughput under 16 concurrent clients, beside a bare baseline.

    python -m bench.api_phase [--duration 15] [--rounds 3] [--connections 16] [--workers N]

Starts GRP as production does (`grp serve --production`: gunicorn, sync workers, as
many as `grp.cli.default_workers` unless --workers) and the bare Flask baseline
(bench/baseline_app.py) the same way, then drives each endpoint with wrk (`--latency`,
bench/wrk_requests.lua for the bearer token and X-GRP-Department header):

* baseline   GET /employee/<id> of the baseline app (one row; measured at the start of
             every round and once more at the end: its median is the reference)
* search     GET /api/v1/hr/employees?q=<term>  (names in either language, numbers,
             Emirates IDs; HR officer of the largest department; first page of 50)
* detail     GET /api/v1/hr/employees/<id>
* me         GET /api/v1/me/payslips  (16 self-service users)
* search_full   the same searches with `view=full` (each item the whole record, 31
             fields, as before 2026-12-07; the default items are summaries of 12); not a
             target: what a client asking for whole records pays
* search_one_token   (only with --only) the search again, every request with the same
             token (one API client running 16 requests at once): one busy token costs no
             more than many (its last use is written at most once a minute,
             grp.auth.services.record_token_use)

Requests rotate over many tokens (bench/dataset.py TOKENS_PER_USER), as 16 clients
would each have their own.

Each is warmed up for a few seconds, then measured for --duration seconds. Emits
requests per second, p50/p95/p99 latency (ms) and errors per endpoint, and the CPU time
per request of the server's processes and of PostgreSQL's (read from /proc before and
after the run): with both cores saturated, those two add up to what limits throughput.

The endpoints are measured in --rounds interleaved rounds (baseline, search, detail, me,
search_full; again; ...; the baseline once more at the end), and each reports its
median round (by requests per second), with every round's figures beside it. A VM's
speed drifts by 10-15% within minutes, sometimes more: one round alone can land in a
slow spell (it did: the same code gave a search p95 of 40 and of 66 ms in runs minutes
apart), the median of three cannot be decided by a single spell.
"""

from __future__ import annotations

import grp_boot  # noqa: F401  (first: `grp` must be the GRP package)

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import BENCH, GRP, PYTHON, ROOT, config_from_environment, emit
from grp.cli import default_workers

WRK_SCRIPT = BENCH / "wrk_requests.lua"
GRP_PORT = 5601
BASELINE_PORT = 5602


@contextmanager
def server(
    command: list[str], port: int, log_path: Path, env: dict[str, str]
) -> Iterator[tuple[str, int]]:
    """Start a server process (its own process group), wait for /healthz, stop it after.

    Yields its URL and process group (gunicorn's master and workers). Its output (one
    log line per request for GRP) goes to `log_path`.
    """
    log = log_path.open("w")
    process = subprocess.Popen(  # noqa: S603 - our own commands
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited early; see {log.name}")
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not answer /healthz; see {log.name}")
            time.sleep(0.3)
        yield url, process.pid
    finally:
        # gunicorn's master stops its workers on SIGTERM; only our own process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


# --------------------------------------------------------------------------- CPU split

#: /proc counts CPU time in clock ticks.
_TICK = os.sysconf("SC_CLK_TCK")


def _process_cpu() -> dict[int, tuple[int, str, float]]:
    """pid -> (process group, command name, user + system CPU seconds), from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        # After the name: state, ppid, pgrp (index 2), ... utime and stime (11 and 12).
        found[int(entry.name)] = (int(fields[2]), name, (int(fields[11]) + int(fields[12])) / _TICK)
    return found


def cpu_split(before: dict, after: dict, server_group: int) -> dict[str, float]:
    """CPU seconds the server's process group and PostgreSQL used between two readings.

    A process that started in between counts from zero; one that ended is not seen
    (pools keep their connections through a run, so PostgreSQL's backends stay).
    """
    used = {"server": 0.0, "postgresql": 0.0}
    for pid, (group, name, seconds) in after.items():
        spent = seconds - (before[pid][2] if pid in before else 0.0)
        if group == server_group:
            used["server"] += spent
        elif name == "postgres" or name.startswith("postgres:"):
            used["postgresql"] += spent
    return used


def check(url: str, line: str) -> int:
    """Send one request of a requests file; fail unless it answers 2xx. Returns bytes."""
    method, path, token, department = line.split("\t")
    request = urllib.request.Request(url + path, method=method)  # noqa: S310 - localhost
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if department:
        request.add_header("X-GRP-Department", department)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return len(answer.read())
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"GET {path} answered {exc.code} (see the server's log)") from None


def wrk(url: str, requests: Path, *, duration: int, connections: int, threads: int) -> dict:
    """Run wrk against `url` with the requests of `requests`; return BENCH-WRK's figures."""
    finished = subprocess.run(  # noqa: S603 - wrk with fixed arguments
        [
            shutil.which("wrk") or "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(WRK_SCRIPT),
            url,
        ],
        env={**os.environ, "BENCH_REQUESTS": str(requests)},
        capture_output=True,
        text=True,
        check=True,
    )
    for line in finished.stdout.splitlines():
        if line.startswith("BENCH-WRK "):
            figures = json.loads(line[len("BENCH-WRK ") :])
            seconds = figures["duration_us"] / 1e6
            return {
                "requests": figures["requests"],
                "seconds": seconds,
                "per_second": figures["requests"] / seconds,
                "p50_ms": figures["p50_us"] / 1000,
                "p90_ms": figures["p90_us"] / 1000,
                "p95_ms": figures["p95_us"] / 1000,
                "p99_ms": figures["p99_us"] / 1000,
                "max_ms": figures["max_us"] / 1000,
                "mean_ms": figures["mean_us"] / 1000,
                "non_2xx": figures["non_2xx"],
                "socket_errors": sum(
                    figures[key]
                    for key in ("connect_errors", "read_errors", "write_errors", "timeouts")
                ),
            }
    raise RuntimeError(f"wrk printed no figures:\n{finished.stdout}\n{finished.stderr}")


def request_files(fixtures: dict[str, Any], folder: Path) -> dict[str, Path]:
    """Write one requests file per endpoint (METHOD, PATH, TOKEN, DEPARTMENT per line)."""
    department = fixtures["department"]
    officers = fixtures["officer_tokens"]
    ids = fixtures["employee_ids"]
    step = max(1, len(ids) // 2000)
    sample = ids[::step]
    searches = [f"/api/v1/hr/employees?q={urllib.parse.quote(t)}" for t in fixtures["search_terms"]]
    lines = {
        "baseline": [f"GET\t/employee/{i}\t\t" for i in sample],
        "search": [
            f"GET\t{path}\t{officers[n % len(officers)]}\t{department}"
            for n, path in enumerate(searches)
        ],
        "detail": [
            f"GET\t/api/v1/hr/employees/{i}\t{officers[n % len(officers)]}\t{department}"
            for n, i in enumerate(sample)
        ],
        "me": [
            f"GET\t/api/v1/me/payslips\t{token}\t{department}"
            for token in fixtures["self_service_tokens"]
        ],
        "search_full": [
            f"GET\t{path}&view=full\t{officers[n % len(officers)]}\t{department}"
            for n, path in enumerate(searches)
        ],
        "search_one_token": [
            f"GET\t{path}\t{fixtures['officer_token']}\t{department}" for path in searches
        ],
    }
    files = {}
    for name, rows in lines.items():
        files[name] = folder / f"{name}.tsv"
        files[name].write_text("\n".join(rows) + "\n")
    return files


def median_round(found: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median requests per second, and every round's headline figures.

    A whole round, not a median per figure: its latencies and CPU times belong together.
    With an even number of rounds, the slower of the two middle ones.
    """
    ordered = sorted(found, key=lambda figures: figures["per_second"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["rounds"] = [
        {key: figures[key] for key in ("per_second", "p50_ms", "p95_ms", "p99_ms")}
        for figures in found
    ]
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--only", nargs="*", default=None, help="endpoints to measure")
    args = parser.parse_args()
    args.threads = max(1, min(args.threads, args.connections))  # wrk: connections >= threads
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk); bench/run does it")

    config = config_from_environment()
    fixtures = json.loads(config.fixtures_file.read_text())
    # As in production: INFO logging, one JSON line per request (to the server's log).
    env = config.environment(GRP_LOG_LEVEL="INFO")
    workers = ["--workers", str(args.workers)] if args.workers else []
    grp_command = [GRP, "serve", "--production", "--port", str(GRP_PORT), *workers]
    baseline_command = [
        PYTHON,
        "-m",
        "bench.serve_baseline",
        "--port",
        str(BASELINE_PORT),
        *workers,
    ]
    wanted = args.only or ["search", "detail", "me", "search_full"]
    with tempfile.TemporaryDirectory(prefix="grp-bench-wrk-") as folder:
        files = request_files(fixtures, Path(folder))

        def measure(name: str, served: tuple[str, int]) -> dict[str, Any]:
            url, group = served
            first = files[name].read_text().splitlines()[0]
            size = check(url, first)
            run = {"duration": args.warmup, "connections": args.connections}
            wrk(url, files[name], threads=args.threads, **run)  # warm-up, not kept
            cpu_before = _process_cpu()
            figures = wrk(
                url,
                files[name],
                duration=args.duration,
                connections=args.connections,
                threads=args.threads,
            )
            used = cpu_split(cpu_before, _process_cpu(), group)
            figures["response_bytes"] = size
            # Where the cores went, per request: what the throughput is made of.
            figures["cpu_ms_per_request"] = {
                part: seconds * 1000 / max(figures["requests"], 1) for part, seconds in used.items()
            }
            return figures

        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in ["baseline", *wanted]}
        with (
            server(grp_command, GRP_PORT, config.instance / "server_grp.log", env) as grp_server,
            server(
                baseline_command, BASELINE_PORT, config.instance / "server_baseline.log", env
            ) as baseline_server,
        ):
            for _ in range(max(1, args.rounds)):
                rounds["baseline"].append(measure("baseline", baseline_server))
                for name in wanted:
                    rounds[name].append(measure(name, grp_server))
            rounds["baseline"].append(measure("baseline", baseline_server))
    results = {name: median_round(found) for name, found in rounds.items()}
    emit(
        {
            "connections": args.connections,
            "duration": args.duration,
            "workers": args.workers or default_workers(config.app_url),
            "rounds": max(1, args.rounds),
            **results,
        }
    )


if __name__ == "__main__":
    main()
