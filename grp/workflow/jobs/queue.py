"""Hand committed jobs to RQ (Redis) when GRP_JOB_QUEUE=rq.

A job id is remembered on the session when the job is started (or requeued)
and pushed to Redis only after the transaction commits; a rollback forgets
it. So Redis never holds the id of a job that does not exist, and a worker
that picks an id up always finds the committed row. The job row stays the
source of truth: the RQ worker runs the same `run_job(job_id)` as the
embedded worker, which claims the row before doing anything.

In embedded mode (the default) nothing is enqueued: workers poll the table.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger("grp.jobs")

PENDING_KEY = "grp_jobs_pending_enqueue"
#: Dotted path RQ imports in its worker; it runs `grp.workflow.jobs.runner.run_job`.
RQ_ENTRY_POINT = "grp.workflow.jobs.runner.perform_queued_job"


def _real(session: Any) -> Session:
    from sqlalchemy.orm import scoped_session

    return session() if isinstance(session, scoped_session) else session


def enqueue_after_commit(session: Session, job_id: int) -> None:
    """Enqueue `job_id` on RQ once the session's transaction commits (RQ mode only)."""
    if not has_app_context():
        return
    config = current_app.config
    if config.get("GRP_JOB_QUEUE") != "rq":
        return
    session = _real(session)
    pending = session.info.setdefault(
        PENDING_KEY,
        {
            "redis_url": config["GRP_REDIS_URL"],
            "queue": config["GRP_RQ_QUEUE_NAME"],
            "timeout": config["GRP_RQ_JOB_TIMEOUT"],
            "ids": [],
        },
    )
    if job_id not in pending["ids"]:
        pending["ids"].append(job_id)


def redis_connection(url: str) -> Any:
    """Return a Redis client for `url` (imported here: only RQ mode needs redis)."""
    from redis import Redis

    return Redis.from_url(url)


def rq_queue(redis_url: str, name: str) -> Any:
    from rq import Queue

    return Queue(name, connection=redis_connection(redis_url))


def enqueue_ids(redis_url: str, queue_name: str, job_ids: list[int], timeout: int) -> None:
    """Push job ids to the RQ queue now."""
    rq = rq_queue(redis_url, queue_name)
    for job_id in job_ids:
        # Results live in the job row, not in Redis.
        rq.enqueue(
            RQ_ENTRY_POINT,
            job_id,
            job_timeout=timeout,
            result_ttl=0,
            description=f"grp job {job_id}",
        )


def _after_commit(session: Session) -> None:
    pending = session.info.pop(PENDING_KEY, None)
    if not pending or not pending["ids"]:
        return
    try:
        enqueue_ids(pending["redis_url"], pending["queue"], pending["ids"], pending["timeout"])
    except Exception:  # the job is committed; the reaper enqueues it again later
        log.exception("cannot enqueue jobs %s on RQ; the reaper will retry", pending["ids"])


def _after_soft_rollback(session: Session, previous_transaction: Any) -> None:
    # Only the outermost transaction's rollback undoes the start; a savepoint's does not.
    if previous_transaction.parent is None:
        session.info.pop(PENDING_KEY, None)


def install_session_hooks() -> None:
    """Attach the after-commit enqueue to every session (idempotent)."""
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_soft_rollback)
