"""Real worker processes (`flask --app wsgi worker`): a SIGKILLed worker's job resumes in a
new worker without duplicate results; several processes share the queue."""

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
from grp.workflow.jobs import start_job
from grp.workflow.jobs.models import Job
from grp.workflow.jobs.services import result_file_path

ROOT = Path(__file__).resolve().parents[2]
DEMO = "platform.demo_count"
HEARTBEAT_TIMEOUT = 1.5


def wait_for(
    condition: Callable[[], Any], timeout: float, what: str, logs: Callable[[], str] = str
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs()}")


@pytest.fixture
def worker_env(app) -> dict[str, str]:
    """The environment of a worker process using the test's database and instance folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRP_", "FLASK_"))}
    env.update(
        GRP_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        GRP_DATABASE_OWNER_URL=app.config["GRP_DATABASE_OWNER_URL"],
        GRP_INSTANCE_PATH=app.instance_path,
        GRP_SECRET_KEY="test-secret",
        GRP_LOG_JSON="0",
        GRP_JOB_QUEUE="embedded",
        GRP_JOB_POLL_SECONDS="0.1",
        GRP_JOB_HEARTBEAT_SECONDS="0.2",
        GRP_JOB_HEARTBEAT_TIMEOUT=str(HEARTBEAT_TIMEOUT),
        GRP_JOB_PROGRESS_BATCH="5",
        GRP_JOB_PROGRESS_SECONDS="0.1",
    )
    return env


@pytest.fixture
def start_worker(worker_env, tmp_path) -> Iterator[Callable[..., subprocess.Popen]]:
    processes: list[subprocess.Popen] = []

    def _start(*args: str) -> subprocess.Popen:
        with (tmp_path / f"worker-{len(processes)}.log").open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 - our own command line
                [sys.executable, "-m", "flask", "--app", "wsgi", "worker", *args],
                cwd=ROOT,
                env=worker_env,
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


def job_row(job_id: int) -> Job:
    db.session.expire_all()
    job = db.session.get(Job, job_id)
    db.session.commit()  # end the read transaction: SQLite readers would block the worker
    return job


def log_of(tmp_path: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(tmp_path.glob("worker-*.log")))


def test_a_killed_workers_job_resumes_without_duplicate_results(
    app, departments, start_worker, tmp_path
):
    job = start_job(
        db.session,
        kind=DEMO,
        department_id=departments["POLICE"].id,
        params={"count": 60, "delay": 0.03},
        actor=None,
    )
    db.session.commit()
    first = start_worker()
    wait_for(lambda: job_row(job.id).done >= 15, 30, "progress", lambda: log_of(tmp_path))
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)

    # The dead worker's job is left running with a heartbeat that goes stale.
    killed = job_row(job.id)
    assert killed.state == "running" and 15 <= killed.done < 60
    assert killed.checkpoint["next"] == killed.done + 1
    lines_at_kill = result_file_path(killed).read_text().splitlines()
    assert len(lines_at_kill) >= killed.done  # written after the last checkpoint, too
    time.sleep(HEARTBEAT_TIMEOUT + 0.3)

    second = start_worker("--once")
    assert second.wait(timeout=60) == 0, log_of(tmp_path)
    finished = job_row(job.id)
    assert finished.state == "succeeded", finished.failure_reason
    assert (finished.done, finished.total, finished.attempts) == (60, 60, 2)
    lines = result_file_path(finished).read_text().splitlines()
    assert lines == [str(n) for n in range(1, 61)], "duplicate or missing numbers"


def test_a_job_whose_worker_keeps_dying_fails_with_a_reason(
    app, departments, start_worker, worker_env, tmp_path
):
    worker_env["GRP_JOB_MAX_ATTEMPTS"] = "1"
    job = start_job(
        db.session,
        kind=DEMO,
        department_id=departments["POLICE"].id,
        params={"count": 100, "delay": 0.03},
        actor=None,
    )
    db.session.commit()
    first = start_worker()
    wait_for(lambda: job_row(job.id).done >= 5, 30, "progress", lambda: log_of(tmp_path))
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    time.sleep(HEARTBEAT_TIMEOUT + 0.3)
    assert start_worker("--once").wait(timeout=60) == 0, log_of(tmp_path)
    failed = job_row(job.id)
    assert failed.state == "failed" and failed.failure_reason == "worker died (1 attempts)"


def test_sigterm_puts_the_running_job_back_in_the_queue(app, departments, start_worker, tmp_path):
    job = start_job(
        db.session,
        kind=DEMO,
        department_id=departments["POLICE"].id,
        params={"count": 100, "delay": 0.03},
        actor=None,
    )
    db.session.commit()
    worker = start_worker()
    wait_for(lambda: job_row(job.id).done >= 5, 30, "progress", lambda: log_of(tmp_path))
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0, log_of(tmp_path)
    stopped = job_row(job.id)
    assert stopped.state == "queued" and stopped.worker_id is None and stopped.done >= 5


def test_several_worker_processes_share_the_queue(app, departments, start_worker, tmp_path):
    ids = []
    for number in range(6):
        job = start_job(
            db.session,
            kind=DEMO,
            department_id=departments["POLICE"].id,
            params={"count": 10, "delay": 0.01},
            actor=None,
            dedupe_key=str(number),
        )
        ids.append(job.id)
    db.session.commit()
    workers = start_worker("--once", "--concurrency", "2")
    assert workers.wait(timeout=90) == 0, log_of(tmp_path)
    rows = db.session.execute(sa.select(Job.state, Job.attempts, Job.worker_id)).all()
    db.session.commit()
    assert [(state, attempts) for state, attempts, _ in rows] == [("succeeded", 1)] * 6
    assert "started 2 worker processes" in log_of(tmp_path)
