"""Leave pages under /hr/leave: self-service, the manager's team, HR's lists and settings.

Thin like the other HR pages: the rules are in `modules.hr.services.leave`.
Who sees a request is the API's rule (modules/hr/leave_api.py): HR, the
employee, or an approver; anyone else gets 404. Managers decide in their
approval inbox (/approvals), which these pages link to.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
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
from flask_login import current_user
from wtforms import SelectChoice

from grp.api import paginate
from grp.auth.context import has_permission, require_permission
from grp.db import db
from grp.errors import ValidationError
from grp.i18n import current_language
from grp.models import User
from grp.web.helpers import (
    DEFAULT_PER_PAGE,
    error_messages,
    page_number,
    pagination,
    run_action,
    save_form,
    show_service_errors,
)
from grp.workflow.approvals.models import ApprovalRequest
from grp.workflow.approvals.services import can_decide, may_view
from modules.hr.leave_forms import (
    AdjustmentForm,
    ConfirmForm,
    HolidayConfirmForm,
    HolidayCopyForm,
    HolidayForm,
    LeaveRequestForm,
    LeaveTypeForm,
    NewLeaveTypeForm,
    WorkingWeekForm,
)
from modules.hr.models import Employee, LeaveRequest, LeaveType, PublicHoliday
from modules.hr.models.leave import REQUEST_STATES
from modules.hr.services import documents, leave
from modules.hr.services.employees import employee_of_user

leave_bp = Blueprint("hr_leave", __name__, url_prefix="/hr/leave", template_folder="templates")


def state_label(state: str) -> str:
    """Return a request state in the page's language."""
    labels = {
        "pending": _("Pending"),
        "approved": _("Approved"),
        "rejected": _("Rejected"),
        "cancelled": _("Cancelled"),
    }
    return labels.get(state, state)


@leave_bp.app_template_global("leave_state")
def leave_state(state: str) -> str:
    return state_label(state)


def _me() -> User:
    return db.session.get(User, current_user.id)


def _type_choices() -> list[SelectChoice]:
    types = db.session.scalars(
        sa.select(LeaveType).where(LeaveType.is_active).order_by(LeaveType.id)
    )
    return [SelectChoice(t.id, t.name(current_language())) for t in types]


def _approval(request_: LeaveRequest) -> ApprovalRequest | None:
    if request_.approval_request_id is None:
        return None
    return db.session.get(ApprovalRequest, request_.approval_request_id)


def _visible(request_id: int) -> LeaveRequest:
    found = db.session.get(LeaveRequest, request_id)
    if found is None:
        abort(404)
    if has_permission("hr.leave.read") or found.employee.user_id == current_user.id:
        return found
    approval = _approval(found)
    if approval is None or not may_view(db.session, approval, _me(), g.role_codes):
        abort(404)
    return found


# --------------------------------------------------------------------------- self-service


@leave_bp.get("/", endpoint="my_leave")
@require_permission("hr.leave.self")
def my_leave() -> Any:
    """My balances and my requests."""
    employee = employee_of_user(db.session, current_user.id)
    if employee is None:
        return render_template("hr/no_record.html"), 404
    requests = list(
        db.session.scalars(
            sa.select(LeaveRequest)
            .where(LeaveRequest.employee_id == employee.id)
            .order_by(LeaveRequest.start_date.desc())
            .limit(100)
        )
    )
    return render_template(
        "hr/leave_mine.html",
        employee=employee,
        balances=leave.balances(db.session, employee),
        requests=requests,
        today=date.today(),
        confirm=ConfirmForm(),
        has_team=bool(
            db.session.scalar(sa.select(Employee.id).where(Employee.manager_id == employee.id))
        ),
    )


@leave_bp.route("/new", methods=["GET", "POST"])
@require_permission("hr.leave.self")
def request_leave() -> Any:
    """Request leave for myself, or (HR, `?employee=`) for an employee; preview the days."""
    employee_id = request.args.get("employee", type=int)
    if employee_id is not None and has_permission("hr.leave.manage"):
        employee = db.session.scalar(sa.select(Employee).where(Employee.id == employee_id))
    else:
        employee = employee_of_user(db.session, current_user.id)
    if employee is None:
        abort(404)
    form = LeaveRequestForm()
    form.leave_type_id.choices = _type_choices()
    counted = None
    if form.validate_on_submit():
        data: dict[str, Any] = {
            "leave_type_id": form.leave_type_id.data,
            "start_date": form.start_date.data,
            "end_date": form.end_date.data,
            "reason": form.reason.data or "",
        }
        leave_type = db.session.get(LeaveType, form.leave_type_id.data)
        if form.preview.data and leave_type is not None:
            counted = leave.counted_days(
                db.session, leave_type, form.start_date.data, form.end_date.data
            )
        else:
            stored = None
            try:
                upload = form.medical_report.data
                if upload is not None and upload.filename:
                    stored = _store_report(employee, upload)
                    data["document_id"] = stored.id
                created = leave.create_leave_request(db.session, employee, data, actor=_me())
            except ValidationError as exc:
                db.session.rollback()
                if stored is not None:
                    _discard_file(stored)
                errors = dict(exc.errors)
                if "file" in errors:
                    errors["medical_report"] = errors.pop("file")
                show_service_errors(form, errors)
            else:
                db.session.commit()
                flash(
                    _(
                        "Your request for %(days)s days is sent for approval.",
                        days=created.days.normalize(),
                    ),
                    "success",
                )
                if employee.user_id == current_user.id:
                    return redirect(url_for("hr_leave.my_leave"), code=303)
                return redirect(url_for("hr_leave.requests"), code=303)
    return render_template(
        "hr/leave_request_form.html", form=form, employee=employee, counted=counted
    )


def _store_report(employee: Employee, upload: Any) -> Any:
    """Store an uploaded medical report of `employee` (the HR documents' checks apply)."""
    return documents.store_document(
        db.session,
        employee,
        stream=upload.stream,
        file_name=upload.filename,
        data={"doc_type": "medical_report"},
        root=current_app.config["HR_DOCUMENT_DIR"],
        max_bytes=current_app.config["HR_DOCUMENT_MAX_BYTES"],
        uploaded_by_id=current_user.id,
    )


def _discard_file(document: Any) -> None:
    """Remove the file of a document whose row was rolled back."""
    documents.document_path(current_app.config["HR_DOCUMENT_DIR"], document).unlink(missing_ok=True)


@leave_bp.get("/requests/<int:request_id>")
@require_permission("hr.leave.self")
def request_detail(request_id: int) -> Any:
    """One request: its dates, days, state and where its approval stands."""
    found = _visible(request_id)
    approval = _approval(found)
    return render_template(
        "hr/leave_request.html",
        leave_request=found,
        approval=approval,
        may_decide=approval is not None and can_decide(db.session, approval, _me()),
        may_cancel=found.state in ("pending", "approved")
        and (
            has_permission("hr.leave.manage")
            or (found.employee.user_id == current_user.id and found.start_date > date.today())
        ),
        confirm=ConfirmForm(),
    )


@leave_bp.post("/requests/<int:request_id>/cancel")
@require_permission("hr.leave.self")
def cancel_request(request_id: int) -> Any:
    """Cancel a request (the employee before it starts, HR at any time)."""
    found = _visible(request_id)
    is_hr = has_permission("hr.leave.manage")
    if not is_hr and found.employee.user_id != current_user.id:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)

    def back() -> str:
        if found.employee.user_id == current_user.id:
            return url_for("hr_leave.my_leave")
        return url_for("hr_leave.request_detail", request_id=request_id)

    return run_action(
        lambda: leave.cancel_leave_request(db.session, found, actor=_me(), is_hr=is_hr),
        refused={ValidationError: error_messages},
        success=_("The leave request is cancelled."),
        redirect_to=back,
    )


@leave_bp.get("/team")
@require_permission("hr.leave.self")
def team() -> Any:
    """The leave requests of the people who report to me; decisions are in my approval inbox."""
    me = employee_of_user(db.session, current_user.id)
    if me is None:
        return render_template("hr/no_record.html"), 404
    requests = list(
        db.session.scalars(
            sa.select(LeaveRequest)
            .join(Employee, Employee.id == LeaveRequest.employee_id)
            .where(Employee.manager_id == me.id)
            .order_by(LeaveRequest.start_date.desc())
            .limit(200)
        )
    )
    return render_template("hr/leave_team.html", requests=requests)


# --------------------------------------------------------------------------- HR


@leave_bp.get("/requests")
@require_permission("hr.leave.read")
def requests() -> Any:
    """The department's leave requests, newest first, by state."""
    state = request.args.get("state") or None
    query = sa.select(LeaveRequest).order_by(LeaveRequest.id.desc())
    if state in REQUEST_STATES:
        query = query.where(LeaveRequest.state == state)
    page = pagination(paginate(query, page_number(), DEFAULT_PER_PAGE))
    return render_template("hr/leave_requests.html", page=page, state=state, states=REQUEST_STATES)


@leave_bp.route("/holidays", methods=["GET", "POST"])
@require_permission("hr.leave.read")
def holidays() -> Any:
    """The public holidays of a year; HR adds and removes them as moon sightings move them."""
    year = request.args.get("year", type=int) or date.today().year
    form = HolidayForm()
    if request.method == "POST":
        if not has_permission("hr.leave.manage"):
            abort(403)
        if form.validate_on_submit():
            saved = save_form(
                form,
                lambda: leave.save_holiday(db.session, None, form.data),
                success=_("The holiday is added."),
                redirect_to=url_for("hr_leave.holidays", year=form.day.data.year),
            )
            if saved is not None:
                return saved
    shown = leave.holidays_of(db.session, year)
    # An empty year is offered the previous one's holidays; a filled one is copied forward.
    source = year if shown else year - 1
    return render_template(
        "hr/leave_holidays.html",
        form=form,
        year=year,
        holidays=shown,
        can_manage=has_permission("hr.leave.manage"),
        confirm=ConfirmForm(),
        copy_form=HolidayCopyForm(formdata=None, data={"from_year": source, "to_year": source + 1}),
        confirm_form=HolidayConfirmForm(formdata=None),
    )


@leave_bp.post("/holidays/<int:holiday_id>/delete")
@require_permission("hr.leave.manage")
def delete_holiday(holiday_id: int) -> Any:
    """Remove a public holiday."""
    holiday = db.session.get(PublicHoliday, holiday_id) or abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    year = holiday.day.year
    db.session.delete(holiday)
    db.session.commit()
    flash(_("The holiday is removed."), "success")
    return redirect(url_for("hr_leave.holidays", year=year), code=303)


@leave_bp.get("/types")
@require_permission("hr.leave.read")
def leave_types() -> Any:
    """The leave types and their rules."""
    types = list(db.session.scalars(sa.select(LeaveType).order_by(LeaveType.id)))
    return render_template(
        "hr/leave_types.html", types=types, can_manage=has_permission("hr.leave.manage")
    )


def _rules_text(rules: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['min_grade']}-{r['max_grade']}:{r['days']:g}" for r in rules or [])


def _rules_from_text(text: str) -> list[dict[str, Any]] | str:
    rules: list[dict[str, Any]] = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        grades, _sep, days = part.partition(":")
        low, _dash, high = grades.partition("-")
        try:
            rules.append(
                {"min_grade": int(low), "max_grade": int(high or low), "days": float(days)}
            )
        except ValueError:
            return part
    return rules


@leave_bp.route("/types/<int:type_id>/edit", methods=["GET", "POST"])
@require_permission("hr.leave.manage")
def edit_leave_type(type_id: int) -> Any:
    """Change a leave type's rules."""
    leave_type = db.session.get(LeaveType, type_id) or abort(404)
    form = LeaveTypeForm(obj=leave_type)
    if request.method == "GET":
        form.entitlement_rules.data = _rules_text(leave_type.entitlement_rules)
    if form.validate_on_submit():
        data = {k: v for k, v in form.data.items() if k in leave.LEAVE_TYPE_FIELDS}
        rules = _rules_from_text(form.entitlement_rules.data or "")
        if isinstance(rules, str):
            form.entitlement_rules.errors = [
                *form.entitlement_rules.errors,
                _("Write each rule as grades:days, such as 4-11:25."),
            ]
        else:
            data["entitlement_rules"] = rules
            saved = save_form(
                form,
                lambda: leave.update_leave_type(db.session, leave_type, data),
                success=_("The leave type is saved."),
                redirect_to=url_for("hr_leave.leave_types"),
            )
            if saved is not None:
                return saved
    return render_template("hr/leave_type_form.html", form=form, leave_type=leave_type)


@leave_bp.route("/types/new", methods=["GET", "POST"])
@require_permission("hr.leave.manage")
def new_leave_type() -> Any:
    """Create a leave type."""
    form = NewLeaveTypeForm()
    if request.method == "GET":
        form.paid.data = True
        form.is_active.data = True
    if form.validate_on_submit():
        data = {k: v for k, v in form.data.items() if k in leave.LEAVE_TYPE_FIELDS}
        data["code"] = form.code.data
        rules = _rules_from_text(form.entitlement_rules.data or "")
        if isinstance(rules, str):
            form.entitlement_rules.errors = [
                *form.entitlement_rules.errors,
                _("Write each rule as grades:days, such as 4-11:25."),
            ]
        else:
            data["entitlement_rules"] = rules
            saved = save_form(
                form,
                lambda: leave.create_leave_type(db.session, data),
                success=_("The leave type is saved."),
                redirect_to=url_for("hr_leave.leave_types"),
            )
            if saved is not None:
                return saved
    return render_template("hr/leave_type_form.html", form=form, leave_type=None)


@leave_bp.post("/holidays/copy")
@require_permission("hr.leave.manage")
def copy_holidays() -> Any:
    """Start a year's holidays from another year's (Hijri ones flagged to confirm)."""
    form = HolidayCopyForm()
    if form.validate_on_submit():
        try:
            added = leave.copy_holidays(db.session, form.from_year.data, form.to_year.data)
        except ValidationError as exc:
            db.session.rollback()
            for messages in exc.errors.values():
                for message in messages:
                    flash(message, "error")
        else:
            db.session.commit()
            flash(
                _(
                    "%(count)s holidays are copied into %(year)s; confirm the Hijri ones.",
                    count=len(added),
                    year=form.to_year.data,
                ),
                "success",
            )
            return redirect(url_for("hr_leave.holidays", year=form.to_year.data), code=303)
    else:
        flash(_("Enter the years as four digits."), "error")
    return redirect(url_for("hr_leave.holidays", year=form.from_year.data or None), code=303)


@leave_bp.post("/holidays/<int:holiday_id>/confirm")
@require_permission("hr.leave.manage")
def confirm_holiday(holiday_id: int) -> Any:
    """Confirm an estimated holiday, on its day or on the day given."""
    holiday = db.session.get(PublicHoliday, holiday_id) or abort(404)
    form = HolidayConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    data: dict[str, Any] = {"to_confirm": False}
    if form.day.data and form.day.data != holiday.day:
        data["day"] = form.day.data
    return run_action(
        lambda: leave.save_holiday(db.session, holiday, data),
        refused={ValidationError: error_messages},
        success=_("The holiday is confirmed."),
        # After the commit: a confirmed day may have moved into another year.
        redirect_to=lambda: url_for("hr_leave.holidays", year=holiday.day.year),
    )


@leave_bp.route("/working-week", methods=["GET", "POST"])
@require_permission("hr.leave.read")
def working_week() -> Any:
    """The department's working weekdays; leave counted in working days skips the others."""
    week = leave.working_week(db.session)
    form = WorkingWeekForm(data={f"day{i}": flag == "1" for i, flag in enumerate(week)})
    can_manage = has_permission("hr.leave.manage")
    status = 200
    if request.method == "POST":
        if not can_manage:
            abort(403)
        if form.validate_on_submit():
            saved = save_form(
                form,
                lambda: leave.set_working_week(db.session, form.working_days()),
                success=_("The working week is saved."),
                redirect_to=url_for("hr_leave.working_week"),
            )
            if saved is not None:
                return saved
            status = 422
    return (
        render_template("hr/leave_working_week.html", form=form, can_manage=can_manage),
        status,
    )


@leave_bp.route("/employees/<int:employee_id>/balances", methods=["GET", "POST"])
@require_permission("hr.leave.read")
def employee_balances(employee_id: int) -> Any:
    """An employee's balances and ledger; HR adds an adjustment with its reason."""
    employee = db.session.scalar(sa.select(Employee).where(Employee.id == employee_id))
    if employee is None:
        abort(404)
    can_manage = has_permission("hr.leave.manage")
    form = AdjustmentForm()
    form.leave_type_id.choices = _type_choices()
    status = 200
    if request.method == "POST":
        if not can_manage:
            abort(403)
        if form.validate_on_submit():
            saved = save_form(
                form,
                lambda: leave.add_balance_adjustment(
                    db.session,
                    employee,
                    {
                        "leave_type_id": form.leave_type_id.data,
                        "days": form.days.data,
                        "note": form.note.data,
                        "entry_date": form.entry_date.data,
                    },
                ),
                success=_("The adjustment is added."),
                redirect_to=url_for("hr_leave.employee_balances", employee_id=employee.id),
            )
            if saved is not None:
                return saved
            status = 422
        else:
            status = 422
    return (
        render_template(
            "hr/leave_balances.html",
            employee=employee,
            balances=leave.balances(db.session, employee),
            entries=leave.ledger_entries(db.session, employee),
            form=form,
            can_manage=can_manage,
        ),
        status,
    )
