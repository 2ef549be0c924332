"""The "payroll.compute" background job: compute one run in a worker."""

from __future__ import annotations

from grp.models import User
from grp.workflow.jobs import JobContext
from modules.payroll.services.runs import compute_run, find_run

JOB_KIND = "payroll.compute"


def compute_run_job(ctx: JobContext) -> None:
    """Compute the run named by the job's `run_id` (recomputing from scratch if resumed)."""
    run = find_run(ctx.session, int(ctx.job.params["run_id"]))
    if run is None:
        ctx.add_error(ctx.job.params["run_id"], "no such payroll run")
        return
    actor = ctx.session.get(User, ctx.job.created_by_id) if ctx.job.created_by_id else None
    # One transaction: the payslips appear all at once or not at all, and the contracts
    # stream (a server-side cursor on PostgreSQL) must not be cut by a progress commit.
    compute_run(ctx.session, run, actor, progress=ctx.advance_within)
    ctx.session.commit()
