"""HR officer pages under /hr: employees, contracts, documents, import/export, organisation.

Thin: parse the form, call a service, commit, redirect; a service's
ValidationError is shown on the form's fields. Access to an employee record is
the API's (modules/hr/api.py): officers any employee of the department,
everyone else only their own; others are answered 404.
"""

from __future__ import annotations

import re
import secrets
from decimal import Decimal
from pathlib import Path
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
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.wrappers import Response
from wtforms import SelectChoice

from grp.api import paginate
from grp.auth.context import has_permission, require_permission
from grp.db import db
from grp.errors import ValidationError
from grp.i18n import current_language
from grp.imports import pending_folder, pending_path
from grp.models import User
from grp.web.helpers import (
    DEFAULT_PER_PAGE,
    actor,
    page_number,
    pagination,
    save_form,
    show_service_errors,
)
from modules.hr import imports
from modules.hr.countries import country_name, country_names
from modules.hr.downloads import export_response, send_document
from modules.hr.forms import (
    ALLOWANCE_FIELDS,
    LABELS,
    AllowanceTypeForm,
    ContractForm,
    DocumentForm,
    EmployeeForm,
    GradeForm,
    ImportConfirmForm,
    ImportForm,
    NewEmployeeForm,
    OrgUnitForm,
    PositionForm,
)
from modules.hr.models import (
    NATIONALITY_CATEGORIES,
    STATUSES,
    AllowanceType,
    Employee,
    EmployeeDocument,
    Grade,
    OrgUnit,
    Position,
)
from modules.hr.services import contracts, documents, employees, organisation
from modules.hr.services.values import local_today

bp = Blueprint("hr", __name__, url_prefix="/hr", template_folder="templates")


def _stale_message() -> str:
    return _(
        "Someone else changed this employee while you were editing. "
        "The form now shows the current values; make your change again."
    )


@bp.app_template_global("hr_label")
def hr_label(kind: str, code: str | None) -> str:
    """Return the translated label of a coded value (gender, status, ...)."""
    if code is None:
        return "—"
    return str(LABELS.get(kind, {}).get(code, code))


@bp.app_template_global("hr_can")
def hr_can(permission: str) -> bool:
    """Tell whether the signed-in user holds `permission` in the active department."""
    return has_permission(permission)


@bp.app_template_global("hr_country")
def hr_country(code: str | None) -> str:
    """Return the name of a country code in the page's language."""
    return country_name(code, current_language())


@bp.app_template_filter("money")
def money(amount: Decimal | str | None) -> str:
    """Write an amount (or its decimal text, as in a stored working) as 12,345.67; "—" if none."""
    return "—" if amount is None else f"{Decimal(str(amount)):,.2f}"


def _department_id() -> int:
    if g.department is None:
        abort(403)
    return g.department.id


def _field_errors(form: Any, errors: dict[str, Any], renames: dict[str, str] | None = None) -> None:
    """Show a service's errors on the form, renaming service fields to form fields."""
    flat: dict[str, list[str]] = {}
    for name, messages in errors.items():
        if isinstance(messages, dict):  # nested (the first contract of a new employee)
            for inner, inner_messages in messages.items():
                key = (renames or {}).get(f"{name}.{inner}", inner)
                flat.setdefault(key, []).extend(inner_messages)
        else:
            flat.setdefault((renames or {}).get(name, name), []).extend(messages)
    show_service_errors(form, flat)


# --------------------------------------------------------------------------- choices


def _grade_choices(*, blank: bool = False) -> list[SelectChoice]:
    grades = db.session.execute(sa.select(Grade.number, Grade.name_en, Grade.name_ar)).all()
    language = current_language()
    items = [
        SelectChoice(number, name_ar if language == "ar" else name_en)
        for number, name_en, name_ar in sorted(grades)
    ]
    return ([SelectChoice("", "—")] if blank else []) + items


def _unit_choices() -> list[SelectChoice]:
    tree = organisation.org_unit_tree(db.session)
    language = current_language()
    return [SelectChoice("", "—")] + [
        SelectChoice(
            unit.id,
            "\u2003" * depth
            + f"{unit.code} — {unit.name_ar if language == 'ar' else unit.name_en}",
        )
        for unit, depth in tree
    ]


def _position_choices() -> list[SelectChoice]:
    language = current_language()
    rows = db.session.execute(
        sa.select(Position.id, Position.code, Position.title_en, Position.title_ar)
        .where(Position.is_active.is_(True))
        .order_by(Position.code)
    ).all()
    return [SelectChoice("", "—")] + [
        SelectChoice(pid, f"{code} — {title_ar if language == 'ar' else title_en}")
        for pid, code, title_en, title_ar in rows
    ]


def _fill_employee_choices(form: Any) -> None:
    form.nationality.choices = [
        SelectChoice("", _("Choose…")),
        *(SelectChoice(code, name) for code, name in country_names(current_language())),
    ]
    form.grade.choices = _grade_choices(blank=True)
    form.position_id.choices = _position_choices()
    form.org_unit_id.choices = _unit_choices()


# --------------------------------------------------------------------------- employee list


def _filters_from_args() -> employees.EmployeeFilters:
    args = request.args
    sort = args.get("sort", "name_en")
    if sort.lstrip("-") not in employees.SORT_KEYS:
        sort = "name_en"
    status = args.get("status") or None
    category = args.get("nationality_category") or None
    return employees.EmployeeFilters(
        q=(args.get("q") or "").strip() or None,
        org_unit_id=args.get("org_unit_id", type=int) or None,
        grade=args.get("grade", type=int) or None,
        status=status if status in STATUSES else None,
        nationality_category=category if category in NATIONALITY_CATEGORIES else None,
        sort=sort,
    )


def _filter_args(filters: employees.EmployeeFilters) -> dict[str, Any]:
    values = {
        "q": filters.q,
        "org_unit_id": filters.org_unit_id,
        "grade": filters.grade,
        "status": filters.status,
        "nationality_category": filters.nationality_category,
        "sort": filters.sort if filters.sort != "name_en" else None,
    }
    return {k: v for k, v in values.items() if v}


@bp.get("/employees", endpoint="employees")
@require_permission("hr.employee.read")
def employees_list() -> Any:
    """List the department's employees with search, filters, sorting and pages (all in SQL)."""
    filters = _filters_from_args()
    query = employees.employee_list_query(db.session, filters).options(
        selectinload(Employee.org_unit), selectinload(Employee.position)
    )
    page = paginate(query, page_number(), DEFAULT_PER_PAGE)
    filter_args = _filter_args(filters)
    sort_links = {}
    for key in employees.SORT_KEYS:
        next_sort = f"-{key}" if filters.sort == key else key
        sort_links[key] = url_for("hr.employees", **{**filter_args, "sort": next_sort})
    return render_template(
        "hr/employees.html",
        page=pagination(page),
        filters=filters,
        filter_args=filter_args,
        sort_links=sort_links,
        grade_choices=_grade_choices(),
        unit_choices=_unit_choices()[1:],
        statuses=STATUSES,
        categories=NATIONALITY_CATEGORIES,
        can_create=has_permission("hr.employee.create"),
        can_export=has_permission("hr.employee.export"),
        can_import=has_permission("hr.employee.import"),
    )


@bp.get("/employees/export")
@require_permission("hr.employee.export")
def export() -> Response:
    """Download the filtered list as CSV (streamed) or XLSX."""
    file_format = "xlsx" if request.args.get("format") == "xlsx" else "csv"
    return export_response(_filters_from_args(), file_format)


# --------------------------------------------------------------------------- one employee


def _readable_employee(employee_id: int, also: str | None = None) -> Employee:
    may_read_all = has_permission("hr.employee.read") and (also is None or has_permission(also))
    employee = employees.find_employee(
        db.session, employee_id, reader_id=actor().id, may_read_all=may_read_all
    )
    if employee is None:
        abort(404)
    return employee


def _employee(employee_id: int) -> Employee:
    employee = db.session.scalar(sa.select(Employee).where(Employee.id == employee_id))
    if employee is None:
        abort(404)
    return employee


@bp.get("/employees/<int:employee_id>")
@require_permission("hr.self.read")
def employee_detail(employee_id: int) -> Any:
    """Show an employee with contract history and documents (officers: any; others: own)."""
    employee = _readable_employee(employee_id)
    is_self = employee.user_id == actor().id
    show_contracts = is_self or has_permission("hr.contract.read")
    show_documents = is_self or has_permission("hr.document.read")
    user = db.session.get(User, employee.user_id) if employee.user_id else None
    return render_template(
        "hr/employee.html",
        employee=employee,
        linked_user=user,
        history=contracts.contract_history(db.session, employee) if show_contracts else None,
        documents=documents.employee_documents(db.session, employee) if show_documents else None,
        document_form=DocumentForm() if has_permission("hr.document.manage") else None,
        can_edit=has_permission("hr.employee.update"),
        can_manage_contracts=has_permission("hr.contract.manage"),
        today=local_today(),
    )


@bp.get("/me")
@require_permission("hr.self.read")
def my_record() -> Any:
    """Open my own employee record in the active department."""
    employee = employees.employee_of_user(db.session, actor().id)
    if employee is None:
        return render_template("hr/no_record.html")
    return redirect(url_for("hr.employee_detail", employee_id=employee.id))


def _links_from_form(form: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Resolve the manager's number and the username typed on the form to ids."""
    values: dict[str, Any] = {"manager_id": None, "user_id": None}
    errors: dict[str, list[str]] = {}
    if form.manager_no.data:
        manager = employees.find_employee_by_number(db.session, form.manager_no.data)
        if manager is None:
            errors["manager_no"] = [_("No employee has this number.")]
        else:
            values["manager_id"] = manager.id
    if form.username.data:
        user_id = db.session.scalar(
            sa.select(User.id).where(sa.func.lower(User.username) == form.username.data.lower())
        )
        if user_id is None:
            errors["username"] = [_("No user has this username.")]
        else:
            values["user_id"] = user_id
    return values, errors


EMPLOYEE_FORM_FIELDS = (
    "employee_no",
    "name_en",
    "name_ar",
    "emirates_id",
    "nationality",
    "date_of_birth",
    "gender",
    "marital_status",
    "children",
    "hire_date",
    "pension_scheme",
    "first_insured_date",
    "grade",
    "band",
    "position_id",
    "org_unit_id",
    "iban",
    "bank_routing_code",
    "wps_person_id",
    "work_email",
    "mobile",
    "status",
)
EMPLOYEE_RENAMES = {"manager_id": "manager_no", "user_id": "username"}
CONTRACT_RENAMES = {"contract.start_date": "contract_start", "contract.end_date": "contract_end"}


def _employee_data(form: Any) -> dict[str, Any]:
    return {name: getattr(form, name).data for name in EMPLOYEE_FORM_FIELDS}


@bp.route("/employees/new", methods=["GET", "POST"])
@require_permission("hr.employee.create")
def create_employee() -> Any:
    """Create an employee with the first contract version."""
    form = NewEmployeeForm()
    _fill_employee_choices(form)
    if not form.is_submitted():
        form.nationality.data = "AE"
    if form.validate_on_submit():
        links, link_errors = _links_from_form(form)
        contract = {
            "contract_type": form.contract_type.data,
            "start_date": form.contract_start.data or form.hire_date.data,
            "end_date": form.contract_end.data,
            "basic_salary": form.basic_salary.data,
            **{name: getattr(form, name).data for name in ALLOWANCE_FIELDS},
        }
        try:
            if link_errors:
                raise ValidationError(link_errors)
            employee = employees.create_employee(
                db.session,
                {**_employee_data(form), **links},
                department_id=_department_id(),
                contract=contract,
            )
        except ValidationError as exc:
            db.session.rollback()
            _field_errors(form, exc.errors, {**EMPLOYEE_RENAMES, **CONTRACT_RENAMES})
        else:
            db.session.commit()
            flash(_("The employee %(number)s is created.", number=employee.employee_no), "success")
            return redirect(url_for("hr.employee_detail", employee_id=employee.id), code=303)
    grades_missing = not form.grade.choices or len(form.grade.choices) <= 1
    return render_template(
        "hr/employee_form.html", form=form, employee=None, grades_missing=grades_missing
    )


def _edit_form_data(employee: Employee) -> dict[str, Any]:
    data = employees.employee_input(employee)
    data["manager_no"] = employee.manager.employee_no if employee.manager else ""
    user = db.session.get(User, employee.user_id) if employee.user_id else None
    data["username"] = user.username if user else ""
    data["version"] = employee.version_id
    return data


@bp.route("/employees/<int:employee_id>/edit", methods=["GET", "POST"])
@require_permission("hr.employee.update")
def edit_employee(employee_id: int) -> Any:
    """Edit an employee; an edit based on an old version is refused with a message."""
    employee = _employee(employee_id)
    form = EmployeeForm(data=_edit_form_data(employee))
    _fill_employee_choices(form)
    status = 200
    if form.validate_on_submit():
        links, link_errors = _links_from_form(form)
        try:
            if link_errors:
                raise ValidationError(link_errors)
            version = int(form.version.data) if (form.version.data or "").isdigit() else -1
            employees.update_employee(
                db.session,
                employee,
                {**_employee_data(form), **links},
                expected_version=version,
                department_id=_department_id(),
            )
            db.session.commit()
        except ValidationError as exc:
            db.session.rollback()
            _field_errors(form, exc.errors, EMPLOYEE_RENAMES)
        except (employees.StaleEmployeeError, StaleDataError):
            db.session.rollback()
            employee = _employee(employee_id)
            form = EmployeeForm(formdata=None, data=_edit_form_data(employee))
            _fill_employee_choices(form)
            form.form_errors.append(_stale_message())
            status = 409
        else:
            flash(_("The employee %(number)s is saved.", number=employee.employee_no), "success")
            return redirect(url_for("hr.employee_detail", employee_id=employee.id), code=303)
    return render_template("hr/employee_form.html", form=form, employee=employee), status


# --------------------------------------------------------------------------- contracts


@bp.route("/employees/<int:employee_id>/contracts/new", methods=["GET", "POST"])
@require_permission("hr.contract.manage")
def new_contract(employee_id: int) -> Any:
    """Add a contract version (salary change, promotion): the previous one ends the day before."""
    employee = _employee(employee_id)
    current = contracts.contract_in_force(db.session, employee, local_today())
    latest = (contracts.contract_history(db.session, employee) or [None])[0]
    source = current or latest
    defaults: dict[str, Any] = {"grade": employee.grade.number, "band": employee.band}
    if source is not None:
        defaults.update(
            contract_type=source.contract_type,
            basic_salary=source.basic_salary,
            **{name: getattr(source, name) for name in ALLOWANCE_FIELDS},
        )
    form = ContractForm(data=defaults)
    form.grade.choices = _grade_choices()
    if form.validate_on_submit():
        data = {
            name: getattr(form, name).data
            for name in ("start_date", "end_date", "contract_type", "grade", "band", "basic_salary")
        }
        data.update({name: getattr(form, name).data for name in ALLOWANCE_FIELDS})
        try:
            contract = contracts.create_contract_version(db.session, employee, data)
            db.session.commit()
        except ValidationError as exc:
            db.session.rollback()
            _field_errors(form, exc.errors)
        except StaleDataError:
            db.session.rollback()
            form.form_errors.append(_stale_message())
        else:
            flash(
                _(
                    "Contract version %(version)d is added from %(date)s.",
                    version=contract.version,
                    date=contract.start_date.isoformat(),
                ),
                "success",
            )
            return redirect(url_for("hr.employee_detail", employee_id=employee.id), code=303)
    return render_template("hr/contract_form.html", form=form, employee=employee, current=source)


# --------------------------------------------------------------------------- documents


@bp.post("/employees/<int:employee_id>/documents")
@require_permission("hr.document.manage")
def upload_document(employee_id: int) -> Any:
    """Upload a document of the employee (PDF, JPEG or PNG, checked by content)."""
    employee = _employee(employee_id)
    form = DocumentForm()
    if form.validate_on_submit():
        upload = form.file.data
        saved = save_form(
            form,
            lambda: documents.store_document(
                db.session,
                employee,
                stream=upload.stream,
                file_name=upload.filename,
                data={
                    "doc_type": form.doc_type.data,
                    "number": form.number.data,
                    "issue_date": form.issue_date.data,
                    "expiry_date": form.expiry_date.data,
                },
                root=current_app.config["HR_DOCUMENT_DIR"],
                max_bytes=current_app.config["HR_DOCUMENT_MAX_BYTES"],
                uploaded_by_id=actor().id,
            ),
            success=_("The document is uploaded."),
            redirect_to=url_for("hr.employee_detail", employee_id=employee.id, _anchor="documents"),
        )
        if saved is not None:
            return saved
    return (
        render_template(
            "hr/employee.html",
            employee=employee,
            linked_user=db.session.get(User, employee.user_id) if employee.user_id else None,
            history=contracts.contract_history(db.session, employee),
            documents=documents.employee_documents(db.session, employee),
            document_form=form,
            can_edit=has_permission("hr.employee.update"),
            can_manage_contracts=has_permission("hr.contract.manage"),
            today=local_today(),
        ),
        422,
    )


@bp.get("/employees/<int:employee_id>/documents/<int:document_id>")
@require_permission("hr.self.read")
def download_document(employee_id: int, document_id: int) -> Any:
    """Download a document: the same access as the employee record."""
    employee = _readable_employee(employee_id, also="hr.document.read")
    document = documents.find_document(db.session, employee, document_id)
    if document is None:
        abort(404)
    return send_document(document)


@bp.get("/documents/expiring")
@require_permission("hr.document.read")
def expiring_documents() -> Any:
    """List documents expiring within N days (expired ones first)."""
    days = min(max(request.args.get("days", 30, type=int) or 0, 0), 3650)
    query = documents.expiring_documents_query(days).options(
        selectinload(EmployeeDocument.employee)
    )
    page = paginate(query, page_number(), DEFAULT_PER_PAGE)
    return render_template(
        "hr/expiring.html", page=pagination(page), days=days, today=local_today()
    )


# --------------------------------------------------------------------------- import


def _import_dir() -> Path:
    return pending_folder(current_app.config["HR_IMPORT_DIR"], _department_id())


def _import_file(token: str) -> Path:
    """The stored upload of `token`: only the user who uploaded it, in this department."""
    match = re.fullmatch(r"([0-9a-f]{32})\.(csv|xlsx)", token or "")
    if match is None:
        abort(404)
    path = pending_path(_import_dir(), actor().id, token)
    if not path.is_file():
        abort(404)
    return path


@bp.route("/employees/import", methods=["GET", "POST"])
@require_permission("hr.employee.import")
def import_employees() -> Any:
    """Check an import file (dry run): every bad row with its line and reasons."""
    form = ImportForm()
    report = None
    token = None
    file_error = None
    if form.validate_on_submit():
        upload = form.file.data
        extension = (upload.filename or "").lower().rsplit(".", 1)[-1]
        if extension not in ("csv", "xlsx"):
            form.file.errors.append(_("Upload a .csv or .xlsx file."))
        else:
            token = f"{secrets.token_hex(16)}.{extension}"
            path = pending_path(_import_dir(), actor().id, token)
            upload.save(path)
            try:
                with path.open("rb") as handle:
                    report = imports.import_employees(
                        db.session,
                        upload.filename,
                        handle,
                        mode="dry_run",
                        max_rows=current_app.config["HR_IMPORT_MAX_ROWS"],
                    )
            except imports.ImportFileError as exc:
                file_error = str(exc)
                path.unlink(missing_ok=True)
                token = None
            db.session.rollback()  # a dry run stores nothing
    return render_template(
        "hr/import.html",
        form=form,
        report=report,
        token=token,
        file_error=file_error,
        confirm_form=ImportConfirmForm(),
        columns=imports.IMPORT_COLUMNS,
        required=imports.REQUIRED_COLUMNS,
    )


@bp.post("/employees/import/confirm")
@require_permission("hr.employee.import")
def confirm_import() -> Any:
    """Import a checked file: all rows (only when none has errors) or the valid rows."""
    form = ImportConfirmForm()
    if not form.validate_on_submit() or form.mode.data not in ("all", "valid_rows"):
        abort(400)
    path = _import_file(form.token.data)
    try:
        with path.open("rb") as handle:
            report = imports.import_employees(
                db.session,
                path.name,
                handle,
                mode=form.mode.data,
                max_rows=current_app.config["HR_IMPORT_MAX_ROWS"],
            )
    except imports.ImportFileError as exc:
        flash(str(exc), "error")
        return redirect(url_for("hr.import_employees"), code=303)
    if report.stored:
        db.session.commit()
        path.unlink(missing_ok=True)
        flash(_("%(count)s employees are imported.", count=report.stored), "success")
        return redirect(url_for("hr.employees"), code=303)
    db.session.rollback()
    flash(_("Nothing was imported: the file has rows with errors."), "error")
    return redirect(url_for("hr.import_employees"), code=303)


# --------------------------------------------------------------------------- organisation


@bp.get("/organisation")
@require_permission("hr.organisation.read")
def org_units() -> Any:
    """Show the org unit tree of the department."""
    return render_template(
        "hr/org_units.html",
        tree=organisation.org_unit_tree(db.session),
        can_manage=has_permission("hr.organisation.manage"),
    )


def _org_unit_form(unit: OrgUnit | None) -> OrgUnitForm:
    form = OrgUnitForm(obj=unit)
    form.parent_id.choices = [c for c in _unit_choices() if unit is None or c.value != unit.id]
    return form


def _org_unit_data(form: OrgUnitForm) -> dict[str, Any]:
    return {
        "code": form.code.data,
        "name_en": form.name_en.data,
        "name_ar": form.name_ar.data,
        "parent_id": form.parent_id.data,
        "is_active": form.is_active.data,
    }


@bp.route("/org-units/new", methods=["GET", "POST"])
@require_permission("hr.organisation.manage")
def new_org_unit() -> Any:
    """Create an org unit."""
    form = _org_unit_form(None)
    if form.validate_on_submit():
        saved = save_form(
            form,
            lambda: organisation.create_org_unit(db.session, _org_unit_data(form)),
            success=_("The org unit is saved."),
            redirect_to=url_for("hr.org_units"),
        )
        if saved is not None:
            return saved
    return render_template("hr/org_unit_form.html", form=form, unit=None)


@bp.route("/org-units/<int:unit_id>/edit", methods=["GET", "POST"])
@require_permission("hr.organisation.manage")
def edit_org_unit(unit_id: int) -> Any:
    """Change an org unit (no loops in the tree)."""
    unit = db.session.scalar(sa.select(OrgUnit).where(OrgUnit.id == unit_id)) or abort(404)
    form = _org_unit_form(unit)
    if form.validate_on_submit():
        saved = save_form(
            form,
            lambda: organisation.update_org_unit(db.session, unit, _org_unit_data(form)),
            success=_("The org unit is saved."),
            redirect_to=url_for("hr.org_units"),
        )
        if saved is not None:
            return saved
    return render_template("hr/org_unit_form.html", form=form, unit=unit)


@bp.get("/positions")
@require_permission("hr.organisation.read")
def positions() -> Any:
    """List the department's positions by code, a page at a time."""
    query = (
        sa.select(Position)
        .options(selectinload(Position.org_unit), selectinload(Position.grade))
        .order_by(Position.code)
    )
    page = paginate(query, page_number(), DEFAULT_PER_PAGE)
    return render_template(
        "hr/positions.html",
        page=pagination(page),
        can_manage=has_permission("hr.organisation.manage"),
    )


def _position_form(position: Position | None) -> PositionForm:
    data = {}
    if position is not None:
        data = {
            "code": position.code,
            "title_en": position.title_en,
            "title_ar": position.title_ar,
            "org_unit_id": position.org_unit_id,
            "grade": position.grade.number if position.grade else None,
            "is_active": position.is_active,
        }
    form = PositionForm(data=data)
    form.org_unit_id.choices = _unit_choices()
    form.grade.choices = _grade_choices(blank=True)
    return form


def _position_data(form: PositionForm) -> dict[str, Any]:
    return {
        "code": form.code.data,
        "title_en": form.title_en.data,
        "title_ar": form.title_ar.data,
        "org_unit_id": form.org_unit_id.data,
        "grade": form.grade.data,
        "is_active": form.is_active.data,
    }


@bp.route("/positions/new", methods=["GET", "POST"])
@require_permission("hr.organisation.manage")
def new_position() -> Any:
    """Create a position."""
    form = _position_form(None)
    if form.validate_on_submit():
        saved = save_form(
            form,
            lambda: organisation.create_position(db.session, _position_data(form)),
            success=_("The position is saved."),
            redirect_to=url_for("hr.positions"),
        )
        if saved is not None:
            return saved
    return render_template("hr/position_form.html", form=form, position=None)


@bp.route("/positions/<int:position_id>/edit", methods=["GET", "POST"])
@require_permission("hr.organisation.manage")
def edit_position(position_id: int) -> Any:
    """Change a position."""
    position = db.session.scalar(sa.select(Position).where(Position.id == position_id))
    if position is None:
        abort(404)
    form = _position_form(position)
    if form.validate_on_submit():
        saved = save_form(
            form,
            lambda: organisation.update_position(db.session, position, _position_data(form)),
            success=_("The position is saved."),
            redirect_to=url_for("hr.positions"),
        )
        if saved is not None:
            return saved
    return render_template("hr/position_form.html", form=form, position=position)


@bp.get("/grades")
@require_permission("hr.organisation.read")
def grades() -> Any:
    """Show the grades with their pay bands, and the allowance types."""
    rows = list(
        db.session.scalars(
            sa.select(Grade).options(selectinload(Grade.bands)).order_by(Grade.number)
        )
    )
    allowances = list(db.session.scalars(sa.select(AllowanceType).order_by(AllowanceType.id)))
    return render_template(
        "hr/grades.html",
        grades=rows,
        allowances=allowances,
        allowance_form=AllowanceTypeForm(),
        can_manage=has_permission("hr.organisation.manage"),
    )


@bp.post("/grades/defaults")
@require_permission("hr.organisation.manage")
def load_default_grades() -> Any:
    """Create the default grades, bands and allowance types the department lacks."""
    form = AllowanceTypeForm()
    if not form.validate_on_submit():
        abort(400)
    organisation.ensure_hr_defaults(db.session)
    db.session.commit()
    flash(_("The default grades and allowances are loaded."), "success")
    return redirect(url_for("hr.grades"), code=303)


def _show_grade_errors(form: GradeForm, errors: dict[str, Any]) -> None:
    """Put a refused grade's errors on its form: the bands' as a whole go above the fields."""
    errors = dict(errors)
    if "bands" in errors:
        form.form_errors.extend(errors.pop("bands"))
    show_service_errors(form, errors)


@bp.route("/grades/<int:number>/edit", methods=["GET", "POST"])
@require_permission("hr.organisation.manage")
def edit_grade(number: int) -> Any:
    """Rename a grade or change its pay bands."""
    grade = db.session.scalar(
        sa.select(Grade).options(selectinload(Grade.bands)).where(Grade.number == number)
    )
    if grade is None:
        abort(404)
    data: dict[str, Any] = {"name_en": grade.name_en, "name_ar": grade.name_ar}
    for band in grade.bands:
        data[f"band{band.band}_min"] = band.min_basic
        data[f"band{band.band}_max"] = band.max_basic
    form = GradeForm(data=data)
    if form.validate_on_submit():
        bands = []
        for index in (1, 2, 3):
            low = getattr(form, f"band{index}_min").data
            high = getattr(form, f"band{index}_max").data
            if low is None and high is None:
                break
            bands.append({"min_basic": low, "max_basic": high})
        saved = save_form(
            form,
            lambda: organisation.update_grade(
                db.session,
                grade,
                names={"name_en": form.name_en.data, "name_ar": form.name_ar.data},
                bands=bands,
            ),
            success=_("Grade %(number)d is saved.", number=grade.number),
            redirect_to=url_for("hr.grades"),
            show_errors=_show_grade_errors,
        )
        if saved is not None:
            return saved
    return render_template("hr/grade_form.html", form=form, grade=grade)


@bp.post("/allowance-types/<code>")
@require_permission("hr.organisation.manage")
def update_allowance_type(code: str) -> Any:
    """Mark an allowance pensionable or not."""
    allowance = db.session.scalar(sa.select(AllowanceType).where(AllowanceType.code == code))
    if allowance is None:
        abort(404)
    form = AllowanceTypeForm()
    if not form.validate_on_submit():
        abort(400)
    organisation.update_allowance_type(
        db.session, allowance, {"pensionable": form.pensionable.data}
    )
    db.session.commit()
    flash(_("The allowance is saved."), "success")
    return redirect(url_for("hr.grades"), code=303)
