"""Worker processes: the embedded worker that polls the jobs table, and the RQ worker.

`grp worker` runs one of them (GRP_JOB_QUEUE), in N processes with
`--concurrency N`. Every worker first reaps jobs whose worker died, and the
embedded one reaps again every half heartbeat timeout while it polls.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask

from grp.db import db
from grp.workflow.jobs import services
from grp.workflow.jobs.runner import execute_claimed_job, new_worker_id

log = logging.getLogger("grp.jobs")


def reap_now(app: Flask) -> services.ReapResult:
    """Requeue or fail the jobs of dead workers now, and commit."""
    with app.app_context():
        try:
            result = services.reap_with_settings(db.session)
            db.session.commit()
            return result
        except Exception:
            db.session.rollback()
            raise
        finally:
            db.session.remove()


def _claim_next(app: Flask, worker_id: str) -> int | None:
    with app.app_context():
        try:
            return services.claim_job(db.session(), worker_id)
        finally:
            db.session.remove()


def run_embedded_worker(
    app: Flask, *, once: bool = False, stop: threading.Event | None = None
) -> int:
    """Claim and run queued jobs until stopped (or, with `once`, until none is queued).

    Return the number of jobs this worker ran.
    """
    stop = stop or threading.Event()
    worker_id = new_worker_id()
    config = app.config
    poll = float(config["GRP_JOB_POLL_SECONDS"])
    reap_every = max(1.0, float(config["GRP_JOB_HEARTBEAT_TIMEOUT"]) / 2)
    log.info("worker %s started (embedded queue%s)", worker_id, ", once" if once else "")
    reap_now(app)
    last_reap = time.monotonic()
    ran = 0
    while not stop.is_set():
        if time.monotonic() - last_reap >= reap_every:
            try:
                reap_now(app)
            except Exception:  # a database hiccup must not stop the worker
                log.exception("worker %s: reaping failed", worker_id)
            last_reap = time.monotonic()
        try:
            job_id = _claim_next(app, worker_id)
        except Exception:
            log.exception("worker %s: cannot claim a job", worker_id)
            job_id = None
            if once:
                raise
        if job_id is not None:
            execute_claimed_job(app, job_id, worker_id, stop)
            ran += 1
            continue
        if once:
            break
        stop.wait(poll)
    log.info("worker %s stopped after %s job(s)", worker_id, ran)
    return ran


def run_rq_worker(app: Flask, *, once: bool = False) -> None:
    """Run an RQ worker on the app's queue (burst mode with `once`), in an app context."""
    from rq import Worker

    from grp.workflow.jobs.queue import redis_connection

    config = app.config
    reap_now(app)
    connection = redis_connection(config["GRP_REDIS_URL"])
    with app.app_context():
        # RQ forks a work horse per job; it inherits this app context and
        # perform_queued_job drops the pooled connections it must not share.
        worker = Worker([config["GRP_RQ_QUEUE_NAME"]], connection=connection)
        worker.work(burst=once, with_scheduler=False)


def run_worker(app: Flask, *, once: bool = False, stop: threading.Event | None = None) -> None:
    """Run the worker the app is configured for (embedded or RQ)."""
    if app.config["GRP_JOB_QUEUE"] == "rq":
        run_rq_worker(app, once=once)
    else:
        run_embedded_worker(app, once=once, stop=stop)


# --------------------------------------------------------------------------- processes


def _child(app: Flask, once: bool) -> None:
    """Run one worker in a forked child process."""
    with app.app_context():
        # The parent's pooled connections stay the parent's.
        db.engine.dispose(close=False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_worker(app, once=once, stop=stop)


def run_worker_processes(
    app: Flask,
    *,
    concurrency: int = 1,
    once: bool = False,
    echo: Callable[[str], Any] = log.info,
) -> int:
    """Run `concurrency` worker processes until they finish (`once`) or SIGTERM/SIGINT.

    With one process the worker runs in this process. Otherwise children are
    forked (each with its own database connections) and restarted if one dies
    unexpectedly; return the number of children that exited with an error.
    """
    stop = threading.Event()
    if concurrency <= 1:
        previous = {
            sig: signal.signal(sig, lambda *_: stop.set())
            for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            run_worker(app, once=once, stop=stop)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0
    context = multiprocessing.get_context("fork")

    def spawn(index: int) -> Any:
        process = context.Process(target=_child, args=(app, once), name=f"grp-worker-{index}")
        process.start()
        return process

    with app.app_context():
        db.engine.dispose()  # nothing pooled to inherit
    children = {index: spawn(index) for index in range(concurrency)}
    echo(f"started {concurrency} worker processes")

    def forward(signum: int, frame: Any) -> None:
        stop.set()
        for process in children.values():
            if process.is_alive():
                process.terminate()

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    failures = 0
    try:
        while children:
            for index, process in list(children.items()):
                process.join(timeout=0.2)
                if process.exitcode is None:
                    continue
                del children[index]
                if process.exitcode != 0:
                    failures += 1
                    echo(f"worker process {index} exited with code {process.exitcode}")
                    if not once and not stop.is_set():
                        children[index] = spawn(index)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for process in children.values():
            process.terminate()
            process.join(timeout=10)
    return failures
