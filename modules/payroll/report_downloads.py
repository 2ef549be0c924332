"""Payroll reports as downloads (CSV streamed, XLSX written to a temporary file).

Shared by the API (`modules.payroll.api_reports`) and the pages
(`modules.payroll.views`). Money is written as exact decimals with two places:
text "1234.50" in CSV, a number cell formatted 0.00 in XLSX (from the Decimal,
never through a float computed here).

A CSV body is sent after the request's session is gone, so it is read through
a session of its own scoped to the same department, closed when the download
ends or is abandoned. XLSX needs the whole workbook before the first byte, so
it is built in the request, in openpyxl's write-only mode (rows are not kept).
"""

from __future__ import annotations

import codecs
import csv
import io
import tempfile
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import IO, Any

import sqlalchemy as sa
from flask import Response, send_file
from sqlalchemy.orm import Session

from grp.db import db
from grp.tenancy import set_current_department
from modules.payroll.services.reports import Table

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("csv", "xlsx")
#: A cell starting with one of these runs as a formula in a spreadsheet (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_chunks(table: Table, *, lines_per_chunk: int = 500) -> Iterator[bytes]:
    """Encode a table as UTF-8 CSV with a BOM (spreadsheets then read Arabic), in chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    yield codecs.BOM_UTF8
    writer.writerow(table.columns)
    for count, row in enumerate(table.rows, start=1):
        writer.writerow([_text(value) for value in row])
        if count % lines_per_chunk == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def write_xlsx(table: Table, sheet_title: str) -> IO[bytes]:
    """Write a table to a new workbook in a temporary file; return it rewound."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    # Sheet titles: at most 31 characters, none of []:*?/\
    title = "".join(ch for ch in sheet_title if ch not in "[]:*?/\\")[:31] or "Report"
    sheet = workbook.create_sheet(title)
    sheet.append(table.columns)
    for row in table.rows:
        cells: list[Any] = []
        for value in row:
            if isinstance(value, Decimal):
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "0.00"
                cells.append(cell)
            elif isinstance(value, str) and value.startswith("="):
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"  # text, not a formula
                cells.append(cell)
            else:
                cells.append(value)
        sheet.append(cells)
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the response, which closes it
    workbook.save(handle)
    handle.seek(0)
    return handle


def _stream(
    engine: sa.Engine, department_id: int, build: Callable[[Session], Table]
) -> Iterator[bytes]:
    # Runs while the body is sent, after the request (and its app context) ended.
    with Session(engine) as session:
        set_current_department(session, department_id)
        yield from csv_chunks(build(session))


def table_response(
    build: Callable[[Session], Table],
    *,
    department_id: int,
    file_format: str,
    file_stem: str,
    sheet_title: str,
) -> Response:
    """Answer with the table `build(session)` makes, as a CSV or XLSX attachment."""
    if file_format == "xlsx":
        return send_file(
            write_xlsx(build(db.session), sheet_title),
            mimetype=XLSX_TYPE,
            as_attachment=True,
            download_name=f"{file_stem}.xlsx",
            max_age=0,
        )
    response = Response(
        _stream(db.engine, department_id, build), mimetype="text/csv; charset=utf-8"
    )
    response.headers["Content-Disposition"] = f'attachment; filename="{file_stem}.csv"'
    return response
