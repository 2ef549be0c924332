"""Employee services: the rules of an employee record, creation, update, search, access.

One cleaner (`clean_employee`) checks every field for the form, the API and the
import alike and reports all problems at once; the checks that need the
database (unique numbers, the manager chain, the user link) follow in
`check_employee_links`, or in bulk for imports (modules/hr/imports.py).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from grp.driver_rows import reusable_mappings
from grp.errors import ValidationError
from grp.identifiers import (
    IdentifierError,
    parse_emirates_id,
    parse_uae_iban,
)
from grp.models import RoleAssignment, User
from grp.tenancy import reusable
from modules.hr.countries import UAE, is_country_code
from modules.hr.i18n import _, identifier_message
from modules.hr.models import (
    GENDERS,
    MARITAL_STATUSES,
    NATIONALITY_CATEGORIES,
    PENSION_SCHEMES,
    STATUSES,
    Contract,
    Employee,
    EmployeeSearchWord,
    Grade,
)
from modules.hr.search_words import prefix_range, query_words
from modules.hr.services.organisation import ARABIC_LETTER, Reference, load_reference
from modules.hr.services.values import (
    FieldErrors,
    Invalid,
    add_years,
    as_date,
    as_int,
    as_text,
    local_today,
)

#: Input fields of an employee (API and form names; `grade` is the grade number).
EMPLOYEE_FIELDS = (
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
    "manager_id",
    "iban",
    "bank_routing_code",
    "wps_person_id",
    "work_email",
    "mobile",
    "status",
    "user_id",
)

#: Decree-Law 57/2023 covers nationals first insured on or after this day (DOMAIN.md).
LAW_57_2023_FROM = date(2023, 10, 31)
MINIMUM_AGE_AT_HIRE = 18
MAX_CHILDREN = 30

EMPLOYEE_NO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,19}$")
ROUTING_CODE = re.compile(r"^[0-9]{9}$")
WPS_PERSON_ID = re.compile(r"^[0-9]{14}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MOBILE = re.compile(r"^\+?[0-9]{9,15}$")


class StaleEmployeeError(Exception):
    """The employee changed since the editor loaded it (optimistic locking)."""

    def __init__(self, current_version: int) -> None:
        self.current_version = current_version
        super().__init__(f"the employee is now at version {current_version}")


# --------------------------------------------------------------------------- cleaning


def _choice(
    value: Any, name: str, choices: tuple[str, ...], errors: FieldErrors, *, default: str | None
) -> str | None:
    text = as_text(value)
    if text is None:
        if default is None:
            errors.add(name, _("This field is required."))
        return default
    text = text.lower()
    if text not in choices:
        errors.add(name, _("Choose one of: %(choices)s.", choices=", ".join(choices)))
        return None
    return text


def _required_text(value: Any, name: str, errors: FieldErrors, max_length: int) -> str | None:
    text = as_text(value)
    if text is None:
        errors.add(name, _("This field is required."))
        return None
    if len(text) > max_length:
        errors.add(name, _("Use at most %(num)d characters.", num=max_length))
        return None
    return text


def _read(reader: Any, value: Any, name: str, errors: FieldErrors) -> Any:
    try:
        return reader(value)
    except Invalid as exc:
        errors.add(name, str(exc))
        return None


def _digits(
    value: Any, name: str, pattern: re.Pattern[str], count: int, errors: FieldErrors
) -> Any:
    text = as_text(value)
    if text is None:
        return None
    if not pattern.match(text):
        errors.add(name, _("Enter exactly %(num)d digits (0-9).", num=count))
        return None
    return text


def clean_employee(
    data: Mapping[str, Any], reference: Reference, *, today: date | None = None
) -> tuple[dict[str, Any], FieldErrors]:
    """Check every field of an employee; return model values and all field errors.

    `data` uses the input names (`EMPLOYEE_FIELDS`); the values returned use
    the model's (`grade_id` for `grade`). Checks needing other employees or
    users (uniqueness, manager chain, user link) are `check_employee_links`'.
    """
    today = today or local_today()
    errors = FieldErrors()
    values: dict[str, Any] = {}

    employee_no = _required_text(data.get("employee_no"), "employee_no", errors, 20)
    if employee_no is not None and not EMPLOYEE_NO.match(employee_no):
        errors.add(
            "employee_no",
            _("Use letters, digits, dots, dashes, slashes or underscores (up to 20), no spaces."),
        )
    # Stored in upper case so that "pol-1" and "POL-1" are one number.
    values["employee_no"] = employee_no.upper() if employee_no else None
    values["name_en"] = _required_text(data.get("name_en"), "name_en", errors, 200)
    name_ar = _required_text(data.get("name_ar"), "name_ar", errors, 200)
    if name_ar is not None and not ARABIC_LETTER.search(name_ar):
        errors.add("name_ar", _("Write the Arabic name in Arabic letters."))
    values["name_ar"] = name_ar

    emirates_id = as_text(data.get("emirates_id"))
    try:
        values["emirates_id"] = parse_emirates_id(emirates_id or "")
    except IdentifierError as exc:
        errors.add("emirates_id", identifier_message(exc))

    nationality = as_text(data.get("nationality"))
    if nationality is None:
        errors.add("nationality", _("This field is required."))
    elif not is_country_code(nationality.upper()):
        errors.add("nationality", _("Enter a two-letter ISO country code such as AE or IN."))
        nationality = None
    else:
        nationality = nationality.upper()
    values["nationality"] = nationality

    date_of_birth = _read(as_date, data.get("date_of_birth"), "date_of_birth", errors)
    hire_date = _read(as_date, data.get("hire_date"), "hire_date", errors)
    for name, value in (("date_of_birth", date_of_birth), ("hire_date", hire_date)):
        if value is None and name not in errors:
            errors.add(name, _("This field is required."))
    if date_of_birth is not None and date_of_birth >= today:
        errors.add("date_of_birth", _("The date of birth must be in the past."))
    if (
        date_of_birth is not None
        and hire_date is not None
        and hire_date < add_years(date_of_birth, MINIMUM_AGE_AT_HIRE)
    ):
        errors.add(
            "hire_date",
            _("The employee must be at least %(age)d on the hire date.", age=MINIMUM_AGE_AT_HIRE),
        )
    values["date_of_birth"], values["hire_date"] = date_of_birth, hire_date

    values["gender"] = _choice(data.get("gender"), "gender", GENDERS, errors, default=None)
    values["marital_status"] = _choice(
        data.get("marital_status"), "marital_status", MARITAL_STATUSES, errors, default="single"
    )
    children = _read(as_int, data.get("children"), "children", errors)
    if children is not None and not 0 <= children <= MAX_CHILDREN:
        errors.add("children", _("Enter a number from 0 to %(max)d.", max=MAX_CHILDREN))
    values["children"] = children or 0
    values["status"] = _choice(data.get("status"), "status", STATUSES, errors, default="active")

    _clean_pension(data, values, errors, nationality)
    _clean_grade(data, values, errors, reference)
    _clean_placement(data, values, errors, reference)

    iban = as_text(data.get("iban"))
    values["iban"] = None
    if iban is not None:
        try:
            values["iban"] = parse_uae_iban(iban)
        except IdentifierError as exc:
            errors.add("iban", identifier_message(exc))
    values["bank_routing_code"] = _digits(
        data.get("bank_routing_code"), "bank_routing_code", ROUTING_CODE, 9, errors
    )
    values["wps_person_id"] = _digits(
        data.get("wps_person_id"), "wps_person_id", WPS_PERSON_ID, 14, errors
    )
    email = as_text(data.get("work_email"))
    if email is not None and (len(email) > 254 or not EMAIL.match(email)):
        errors.add("work_email", _("Enter an email address such as name@example.ae."))
    values["work_email"] = email.lower() if email else None
    mobile = as_text(data.get("mobile"))
    if mobile is not None:
        mobile = re.sub(r"[\s\-()]", "", mobile)
        if not MOBILE.match(mobile):
            errors.add("mobile", _("Enter a phone number such as +971501234567."))
    values["mobile"] = mobile
    values["manager_id"] = _read(as_int, data.get("manager_id"), "manager_id", errors)
    values["user_id"] = _read(as_int, data.get("user_id"), "user_id", errors)
    return values, errors


def _clean_pension(
    data: Mapping[str, Any], values: dict[str, Any], errors: FieldErrors, nationality: str | None
) -> None:
    scheme = as_text(data.get("pension_scheme"))
    first_insured = _read(as_date, data.get("first_insured_date"), "first_insured_date", errors)
    values["pension_scheme"], values["first_insured_date"] = None, None
    if nationality is None:
        return
    if nationality != UAE:
        if scheme is not None:
            errors.add("pension_scheme", _("Only UAE nationals are in a GPSSA pension scheme."))
        if first_insured is not None:
            errors.add("first_insured_date", _("Only UAE nationals have a GPSSA insurance date."))
        return
    if scheme is None:
        errors.add("pension_scheme", _("Choose the pension scheme of this UAE national."))
    elif scheme not in PENSION_SCHEMES:
        errors.add(
            "pension_scheme", _("Choose one of: %(choices)s.", choices=", ".join(PENSION_SCHEMES))
        )
        scheme = None
    if first_insured is None and "first_insured_date" not in errors:
        errors.add("first_insured_date", _("Enter the date this UAE national was first insured."))
    if scheme is not None and first_insured is not None:
        expected = "law_57_2023" if first_insured >= LAW_57_2023_FROM else "law_7_1999"
        if scheme != expected:
            errors.add(
                "pension_scheme",
                _(
                    "Insured first on %(date)s, this employee falls under %(scheme)s.",
                    date=first_insured.isoformat(),
                    scheme=expected,
                ),
            )
    values["pension_scheme"], values["first_insured_date"] = scheme, first_insured


def _clean_grade(
    data: Mapping[str, Any], values: dict[str, Any], errors: FieldErrors, reference: Reference
) -> None:
    number = _read(as_int, data.get("grade"), "grade", errors)
    band = _read(as_int, data.get("band"), "band", errors)
    values["grade_id"], values["band"] = None, band
    if number is None:
        if "grade" not in errors:
            errors.add("grade", _("This field is required."))
        return
    grade = reference.grades.get(number)
    if grade is None:
        errors.add("grade", _("Choose a grade from 1 to 16."))
        return
    values["grade_id"] = grade.id
    if band is None:
        if "band" not in errors:
            errors.add("band", _("This field is required."))
    elif grade.band_range(band) is None:
        errors.add(
            "band",
            _("Grade %(grade)d has bands 1 to %(count)d.", grade=number, count=len(grade.bands)),
        )


def _clean_placement(
    data: Mapping[str, Any], values: dict[str, Any], errors: FieldErrors, reference: Reference
) -> None:
    position_id = _read(as_int, data.get("position_id"), "position_id", errors)
    unit_id = _read(as_int, data.get("org_unit_id"), "org_unit_id", errors)
    position = reference.positions.get(position_id) if position_id else None
    if position_id and position is None:
        errors.add("position_id", _("Choose a position of this department."))
    if unit_id and unit_id not in reference.org_units:
        errors.add("org_unit_id", _("Choose an org unit of this department."))
        unit_id = None
    if not unit_id and position is not None:
        unit_id = position.org_unit_id  # a position's unit is the usual placement
    values["position_id"] = position.id if position else None
    values["org_unit_id"] = unit_id or None


# --------------------------------------------------------------------------- database checks


def _manager_loop(session: Session, employee_id: int | None, manager_id: int) -> bool:
    """Tell whether `manager_id`'s chain of managers reaches `employee_id` (or loops)."""
    seen: set[int] = set()
    current: int | None = manager_id
    while current is not None:
        if current == employee_id or current in seen:
            return True
        seen.add(current)
        current = session.scalar(sa.select(Employee.manager_id).where(Employee.id == current))
    return False


def check_employee_links(
    session: Session,
    values: Mapping[str, Any],
    errors: FieldErrors,
    *,
    employee: Employee | None = None,
    department_id: int,
) -> None:
    """Add the errors that need the database: unique numbers, manager chain, user link."""

    def taken(column: Any, value: Any) -> bool:
        query = sa.select(Employee.id).where(column == value)
        if employee is not None:
            query = query.where(Employee.id != employee.id)
        return session.scalar(query.limit(1)) is not None

    def changed(name: str) -> bool:
        return employee is None or getattr(employee, name) != values.get(name)

    for name, message in (
        ("employee_no", _("Another employee has this employee number.")),
        ("emirates_id", _("Another employee has this Emirates ID.")),
    ):
        value = values.get(name)
        if value and changed(name) and taken(getattr(Employee, name), value):
            errors.add(name, message)
    manager_id = values.get("manager_id")
    if manager_id and changed("manager_id"):
        exists = session.scalar(sa.select(Employee.id).where(Employee.id == manager_id))
        if exists is None:
            errors.add("manager_id", _("Choose a manager who is an employee of this department."))
        elif employee is not None and _manager_loop(session, employee.id, manager_id):
            errors.add(
                "manager_id",
                _("This manager reports to the employee, directly or indirectly."),
            )
    user_id = values.get("user_id")
    if user_id and changed("user_id"):
        member = session.scalar(
            sa.select(User.id)
            .join(RoleAssignment, RoleAssignment.user_id == User.id)
            .where(User.id == user_id, RoleAssignment.department_id == department_id)
            .limit(1)
        )
        if member is None:
            errors.add("user_id", _("Choose a user who holds a role in this department."))
        elif taken(Employee.user_id, user_id):
            errors.add("user_id", _("This user is already linked to another employee."))


# --------------------------------------------------------------------------- create, update


def employee_input(employee: Employee) -> dict[str, Any]:
    """Return the employee's current values under the input names (`EMPLOYEE_FIELDS`)."""
    values = {name: getattr(employee, name) for name in EMPLOYEE_FIELDS if name != "grade"}
    values["grade"] = employee.grade.number if employee.grade is not None else None
    return values


def create_employee(
    session: Session,
    data: Mapping[str, Any],
    *,
    department_id: int,
    contract: Mapping[str, Any] | None = None,
) -> Employee:
    """Create an employee, and their first contract version when `contract` is given.

    Raises ValidationError with every field problem; contract problems are
    nested under `contract`.
    """
    from modules.hr.services.contracts import clean_contract, create_contract_version

    reference = load_reference(session)
    values, errors = clean_employee(data, reference)
    check_employee_links(session, values, errors, department_id=department_id)
    all_errors: dict[str, Any] = dict(errors)
    if contract is not None:
        grade = reference.grades_by_id.get(values.get("grade_id"))
        contract_data = dict(contract)
        if not contract_data.get("start_date"):
            contract_data["start_date"] = values.get("hire_date")  # the usual first contract
        _, contract_errors = clean_contract(contract_data, grade=grade, band=values.get("band"))
        if contract_errors:
            all_errors["contract"] = dict(contract_errors)
    if all_errors:
        raise ValidationError(all_errors)
    employee = Employee(**values)
    session.add(employee)
    session.flush()
    if contract is not None:
        create_contract_version(session, employee, contract_data)
    return employee


def update_employee(
    session: Session,
    employee: Employee,
    changes: Mapping[str, Any],
    *,
    expected_version: int | None,
    department_id: int,
) -> Employee:
    """Change an employee's fields; refuse a stale edit (StaleEmployeeError).

    `expected_version` is the `version_id` the editor saw (None skips the
    check, for internal callers). The grade and band of an employee with a
    contract change through a new contract version, not here.
    """
    if expected_version is not None and expected_version != employee.version_id:
        raise StaleEmployeeError(employee.version_id)
    unknown = set(changes) - set(EMPLOYEE_FIELDS)
    if unknown:
        raise ValidationError(
            {name: [_("This field cannot be changed.")] for name in sorted(unknown)}
        )
    reference = load_reference(session)
    merged = {**employee_input(employee), **changes}
    values, errors = clean_employee(merged, reference)
    if (values.get("grade_id"), values.get("band")) != (employee.grade_id, employee.band):
        has_contract = session.scalar(
            sa.select(Contract.id).where(Contract.employee_id == employee.id).limit(1)
        )
        if has_contract is not None:
            errors.add("grade", _("Change the grade and band with a new contract version."))
    if values.get("manager_id") is not None and values["manager_id"] == employee.id:
        errors.add("manager_id", _("An employee cannot be their own manager."))
    check_employee_links(session, values, errors, employee=employee, department_id=department_id)
    if errors:
        raise ValidationError(dict(errors))
    for name, value in values.items():
        if getattr(employee, name) != value:
            setattr(employee, name, value)
    session.flush()
    return employee


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class EmployeeFilters:
    """Search, filters and sort of the employee list (pages, API and export alike)."""

    q: str | None = None
    org_unit_id: int | None = None
    grade: int | None = None
    status: str | None = None
    nationality_category: str | None = None
    sort: str = "name_en"


SORT_KEYS = ("name_en", "name_ar", "employee_no", "hire_date", "grade", "status")


#: Names of the employee list's bound parameters (prefixed: callers may add their own).
_PARAM = "grp_list_"


@dataclass(frozen=True)
class _ListShape:
    """What decides the employee list statement's SQL; the values are bound separately.

    `words`: None without a search; else, per search word, whether its prefix range has
    an upper bound (an empty tuple: a query of punctuation alone, which finds nobody).
    """

    words: tuple[bool, ...] | None
    org_units: bool
    grade: bool
    status: bool
    nationality: bool
    sort: str
    descending: bool


def _list_shape(session: Session, filters: EmployeeFilters) -> tuple[_ListShape, dict[str, Any]]:
    """The shape of `filters`' statement and the values of its bound parameters."""
    values: dict[str, Any] = {}
    words = None
    if filters.q and filters.q.strip():
        bounded = []
        for number, word in enumerate(query_words(filters.q)):
            low, high = prefix_range(word)
            values[f"{_PARAM}word_{number}_low"] = low
            if high is not None:
                values[f"{_PARAM}word_{number}_high"] = high
            bounded.append(high is not None)
        words = tuple(bounded)
    if filters.org_unit_id:
        units = org_unit_and_descendants(load_reference(session), filters.org_unit_id)
        values[f"{_PARAM}org_units"] = sorted(units)
    if filters.grade:
        values[f"{_PARAM}grade"] = filters.grade
    if filters.status:
        values[f"{_PARAM}status"] = filters.status
    nationality = filters.nationality_category in NATIONALITY_CATEGORIES
    if nationality:
        values[f"{_PARAM}nationality"] = filters.nationality_category
    descending = filters.sort.startswith("-")
    key = filters.sort.lstrip("-")
    if key not in SORT_KEYS:
        key, descending = "name_en", False
    shape = _ListShape(
        words=words,
        org_units=bool(filters.org_unit_id),
        grade=bool(filters.grade),
        status=bool(filters.status),
        nationality=nationality,
        sort=key,
        descending=descending,
    )
    return shape, values


def _list_statement(
    base: sa.Select, shape: _ListShape, values: Mapping[str, Any] | None
) -> sa.Select:
    """The employee list statement of `shape` selecting `base`, sorted.

    Every value is a named bound parameter: given `values`, it carries them (a statement
    to run as it is); without, they are given at execution (a reusable statement).
    """

    def value(name: str, **options: Any) -> sa.BindParameter[Any]:
        key = _PARAM + name
        if values is None:
            return sa.bindparam(key, **options)
        return sa.bindparam(key, values[key], **options)

    query = base
    if shape.words is not None:
        # Employees having, for every word of the query, a word that starts with it.
        # Names in either language, employee numbers and Emirates IDs (with or without
        # dashes) are all words (modules/hr/search_words.py).
        conditions = []
        for number, bounded in enumerate(shape.words):
            word = EmployeeSearchWord.word
            matching = sa.select(EmployeeSearchWord.employee_id).where(
                word >= value(f"word_{number}_low")
            )
            if bounded:
                matching = matching.where(word < value(f"word_{number}_high"))
            conditions.append(Employee.id.in_(matching))
        # A query of punctuation alone finds nobody rather than everybody.
        query = query.where(sa.and_(*conditions) if conditions else sa.false())
    if shape.org_units:
        # The org unit filter includes the units below it (`_list_shape`).
        query = query.where(Employee.org_unit_id.in_(value("org_units", expanding=True)))
    if shape.grade:
        query = query.join(Grade, Grade.id == Employee.grade_id).where(
            Grade.number == value("grade")
        )
    if shape.status:
        query = query.where(Employee.status == value("status"))
    if shape.nationality:
        query = query.where(Employee.nationality_category == value("nationality"))
    if shape.sort == "grade":
        sort_grade = sa.orm.aliased(Grade)
        query = query.join(sort_grade, sort_grade.id == Employee.grade_id)
        column: Any = sort_grade.number
    else:
        column = getattr(Employee, shape.sort)
    return _sorted(query, column, shape.descending)


def _sorted(query: sa.Select, key: Any, descending: bool) -> sa.Select:
    """`query` ordered by `key`, the employee id breaking ties, both the same way."""
    if descending:
        return query.order_by(key.desc(), Employee.id.desc())
    return query.order_by(key.asc(), Employee.id.asc())


def org_unit_and_descendants(reference: Reference, unit_id: int) -> set[int]:
    """Return `unit_id` and the ids of every unit below it."""
    children: dict[int | None, list[int]] = {}
    for unit in reference.org_units.values():
        children.setdefault(unit.parent_id, []).append(unit.id)
    found, stack = set(), [unit_id]
    while stack:
        current = stack.pop()
        if current in found:
            continue
        found.add(current)
        stack.extend(children.get(current, []))
    return found


def employee_list_query(
    session: Session, filters: EmployeeFilters, *, base: sa.Select | None = None
) -> sa.Select:
    """Return the SELECT of employees matching `filters`, sorted; paginate it in SQL.

    The org unit filter includes the units below it. The sort key may start
    with `-` for descending; the id breaks ties so pages never overlap. `base`
    selects something else from the employees than Employee objects.
    """
    shape, values = _list_shape(session, filters)
    return _list_statement(sa.select(Employee) if base is None else base, shape, values)


#: The employee columns of a whole record as the API answers it (EmployeeSchema): an
#: employee's detail, and a list with `view=full`.
LIST_COLUMNS = (
    "id",
    *(name for name in EMPLOYEE_FIELDS if name != "grade"),  # the grade: its number, joined
    "nationality_category",
    "version_id",
    "created_at",
    "updated_at",
)

#: The employee columns of a list's or search's item by default (EmployeeSummarySchema):
#: who the employee is and where they work, enough to pick one and open the record.
#: Identity documents, bank details, dates of birth and family stay in the record: a
#: search answers dozens of employees per keystroke, and each column costs the app about
#: half a microsecond per row (bench, 2026-12-07: a search of 50 rows 1.81 -> 1.45 ms).
SUMMARY_COLUMNS = (
    "id",
    "employee_no",
    "name_en",
    "name_ar",
    "status",
    "org_unit_id",
    "position_id",
    "manager_id",
    "hire_date",
    "work_email",
    "mobile",
)


def employee_list_rows(
    session: Session, filters: EmployeeFilters, *, summary: bool = False
) -> tuple[sa.Select, dict[str, Any]]:
    """`employee_list_query` as plain rows: a reusable statement and its parameter values.

    The rows are `LIST_COLUMNS` (`summary`: `SUMMARY_COLUMNS`) and the grade's number
    (`grade`): for list pages, building 50 Employee objects with their grades, then
    reading them back attribute by attribute, cost more Python than the rest of a search
    request. The statement is built once per shape of filters (`grp.tenancy.reusable`);
    run it with the values. Same conditions, order and department scope as
    `employee_list_query`.
    """
    shape, values = _list_shape(session, filters)
    return _reusable_rows_statement(shape, summary), values


def employee_search_rows(
    session: Session,
    filters: EmployeeFilters,
    *,
    limit: str,
    offset: str,
    total: sa.Label[Any],
    summary: bool = False,
) -> tuple[sa.Select, sa.Select, dict[str, Any]]:
    """`employee_list_rows`, and a statement of one page of it with `total` (the count of
    all its rows) on each row, for a search: `limit` and `offset` name its parameters.

    The page statement finds, sorts and counts the matches by their ids and sort key
    only, cuts the page, and then reads the page's rows whole: a search of a common name
    matches hundreds of employees, and sorting and counting them with every column of
    the list cost PostgreSQL more (bench data, PostgreSQL's CPU for the statement alone:
    0.6 -> 0.45 ms for 154 matches, 2.0 -> 1.3 ms for 378 matches of two words; about a
    tenth of its time for the benchmark's mix of searches). The same rows in the same
    order as the first statement's page.
    """
    shape, values = _list_shape(session, filters)
    page = _narrow_page_statement(shape, limit, offset, total, summary)
    return _reusable_rows_statement(shape, summary), page, values


@functools.lru_cache(maxsize=512)
def _narrow_page_statement(
    shape: _ListShape, limit: str, offset: str, total: sa.Label[Any], summary: bool
) -> sa.Select:
    if _words_alone_by_name(shape):
        matches = _word_matches_by_name(shape, total)
    else:
        matches = _list_statement(sa.select(Employee.id, total), shape, None)
    page = (
        matches.limit(sa.bindparam(limit, type_=sa.Integer))
        .offset(sa.bindparam(offset, type_=sa.Integer))
        .subquery("grp_page")
    )
    rows = _list_rows_base(summary)
    # The page's order again, for its rows: the same key, the id breaking ties.
    key = rows.selected_columns.grade if shape.sort == "grade" else getattr(Employee, shape.sort)
    page_rows = rows.add_columns(page.c[total.name]).join(page, page.c.id == Employee.id)
    return reusable(_sorted(page_rows, key, shape.descending))


def _words_alone_by_name(shape: _ListShape) -> bool:
    """A search by words alone, sorted by name: its matches are found in the words."""
    return (
        bool(shape.words)
        and shape.sort == "name_en"
        and not (shape.org_units or shape.grade or shape.status or shape.nationality)
    )


def _word_matches_by_name(shape: _ListShape, total: sa.Label[Any]) -> sa.Select:
    """The ids of a word search's matches with `total`, in name order, from the words alone.

    The first word (the longest, most selective: `query_words`) gives the candidates with
    their `sort_name` from the words' index; every other word must start a word of the
    same employee (the words' primary key). Against finding the candidates' employee rows
    to sort and count them, PostgreSQL's time for the bench data's searches fell from
    1.3-2.4 ms to 0.3-0.75 ms. The same matches in the same order as `_list_statement`'s:
    `sort_name` is the employee's name_en, written with the words.
    """
    first = sa.orm.aliased(EmployeeSearchWord, name="grp_word_0")
    conditions = _word_range(first, shape.words[0], 0)
    for number, bounded in enumerate(shape.words[1:], start=1):
        other = sa.orm.aliased(EmployeeSearchWord, name=f"grp_word_{number}")
        conditions.append(
            sa.exists().where(
                other.employee_id == first.employee_id, *_word_range(other, bounded, number)
            )
        )
    # An employee with two words starting with the first query word is one match.
    candidates = (
        sa.select(first.employee_id.label("id"), first.sort_name)
        .where(*conditions)
        .distinct()
        .subquery("grp_matches")
    )
    if shape.descending:
        order = (candidates.c.sort_name.desc(), candidates.c.id.desc())
    else:
        order = (candidates.c.sort_name.asc(), candidates.c.id.asc())
    return sa.select(candidates.c.id, total).order_by(*order)


def _word_range(word: Any, bounded: bool, number: int) -> list[sa.ColumnElement[bool]]:
    """`word` starts query word `number` (its prefix range's bound parameters)."""
    found = [word.word >= sa.bindparam(f"{_PARAM}word_{number}_low")]
    if bounded:
        found.append(word.word < sa.bindparam(f"{_PARAM}word_{number}_high"))
    return found


@functools.lru_cache(maxsize=512)
def _reusable_rows_statement(shape: _ListShape, summary: bool) -> sa.Select:
    """One statement per shape (bounded: a query of many words is a shape of its own)."""
    return reusable(_list_statement(_list_rows_base(summary), shape, None))


@functools.cache
def _list_rows_base(summary: bool) -> sa.Select:
    """The columns of `employee_list_rows`, built once (statements are immutable):
    `LIST_COLUMNS`, or with `summary` `SUMMARY_COLUMNS`, and the grade's number.

    The grade's number is a subquery in the column list rather than a join: PostgreSQL
    then looks it up for the rows of the page only, after sorting and cutting, instead
    of for every match of a search before counting them (a search of 150 matches: half
    the database's time, bench/results/plans.txt).
    """
    grade = sa.orm.aliased(Grade)
    number = sa.select(grade.number).where(grade.id == Employee.grade_id).scalar_subquery()
    columns = SUMMARY_COLUMNS if summary else LIST_COLUMNS
    return sa.select(*(getattr(Employee, name) for name in columns), number.label("grade"))


def find_employee(
    session: Session, employee_id: int, *, reader_id: int, may_read_all: bool
) -> Employee | None:
    """Return the employee if the reader may see the record, else None (answer 404).

    Officers with `hr.employee.read` see every employee of the department;
    anyone else only the employee record linked to their own user.
    """
    values = _readable_values(employee_id, reader_id, may_read_all)
    return session.scalar(_employee_statement(may_read_all, rows=False), values)


def find_employee_row(
    session: Session, employee_id: int, *, reader_id: int, may_read_all: bool
) -> Mapping[str, Any] | None:
    """`find_employee` as a row of `LIST_COLUMNS` and the grade number, for reading only.

    An employee's detail is among the busiest requests, and answering it needs no
    Employee object: the row (read on the driver where it can be, grp/driver_rows.py)
    costs less than loading one. Same reader rule as `find_employee`.
    """
    values = _readable_values(employee_id, reader_id, may_read_all)
    rows = reusable_mappings(session, _employee_statement(may_read_all, rows=True), values)
    return rows[0] if rows else None


def _readable_values(employee_id: int, reader_id: int, may_read_all: bool) -> dict[str, int]:
    values = {"grp_employee_id": employee_id}
    if not may_read_all:
        values["grp_reader_id"] = reader_id
    return values


@functools.cache
def _employee_statement(may_read_all: bool, *, rows: bool) -> sa.Select:
    """The statement of `find_employee` (or, `rows`, `find_employee_row`), built once:
    the employee, and unless the reader may read all, only their own record."""
    query = _list_rows_base(False) if rows else sa.select(Employee)
    query = query.where(Employee.id == sa.bindparam("grp_employee_id"))
    if not may_read_all:
        query = query.where(Employee.user_id == sa.bindparam("grp_reader_id"))
    return reusable(query)


def employee_of_user(session: Session, user_id: int) -> Employee | None:
    """Return the current department's employee record linked to user `user_id`."""
    return session.scalar(sa.select(Employee).where(Employee.user_id == user_id))


def employee_id_of_user(user_id: int | sa.BindParameter[int]) -> sa.ScalarSelect[int]:
    """The current department's employee id of user `user_id`, as a scalar subquery.

    For another module's query that needs "my" records in the same statement (my
    payslips) instead of reading the employee first.
    """
    return sa.select(Employee.id).where(Employee.user_id == user_id).scalar_subquery()


def find_employee_by_number(session: Session, employee_no: str) -> Employee | None:
    """Return the current department's employee with this number (case-insensitive)."""
    return session.scalar(
        sa.select(Employee).where(Employee.employee_no == employee_no.strip().upper())
    )
