"""Payroll API under /api/v1/payroll and /api/v1/me/payslips.

Thin: parse, check the permission, find the record in the active department
(404 otherwise), call a service, commit. Payslips are read-only here: no
endpoint changes one, and the ORM guard refuses it anyway once a run is approved.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import Response, g
from flask_login import current_user
from flask_smorest import Api, abort
from sqlalchemy.orm import selectinload

from grp.api import Blueprint, page_of, paginate, problem_response
from grp.auth.context import acting_user, require_permission
from grp.db import db
from grp.models import Department
from grp.workflow.jobs import JobConflict, start_job
from modules.payroll import services
from modules.payroll.jobs import JOB_KIND
from modules.payroll.models import PayrollRun, PayRule, Payslip
from modules.payroll.schemas import (
    ComponentSchema,
    ComponentUpdateSchema,
    ComputeQuerySchema,
    ExcludeSchema,
    JobStartedSchema,
    MyPayslipSummarySchema,
    PayslipQuerySchema,
    PayslipSchema,
    PayslipSummarySchema,
    RuleSchema,
    RuleUpdateSchema,
    RunCreateSchema,
    RunSchema,
    UnpaidDaysInputSchema,
)
from modules.payroll.services import access
from modules.payroll.services.reports import run_sif
from modules.payroll.wps import SifError

blp = Blueprint(
    "payroll_api",
    __name__,
    url_prefix="/api/v1/payroll",
    description="Payroll: components and rules, runs, payslips, WPS file",
)
me_blp = Blueprint(
    "payroll_me_api", __name__, url_prefix="/api/v1/me", description="My own payslips"
)


def _department_id() -> int:
    if g.department is None:
        abort(403, message="Choose a department first (X-GRP-Department header).")
    return g.department.id


def _run(run_id: int) -> PayrollRun:
    _department_id()
    run = services.find_run(db.session, run_id)
    if run is None:
        abort(404, message="No such payroll run.")
    return run


def _conflict(message: str) -> Any:
    db.session.rollback()
    abort(409, message=message)


# --------------------------------------------------------------------------- components


@blp.route("/components", methods=["GET"])
@blp.response(200, ComponentSchema(many=True))
@require_permission("payroll.component.read")
def list_components() -> Any:
    """List the department's salary components with their rules."""
    _department_id()
    return services.list_components(db.session)


@blp.route("/components", methods=["POST"])
@blp.arguments(ComponentSchema)
@blp.response(201, ComponentSchema)
@require_permission("payroll.component.manage")
def create_component(data: dict[str, Any]) -> Any:
    """Add a salary component."""
    _department_id()
    component = services.create_component(db.session, data)
    db.session.commit()
    return component


@blp.route("/components/<int:component_id>", methods=["PATCH"])
@blp.arguments(ComponentUpdateSchema)
@blp.response(200, ComponentSchema)
@require_permission("payroll.component.manage")
def update_component(data: dict[str, Any], component_id: int) -> Any:
    """Change a salary component (its code stays)."""
    _department_id()
    component = services.find_component(db.session, component_id)
    if component is None:
        abort(404, message="No such component.")
    services.update_component(db.session, component, data)
    db.session.commit()
    return component


@blp.route("/rules", methods=["GET"])
@blp.response(200, RuleSchema(many=True))
@require_permission("payroll.component.read")
def list_rules() -> Any:
    """List the department's rules by component and priority."""
    _department_id()
    return list(
        db.session.scalars(sa.select(PayRule).order_by(PayRule.component_id, PayRule.priority))
    )


@blp.route("/rules", methods=["POST"])
@blp.arguments(RuleSchema)
@blp.response(201, RuleSchema)
@require_permission("payroll.component.manage")
def create_rule(data: dict[str, Any]) -> Any:
    """Add a rule to a component; a formula is checked (errors name the character)."""
    _department_id()
    component = services.find_component(db.session, data.pop("component_id"))
    if component is None:
        abort(422, errors={"json": {"component_id": ["No such component."]}})
    rule = services.create_rule(db.session, component, data)
    db.session.commit()
    return rule


@blp.route("/rules/<int:rule_id>", methods=["PATCH"])
@blp.arguments(RuleUpdateSchema(partial=True))
@blp.response(200, RuleSchema)
@require_permission("payroll.component.manage")
def update_rule(data: dict[str, Any], rule_id: int) -> Any:
    """Change a rule; the whole rule is validated again."""
    _department_id()
    rule = services.find_rule(db.session, rule_id)
    if rule is None:
        abort(404, message="No such rule.")
    services.update_rule(db.session, rule, data)
    db.session.commit()
    return rule


# --------------------------------------------------------------------------- runs


@blp.route("/runs", methods=["GET"])
@blp.response(200, RunSchema(many=True))
@require_permission("payroll.run.read")
def list_runs() -> Any:
    """List the department's runs, latest month first."""
    _department_id()
    return list(
        db.session.scalars(
            sa.select(PayrollRun)
            .options(selectinload(PayrollRun.errors))
            .order_by(PayrollRun.period.desc(), PayrollRun.sequence)
        )
    )


@blp.route("/runs", methods=["POST"])
@blp.arguments(RunCreateSchema)
@blp.response(201, RunSchema)
@blp.alt_response(409, description="A regular run for the month exists")
@require_permission("payroll.run.create")
def create_run(data: dict[str, Any]) -> Any:
    """Create a draft run for a month ({"period": "2026-11", "kind": "regular"})."""
    _department_id()
    try:
        run = services.create_run(db.session, data["period"], data["kind"], inputs=data["inputs"])
    except services.DuplicateRunError as exc:
        _conflict(str(exc))
    db.session.commit()
    return run


@blp.route("/runs/<int:run_id>", methods=["GET"])
@blp.response(200, RunSchema)
@require_permission("payroll.run.read")
def get_run(run_id: int) -> Any:
    """Show a run: state, counts, employee errors and totals."""
    return _run(run_id)


@blp.route("/runs/<int:run_id>/compute", methods=["POST"])
@blp.arguments(ComputeQuerySchema, location="query")
@blp.response(202, JobStartedSchema)
@blp.alt_response(409, description="The run is approved, or being computed")
@require_permission("payroll.run.compute")
def compute_run(query: dict[str, Any], run_id: int) -> Any:
    """Compute the run in the background (returns the job id); `?sync=1` computes now."""
    run = _run(run_id)
    if run.state not in ("draft", "computed"):
        _conflict(f"The run is {run.state}.")
    user = acting_user()
    if query["sync"]:
        services.compute_run(db.session, run, user)
        db.session.commit()
        return {"job_id": None, "run": run}
    try:
        job = start_job(
            db.session,
            kind=JOB_KIND,
            department_id=run.department_id,
            params={"run_id": run.id},
            actor=user,
            dedupe_key=str(run.id),
        )
    except JobConflict:
        _conflict("The run is being computed already.")
    db.session.commit()
    return {"job_id": job.id, "run": run}


@blp.route("/runs/<int:run_id>/exclude", methods=["POST"])
@blp.arguments(ExcludeSchema)
@blp.response(200, RunSchema)
@require_permission("payroll.run.compute")
def exclude_employee(data: dict[str, Any], run_id: int) -> Any:
    """Leave an employee out of the run (their error then no longer blocks approval)."""
    run = _run(run_id)
    try:
        services.exclude_employee(db.session, run, data["employee_id"])
    except services.RunStateError as exc:
        _conflict(str(exc))
    db.session.commit()
    return run


@blp.route("/runs/<int:run_id>/unpaid-days", methods=["POST"])
@blp.arguments(UnpaidDaysInputSchema)
@blp.response(200, RunSchema)
@blp.alt_response(409, description="The run is approved")
@require_permission("payroll.run.compute")
def set_unpaid_days(data: dict[str, Any], run_id: int) -> Any:
    """Record an employee's unpaid leave days for the month (recompute to apply them)."""
    run = _run(run_id)
    try:
        services.set_unpaid_days(db.session, run, data["employee_id"], data["unpaid_days"])
    except services.RunStateError as exc:
        _conflict(str(exc))
    db.session.commit()
    return run


@blp.route("/runs/<int:run_id>/approve", methods=["POST"])
@blp.response(200, RunSchema)
@blp.alt_response(403, description="No permission, or the approver computed the run")
@blp.alt_response(409, description="Not computed, or employee errors remain")
@require_permission("payroll.run.approve")
def approve_run(run_id: int) -> Any:
    """Approve a computed run (a different user from the one who computed it)."""
    run = _run(run_id)
    try:
        services.approve_run(db.session, run, acting_user())
    except services.ApprovalRefused as exc:
        db.session.rollback()
        abort(403, message=str(exc))
    except services.RunStateError as exc:
        _conflict(str(exc))
    db.session.commit()
    return run


@blp.route("/runs/<int:run_id>/payslips", methods=["GET"])
@blp.arguments(PayslipQuerySchema, location="query")
@blp.response(200, page_of(PayslipSummarySchema))
@require_permission("payroll.payslip.read")
def list_payslips(query: dict[str, Any], run_id: int) -> Any:
    """List a run's payslips by employee number, a page at a time."""
    run = _run(run_id)
    select = sa.select(Payslip).where(Payslip.run_id == run.id).order_by(Payslip.employee_no)
    return paginate(select, query["page"], query["per_page"])


@blp.route("/payslips/<int:payslip_id>", methods=["GET"])
@blp.response(200, PayslipSchema)
@require_permission("payroll.payslip.read")
def get_payslip(payslip_id: int) -> Any:
    """Show a payslip with its lines and how each was computed (the read is audited)."""
    from modules.payroll.services.access import record_payslip_read

    _department_id()
    payslip = db.session.scalar(sa.select(Payslip).where(Payslip.id == payslip_id))
    if payslip is None:
        abort(404, message="No such payslip.")
    record_payslip_read(db.session, payslip, acting_user(), what="json")
    db.session.commit()
    return payslip


@blp.route("/runs/<int:run_id>/wps.sif", methods=["GET"])
@blp.doc(responses={"200": {"description": "The WPS salary information file"}})
@blp.alt_response(409, description="Not approved, or employees with missing bank details")
@require_permission("payroll.run.export")
def wps_file(run_id: int) -> Any:
    """Download the run's WPS salary information file (approved runs only)."""
    run = _run(run_id)
    if run.state not in ("approved", "posted", "paid"):
        _conflict("Only an approved run has a WPS file.")
    department = db.session.get(Department, run.department_id)
    try:
        sif = run_sif(db.session, run, department, datetime.now(UTC))
    except SifError as exc:
        return problem_response(409, str(exc))
    if sif.content is None:
        return problem_response(
            409,
            "Some employees cannot be paid through WPS; fix their details.",
            {
                "exceptions": [
                    {"employee": e.employee, "field": e.field, "reason": e.reason}
                    for e in sif.exceptions
                ]
            },
        )
    return Response(
        sif.content,
        mimetype="text/plain",
        headers={"Content-Disposition": f'attachment; filename="{sif.name}"'},
    )


@blp.route("/runs/<int:run_id>/register.csv", methods=["GET"])
@blp.doc(responses={"200": {"description": "The payroll register as CSV"}})
@require_permission("payroll.payslip.read")
def register_csv(run_id: int) -> Any:
    """Download the run's payroll register: one row per payslip, one column per component."""
    from modules.payroll.api_reports import run_report_download

    return run_report_download(_run(run_id), "register", "csv")


# --------------------------------------------------------------------------- me


@me_blp.route("/payslips", methods=["GET"])
@me_blp.arguments(PayslipQuerySchema, location="query")
@me_blp.response(200, page_of(MyPayslipSummarySchema))
@require_permission("payroll.self.read")
def my_payslips(query: dict[str, Any]) -> Any:
    """List my approved payslips, latest first, a page at a time (details: `/me/payslips/{id}`)."""
    _department_id()
    # One employee's payslips are few: counted with the page, in one statement.
    statement, values = access.own_payslip_rows(current_user.id)
    return paginate(
        statement, query["page"], query["per_page"], narrow=True, rows=True, params=values
    )


@me_blp.route("/payslips/<int:payslip_id>", methods=["GET"])
@me_blp.response(200, PayslipSchema)
@require_permission("payroll.self.read")
def my_payslip(payslip_id: int) -> Any:
    """Show one of my approved payslips (anyone else's is 404)."""
    _department_id()
    payslip = access.find_own_payslip(db.session, payslip_id, current_user)
    if payslip is None:
        abort(404, message="No such payslip.")
    return payslip


def register_api(api: Api) -> None:
    """Register the payroll API blueprints on the app's flask-smorest Api."""
    # The other endpoint files add their routes to `blp` / `me_blp` when imported,
    # which must happen before the blueprints are registered.
    import modules.payroll.api_documents  # noqa: F401 - PDF payslips, run ZIP / merged PDF
    import modules.payroll.api_operations  # noqa: F401 - inputs, post, mark-paid
    import modules.payroll.api_reports  # noqa: F401 - review and reports

    api.register_blueprint(blp)
    api.register_blueprint(me_blp)
