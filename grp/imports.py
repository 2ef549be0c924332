"""Reading uploaded CSV and XLSX files for the modules' imports: rows by column name.

A module's import (HR's employees, payroll's inputs) names its columns and
checks the values; reading the file is the same for all and lives here:

* the type comes from the file name's extension (`.csv` or `.xlsx`);
* CSV is read as UTF-8 (with or without a BOM) and streamed; XLSX is its first
  worksheet through openpyxl's read-only mode (cell values, not formulas);
* the first row names the columns, in any order: case, surrounding spaces,
  inner spaces and hyphens do not matter (`Employee No` is `employee_no`), an
  empty heading leaves its column out; a missing required column or an
  unknown one refuses the file, naming them;
* blank rows are skipped, every other row comes with its line in the file (the
  spreadsheet's row number), which error reports quote;
* more than `max_rows` data rows refuse the file (split it).

A file that cannot be read at all raises `ImportFileError` with a message for
the user, in the request's language (English outside requests).

Between "check the file" and "import the valid rows" the upload waits on disk:
`pending_folder(root, department_id)` is the department's folder of such files (made
on first use, files older than a day removed), `pending_path(folder, user_id, token)`
the file of one user's upload.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from flask import has_request_context
from flask_babel import gettext

#: The extensions an import reads.
FILE_TYPES = ("csv", "xlsx")
#: Data rows read from one file unless the caller says otherwise.
DEFAULT_MAX_ROWS = 50_000
#: How long a checked upload waits for its confirmation before it is removed.
PENDING_LIFETIME_SECONDS = 24 * 3600
#: A quote that an export put before text a spreadsheet would run as a formula.
_QUOTED_FORMULA = ("=", "+", "-", "@")

Row = tuple[int, dict[str, Any]]


class ImportFileError(ValueError):
    """The file cannot be read at all (type, encoding, header, size)."""


def _(message: str, **params: Any) -> str:
    # The platform's strings are in the one catalog; services run outside requests too.
    if has_request_context():
        return gettext(message, **params)
    return message % params if params else message


def file_type(file_name: str | None) -> str:
    """Return the lower-case extension of `file_name` ("csv", "xlsx", or whatever it is)."""
    return (file_name or "").lower().rsplit(".", 1)[-1]


def column_names(
    cells: Iterable[Any], columns: Sequence[str], required: Sequence[str]
) -> list[str]:
    """Return a header row's cells as column names; ImportFileError for missing or unknown ones.

    The names keep the cells' positions ("" for an empty heading, whose
    column is then ignored).
    """
    names = [str(c or "").strip().lower().replace(" ", "_").replace("-", "_") for c in cells]
    unknown = [n for n in names if n and n not in columns]
    missing = [n for n in required if n not in names]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(_("Missing columns: %(names)s.", names=", ".join(missing)))
        if unknown:
            parts.append(_("Unknown columns: %(names)s.", names=", ".join(unknown)))
        raise ImportFileError(" ".join(parts))
    return names


def read_rows(
    file_name: str | None,
    stream: IO[bytes],
    *,
    columns: Sequence[str],
    required: Sequence[str] = (),
    max_rows: int = DEFAULT_MAX_ROWS,
    unquote_formulas: bool = False,
) -> list[Row]:
    """Return (line number, {column: value}) of each non-blank data row of a CSV or XLSX file.

    `columns` are the names the header may use, `required` those it must.
    CSV values are text; XLSX values are what the cells hold (text, numbers,
    dates). With `unquote_formulas`, a text value that an export protected
    with a leading quote (`'=SUM(...)`, `'+971...`) loses the quote. Raises
    ImportFileError for another type, an unreadable or empty file, a bad
    header or more than `max_rows` rows.
    """
    kind = file_type(file_name)
    if kind == "csv":
        rows = _csv_rows(stream, columns, required, unquote_formulas)
    elif kind == "xlsx":
        rows = _xlsx_rows(stream, columns, required, unquote_formulas)
    else:
        raise ImportFileError(_("Upload a .csv or .xlsx file."))
    result = []
    for line, row in rows:
        result.append((line, row))
        if len(result) > max_rows:
            raise ImportFileError(_("The file has more than %(num)d rows; split it.", num=max_rows))
    return result


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _unquote(value: Any) -> Any:
    quoted = isinstance(value, str) and len(value) > 1 and value[0] == "'"
    return value[1:] if quoted and value[1] in _QUOTED_FORMULA else value


def _row(names: list[str], cells: Iterable[Any], unquote: bool) -> dict[str, Any] | None:
    row = {
        name: _unquote(cell) if unquote else cell
        for name, cell in zip(names, cells, strict=False)
        if name
    }
    if all(_blank(value) for value in row.values()):
        return None  # a blank line
    return row


def _csv_rows(
    stream: IO[bytes], columns: Sequence[str], required: Sequence[str], unquote: bool
) -> Iterator[Row]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        reader = csv.reader(text)
        try:
            names = column_names(next(reader), columns, required)
        except StopIteration:
            raise ImportFileError(_("The file is empty.")) from None
        for cells in reader:
            row = _row(names, cells, unquote)
            if row is not None:
                yield reader.line_num, row
    except UnicodeDecodeError as exc:
        raise ImportFileError(_("Save the CSV file as UTF-8.")) from exc
    except csv.Error as exc:
        raise ImportFileError(_("The CSV file cannot be read: %(error)s", error=str(exc))) from exc
    finally:
        text.detach()  # the caller closes its stream


def _xlsx_rows(
    stream: IO[bytes], columns: Sequence[str], required: Sequence[str], unquote: bool
) -> Iterator[Row]:
    import zipfile

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(stream, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportFileError(_("The file is not a readable .xlsx workbook.")) from exc
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        try:
            names = column_names(next(rows), columns, required)
        except StopIteration:
            raise ImportFileError(_("The file is empty.")) from None
        for line, cells in enumerate(rows, start=2):
            row = _row(names, cells, unquote)
            if row is not None:
                yield line, row
    finally:
        workbook.close()


# --------------------------------------------------------------------------- pending uploads


def pending_folder(root: Path | str, department_id: int) -> Path:
    """The department's folder of checked-but-not-imported files, without day-old leftovers."""
    folder = Path(root) / str(department_id)
    folder.mkdir(parents=True, exist_ok=True)
    expired = time.time() - PENDING_LIFETIME_SECONDS
    for leftover in folder.iterdir():
        # An officer who checked a file and never confirmed leaves it behind.
        if leftover.is_file() and leftover.stat().st_mtime < expired:
            leftover.unlink(missing_ok=True)
    return folder


def pending_path(folder: Path, user_id: int, token: str) -> Path:
    """The file of `user_id`'s upload `token` (a name the module made; checked by it)."""
    return folder / f"{user_id}-{token}"
