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
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from grp.api import paginate
from grp.auth.context import has_permission, require_permission
from grp.db import db
from grp.errors import ValidationError
from grp.i18n import current_language
from grp.models import User
from grp.web.helpers import DEFAULT_PER_PAGE, page_number, pagination, show_service_errors
from grp.workflow.approvals.models import ApprovalRequest
from grp.workflow.approvals.services import can_decide, may_view
from modules.hr.leave_forms import ConfirmForm, HolidayForm, LeaveRequestForm, LeaveTypeForm
from modules.hr.models import Employee, LeaveRequest, LeaveType, PublicHoliday
from modules.hr.models.leave import REQUEST_STATES
from modules.hr.services import leave
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
        data = {
            "leave_type_id": form.leave_type_id.data,
            "start_date": form.start_date.data,
            "end_date": form.end_date.data,
            "reason": form.reason.data or "",
            "has_document": form.has_document.data,
        }
        leave_type = db.session.get(LeaveType, form.leave_type_id.data)
        if form.preview.data and leave_type is not None:
            counted = leave.counted_days(
                db.session, leave_type, form.start_date.data, form.end_date.data
            )
        else:
            try:
                created = leave.create_leave_request(db.session, employee, data, actor=_me())
            except ValidationError as exc:
                db.session.rollback()
                show_service_errors(form, exc.errors)
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
    try:
        leave.cancel_leave_request(db.session, found, actor=_me(), is_hr=is_hr)
    except ValidationError as exc:
        db.session.rollback()
        for messages in exc.errors.values():
            for message in messages:
                flash(message, "error")
    else:
        db.session.commit()
        flash(_("The leave request is cancelled."), "success")
    if found.employee.user_id == current_user.id:
        return redirect(url_for("hr_leave.my_leave"), code=303)
    return redirect(url_for("hr_leave.request_detail", request_id=request_id), code=303)


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
            try:
                leave.save_holiday(db.session, None, form.data)
            except ValidationError as exc:
                db.session.rollback()
                show_service_errors(form, exc.errors)
            else:
                db.session.commit()
                flash(_("The holiday is added."), "success")
                return redirect(url_for("hr_leave.holidays", year=form.day.data.year), code=303)
    return render_template(
        "hr/leave_holidays.html",
        form=form,
        year=year,
        holidays=leave.holidays_of(db.session, year),
        can_manage=has_permission("hr.leave.manage"),
        confirm=ConfirmForm(),
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
            try:
                leave.update_leave_type(db.session, leave_type, data)
            except ValidationError as exc:
                db.session.rollback()
                show_service_errors(form, exc.errors)
            else:
                db.session.commit()
                flash(_("The leave type is saved."), "success")
                return redirect(url_for("hr_leave.leave_types"), code=303)
    return render_template("hr/leave_type_form.html", form=form, leave_type=leave_type)
