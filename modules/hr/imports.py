"""Import employees (with their first contract) from CSV or XLSX; export the list to either.

Import: the file's first row names the columns (`IMPORT_COLUMNS`; order free,
case and spaces ignored; the platform's `grp.imports` reads the file). Every
row is checked with the same rules as the form and the API, then against the
database and the other rows of the file (duplicate numbers, managers), and
every bad row is reported with its line number and all its field errors.
Nothing is stored from a file with errors unless the officer asks for the
valid rows (`mode="valid_rows"`).

Export writes the same columns (the contract in force today), so an exported
file imports again. Rows are read from the database in chunks and written as
they come: CSV is streamed to the client, XLSX goes through openpyxl's
write-only mode into a temporary file, never the whole department in memory.
"""

from __future__ import annotations

import codecs
import csv
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from grp.imports import DEFAULT_MAX_ROWS, read_rows
from grp.imports import ImportFileError as ImportFileError  # raised by read_rows; callers catch it
from grp.tenancy import set_current_department
from modules.hr.i18n import _
from modules.hr.models import ALLOWANCE_CODES, Contract, Employee, OrgUnit, Position
from modules.hr.services.contracts import clean_contract
from modules.hr.services.employees import (
    EmployeeFilters,
    clean_employee,
    employee_list_query,
)
from modules.hr.services.organisation import Reference, load_reference
from modules.hr.services.values import FieldErrors, as_text, local_today

IMPORT_COLUMNS = (
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
    "position_code",
    "org_unit_code",
    "manager_employee_no",
    "iban",
    "bank_routing_code",
    "wps_person_id",
    "work_email",
    "mobile",
    "status",
    "contract_type",
    "contract_start",
    "contract_end",
    "basic_salary",
    *(f"{code}_allowance" for code in ALLOWANCE_CODES),
)
REQUIRED_COLUMNS = (
    "employee_no",
    "name_en",
    "name_ar",
    "emirates_id",
    "nationality",
    "date_of_birth",
    "gender",
    "hire_date",
    "grade",
    "band",
    "basic_salary",
)
#: Service field names that a file names differently.
FILE_NAMES = {
    "position_id": "position_code",
    "org_unit_id": "org_unit_code",
    "manager_id": "manager_employee_no",
    "start_date": "contract_start",
    "end_date": "contract_end",
}
MODES = ("dry_run", "all", "valid_rows")
_LOOKUP_CHUNK = 500
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class RowProblem:
    """A bad row: its line in the file and every field error."""

    line: int
    employee_no: str | None
    errors: dict[str, list[str]]


@dataclass
class ImportReport:
    """What an import found and did."""

    rows: int = 0
    valid: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    stored: int = 0
    mode: str = "dry_run"

    @property
    def has_errors(self) -> bool:
        return bool(self.problems)


@dataclass
class _Row:
    line: int
    raw: dict[str, Any]
    employee: dict[str, Any] = field(default_factory=dict)
    contract: dict[str, Any] = field(default_factory=dict)
    errors: FieldErrors = field(default_factory=FieldErrors)
    manager_no: str | None = None


# --------------------------------------------------------------------------- checking rows


def _check_row(line: int, raw: dict[str, Any], reference: Reference) -> _Row:
    row = _Row(line=line, raw=raw)
    data = dict(raw)
    errors = FieldErrors()
    position_code = as_text(raw.get("position_code"))
    if position_code:
        position = reference.positions_by_code.get(position_code.upper())
        data["position_id"] = position.id if position else None
        if position is None:
            errors.add("position_code", _("No position has the code %(code)s.", code=position_code))
    unit_code = as_text(raw.get("org_unit_code"))
    if unit_code:
        unit = reference.org_units_by_code.get(unit_code.upper())
        data["org_unit_id"] = unit.id if unit else None
        if unit is None:
            errors.add("org_unit_code", _("No org unit has the code %(code)s.", code=unit_code))
    data.pop("manager_id", None)
    data.pop("user_id", None)  # users are linked on the employee page, not by import
    values, employee_errors = clean_employee(data, reference)
    grade = reference.grades_by_id.get(values.get("grade_id"))
    contract_data = {
        "contract_type": raw.get("contract_type"),
        "start_date": raw.get("contract_start") or values.get("hire_date"),
        "end_date": raw.get("contract_end"),
        "basic_salary": raw.get("basic_salary"),
        **{f"{code}_allowance": raw.get(f"{code}_allowance") for code in ALLOWANCE_CODES},
    }
    contract, contract_errors = clean_contract(contract_data, grade=grade, band=values.get("band"))
    start, hire = contract.get("start_date"), values.get("hire_date")
    if as_text(raw.get("contract_start")) is None:
        # The start defaults to the hire date, whose own error is reported already.
        contract_errors.pop("start_date", None)
    if start is not None and hire is not None and start < hire:
        contract_errors.add(
            "start_date",
            _(
                "The first contract cannot start before the hire date (%(date)s).",
                date=hire.isoformat(),
            ),
        )
    for source in (employee_errors, contract_errors):
        for name, messages in source.items():
            for message in messages:
                errors.add(FILE_NAMES.get(name, name), message)
    row.employee, row.contract, row.errors = values, contract, errors
    manager_no = as_text(raw.get("manager_employee_no"))
    row.manager_no = manager_no.upper() if manager_no else None
    return row


def _existing(session: Session, column: Any, values: list[str]) -> dict[str, int]:
    """Return {value: employee id} for those of `values` already used, in chunked queries."""
    found: dict[str, int] = {}
    for start in range(0, len(values), _LOOKUP_CHUNK):
        chunk = values[start : start + _LOOKUP_CHUNK]
        for value, employee_id in session.execute(
            sa.select(column, Employee.id).where(column.in_(chunk))
        ):
            found[value] = employee_id
    return found


def _check_against_database_and_file(session: Session, rows: list[_Row]) -> None:
    numbers = sorted({r.employee["employee_no"] for r in rows if r.employee.get("employee_no")})
    ids = sorted({r.employee["emirates_id"] for r in rows if r.employee.get("emirates_id")})
    taken_numbers = _existing(session, Employee.employee_no, numbers)
    taken_ids = _existing(session, Employee.emirates_id, ids)
    first_line: dict[tuple[str, str], int] = {}
    for row in rows:
        for name, taken, message in (
            ("employee_no", taken_numbers, _("Another employee has this employee number.")),
            ("emirates_id", taken_ids, _("Another employee has this Emirates ID.")),
        ):
            value = row.employee.get(name)
            if not value:
                continue
            if value in taken:
                row.errors.add(name, message)
            elif (name, value) in first_line:
                row.errors.add(
                    name, _("Line %(line)d has the same value.", line=first_line[(name, value)])
                )
            else:
                first_line[(name, value)] = row.line
    _check_managers(session, rows)


def _check_managers(session: Session, rows: list[_Row]) -> None:
    """Resolve managers to existing employees or rows of the file; refuse loops and bad ones."""
    by_number = {r.employee["employee_no"]: r for r in rows if r.employee.get("employee_no")}
    wanted = sorted({r.manager_no for r in rows if r.manager_no and r.manager_no not in by_number})
    existing = _existing(session, Employee.employee_no, wanted)
    for row in rows:
        if not row.manager_no:
            continue
        if row.manager_no == row.employee.get("employee_no"):
            row.errors.add("manager_employee_no", _("An employee cannot be their own manager."))
        elif row.manager_no in existing:
            row.employee["manager_id"] = existing[row.manager_no]
        elif row.manager_no not in by_number:
            row.errors.add(
                "manager_employee_no",
                _("No employee has the number %(number)s.", number=row.manager_no),
            )
    # A loop can only run through rows of this file: existing employees never report to them.
    for row in rows:
        if row.manager_no == row.employee.get("employee_no"):
            continue  # refused above
        seen: set[str] = set()
        current = row
        while current.manager_no in by_number and current.employee.get("manager_id") is None:
            if current.manager_no in seen:
                row.errors.add(
                    "manager_employee_no",
                    _("The managers in this file report to each other in a loop."),
                )
                break
            seen.add(current.manager_no)
            current = by_number[current.manager_no]
    # A row whose manager is a bad row cannot be stored either; repeat along chains.
    changed = True
    while changed:
        changed = False
        for row in rows:
            manager = by_number.get(row.manager_no) if row.manager_no else None
            if manager is not None and manager is not row and manager.errors and not row.errors:
                row.errors.add(
                    "manager_employee_no",
                    _("The manager's row (line %(line)d) has errors.", line=manager.line),
                )
                changed = True


# --------------------------------------------------------------------------- import


def import_employees(
    session: Session,
    file_name: str,
    stream: IO[bytes],
    *,
    mode: str = "dry_run",
    max_rows: int = DEFAULT_MAX_ROWS,
) -> ImportReport:
    """Check (and unless `mode` is "dry_run", store) the employees of a CSV or XLSX file.

    Modes: "dry_run" stores nothing; "all" stores every row only when no row
    has errors; "valid_rows" stores the rows without errors. Raises
    ImportFileError when the file itself cannot be read.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    raw_rows = read_rows(
        file_name,
        stream,
        columns=IMPORT_COLUMNS,
        required=REQUIRED_COLUMNS,
        max_rows=max_rows,
        unquote_formulas=True,  # exports quote text that spreadsheets would run
    )
    reference = load_reference(session)
    rows = [_check_row(line, raw, reference) for line, raw in raw_rows]
    _check_against_database_and_file(session, rows)
    report = ImportReport(rows=len(rows), mode=mode)
    for row in rows:
        if row.errors:
            report.problems.append(
                RowProblem(row.line, row.employee.get("employee_no"), dict(row.errors))
            )
    valid = [row for row in rows if not row.errors]
    report.valid = len(valid)
    if mode == "dry_run" or (mode == "all" and report.problems) or not valid:
        return report
    _store(session, valid)
    report.stored = len(valid)
    return report


def _store(session: Session, rows: list[_Row]) -> None:
    """Insert the checked rows: employees, then their first contracts, then in-file managers."""
    employees = []
    for row in rows:
        values = {k: v for k, v in row.employee.items() if k != "user_id"}
        employee = Employee(**values)
        employees.append(employee)
    session.add_all(employees)
    session.flush()  # one batched INSERT; ids come back for the contracts and managers
    by_number = {e.employee_no: e for e in employees}
    contracts = []
    for row, employee in zip(rows, employees, strict=True):
        contracts.append(
            Contract(
                employee_id=employee.id,
                version=1,
                grade_id=employee.grade_id,
                band=employee.band,
                **row.contract,
            )
        )
        if row.manager_no and employee.manager_id is None and row.manager_no in by_number:
            employee.manager_id = by_number[row.manager_no].id
    session.add_all(contracts)
    session.flush()


# --------------------------------------------------------------------------- export


def _export_query(session: Session, filters: EmployeeFilters, today: date) -> sa.Select:
    manager = aliased(Employee)
    contract = aliased(Contract)
    in_force = sa.and_(
        contract.employee_id == Employee.id,
        contract.start_date <= today,
        sa.or_(contract.end_date.is_(None), contract.end_date >= today),
    )
    return (
        employee_list_query(session, filters)
        .outerjoin(Position, Position.id == Employee.position_id)
        .outerjoin(OrgUnit, OrgUnit.id == Employee.org_unit_id)
        .outerjoin(manager, manager.id == Employee.manager_id)
        .outerjoin(contract, in_force)
        .add_columns(Position.code, OrgUnit.code, manager.employee_no, contract)
    )


def export_rows(
    session: Session, filters: EmployeeFilters, *, today: date | None = None, chunk_size: int = 1000
) -> Iterator[list[Any]]:
    """Yield the header, then one row per employee matching `filters`, read in chunks."""
    today = today or local_today()
    yield list(IMPORT_COLUMNS)
    query = _export_query(session, filters, today).execution_options(yield_per=chunk_size)
    for employee, position_code, unit_code, manager_no, contract in session.execute(query):
        row: dict[str, Any] = {
            "employee_no": employee.employee_no,
            "name_en": employee.name_en,
            "name_ar": employee.name_ar,
            "emirates_id": employee.emirates_id,
            "nationality": employee.nationality,
            "date_of_birth": employee.date_of_birth,
            "gender": employee.gender,
            "marital_status": employee.marital_status,
            "children": employee.children,
            "hire_date": employee.hire_date,
            "pension_scheme": employee.pension_scheme,
            "first_insured_date": employee.first_insured_date,
            "grade": employee.grade.number,
            "band": employee.band,
            "position_code": position_code,
            "org_unit_code": unit_code,
            "manager_employee_no": manager_no,
            "iban": employee.iban,
            "bank_routing_code": employee.bank_routing_code,
            "wps_person_id": employee.wps_person_id,
            "work_email": employee.work_email,
            "mobile": employee.mobile,
            "status": employee.status,
        }
        if contract is not None:
            row.update(
                contract_type=contract.contract_type,
                contract_start=contract.start_date,
                contract_end=contract.end_date,
                basic_salary=contract.basic_salary,
            )
            for code, amount in contract.allowances().items():
                row[f"{code}_allowance"] = amount
        yield [row.get(name) for name in IMPORT_COLUMNS]


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    # A leading =, +, - or @ would run as a formula in a spreadsheet (CSV injection).
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_chunks(rows: Iterator[list[Any]], *, lines_per_chunk: int = 500) -> Iterator[bytes]:
    """Encode rows as UTF-8 CSV (with a BOM, so spreadsheets read Arabic), a chunk at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    yield codecs.BOM_UTF8
    for count, row in enumerate(rows, start=1):
        writer.writerow([_csv_text(value) for value in row])
        if count % lines_per_chunk == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def stream_csv_export(
    engine: sa.Engine, department_id: int, filters: EmployeeFilters
) -> Iterator[bytes]:
    """Yield the CSV export of a department's filtered list, reading through its own session.

    The response body is sent after the request's session is gone, so the rows
    are read through a session of their own, scoped to the same department
    (and closed when the download ends or is abandoned).
    """
    with Session(engine) as session:
        set_current_department(session, department_id)
        yield from csv_chunks(export_rows(session, filters))


def write_xlsx(rows: Iterator[list[Any]]) -> IO[bytes]:
    """Write rows to a new XLSX workbook in a temporary file; return it rewound."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Employees"))
    for row in rows:
        cells = []
        for value in row:
            if isinstance(value, str) and value.startswith("="):
                # openpyxl would store it as a formula; keep it text.
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"
                cells.append(cell)
            else:
                cells.append(value)
        sheet.append(cells)
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the response, which closes it
    workbook.save(handle)
    handle.seek(0)
    return handle
