"""Two real scheduler processes on one database: each tick runs once; killing the leader
hands the schedule to the other.

On PostgreSQL leadership is an advisory lock; on SQLite a file lock next to
the database file. Each process is a small entry point that registers a job
firing every second and writing its process id to a file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from grp.db import db
from grp.workflow.jobs.models import JobRun, apscheduler_jobs
from grp.workflow.jobs.scheduler import declared_scheduled_jobs

ROOT = Path(__file__).resolve().parents[2]

ENTRY_POINT = """\
import grp_boot  # noqa: F401  (the GRP package as `grp`)

import os

from grp.app import create_app
from grp.workflow.jobs import register_scheduled_job
from grp.workflow.jobs.scheduler import run_scheduler


def tick():
    with open(os.environ["TICK_FILE"], "a") as handle:
        handle.write(f"{os.getpid()}\\n")


if __name__ == "__main__":
    app = create_app()
    register_scheduled_job(app, "test.tick", "__main__:tick", "interval", seconds=1)
    run_scheduler(app)
"""


def wait_for(
    condition: Callable[[], Any], timeout: float, what: str, logs: Callable[[], str] = str
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs()}")


@pytest.fixture
def start_scheduler(app, tmp_path) -> Iterator[Callable[[], subprocess.Popen]]:
    script = tmp_path / "scheduler_entry.py"
    script.write_text(ENTRY_POINT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRP_", "FLASK_"))}
    env.update(
        GRP_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        GRP_DATABASE_OWNER_URL=app.config["GRP_DATABASE_OWNER_URL"],
        GRP_INSTANCE_PATH=app.instance_path,
        GRP_SECRET_KEY="test-secret",
        GRP_LOG_JSON="0",
        GRP_SCHEDULER_LEADER_RETRY_SECONDS="0.3",
        TICK_FILE=str(tmp_path / "ticks.txt"),
        # The entry point lives in tmp_path: make it import this checkout's GRP.
        PYTHONPATH=str(ROOT),
    )
    processes: list[subprocess.Popen] = []

    def _start() -> subprocess.Popen:
        with (tmp_path / f"scheduler-{len(processes)}.log").open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 - our own entry point
                [sys.executable, str(script)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        return process

    yield _start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def recorded_runs() -> list[JobRun]:
    db.session.expire_all()
    found = list(
        db.session.scalars(
            sa.select(JobRun)
            .where(JobRun.job_id == "test.tick")
            .order_by(JobRun.scheduled_run_time)
        )
    )
    db.session.commit()
    return found


def ticks(tmp_path: Path) -> list[int]:
    path = tmp_path / "ticks.txt"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def logs(tmp_path: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(tmp_path.glob("scheduler-*")))


def _two_schedulers_run_each_tick_once(start_scheduler: Any, tmp_path: Path) -> None:
    first = start_scheduler()
    wait_for(lambda: ticks(tmp_path), 20, "the first tick", lambda: logs(tmp_path))
    second = start_scheduler()
    time.sleep(3)
    assert set(ticks(tmp_path)) == {first.pid}, "only the leader runs the job"

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    wait_for(
        lambda: second.pid in ticks(tmp_path), 15, "the other to take over", lambda: logs(tmp_path)
    )
    time.sleep(2)
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=20) == 0, logs(tmp_path)

    pids = ticks(tmp_path)
    handover = pids.index(second.pid)
    assert set(pids[:handover]) == {first.pid} and set(pids[handover:]) == {second.pid}
    runs = recorded_runs()
    times = [run.scheduled_run_time for run in runs]
    assert len(times) == len(set(times)), "a scheduled time was run twice"
    gaps = [
        (later - earlier).total_seconds() for earlier, later in zip(times, times[1:], strict=False)
    ]
    assert all(gap >= 0.99 for gap in gaps), gaps
    succeeded = [run for run in runs if run.outcome == "succeeded"]
    # One side effect per recorded run: nothing ran without its record, nor twice.
    assert len(succeeded) == len(pids)
    assert {run.runner.rsplit(":", 1)[1] for run in succeeded} == {
        str(first.pid),
        str(second.pid),
    }
    assert all(run.outcome in ("succeeded", "interrupted") for run in runs)
    # About one run per second over the whole test, not one per scheduler per second.
    span = (times[-1] - times[0]).total_seconds()
    assert len(runs) <= span + 2


@pytest.mark.postgres
def test_two_scheduler_processes_on_postgresql_run_each_tick_once(app, start_scheduler, tmp_path):
    assert db.engine.dialect.name == "postgresql"
    _two_schedulers_run_each_tick_once(start_scheduler, tmp_path)


def test_two_scheduler_processes_on_sqlite_run_each_tick_once(app, start_scheduler, tmp_path):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the PostgreSQL variant covers this run")
    _two_schedulers_run_each_tick_once(start_scheduler, tmp_path)


def test_grp_scheduler_command_starts_and_stops_on_sigterm(app, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRP_", "FLASK_"))}
    env.update(
        GRP_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        GRP_DATABASE_OWNER_URL=app.config["GRP_DATABASE_OWNER_URL"],
        GRP_INSTANCE_PATH=app.instance_path,
        GRP_SECRET_KEY="test-secret",
        GRP_LOG_JSON="0",
    )
    with (tmp_path / "scheduler-cli.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: "is the leader" in logs(tmp_path), 20, "leadership", lambda: logs(tmp_path)
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0, logs(tmp_path)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert "platform.jobs.reaper" in logs(tmp_path)
    stored = db.session.execute(sa.select(apscheduler_jobs.c.id)).scalars().all()
    db.session.commit()
    assert set(stored) == {spec.job_id for spec in declared_scheduled_jobs(app)}
    assert "platform.jobs.reaper" in stored
