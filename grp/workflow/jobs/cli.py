"""Commands: `grp worker`, `grp scheduler`, and `grp jobs ...` to start, list and reap jobs."""

from __future__ import annotations

import json
from typing import Any

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from grp.audit import set_actor
from grp.db import db
from grp.models import Department
from grp.workflow.jobs import services
from grp.workflow.jobs.models import Job
from grp.workflow.jobs.scheduler import declared_scheduled_jobs, run_scheduler
from grp.workflow.jobs.worker import reap_now, run_worker_processes


@click.command("worker")
@click.option("--once", is_flag=True, help="Run until no job is queued, then exit.")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes to run.",
)
@with_appcontext
def worker_command(once: bool, concurrency: int) -> None:
    """Run background jobs: poll the jobs table (GRP_JOB_QUEUE=embedded) or RQ (=rq).

    A worker reaps jobs whose worker died (no heartbeat for
    GRP_JOB_HEARTBEAT_TIMEOUT seconds) when it starts and regularly after.
    Stop it with SIGTERM or Ctrl+C: a running job goes back to the queue at
    its last checkpoint.
    """
    app = current_app._get_current_object()
    mode = app.config["GRP_JOB_QUEUE"]
    click.echo(f"GRP worker ({mode} queue, {concurrency} process(es){', once' if once else ''})")
    failures = run_worker_processes(app, concurrency=concurrency, once=once, echo=click.echo)
    if failures:
        raise click.ClickException(f"{failures} worker process(es) failed")


@click.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run the scheduler: exactly one process schedules; others wait to take over.

    Leadership is a PostgreSQL advisory lock (SQLite: a file lock next to the
    database). Stop it with SIGTERM or Ctrl+C.
    """
    app = current_app._get_current_object()
    specs = declared_scheduled_jobs(app)
    click.echo(f"GRP scheduler ({len(specs)} scheduled job(s)); waiting for leadership")
    run_scheduler(app)


jobs_cli = AppGroup("jobs", help="Background jobs: start, list, reap; the scheduled jobs.")


def _department(code: str) -> Department:
    department = db.session.scalar(sa.select(Department).where(Department.code == code.upper()))
    if department is None:
        raise click.BadParameter(f"no department {code!r}", param_hint="--department")
    return department


def _parse_params(pairs: tuple[str, ...], as_json: str | None) -> dict[str, Any]:
    params: dict[str, Any] = json.loads(as_json) if as_json else {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--param")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


@jobs_cli.command("start")
@click.argument("kind")
@click.option("--department", "-d", required=True, help="Department code, e.g. POLICE.")
@click.option("--param", "-p", "pairs", multiple=True, help="KEY=VALUE (JSON values allowed).")
@click.option("--params-json", help="All params as one JSON object.")
@click.option("--dedupe-key", help="Refuse to start while the same work is queued or running.")
def start_command(
    kind: str, department: str, pairs: tuple[str, ...], params_json: str | None, dedupe_key: str
) -> None:
    """Queue a job of KIND for a department, e.g. `grp jobs start platform.demo_count -d POLICE
    -p count=1000`."""
    set_actor(db.session, None, "cli")
    target = _department(department)
    try:
        job = services.start_job(
            db.session,
            kind=kind,
            department_id=target.id,
            params=_parse_params(pairs, params_json),
            actor=None,
            dedupe_key=dedupe_key,
        )
    except services.JobServiceError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Job {job.id} ({kind}) queued for {target.code}.")


@jobs_cli.command("list")
@click.option("--department", "-d", required=True, help="Department code.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
def list_command(department: str, limit: int) -> None:
    """List a department's jobs, newest first."""
    target = _department(department)
    jobs = db.session.scalars(services.department_jobs_query(target.id).limit(limit)).all()
    if not jobs:
        click.echo(f"No jobs for {target.code}.")
        return
    for job in jobs:
        total = job.total if job.total is not None else "?"
        line = f"{job.id:>6}  {job.kind:<30} {job.state:<10} {job.done}/{total}"
        if job.error_count:
            line += f"  {job.error_count} error(s)"
        if job.failure_reason:
            line += f"  {job.failure_reason}"
        click.echo(line)


@jobs_cli.command("show")
@click.argument("job_id", type=int)
def show_command(job_id: int) -> None:
    """Show one job's state and progress as JSON."""
    job = db.session.get(Job, job_id)
    if job is None:
        raise click.ClickException(f"no job {job_id}")
    click.echo(
        json.dumps(
            {
                "id": job.id,
                "kind": job.kind,
                "department": job.department.code,
                "state": job.state,
                "done": job.done,
                "total": job.total,
                "error_count": job.error_count,
                "attempts": job.attempts,
                "failure_reason": job.failure_reason,
                "result_file": job.result_file,
            },
            indent=2,
        )
    )


@jobs_cli.command("reap")
def reap_command() -> None:
    """Requeue or fail jobs whose worker died (what workers and the scheduler do regularly)."""
    result = reap_now(current_app._get_current_object())
    click.echo(f"{len(result.requeued)} requeued, {len(result.failed)} failed.")


@jobs_cli.command("scheduled")
def scheduled_command() -> None:
    """List the declared scheduled jobs."""
    for spec in declared_scheduled_jobs(current_app._get_current_object()):
        click.echo(
            f"{spec.job_id:<30} {spec.describe_trigger():<30} {spec.func}  {spec.description}"
        )
