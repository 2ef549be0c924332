"""Benchmark phase (optional): CPU instructions per API request, counted by callgrind.

    python -m bench.instructions [--requests 100] [--only search detail]

Wall-clock figures of one VM vary by 10-15% from run to run, more than most single
changes to a request's path are worth, so before/after comparisons of such a change
were guesses. Instructions are not: valgrind's callgrind counts the instructions a
process executes, the same count for the same code and data however busy the machine
is. Each endpoint runs in its own process through Flask's test client (the app in
process, PostgreSQL as in the API phase, the same tokens and search terms): once with
20 warm-up requests, once with 20 + `--requests`; the difference divided by
`--requests` is the count per request, start-up and warm-up excluded. The two runs
of an endpoint go side by side (one per core). PostgreSQL's own work is not counted:
the API phase's CPU figures give it. Needs Debian's `valgrind`; a run takes a few
minutes (valgrind runs Python about 50 times slower).

    bench/run --phases instructions
"""

from __future__ import annotations

import grp_boot  # noqa: F401  (first: `grp` must be the GRP package)

import argparse
import json
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from bench.common import PYTHON, ROOT, config_from_environment, emit

WARM_UP = 20
ENDPOINTS = ("search", "search_full", "detail", "me", "auth_me")
COLLECTED = re.compile(r"Collected : (\d+)")


def requests_of(fixtures: dict[str, Any], endpoint: str) -> list[tuple[str, str]]:
    """(path, bearer token) of the requests an endpoint is measured with, in turn."""
    officer = fixtures["officer_tokens"][0]
    if endpoint == "search":
        return [(f"/api/v1/hr/employees?q={quote(t)}", officer) for t in fixtures["search_terms"]]
    if endpoint == "search_full":  # whole records rather than the default summaries
        return [
            (f"/api/v1/hr/employees?q={quote(t)}&view=full", officer)
            for t in fixtures["search_terms"]
        ]
    if endpoint == "detail":
        ids = fixtures["employee_ids"]
        return [(f"/api/v1/hr/employees/{i}", officer) for i in ids[:: max(1, len(ids) // 16)]]
    if endpoint == "me":
        return [("/api/v1/me/payslips", t) for t in fixtures["self_service_tokens"][:16]]
    if endpoint == "auth_me":  # what every authenticated request costs, nearly alone
        return [("/api/v1/auth/me", officer)]
    raise ValueError(f"unknown endpoint {endpoint!r}")


def serve_requests(endpoint: str, measured: int) -> None:
    """In the counted process: create the app, send WARM_UP + `measured` requests."""
    from grp.app import create_app
    from grp.auth import services

    fixtures = json.loads(config_from_environment().fixtures_file.read_text())
    # What the app does by the clock, not per request, is left out of the count: under
    # valgrind a run lasts minutes, so a token's use (written at most once a minute) was
    # written again in some runs and not in others, and cached callers outlived their
    # five minutes in some. Counts of one checkout then differed by a fifth.
    services.TOKEN_USE_RESOLUTION = timedelta(days=1)
    app = create_app()
    app.extensions["grp"].callers.lifetime = float("inf")
    client = app.test_client()
    requests = requests_of(fixtures, endpoint)
    for number in range(WARM_UP + measured):
        path, token = requests[number % len(requests)]
        headers = {"Authorization": f"Bearer {token}", "X-GRP-Department": fixtures["department"]}
        answer = client.get(path, headers=headers)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: {answer.status_code} {answer.get_data(as_text=True)}")


def counted(endpoint: str, measured: int) -> subprocess.Popen[str]:
    """Start the callgrind-counted process for `endpoint` with `measured` requests."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        PYTHON,
        "-m",
        "bench.instructions",
        "--serve",
        endpoint,
        str(measured),
    ]
    return subprocess.Popen(  # noqa: S603 - valgrind and our own interpreter
        command,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # The same string hashes in every run: dictionaries and sets are laid out alike.
        env={**config_from_environment().environment(), "PYTHONHASHSEED": "0"},
    )


def instructions_of(process: subprocess.Popen[str]) -> int:
    _, errors = process.communicate()
    found = COLLECTED.search(errors)
    if process.returncode != 0 or found is None:
        raise RuntimeError(f"counted run failed (exit {process.returncode}): {errors[-800:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--only", nargs="*", choices=ENDPOINTS, default=None)
    parser.add_argument("--serve", nargs=2, metavar=("ENDPOINT", "REQUESTS"), help="internal")
    args = parser.parse_args()
    if args.serve:
        serve_requests(args.serve[0], int(args.serve[1]))
        return
    if shutil.which("valgrind") is None:
        sys.exit("bench.instructions needs valgrind (Debian package valgrind)")
    results = {}
    for endpoint in args.only or ENDPOINTS:
        warm_only, measured = counted(endpoint, 0), counted(endpoint, args.requests)
        base, total = instructions_of(warm_only), instructions_of(measured)
        results[endpoint] = round((total - base) / args.requests)
        print(f"{endpoint}: {results[endpoint]:,} instructions per request", file=sys.stderr)
    emit({"requests": args.requests, "instructions_per_request": results})


if __name__ == "__main__":
    main()
