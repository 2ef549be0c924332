"""grp.imports: reading CSV and XLSX import files into rows by column, with clear refusals."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import pytest

from grp.imports import ImportFileError, column_names, file_type, read_rows

COLUMNS = ("employee_no", "amount", "note")
REQUIRED = ("employee_no", "amount")


def _csv(text: str, *, encoding: str = "utf-8", **options: Any) -> list[tuple[int, dict]]:
    options.setdefault("columns", COLUMNS)
    options.setdefault("required", REQUIRED)
    return read_rows("rows.csv", io.BytesIO(text.encode(encoding)), **options)


def _xlsx_bytes(*rows: list[Any]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_csv_rows_come_by_column_with_their_line_numbers():
    text = (
        "\ufeffEmployee No, AMOUNT ,note\r\n"
        "E001,100.50,first\r\n"
        "\r\n"
        " , ,\r\n"
        'E002,7,"two\nlines"\r\n'
        "e003,8\r\n"
    )
    assert _csv(text) == [
        (2, {"employee_no": "E001", "amount": "100.50", "note": "first"}),
        # blank and spaces-only rows are skipped but still counted as lines
        (6, {"employee_no": "E002", "amount": "7", "note": "two\nlines"}),  # ends on line 6
        (7, {"employee_no": "e003", "amount": "8"}),  # short row: missing cells left out
    ]


def test_header_names_are_normalised_and_an_empty_heading_is_ignored():
    assert column_names(["Employee-No", " amount", "", None], COLUMNS, REQUIRED) == [
        "employee_no",
        "amount",
        "",
        "",
    ]
    assert _csv("employee_no,,amount\nE001,ignored,5\n") == [
        (2, {"employee_no": "E001", "amount": "5"})
    ]


def test_missing_and_unknown_columns_are_named():
    with pytest.raises(ImportFileError) as caught:
        _csv("employee_no,salary\nE001,5\n")
    assert str(caught.value) == "Missing columns: amount. Unknown columns: salary."
    with pytest.raises(ImportFileError, match=r"^Missing columns: employee_no, amount\.$"):
        _csv("note\nx\n")


def test_unreadable_files_are_refused_with_a_reason():
    with pytest.raises(ImportFileError, match=r"^Upload a \.csv or \.xlsx file\.$"):
        read_rows("rows.txt", io.BytesIO(b"employee_no,amount\n"), columns=COLUMNS)
    with pytest.raises(ImportFileError, match=r"^Upload a \.csv or \.xlsx file\.$"):
        read_rows(None, io.BytesIO(b""), columns=COLUMNS)
    with pytest.raises(ImportFileError, match=r"^The file is empty\.$"):
        _csv("")
    with pytest.raises(ImportFileError, match=r"^Save the CSV file as UTF-8\.$"):
        _csv("employee_no,amount,note\nE001,5,caf\u00e9\n", encoding="latin-1")
    huge = "x" * 200_000  # above the csv module's field size limit
    with pytest.raises(ImportFileError, match=r"^The CSV file cannot be read: "):
        _csv(f"employee_no,amount,note\nE001,5,{huge}\n")
    with pytest.raises(ImportFileError, match=r"^The file is not a readable \.xlsx workbook\.$"):
        read_rows("rows.xlsx", io.BytesIO(b"not a zip"), columns=COLUMNS)


def test_more_rows_than_the_limit_are_refused():
    text = "employee_no,amount\nE1,1\nE2,2\n\nE3,3\n"
    assert len(_csv(text, max_rows=3)) == 3
    with pytest.raises(ImportFileError, match=r"^The file has more than 2 rows; split it\.$"):
        _csv(text, max_rows=2)


def test_formula_quotes_are_removed_only_when_asked():
    text = "employee_no,amount,note\nE001,5,'=SUM(A1)\nE002,6,'+971 50\nE003,7,'plain\n"
    kept = [row["note"] for _line, row in _csv(text)]
    assert kept == ["'=SUM(A1)", "'+971 50", "'plain"]
    unquoted = [row["note"] for _line, row in _csv(text, unquote_formulas=True)]
    assert unquoted == ["=SUM(A1)", "+971 50", "'plain"]


def test_the_callers_stream_stays_open():
    stream = io.BytesIO(b"employee_no,amount\nE001,5\n")
    assert read_rows("rows.CSV", stream, columns=COLUMNS, required=REQUIRED)
    assert not stream.closed


def test_xlsx_rows_keep_cell_values_and_spreadsheet_row_numbers():
    data = _xlsx_bytes(
        ["employee_no", "Amount", "note"],
        ["E001", 1250.5, "'=1+1"],
        [None, None, None],
        ["E002", 3, datetime(2026, 11, 1)],
    )
    rows = read_rows("Rows.XLSX", io.BytesIO(data), columns=COLUMNS, required=REQUIRED)
    assert rows == [
        (2, {"employee_no": "E001", "amount": 1250.5, "note": "'=1+1"}),
        (4, {"employee_no": "E002", "amount": 3, "note": datetime(2026, 11, 1)}),
    ]
    rows = read_rows("rows.xlsx", io.BytesIO(data), columns=COLUMNS, unquote_formulas=True)
    assert rows[0][1]["note"] == "=1+1"


def test_xlsx_header_and_limits_are_checked_like_csv():
    with pytest.raises(ImportFileError, match=r"^Unknown columns: salary\.$"):
        read_rows(
            "rows.xlsx",
            io.BytesIO(_xlsx_bytes(["employee_no", "amount", "salary"], ["E1", 1, 2])),
            columns=COLUMNS,
        )
    with pytest.raises(ImportFileError, match=r"more than 1 rows"):
        read_rows(
            "rows.xlsx",
            io.BytesIO(_xlsx_bytes(["employee_no", "amount"], ["E1", 1], ["E2", 2])),
            columns=COLUMNS,
            max_rows=1,
        )


def test_file_type_is_the_lower_case_extension():
    assert file_type("Inputs.November.XLSX") == "xlsx"
    assert file_type("rows.csv") == "csv"
    assert file_type(None) == ""


def test_pending_uploads_wait_a_day_per_department_and_user(tmp_path):
    import os
    import time

    from grp.imports import PENDING_LIFETIME_SECONDS, pending_folder, pending_path

    folder = pending_folder(tmp_path, 7)
    assert folder == tmp_path / "7" and folder.is_dir()
    fresh = pending_path(folder, 3, "abc.csv")
    stale = pending_path(folder, 3, "old.csv")
    fresh.write_text("x")
    stale.write_text("x")
    long_ago = time.time() - PENDING_LIFETIME_SECONDS - 60
    os.utime(stale, (long_ago, long_ago))
    assert fresh.name == "3-abc.csv"
    assert pending_folder(tmp_path, 7) == folder
    assert fresh.is_file() and not stale.exists()
    assert not (tmp_path / "8").exists()
