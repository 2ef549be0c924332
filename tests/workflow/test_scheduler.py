"""The scheduler in this process: declarations, recorded runs, missed runs, leadership."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from grp.db import db, utcnow
from grp.module_loader import ModuleManifest
from grp.workflow.jobs import JobRegistrationError, register_scheduled_job, start_job
from grp.workflow.jobs.models import Job, JobRun, apscheduler_jobs
from grp.workflow.jobs.scheduler import (
    SchedulerRunner,
    declared_scheduled_jobs,
    reap_jobs,
    run_recorded,
)

TICK_FILE = "GRP_TEST_TICK_FILE"


def tick() -> None:
    """A scheduled function for these tests: one line per run."""
    with open(os.environ[TICK_FILE], "a") as handle:
        handle.write("tick\n")


def explode() -> None:
    raise RuntimeError("scheduled boom")


@pytest.fixture
def ticks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    path = tmp_path / "ticks.txt"
    monkeypatch.setenv(TICK_FILE, str(path))
    return lambda: len(path.read_text().splitlines()) if path.exists() else 0


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def runs(job_id: str) -> list[JobRun]:
    db.session.expire_all()
    found = list(
        db.session.scalars(
            sa.select(JobRun).where(JobRun.job_id == job_id).order_by(JobRun.scheduled_run_time)
        )
    )
    db.session.commit()  # do not keep SQLite's read lock from the scheduler's threads
    return found


@contextlib.contextmanager
def scheduler(app: Any, *, lead: bool = True) -> Iterator[SchedulerRunner]:
    """Run a scheduler in a thread; with `lead`, wait until it is the leader."""
    stop = threading.Event()
    runner = SchedulerRunner(app, retry_seconds=0.1)
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()

    def shut_down() -> None:
        stop.set()
        thread.join(timeout=15)
        assert not thread.is_alive()

    runner.shut_down = shut_down
    try:
        if lead:
            assert runner.became_leader.wait(10), "the scheduler did not become leader"
        yield runner
    finally:
        shut_down()


# --------------------------------------------------------------------------- declarations


def test_the_reaper_is_a_built_in_scheduled_job(app):
    specs = {spec.job_id: spec for spec in declared_scheduled_jobs(app)}
    reaper = specs["platform.jobs.reaper"]
    assert reaper.func == "grp.workflow.jobs.scheduler:reap_jobs"
    assert (reaper.trigger, reaper.trigger_args) == ("interval", {"minutes": 1})


def test_declarations_are_checked_when_registered(app):
    with pytest.raises(JobRegistrationError, match="package.module:function"):
        register_scheduled_job(app, "bad.ref", "not a reference", "interval", minutes=1)
    with pytest.raises(JobRegistrationError, match="bad trigger"):
        register_scheduled_job(app, "bad.trigger", "test_scheduler:tick", "weekly")
    with pytest.raises(JobRegistrationError, match="bad trigger"):
        register_scheduled_job(app, "bad.args", "test_scheduler:tick", "cron", hour=99)
    register_scheduled_job(app, "ok", tick, "cron", hour=2, description="Nightly")
    with pytest.raises(JobRegistrationError, match="already registered"):
        register_scheduled_job(app, "ok", "test_scheduler:tick", "cron", hour=3)
    spec = next(s for s in declared_scheduled_jobs(app) if s.job_id == "ok")
    assert spec.func == "test_scheduler:tick" and spec.description == "Nightly"


def test_modules_declare_scheduled_jobs_in_their_manifest(app, tmp_path):
    module = tmp_path / "payroll"
    module.mkdir()
    (module / "__manifest__.py").write_text(
        '{"name": "payroll", "jobs": [{"id": "payroll.prepare", '
        '"func": "test_scheduler:tick", "trigger": "cron", "day": 25, "hour": 6, '
        '"timezone": "Asia/Dubai", "description": "Prepare the month\'s payroll"}]}'
    )
    manifest = ModuleManifest("payroll", "1.0", (), module, "modules.payroll")
    app.extensions["grp"].modules.append(manifest)
    spec = next(s for s in declared_scheduled_jobs(app) if s.job_id == "payroll.prepare")
    assert spec.source == "payroll" and spec.func == "test_scheduler:tick"
    assert spec.trigger_args == {"day": 25, "hour": 6, "timezone": "Asia/Dubai"}


# --------------------------------------------------------------------------- runs


def test_each_run_is_recorded_once_per_scheduled_time(app, ticks):
    from apscheduler.job import Job as SchedulerJob

    job = SchedulerJob.__new__(SchedulerJob)
    job.id, job.func, job.args, job.kwargs, job.misfire_grace_time = ("t", tick, (), {}, 60)
    due = datetime.now(UTC).replace(microsecond=123456)
    run_recorded(app, job, "default", [due], "test")
    # A second scheduler firing the same run (same job, same time) skips it.
    run_recorded(app, job, "default", [due], "test")
    assert ticks() == 1
    recorded = runs("t")
    assert [(r.outcome, r.scheduled_run_time) for r in recorded] == [("succeeded", due)]
    assert recorded[0].finished_at >= recorded[0].started_at
    # Later than the grace time: recorded as missed, not run.
    run_recorded(app, job, "default", [due - timedelta(minutes=5)], "test")
    assert ticks() == 1 and runs("t")[0].outcome == "missed"


def test_a_scheduled_job_runs_and_a_failure_is_recorded(app, ticks):
    register_scheduled_job(app, "test.tick", "test_scheduler:tick", "interval", seconds=1)
    register_scheduled_job(app, "test.explode", "test_scheduler:explode", "interval", seconds=1)
    with scheduler(app):
        wait_for(lambda: len(runs("test.explode")) >= 1 and ticks() >= 1, 5, "both jobs to run")
    failed = runs("test.explode")[0]
    assert failed.outcome == "failed" and "RuntimeError: scheduled boom" in failed.error
    succeeded = [r for r in runs("test.tick") if r.outcome == "succeeded"]
    assert len(succeeded) == ticks()
    assert all(r.runner and r.runner.endswith(f":{os.getpid()}") for r in succeeded)


def test_a_job_missed_while_no_scheduler_ran_runs_once_on_start(app, ticks):
    register_scheduled_job(app, "test.tick", "test_scheduler:tick", "interval", seconds=1)
    with scheduler(app):
        wait_for(lambda: ticks() >= 1, 5, "the first run")
    stopped_at = utcnow()
    time.sleep(3.5)  # three or four runs are missed
    with scheduler(app):
        wait_for(
            lambda: any(r.scheduled_run_time > stopped_at for r in runs("test.tick")),
            5,
            "the catch-up run",
        )
        time.sleep(0.3)
    first = runs("test.tick")[0]
    after = [r for r in runs("test.tick") if r.scheduled_run_time > stopped_at]
    catch_up = after[0]
    # Coalesced: the missed times are one run, carrying the latest time that was due when
    # the scheduler started, so no other run's time is at or before that run's start.
    # (Which time that is depends on how long the start took: asserting it fell before
    # the restart failed on a slow machine whose start crossed the next tick.)
    at_or_before_start = [r for r in after if r.scheduled_run_time <= catch_up.started_at]
    assert at_or_before_start == [catch_up], [r.scheduled_run_time for r in after]
    assert catch_up.outcome == "succeeded"  # run, not dropped as missed
    # On the stored schedule (whole seconds from the first run), not a schedule restarted.
    assert (catch_up.scheduled_run_time - first.scheduled_run_time) % timedelta(seconds=1) == (
        timedelta(0)
    )
    assert len([r for r in runs("test.tick") if r.outcome == "succeeded"]) == ticks()


def test_unchanged_declarations_keep_their_schedule_changed_ones_are_replaced(app):
    register_scheduled_job(app, "test.hourly", "test_scheduler:tick", "interval", hours=1)

    def stored() -> dict[str, float]:
        rows = db.session.execute(
            sa.select(apscheduler_jobs.c.id, apscheduler_jobs.c.next_run_time)
        )
        result = dict(rows.all())
        db.session.commit()
        return result

    with scheduler(app):
        pass
    first = stored()
    declared = {spec.job_id for spec in declared_scheduled_jobs(app)}
    assert "test.hourly" in declared and "platform.jobs.reaper" in declared
    assert set(first) == declared
    time.sleep(0.05)
    with scheduler(app):
        pass
    assert stored() == first, "an unchanged declaration must keep its next run time"
    app.extensions["grp.jobs"].scheduled.pop("test.hourly")
    register_scheduled_job(app, "test.hourly", "test_scheduler:tick", "interval", hours=2)
    with scheduler(app):
        pass
    changed = stored()
    assert changed["test.hourly"] > first["test.hourly"] + 3000
    app.extensions["grp.jobs"].scheduled.pop("test.hourly")
    with scheduler(app):
        pass
    assert set(stored()) == declared - {"test.hourly"}


def test_only_one_scheduler_leads_and_another_takes_over(app, ticks):
    register_scheduled_job(app, "test.tick", "test_scheduler:tick", "interval", seconds=1)
    with scheduler(app) as leader, scheduler(app, lead=False) as follower:
        time.sleep(0.5)
        assert leader.became_leader.is_set() and not follower.became_leader.is_set()
        wait_for(lambda: ticks() >= 1, 5, "a run")
        leader_runs = len(runs("test.tick"))
        leader.shut_down()  # its lock is released and the follower takes over
        assert follower.became_leader.wait(5), "the follower did not take over"
        wait_for(lambda: len(runs("test.tick")) > leader_runs, 5, "a run by the new leader")
    times = [r.scheduled_run_time for r in runs("test.tick")]
    assert len(times) == len(set(times))


def test_an_interrupted_run_is_marked_when_a_new_leader_starts(app):
    db.session.add(
        JobRun(
            job_id="test.gone",
            scheduled_run_time=utcnow(),
            started_at=utcnow(),
            outcome="running",
        )
    )
    db.session.commit()
    with scheduler(app):
        pass
    run = runs("test.gone")[0]
    assert run.outcome == "interrupted" and run.error


def test_the_reaper_function_requeues_dead_workers_jobs(app, departments):
    job = start_job(
        db.session,
        kind="platform.demo_count",
        department_id=departments["DM"].id,
        params={},
        actor=None,
    )
    db.session.commit()
    db.session.execute(
        sa.update(Job)
        .where(Job.id == job.id)
        .values(state="running", worker_id="gone:1:x", heartbeat_at=utcnow() - timedelta(hours=1))
    )
    db.session.add(
        JobRun(job_id="old", scheduled_run_time=utcnow() - timedelta(days=90), outcome="succeeded")
    )
    db.session.commit()
    reap_jobs()
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Job, job.id).state == "queued"
    assert runs("old") == []
