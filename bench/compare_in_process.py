"""Compare two checkouts request by request, each in a process of its own, alternately.

    python -m bench.compare_in_process OTHER_CHECKOUT [--endpoints detail me search]
                                       [--rounds 6] [--requests 1500]

Under the API phase's load this kind of VM drifts by up to a third between rounds
(bench/compare.py shows it), more than a change to the request path is worth. Without
load the drift is smaller: each round starts the app of one checkout in a fresh process
(Flask's test client on the bench database, the requests of bench/instructions.py),
sends 100 requests to warm it up, then `--requests` more, and reads around them the
process's own CPU time, PostgreSQL's (all its processes, from /proc) and the wall time.
The checkouts take turns (this, other; other, this; ...), and each endpoint's medians
are printed with every round's figures, so that each round of one has its neighbour of
the other. Figures per request; PostgreSQL's include what else the server did meanwhile
(on an idle machine, nothing). Used for the 2026-12-07 changes (README, Performance): the
only measurement here that resolved a tenth of a detail's cost.

Both checkouts need the data set of the last `bench/run` (same schema); the other one
runs on this checkout's virtual environment with its own code first on `PYTHONPATH`.
"""

from __future__ import annotations

import grp_boot  # noqa: F401  (first: `grp` must be the GRP package)

import argparse
import json
import statistics
import subprocess
import tempfile
from pathlib import Path

from bench.common import PYTHON, ROOT, config_from_environment, emit
from bench.instructions import requests_of

WARM_UP = 100

#: Runs in the measured process, in the checkout measured: nothing of this checkout's
#: `bench` package is imported there (the other checkout may predate it).
CHILD = r"""
import grp_boot  # noqa: F401
import json, os, sys, time
from pathlib import Path

from grp.app import create_app

TICK = os.sysconf("SC_CLK_TCK")


def postgresql_cpu():
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        if text[text.index("(") + 1 : text.rindex(")")].startswith("postgres"):
            fields = text[text.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])
    return total / TICK


requests, department, warm_up, measured = json.loads(Path(sys.argv[1]).read_text())
client = create_app().test_client()


def send(count):
    for number in range(count):
        path, token = requests[number % len(requests)]
        answer = client.get(
            path, headers={"Authorization": f"Bearer {token}", "X-GRP-Department": department}
        )
        if answer.status_code != 200:
            raise SystemExit(f"{path}: {answer.status_code}")


send(warm_up)
cpu, database, wall = time.process_time(), postgresql_cpu(), time.perf_counter()
send(measured)
print(json.dumps({
    "app_cpu_ms": (time.process_time() - cpu) / measured * 1000,
    "postgresql_cpu_ms": (postgresql_cpu() - database) / measured * 1000,
    "wall_ms": (time.perf_counter() - wall) / measured * 1000,
}))
"""

FIGURES = ("wall_ms", "app_cpu_ms", "postgresql_cpu_ms")


def measure(checkout: Path, requests_file: Path) -> dict[str, float]:
    """One round: a fresh process of `checkout` sending the requests of the file."""
    config = config_from_environment()
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [PYTHON, "-c", CHILD, str(requests_file)],
        cwd=checkout,
        env=config.environment(PYTHONPATH=str(checkout)),
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{checkout}: the measured process failed: {done.stderr[-1500:]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the other checkout (its root folder)")
    parser.add_argument("--endpoints", nargs="*", default=["detail", "me", "search"])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=1500)
    args = parser.parse_args()
    other = args.other.resolve()
    if not (other / "grp" / "__init__.py").is_file():
        raise SystemExit(f"{other} is not a GRP checkout")
    fixtures = json.loads(config_from_environment().fixtures_file.read_text())
    checkouts = {"this": ROOT, "other": other}
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="grp-bench-compare-") as folder:
        for endpoint in args.endpoints:
            requests_file = Path(folder) / f"{endpoint}.json"
            requests = requests_of(fixtures, endpoint)
            requests_file.write_text(
                json.dumps([requests, fixtures["department"], WARM_UP, args.requests])
            )
            rounds = results[endpoint] = {name: [] for name in checkouts}
            for number in range(args.rounds):
                order = list(checkouts) if number % 2 == 0 else list(reversed(checkouts))
                for name in order:
                    rounds[name].append(measure(checkouts[name], requests_file))
            for name, found in rounds.items():
                medians = "  ".join(
                    f"{figure} {statistics.median(r[figure] for r in found):.3f}"
                    for figure in FIGURES
                )
                each = " ".join(f"{r['wall_ms']:.3f}" for r in found)
                print(f"{endpoint:7s} {name:5s} {medians}  (wall by round: {each})", flush=True)
    emit({"other": str(other), "this": str(ROOT), "rounds": results})


if __name__ == "__main__":
    main()
