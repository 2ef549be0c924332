"""What the benchmark's phases share: paths, the bench database's URLs, memory, results.

Every measured phase runs in its own process (`run_phase`), so that its peak memory
(`ru_maxrss`) is its own and nothing it imports or caches helps the next phase. A
phase prints one line `BENCH-RESULT {json}` as its last output; `run_phase` returns
that dictionary.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python")
GRP = str(VENV_BIN / "grp")
RESULT_PREFIX = "BENCH-RESULT "

#: The benchmark's only database, created afresh by every full run.
DATABASE = "grp_bench"
#: The role the app connects as (not the owner, no BYPASSRLS: row-level security
#: applies, as in production). Migrations run as the server's superuser.
APP_ROLE = "grp_bench_app"
SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
#: The month the benchmark's payroll is run for (the demo data's joiners, leavers
#: and mid-month raises fall in it).
PERIOD = "2026-11"
#: The department `seed-demo --largest` sizes: WPS file, PDFs, API load.
LARGEST = "POLICE"


@dataclass(frozen=True)
class BenchConfig:
    """Where the benchmark's database and instance folder are."""

    server: str = SERVER
    database: str = DATABASE
    app_role: str = APP_ROLE
    instance: Path = field(default_factory=lambda: BENCH / ".instance")

    @property
    def owner_url(self) -> str:
        return f"{self.server}/{self.database}"

    @property
    def app_url(self) -> str:
        scheme, rest = self.server.split("://", 1)
        host = rest.split("@", 1)[-1]
        return f"{scheme}://{self.app_role}@{host}/{self.database}"

    @property
    def fixtures_file(self) -> Path:
        """Tokens and ids the fixtures phase made for the later phases."""
        return self.instance / "fixtures.json"

    def environment(self, **extra: str) -> dict[str, str]:
        """The environment of a phase or server: GRP pointed at the bench database."""
        env = dict(os.environ)
        env.update(
            {
                "GRP_DATABASE_URL": self.app_url,
                "GRP_DATABASE_OWNER_URL": self.owner_url,
                "GRP_INSTANCE_PATH": str(self.instance),
                "GRP_SECRET_KEY": "grp-bench-not-a-secret-" + "x" * 24,
                "GRP_LOG_JSON": "1",
                "GRP_LOG_LEVEL": env.get("GRP_LOG_LEVEL", "WARNING"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(extra)
        return env


def config_from_environment() -> BenchConfig:
    """The BenchConfig a phase process was started with (see `run_phase`)."""
    return BenchConfig(
        server=os.environ.get("GRP_BENCH_SERVER", SERVER),
        database=os.environ.get("GRP_BENCH_DATABASE", DATABASE),
        instance=Path(os.environ.get("GRP_INSTANCE_PATH", str(BENCH / ".instance"))),
    )


# --------------------------------------------------------------------------- memory


def peak_rss_mib() -> float:
    """This process's resident memory high-water mark, in MiB (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_rss_mib() -> float:
    """The largest high-water mark of this process's finished children, in MiB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def rss_mib() -> float:
    """This process's resident memory now, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return peak_rss_mib()


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as `uptime` shows them."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


# --------------------------------------------------------------------------- phases


def emit(result: Mapping[str, Any]) -> None:
    """Report a phase's result to the orchestrator (the last line of its output)."""
    sys.stdout.write(RESULT_PREFIX + json.dumps(result, default=str) + "\n")
    sys.stdout.flush()


def run_phase(
    module: str, args: Sequence[str], config: BenchConfig, *, timeout: float = 3600
) -> dict[str, Any]:
    """Run `python -m <module> args` with the bench environment; return what it emitted.

    Its other output goes to bench/results/<module>.log; a failing phase raises
    with the end of that log.
    """
    log = RESULTS / f"{module.rsplit('.', 1)[-1]}.log"
    RESULTS.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        finished = subprocess.run(  # noqa: S603 - our own interpreter and module
            [PYTHON, "-m", module, *args],
            cwd=ROOT,
            env=config.environment(),
            stdout=subprocess.PIPE,
            stderr=out,
            text=True,
            timeout=timeout,
            check=False,
        )
    lines = finished.stdout.splitlines()
    found = [line for line in lines if line.startswith(RESULT_PREFIX)]
    if finished.returncode != 0 or not found:
        raise RuntimeError(
            f"{module} failed (exit {finished.returncode}): {first_error(log)} (see {log})"
        )
    return json.loads(found[-1][len(RESULT_PREFIX) :])


def first_error(log: Path) -> str:
    """The first exception line of a log (the root cause, before what it caused)."""
    lines = log.read_text(errors="replace").splitlines()
    for line in lines:
        if re.match(r"^[\w.]+(Error|Exception|Exit)\b.*:", line) or line.startswith("SystemExit"):
            return line.strip()[:300]
    return (lines[-1] if lines else "no output").strip()[:300]


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    """`with stopwatch() as t: ...` then t["seconds"]."""
    timing: dict[str, float] = {}
    started = time.perf_counter()
    try:
        yield timing
    finally:
        timing["seconds"] = time.perf_counter() - started
