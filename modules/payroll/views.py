"""Payroll officer and finance pages under /payroll: runs, payslips, review, reports, rules.

Thin: parse the form, call a service, commit, redirect (303); a service's
refusal is shown as a message or on the form's field. Every page declares a
permission; another department's run or payslip is 404 (tenancy scoping).
Lists are paginated in SQL; reports are read a chunk of employees at a time.

* `payroll.runs` (`/payroll/runs`): runs by month, filter by month and state,
  and the "new run" form; `payroll.run` (`/payroll/runs/<id>`): state,
  totals, counts, the computation's progress (the page reloads itself while
  the background job runs), compute / approve / post / mark paid, employee
  errors with "exclude", unpaid days, the payslips (searched, in pages) and
  links to the review, reports, the WPS file, the register and PDF exports;
* `payroll.payslip` (`/payroll/payslips/<id>`): every line and how it was
  computed, in English and Arabic (the read is audited);
* `payroll.variance`, `payroll.changes`, `payroll.reports` and the downloads
  `payroll.run_report_file`, `payroll.wps_file`; `payroll.ytd` and `payroll.ytd_file`;
* `payroll.components` with create/edit of components and rules (a formula's
  error, with its position, is shown on the formula field).

Pages of the other payroll helpers (PDF documents, inputs) are linked through
`payroll_link`, which answers None while their endpoints are not registered.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy.orm import selectinload
from werkzeug.routing import BuildError

from grp.api import paginate
from grp.auth.context import current_department, has_permission, require_permission
from grp.db import db
from grp.errors import ValidationError
from grp.models import Department, User
from grp.web.forms import PostForm
from grp.web.helpers import (
    DEFAULT_PER_PAGE,
    actor,
    page_number,
    pagination,
    run_action,
    save_form,
    show_service_errors,
)
from grp.workflow.jobs import JobConflict, start_job
from grp.workflow.jobs.models import ACTIVE_STATES, Job
from modules.hr.services import find_employee_by_number
from modules.payroll import services
from modules.payroll.jobs import JOB_KIND
from modules.payroll.models import (
    LOCKED_STATES,
    RUN_STATES,
    PayComponent,
    PayrollRun,
    Payslip,
)
from modules.payroll.page_forms import (
    LABELS,
    ComponentForm,
    ExcludeForm,
    RuleForm,
    RunForm,
    UnpaidDaysForm,
)
from modules.payroll.report_downloads import table_response
from modules.payroll.services import access, lifecycle, reports
from modules.payroll.services.runs import parse_period
from modules.payroll.wps import SifError

bp = Blueprint("payroll", __name__, url_prefix="/payroll", template_folder="templates")

#: Seconds between reloads of a run page while its computation runs.
REFRESH_SECONDS = 3
PAYSLIPS_PER_PAGE = DEFAULT_PER_PAGE


# --------------------------------------------------------------------------- helpers


@bp.app_template_global("payroll_label")
def payroll_label(kind: str, code: str | None) -> str:
    """Return the translated label of a coded payroll value (state, category, ...)."""
    if code is None:
        return "—"
    return str(LABELS.get(kind, {}).get(code, code))


@bp.app_template_global("payroll_link")
def payroll_link(endpoint: str, **values: Any) -> str | None:
    """Return the URL of `endpoint`, or None when no module registered it (yet)."""
    if endpoint not in current_app.view_functions:
        return None
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


@bp.app_template_filter("payroll_percent")
def percent_text(value: Decimal | None) -> str:
    """Write a signed percent change (+12.5 %), or "new" when there was nothing before."""
    if value is None:
        return _("new")
    return f"{value:+}%"


@bp.app_template_filter("payroll_signed")
def signed_money(amount: Decimal | None) -> str:
    return "—" if amount is None else f"{amount:+,.2f}"


def _department() -> Department:
    if g.get("department") is None:
        abort(403)  # signed in without a department to act in
    return current_department()


def _run_or_404(run_id: int) -> PayrollRun:
    _department()
    run = services.find_run(db.session, run_id)
    if run is None:
        abort(404)
    return run


def _run_url(run: PayrollRun, **values: Any) -> str:
    return url_for("payroll.run", run_id=run.id, **values)


def _to_run(run: PayrollRun, **values: Any) -> Response:
    return redirect(_run_url(run, **values), code=303)


def _usernames(*user_ids: int | None) -> dict[int, str]:
    ids = {user_id for user_id in user_ids if user_id}
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(User.id, User.name).where(User.id.in_(ids))).all())


def compute_job(run: PayrollRun) -> Job | None:
    """The latest computation job of the run (jobs are a global table: filter the department)."""
    return db.session.scalar(
        sa.select(Job)
        .where(
            Job.department_id == run.department_id,
            Job.kind == JOB_KIND,
            Job.dedupe_key == str(run.id),
        )
        .order_by(Job.id.desc())
        .limit(1)
    )


# --------------------------------------------------------------------------- runs


def _run_filters() -> dict[str, Any]:
    period = (request.args.get("period") or "").strip()
    state = request.args.get("state") or ""
    return {
        "period": period if len(period) == 7 else "",
        "state": state if state in RUN_STATES else "",
    }


def _runs_page(form: RunForm, status: int = 200) -> Any:
    filters = _run_filters()
    query = (
        sa.select(PayrollRun)
        .options(selectinload(PayrollRun.errors))
        .order_by(PayrollRun.period.desc(), PayrollRun.sequence, PayrollRun.id)
    )
    if filters["period"]:
        try:
            query = query.where(PayrollRun.period == parse_period(filters["period"]))
        except ValidationError:
            filters["period"] = ""
    if filters["state"]:
        query = query.where(PayrollRun.state == filters["state"])
    page = paginate(query, page_number(), DEFAULT_PER_PAGE)
    filter_args = {key: value for key, value in filters.items() if value}
    return (
        render_template(
            "payroll/runs.html",
            page=pagination(page),
            filters=filters,
            filter_args=filter_args,
            states=RUN_STATES,
            form=form if has_permission("payroll.run.create") else None,
            prepare_day=current_app.config.get("PAYROLL_PREPARE_DAY"),
            schedule_enabled=current_app.config.get("PAYROLL_SCHEDULE_ENABLED"),
        ),
        status,
    )


@bp.get("/runs", endpoint="runs")
@require_permission("payroll.run.read")
def runs_list() -> Any:
    """List the department's runs, latest month first (filter by month and state)."""
    _department()
    return _runs_page(RunForm(formdata=None))


@bp.post("/runs", endpoint="create_run")
@require_permission("payroll.run.create")
def create_run() -> Any:
    """Create a draft run for a month (one regular run per month)."""
    _department()
    form = RunForm()
    if form.validate_on_submit():
        try:
            run = services.create_run(db.session, form.period.data, form.kind.data)
        except services.DuplicateRunError:
            db.session.rollback()
            form.period.errors.append(_("The department has a regular run for this month already."))
        except ValidationError as exc:
            db.session.rollback()
            show_service_errors(form, exc.errors)
        else:
            db.session.commit()
            month = run.period.strftime("%Y-%m")
            flash(_("The run of %(period)s is created.", period=month), "success")
            return _to_run(run)
    return _runs_page(form, 422)


def _payslip_query(run: PayrollRun, q: str) -> sa.Select:
    query = sa.select(Payslip).where(Payslip.run_id == run.id)
    if q:
        pattern = f"%{q.lower()}%"
        query = query.where(
            sa.or_(
                sa.func.lower(Payslip.employee_no).like(pattern),
                sa.func.lower(Payslip.name_en).like(pattern),
                Payslip.name_ar.like(f"%{q}%"),
            )
        )
    return query.order_by(Payslip.employee_no, Payslip.id)


def _run_page(run: PayrollRun, *, unpaid_form: UnpaidDaysForm | None = None, status: int = 200):
    job = compute_job(run)
    running = job is not None and job.state in ACTIVE_STATES
    me = actor()
    q = (request.args.get("q") or "").strip()[:100]
    page = paginate(_payslip_query(run, q), page_number(), PAYSLIPS_PER_PAGE)
    editable = run.state in ("draft", "computed")
    can_compute = has_permission("payroll.run.compute")
    approver = has_permission("payroll.run.approve")
    approve_block = None
    if run.state == "computed" and approver:
        if run.computed_by_id == me.id:
            approve_block = _(
                "You computed this run: another payroll officer must approve it (maker-checker)."
            )
        elif run.errors:
            approve_block = _(
                "Fix or exclude the employees with errors before the run can be approved."
            )
    inputs = run.inputs or {}
    manual_days = []
    if inputs:
        numbers = dict(
            db.session.execute(
                sa.select(Payslip.employee_id, Payslip.employee_no).where(
                    Payslip.run_id == run.id,
                    Payslip.employee_id.in_([int(key) for key in inputs]),
                )
            ).all()
        )
        manual_days = [
            (numbers.get(int(key), f"#{key}"), values.get("unpaid_days", 0))
            for key, values in sorted(inputs.items(), key=lambda item: int(item[0]))
        ]
    return (
        render_template(
            "payroll/run.html",
            run=run,
            job=job,
            running=running,
            refresh_seconds=REFRESH_SECONDS if running else None,
            names=_usernames(
                run.computed_by_id, run.approved_by_id, run.posted_by_id, run.paid_by_id
            ),
            page=pagination(page),
            q=q,
            editable=editable,
            locked=run.state in LOCKED_STATES,
            can_compute=can_compute and editable and not running,
            can_approve=run.state == "computed" and approver and approve_block is None,
            approve_block=approve_block,
            can_post=run.state == "approved" and has_permission(lifecycle.POST_PERMISSION),
            can_pay=run.state == "posted" and has_permission(lifecycle.PAY_PERMISSION),
            can_exclude=can_compute and editable,
            can_export=has_permission("payroll.run.export"),
            can_read_payslips=has_permission("payroll.payslip.read"),
            can_report=has_permission("payroll.report.read"),
            unpaid_form=(unpaid_form or UnpaidDaysForm(formdata=None))
            if can_compute and editable
            else None,
            manual_days=manual_days,
            post_form=PostForm(),
            exclude_form=ExcludeForm(),
        ),
        status,
    )


@bp.get("/runs/<int:run_id>", endpoint="run")
@require_permission("payroll.run.read")
def run_detail(run_id: int) -> Any:
    """Show a run: state, totals, progress, actions, errors, unpaid days and payslips."""
    return _run_page(_run_or_404(run_id))


def _post_form_or_400() -> None:
    if not PostForm().validate_on_submit():
        abort(400)


@bp.post("/runs/<int:run_id>/compute", endpoint="compute")
@require_permission("payroll.run.compute")
def compute(run_id: int) -> Any:
    """Start computing the run in the background; the run page then shows the progress."""
    run = _run_or_404(run_id)
    _post_form_or_400()
    if run.state not in ("draft", "computed"):
        flash(_("An approved run cannot be computed again."), "error")
        return _to_run(run)
    return run_action(
        lambda: start_job(
            db.session,
            kind=JOB_KIND,
            department_id=run.department_id,
            params={"run_id": run.id},
            actor=actor(),
            dedupe_key=str(run.id),
        ),
        refused={JobConflict: (_("The run is being computed already."), "info")},
        success=_("The computation has started. This page shows its progress."),
        redirect_to=_run_url(run),
    )


def _approval_refusal(run: PayrollRun) -> str:
    if run.computed_by_id == actor().id:
        return _("You computed this run: another payroll officer must approve it (maker-checker).")
    return _("You may not approve payroll runs.")


@bp.post("/runs/<int:run_id>/approve", endpoint="approve")
@require_permission("payroll.run.approve")
def approve(run_id: int) -> Any:
    """Approve a computed run; the officer who computed it is refused (maker-checker)."""
    run = _run_or_404(run_id)
    _post_form_or_400()
    return run_action(
        lambda: services.approve_run(db.session, run, actor()),
        refused={
            services.ApprovalRefused: lambda _exc: _approval_refusal(run),
            services.RunStateError: _(
                "Only a computed run without employee errors can be approved."
            ),
        },
        success=_("The run is approved. Its payslips can no longer change."),
        redirect_to=_run_url(run),
    )


@bp.post("/runs/<int:run_id>/post", endpoint="post")
@require_permission(lifecycle.POST_PERMISSION)
def post(run_id: int) -> Any:
    """Post an approved run to the general ledger."""
    run = _run_or_404(run_id)
    _post_form_or_400()
    return run_action(
        lambda: lifecycle.post_run(db.session, run, actor()),
        refused={
            (lifecycle.LifecycleRefused, services.RunStateError): _(
                "Only an approved run can be posted."
            )
        },
        success=_("The run is posted."),
        redirect_to=_run_url(run),
    )


@bp.post("/runs/<int:run_id>/mark-paid", endpoint="mark_paid")
@require_permission(lifecycle.PAY_PERMISSION)
def mark_paid(run_id: int) -> Any:
    """Record that the bank paid a posted run."""
    run = _run_or_404(run_id)
    _post_form_or_400()
    return run_action(
        lambda: lifecycle.mark_run_paid(db.session, run, actor()),
        refused={
            (lifecycle.LifecycleRefused, services.RunStateError): _(
                "Only a posted run can be marked paid."
            )
        },
        success=_("The run is marked paid."),
        redirect_to=_run_url(run),
    )


@bp.post("/runs/<int:run_id>/exclude", endpoint="exclude")
@require_permission("payroll.run.compute")
def exclude(run_id: int) -> Any:
    """Leave an employee out of the run (their error then no longer blocks approval)."""
    run = _run_or_404(run_id)
    form = ExcludeForm()
    if not form.validate_on_submit() or not str(form.employee_id.data).isdigit():
        abort(400)
    return run_action(
        lambda: services.exclude_employee(db.session, run, int(form.employee_id.data)),
        refused={services.RunStateError: _("An approved run cannot change.")},
        success=_("The employee is excluded from this run."),
        redirect_to=_run_url(run, _anchor="errors"),
    )


@bp.post("/runs/<int:run_id>/unpaid-days", endpoint="unpaid_days")
@require_permission("payroll.run.compute")
def unpaid_days(run_id: int) -> Any:
    """Record an employee's unpaid days for the month (recompute to apply them)."""
    run = _run_or_404(run_id)
    form = UnpaidDaysForm()
    if form.validate_on_submit():
        employee = find_employee_by_number(db.session, form.employee_no.data.strip())
        if employee is None:
            form.employee_no.errors.append(_("No employee has this number."))
        else:
            try:
                services.set_unpaid_days(db.session, run, employee.id, form.unpaid_days.data)
            except services.RunStateError:
                db.session.rollback()
                flash(_("An approved run cannot change."), "error")
                return _to_run(run)
            except ValidationError as exc:
                db.session.rollback()
                show_service_errors(form, exc.errors)
            else:
                db.session.commit()
                flash(
                    _(
                        "%(days)d unpaid days are recorded for %(number)s. Compute the run "
                        "again to apply them.",
                        days=form.unpaid_days.data,
                        number=employee.employee_no,
                    ),
                    "success",
                )
                return _to_run(run)
    return _run_page(run, unpaid_form=form, status=422)


# --------------------------------------------------------------------------- payslips


def line_working(line: Any) -> tuple[str, str]:
    """Say how a payslip line was computed, in English and in Arabic (both always shown)."""
    days = f"{line.days}" if line.days else None
    base = f"{line.base:,.2f}" if line.base is not None else None
    en: list[str] = []
    ar: list[str] = []
    if line.rule_kind in ("contract", "grade_table"):
        en.append("Monthly amount from the contract" if line.rule_kind == "contract" else "")
        ar.append("المبلغ الشهري من العقد" if line.rule_kind == "contract" else "")
        if line.rule_kind == "grade_table":
            en[-1], ar[-1] = "Monthly amount for the grade", "المبلغ الشهري حسب الدرجة"
        if days:
            en.append(f"× {days} days (paid / calendar)")
            ar.append(f"× {days} يوماً (المدفوعة / أيام الشهر)")
    elif line.rule_kind == "percent":
        en.append(f"{line.rate or ''} of {base or '0.00'}")
        ar.append(f"{line.rate or ''} من {base or '0.00'}")
    elif line.rule_kind == "formula":
        en.append(f"Formula: {line.formula or ''}")
        ar.append(f"المعادلة: {line.formula or ''}")
    elif line.rule_kind == "input":
        en.append("Entered amount")
        ar.append("مبلغ مُدخل")
    elif line.rule_kind == "retro":
        en.append(f"Correction of an earlier month (paid {base or '0.00'})")
        ar.append(f"تصحيح شهر سابق (المدفوع {base or '0.00'})")
    if line.explanation:
        en.append(line.explanation)
        ar.append(line.explanation)
    return " ".join(part for part in en if part), " ".join(part for part in ar if part)


@bp.get("/payslips/<int:payslip_id>", endpoint="payslip")
@require_permission("payroll.payslip.read")
def payslip_detail(payslip_id: int) -> Any:
    """Show a payslip: every line with how it was computed, in both languages (audited)."""
    _department()
    payslip = access.find_payslip(db.session, payslip_id)
    if payslip is None:
        abort(404)
    access.record_payslip_read(db.session, payslip, actor(), what="page")
    db.session.commit()
    payslip = access.find_payslip(db.session, payslip_id)
    return render_template(
        "payroll/payslip.html",
        payslip=payslip,
        run=payslip.run,
        lines=[(line, *line_working(line)) for line in payslip.lines],
    )


# --------------------------------------------------------------------------- review


@bp.get("/runs/<int:run_id>/variance", endpoint="variance")
@require_permission("payroll.run.read")
def variance(run_id: int) -> Any:
    """Compare the run with last month's regular run; flag changes above the thresholds."""
    run = _run_or_404(run_id)
    threshold = request.args.get("threshold")
    amount = request.args.get("amount")
    show_all = request.args.get("all") == "1"
    errors: dict[str, list[str]] = {}
    try:
        thresholds = reports.configured_thresholds(threshold, amount)
    except ValidationError as exc:
        errors = exc.errors
        thresholds = reports.configured_thresholds()
    report = reports.variance_report(db.session, run, thresholds, flagged_only=not show_all)
    return render_template(
        "payroll/variance.html",
        run=run,
        report=report,
        threshold=threshold if threshold is not None else thresholds.percent,
        amount=amount if amount is not None else (thresholds.amount or ""),
        show_all=show_all,
        errors=errors,
    )


@bp.get("/runs/<int:run_id>/changes", endpoint="changes")
@require_permission("payroll.run.read")
def changes(run_id: int) -> Any:
    """List the run's joiners, leavers and excluded employees."""
    run = _run_or_404(run_id)
    return render_template(
        "payroll/changes.html", run=run, report=reports.run_changes(db.session, run)
    )


# --------------------------------------------------------------------------- reports


@bp.get("/runs/<int:run_id>/reports", endpoint="reports")
@require_permission("payroll.report.read")
def run_reports(run_id: int) -> Any:
    """Show the run's totals per component, per org unit and pension per scheme; downloads."""
    run = _run_or_404(run_id)
    tables = {
        name: reports.run_report(db.session, run, name)
        for name in ("components", "org-units", "pension")
    }
    return render_template(
        "payroll/reports.html",
        run=run,
        tables={name: (table.columns, list(table.rows)) for name, table in tables.items()},
        report_names=reports.RUN_REPORTS,
        can_read_payslips=has_permission("payroll.payslip.read"),
    )


@bp.get("/runs/<int:run_id>/reports/<name>.<any(csv, xlsx):fmt>", endpoint="run_report_file")
@require_permission("payroll.report.read")
def run_report_file(run_id: int, name: str, fmt: str) -> Any:
    """Download one of the run's reports as CSV or XLSX."""
    run = _run_or_404(run_id)
    if name not in reports.RUN_REPORTS:
        abort(404)
    if name in reports.PER_EMPLOYEE_REPORTS and not has_permission("payroll.payslip.read"):
        abort(403)
    run_id = run.id
    return table_response(
        lambda session: reports.run_report(session, services.find_run(session, run_id), name),
        department_id=run.department_id,
        file_format=fmt,
        file_stem=f"payroll-{name}-{run.period:%Y-%m}-{run.id}",
        sheet_title=f"{name} {run.period:%Y-%m}",
    )


@bp.get("/runs/<int:run_id>/wps", endpoint="wps_file")
@require_permission("payroll.run.export")
def wps_file(run_id: int) -> Any:
    """Download the WPS salary file, or see why it cannot be made (employees' bank data)."""
    run = _run_or_404(run_id)
    sif = None
    employer_error = None
    if run.state in LOCKED_STATES:
        try:
            sif = reports.run_sif(db.session, run, _department(), datetime.now(UTC))
        except SifError as exc:
            employer_error = str(exc)
        if sif is not None and sif.content is not None:
            return Response(
                sif.content,
                mimetype="text/plain",
                headers={"Content-Disposition": f'attachment; filename="{sif.name}"'},
            )
    return (
        render_template("payroll/wps.html", run=run, sif=sif, employer_error=employer_error),
        409,
    )


def _year() -> int:
    from modules.hr.services.values import local_today

    year = request.args.get("year", type=int)
    return year if year and 2000 <= year <= 2100 else local_today().year


@bp.get("/ytd", endpoint="ytd")
@require_permission("payroll.payslip.read")
def ytd() -> Any:
    """Year to date per employee (approved, posted and paid runs), a page of employees."""
    _department()
    year = _year()
    number = page_number()
    total = reports.ytd_employee_count(db.session, year)
    table = reports.ytd_table(
        db.session, year, offset=(number - 1) * DEFAULT_PER_PAGE, limit=DEFAULT_PER_PAGE
    )
    page = pagination(
        {"items": list(table.rows), "total": total, "page": number, "per_page": DEFAULT_PER_PAGE}
    )
    return render_template("payroll/ytd.html", year=year, columns=table.columns, page=page)


@bp.get("/ytd.<any(csv, xlsx):fmt>", endpoint="ytd_file")
@require_permission("payroll.payslip.read")
def ytd_file(fmt: str) -> Any:
    """Download the year to date of every employee as CSV or XLSX."""
    department = _department()
    year = _year()
    return table_response(
        lambda session: reports.ytd_table(session, year),
        department_id=department.id,
        file_format=fmt,
        file_stem=f"payroll-ytd-{year}-{department.code.lower()}",
        sheet_title=f"YTD {year}",
    )


# --------------------------------------------------------------------------- components, rules


@bp.get("/components", endpoint="components")
@require_permission("payroll.component.read")
def components_list() -> Any:
    """List the department's salary components with their rules."""
    _department()
    return render_template(
        "payroll/components.html",
        components=services.list_components(db.session),
        can_manage=has_permission("payroll.component.manage"),
    )


def _component_or_404(component_id: int) -> PayComponent:
    _department()
    component = services.find_component(db.session, component_id)
    if component is None:
        abort(404)
    return component


COMPONENT_FIELDS = (
    "code",
    "name_en",
    "name_ar",
    "category",
    "pensionable",
    "prorated",
    "wps_kind",
    "display_order",
    "is_active",
)


@bp.route("/components/new", methods=["GET", "POST"], endpoint="new_component")
@require_permission("payroll.component.manage")
def new_component() -> Any:
    """Add a salary component."""
    _department()
    form = ComponentForm()
    if form.validate_on_submit():
        saved = save_form(
            form,
            lambda: services.create_component(
                db.session, {name: getattr(form, name).data for name in COMPONENT_FIELDS}
            ),
            success=lambda component: _("The component %(code)s is saved.", code=component.code),
            redirect_to=url_for("payroll.components"),
        )
        if saved is not None:
            return saved
    return render_template("payroll/component_form.html", form=form, component=None)


@bp.route("/components/<int:component_id>/edit", methods=["GET", "POST"], endpoint="edit_component")
@require_permission("payroll.component.manage")
def edit_component(component_id: int) -> Any:
    """Change a salary component (its code stays: lines and formulas use it)."""
    component = _component_or_404(component_id)
    form = ComponentForm(obj=component)
    form.code.render_kw = {**(form.code.render_kw or {}), "readonly": True}
    if form.validate_on_submit():
        data = {name: getattr(form, name).data for name in COMPONENT_FIELDS if name != "code"}
        saved = save_form(
            form,
            lambda: services.update_component(db.session, component, data),
            success=_("The component %(code)s is saved.", code=component.code),
            redirect_to=url_for("payroll.components"),
        )
        if saved is not None:
            return saved
    form.code.data = component.code
    return render_template("payroll/component_form.html", form=form, component=component)


def _rules_url(component: PayComponent) -> str:
    return url_for("payroll.components", _anchor=f"c-{component.id}")


def _grade_amounts_text(amounts: dict[str, str] | None) -> str:
    return "\n".join(
        f"{grade}={amount}"
        for grade, amount in sorted(
            (amounts or {}).items(), key=lambda item: int(item[0]) if item[0].isdigit() else 0
        )
    )


def _rule_data(form: RuleForm) -> dict[str, Any]:
    """The rule as the service takes it; a table line it cannot read is a field error."""
    amounts: dict[str, str] | None = None
    text = (form.grade_amounts.data or "").strip()
    if text:
        amounts = {}
        for line in text.splitlines():
            if not line.strip():
                continue
            grade, separator, amount = line.replace(":", "=").partition("=")
            if not separator or not grade.strip() or not amount.strip():
                raise ValidationError(
                    {"grade_amounts": [_("Write one grade per line, such as 12=1500.00.")]}
                )
            amounts[grade.strip()] = amount.strip()
    return {
        "kind": form.kind.data,
        "priority": form.priority.data,
        "source": (form.source.data or "").strip() or None,
        "base": (form.base.data or "").strip() or None,
        "rate": (form.rate.data or "").strip() or None,
        "cap": (form.cap.data or "").strip() or None,
        "prorate_base": form.prorate_base.data,
        "grade_amounts": amounts,
        "formula": (form.formula.data or "").strip() or None,
        "nationality_categories": ",".join(form.nationality_categories.data or []) or None,
        "pension_schemes": ",".join(form.pension_schemes.data or []) or None,
        "is_active": form.is_active.data,
    }


@bp.route("/components/<int:component_id>/rules/new", methods=["GET", "POST"], endpoint="new_rule")
@require_permission("payroll.component.manage")
def new_rule(component_id: int) -> Any:
    """Add a rule to a component; a formula that does not parse is refused with its position."""
    component = _component_or_404(component_id)
    form = RuleForm()
    if form.validate_on_submit():
        saved = save_form(
            form,
            lambda: services.create_rule(db.session, component, _rule_data(form)),
            success=_("The rule of %(code)s is saved.", code=component.code),
            redirect_to=_rules_url(component),
        )
        if saved is not None:
            return saved
    return render_template("payroll/rule_form.html", form=form, component=component, rule=None)


@bp.route("/rules/<int:rule_id>/edit", methods=["GET", "POST"], endpoint="edit_rule")
@require_permission("payroll.component.manage")
def edit_rule(rule_id: int) -> Any:
    """Change a rule; the whole rule is checked again (a formula with its error position)."""
    _department()
    rule = services.find_rule(db.session, rule_id)
    if rule is None:
        abort(404)
    component = rule.component
    form = RuleForm(
        data={
            "kind": rule.kind,
            "priority": rule.priority,
            "source": rule.source,
            "base": rule.base,
            "rate": rule.rate,
            "cap": f"{rule.cap:.2f}" if rule.cap is not None else "",
            "prorate_base": rule.prorate_base,
            "grade_amounts": _grade_amounts_text(rule.grade_amounts),
            "formula": rule.formula,
            "nationality_categories": [
                v for v in (rule.nationality_categories or "").split(",") if v
            ],
            "pension_schemes": [v for v in (rule.pension_schemes or "").split(",") if v],
            "is_active": rule.is_active,
        }
    )
    if form.validate_on_submit():
        saved = save_form(
            form,
            lambda: services.update_rule(db.session, rule, _rule_data(form)),
            success=_("The rule of %(code)s is saved.", code=component.code),
            redirect_to=_rules_url(component),
        )
        if saved is not None:
            return saved
    return render_template("payroll/rule_form.html", form=form, component=component, rule=rule)


def setup_pages(app: Flask) -> None:
    """Register the officer pages and the variance settings (called by the module's setup).

    `PAYROLL_VARIANCE_PERCENT` (`GRP_PAYROLL_VARIANCE_PERCENT`, 10) and
    `PAYROLL_VARIANCE_AMOUNT` (`GRP_PAYROLL_VARIANCE_AMOUNT`, none): see
    `modules.payroll.services.reports`.
    """
    import os

    app.config.setdefault(
        "PAYROLL_VARIANCE_PERCENT",
        os.environ.get("GRP_PAYROLL_VARIANCE_PERCENT") or str(reports.DEFAULT_VARIANCE_PERCENT),
    )
    app.config.setdefault("PAYROLL_VARIANCE_AMOUNT", os.environ.get("GRP_PAYROLL_VARIANCE_AMOUNT"))
    # A bad setting stops start-up rather than failing every review page.
    reports.configured_thresholds(
        app.config["PAYROLL_VARIANCE_PERCENT"], app.config["PAYROLL_VARIANCE_AMOUNT"]
    )
    app.register_blueprint(bp)
