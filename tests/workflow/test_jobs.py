"""Background jobs in one process: start, dedupe, run, progress, errors, reaping, cancelling."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grp.db import db, utcnow
from grp.models import AuditEntry
from grp.tenancy import current_department_id, department_context
from grp.testing.probe import TenancyProbe
from grp.workflow.jobs import (
    JobConflict,
    UnknownJobKind,
    cancel_job,
    register_job_handler,
    start_job,
)
from grp.workflow.jobs.models import Job, JobError
from grp.workflow.jobs.runner import execute_claimed_job, new_worker_id
from grp.workflow.jobs.services import claim_job, reap_stale_jobs, result_file_path
from grp.workflow.jobs.worker import run_embedded_worker

DEMO = "platform.demo_count"


@pytest.fixture
def app_config():
    # Small batches so progress is visible, and no waiting in the worker loop.
    return {"GRP_JOB_PROGRESS_BATCH": 10, "GRP_JOB_POLL_SECONDS": 0.05}


@pytest.fixture
def police(departments):
    return departments["POLICE"]


@pytest.fixture
def officer(create_user):
    return create_user("officer", roles=[("POLICE", "department_admin")])


def fresh_job(job_id: int) -> Job:
    db.session.expire_all()
    return db.session.get(Job, job_id)


def start_demo(police, officer, **params) -> Job:
    dedupe_key = params.pop("dedupe_key", None)
    job = start_job(
        db.session,
        kind=DEMO,
        department_id=police.id,
        params=params,
        actor=officer,
        dedupe_key=dedupe_key,
    )
    db.session.commit()
    return job


def result_lines(app, job: Job) -> list[str]:
    path = result_file_path(job)
    assert path is not None, "no result file"
    assert str(path).startswith(app.instance_path)
    return path.read_text().splitlines()


# --------------------------------------------------------------------------- starting


def test_start_job_queues_a_job_and_audits_the_start(police, officer):
    job = start_demo(police, officer, count=3)
    stored = fresh_job(job.id)
    assert stored.state == "queued" and stored.department_id == police.id
    assert stored.params == {"count": 3} and stored.created_by_id == officer.id
    assert stored.done == 0 and stored.attempts == 0
    entry = db.session.scalar(
        sa.select(AuditEntry).where(AuditEntry.entity == "Job", AuditEntry.action == "start")
    )
    assert entry.entity_id == str(job.id) and entry.department_id == police.id


def test_second_start_of_the_same_work_is_refused_while_active(app, police, officer, departments):
    first = start_demo(police, officer, count=3, dedupe_key="2026-11")
    with pytest.raises(JobConflict) as refused:
        start_demo(police, officer, count=3, dedupe_key="2026-11")
    assert refused.value.existing_id == first.id
    assert "already queued or running" in str(refused.value)
    db.session.rollback()
    # Other work, another department, or no dedupe key: allowed.
    start_demo(police, officer, count=3, dedupe_key="2026-12")
    start_demo(departments["DM"], officer, count=3, dedupe_key="2026-11")
    start_demo(police, officer, count=3)
    start_demo(police, officer, count=3)
    # Once the first has finished, the same work may start again.
    run_embedded_worker(app, once=True)
    assert fresh_job(first.id).state == "succeeded"
    again = start_demo(police, officer, count=3, dedupe_key="2026-11")
    assert again.id != first.id


def test_the_database_refuses_a_second_active_job_for_the_same_work(police, officer):
    """The partial unique index holds even when the service's check is bypassed (a race)."""

    def row(state: str) -> Job:
        return Job(
            kind=DEMO,
            department_id=police.id,
            dedupe_key="same",
            params={},
            state=state,
            created_at=utcnow(),
        )

    db.session.add_all([row("succeeded"), row("failed"), row("queued")])
    db.session.commit()  # finished jobs do not count
    db.session.add(row("running"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


@pytest.mark.postgres
def test_a_lost_race_keeps_the_callers_transaction_usable(police, officer, monkeypatch):
    start_demo(police, officer, dedupe_key="race")
    # Pretend the service's check saw nothing, as when another request commits meanwhile.
    monkeypatch.setattr("grp.workflow.jobs.services._active_job_id", lambda *a, **k: None)
    officer.name = "Still Saved"
    with pytest.raises(JobConflict):
        start_job(
            db.session,
            kind=DEMO,
            department_id=police.id,
            params={},
            actor=officer,
            dedupe_key="race",
        )
    db.session.commit()
    db.session.expire_all()
    assert officer.name == "Still Saved"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 1


def test_unknown_kinds_and_non_json_params_are_refused(police, officer):
    with pytest.raises(UnknownJobKind):
        start_job(db.session, kind="nope", department_id=police.id, params={}, actor=officer)
    with pytest.raises(Exception, match="JSON"):
        start_job(
            db.session, kind=DEMO, department_id=police.id, params={"x": object()}, actor=officer
        )


def test_a_rollback_after_start_job_leaves_no_job(police, officer):
    start_job(db.session, kind=DEMO, department_id=police.id, params={}, actor=officer)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0


# --------------------------------------------------------------------------- running


def test_a_worker_runs_the_job_with_progress_errors_and_result(app, police, officer):
    job = start_demo(police, officer, count=25, fail_every=10)
    assert run_embedded_worker(app, once=True) == 1
    done = fresh_job(job.id)
    assert done.state == "succeeded", done.failure_reason
    assert (done.done, done.total, done.percent) == (25, 25, 100)
    assert done.attempts == 1 and done.started_at and done.finished_at
    assert done.heartbeat_at is not None
    errors = db.session.scalars(sa.select(JobError).order_by(JobError.id)).all()
    assert [(e.item, e.message) for e in errors] == [
        ("10", "10 is a multiple of 10"),
        ("20", "20 is a multiple of 10"),
    ]
    assert done.error_count == 2
    assert result_lines(app, done) == [str(n) for n in range(1, 26) if n % 10]


def test_the_handler_runs_in_the_jobs_department(app, police, officer, departments):
    seen = {}

    def write_probe(ctx):
        seen["department"] = current_department_id(ctx.session)
        seen["code"] = ctx.job.department.code
        ctx.session.add(TenancyProbe(label=f"job {ctx.job.id}"))
        ctx.advance()

    register_job_handler(app, "test.probe", write_probe)
    job = start_job(db.session, kind="test.probe", department_id=police.id, params={}, actor=None)
    db.session.commit()
    run_embedded_worker(app, once=True)
    assert fresh_job(job.id).state == "succeeded"
    assert seen == {"department": police.id, "code": "POLICE"}
    with department_context(db.session, police.id):
        assert db.session.scalars(sa.select(TenancyProbe.label)).all() == [f"job {job.id}"]
    with department_context(db.session, departments["DM"].id):
        assert db.session.scalars(sa.select(TenancyProbe.label)).all() == []


def test_a_failing_handler_fails_the_job_with_the_reason(app, police, officer):
    job = start_demo(police, officer, count=30, fail_at=25)
    run_embedded_worker(app, once=True)
    failed = fresh_job(job.id)
    assert failed.state == "failed"
    assert failed.failure_reason == "RuntimeError: asked to fail at 25"
    # Progress committed before the failure stays; nothing after the last save.
    assert 20 <= failed.done < 25 and failed.finished_at is not None


def test_ten_thousand_items_commit_in_batches(app, police, officer):
    job = start_demo(police, officer, count=10_000)
    app.config["GRP_JOB_PROGRESS_BATCH"] = 500
    commits = []

    def count(session: Session) -> None:
        commits.append(1)

    event.listen(Session, "after_commit", count)
    try:
        started = time.perf_counter()
        run_embedded_worker(app, once=True)
        elapsed = time.perf_counter() - started
    finally:
        event.remove(Session, "after_commit", count)
    done = fresh_job(job.id)
    assert done.state == "succeeded" and done.done == 10_000
    assert len(commits) < 60, f"{len(commits)} commits for 10,000 items"
    assert elapsed < 10
    assert len(result_lines(app, done)) == 10_000


def test_a_stopping_worker_requeues_the_job_at_its_checkpoint(app, police, officer):
    stop = threading.Event()
    app.config["GRP_JOB_PROGRESS_BATCH"] = 4

    def count_to_twenty(ctx):
        for number in range((ctx.checkpoint or {"next": 1})["next"], 21):
            ctx.advance(checkpoint={"next": number + 1})
            if number == 12:
                stop.set()  # SIGTERM arrives; the next advance stops the handler

    register_job_handler(app, "test.count", count_to_twenty)
    job = start_job(db.session, kind="test.count", department_id=police.id, params={}, actor=None)
    db.session.commit()
    worker = new_worker_id()
    assert claim_job(db.session(), worker) == job.id
    assert execute_claimed_job(app, job.id, worker, stop) is None
    requeued = fresh_job(job.id)
    assert requeued.state == "queued" and requeued.worker_id is None
    assert requeued.done == 12 and requeued.checkpoint == {"next": 13}
    run_embedded_worker(app, once=True)
    finished = fresh_job(job.id)
    assert finished.state == "succeeded" and finished.attempts == 2
    assert (finished.done, finished.total) == (20, 20)


# --------------------------------------------------------------------------- dead workers


def _running_job(police, officer, *, attempts: int, heartbeat_age: float) -> Job:
    job = start_demo(police, officer, count=10)
    db.session.execute(
        sa.update(Job)
        .where(Job.id == job.id)
        .values(
            state="running",
            worker_id="gone:1:dead",
            attempts=attempts,
            checkpoint={"next": 4, "offset": 6},
            done=3,
            heartbeat_at=utcnow() - timedelta(seconds=heartbeat_age),
        )
    )
    db.session.commit()
    return job


def test_the_reaper_requeues_a_dead_workers_job_with_its_checkpoint(police, officer):
    stale = _running_job(police, officer, attempts=1, heartbeat_age=300)
    alive = _running_job(police, officer, attempts=1, heartbeat_age=1)
    result = reap_stale_jobs(db.session, timeout_seconds=60, max_attempts=3)
    db.session.commit()
    assert result.requeued == [stale.id] and result.failed == []
    requeued = fresh_job(stale.id)
    assert requeued.state == "queued" and requeued.worker_id is None
    assert requeued.checkpoint == {"next": 4, "offset": 6} and requeued.done == 3
    assert fresh_job(alive.id).state == "running"


def test_the_reaper_fails_a_job_whose_worker_died_too_often(police, officer):
    job = _running_job(police, officer, attempts=3, heartbeat_age=300)
    result = reap_stale_jobs(db.session, timeout_seconds=60, max_attempts=3)
    db.session.commit()
    assert result.failed == [job.id]
    failed = fresh_job(job.id)
    assert failed.state == "failed" and failed.failure_reason.startswith("worker died")
    assert failed.finished_at is not None


def test_a_reaped_job_is_not_overwritten_by_its_stalled_worker(app, police, officer):
    job = start_demo(police, officer, count=5)
    worker = new_worker_id()
    claim_job(db.session(), worker)
    # Another worker took the job over after this one stalled.
    db.session.execute(sa.update(Job).where(Job.id == job.id).values(worker_id="other:2:x"))
    db.session.commit()
    assert execute_claimed_job(app, job.id, worker) is None
    taken = fresh_job(job.id)
    assert taken.state == "running" and taken.worker_id == "other:2:x" and taken.done == 0


# --------------------------------------------------------------------------- cancelling


def test_cancelling_a_queued_job_stops_it_before_it_runs(app, police, officer):
    job = start_demo(police, officer, count=5, dedupe_key="x")
    cancel_job(db.session, job, actor=officer)
    db.session.commit()
    assert fresh_job(job.id).state == "cancelled"
    assert run_embedded_worker(app, once=True) == 0
    # A cancelled job no longer blocks the same work.
    start_demo(police, officer, count=5, dedupe_key="x")


def test_cancelling_a_running_job_stops_it_at_its_next_save(app, police, officer):
    job = start_demo(police, officer, count=50)
    worker = new_worker_id()
    claim_job(db.session(), worker)
    cancel_job(db.session, fresh_job(job.id), actor=officer)
    db.session.commit()
    assert execute_claimed_job(app, job.id, worker) == "cancelled"
    cancelled = fresh_job(job.id)
    assert cancelled.state == "cancelled" and cancelled.done < 50
    with pytest.raises(Exception, match="queued or running"):
        cancel_job(db.session, cancelled, actor=officer)


def test_the_person_who_started_a_job_is_notified_when_it_finishes(
    app, police, officer, monkeypatch
):
    sent = []

    def notify(session, **kwargs):
        sent.append({**kwargs, "recipient": kwargs["recipient"].id})
        return []

    monkeypatch.setattr("grp.workflow.notifications.notify", notify)
    job = start_demo(police, officer, count=2)
    start_job(db.session, kind=DEMO, department_id=police.id, params={}, actor=None)
    db.session.commit()  # started by no one: nobody to notify
    run_embedded_worker(app, once=True)
    assert len(sent) == 1
    (call,) = sent
    assert call["recipient"] == officer.id and call["event"] == "job.finished"
    assert call["department_id"] == police.id and call["link"] == f"/jobs/{job.id}"
    assert call["context"]["state"] == "succeeded" and call["context"]["job_id"] == job.id
