"""Downloads shared by the pages and the API: the employee export and stored documents."""

from __future__ import annotations

from flask import Response, abort, current_app, g, send_file

from grp.db import db
from modules.hr import imports
from modules.hr.models import EmployeeDocument
from modules.hr.services.documents import document_path
from modules.hr.services.employees import EmployeeFilters
from modules.hr.services.values import local_today

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def export_response(filters: EmployeeFilters, file_format: str) -> Response:
    """Return the active department's filtered employee list as a CSV or XLSX download.

    CSV is streamed (rows are read in chunks while the client downloads);
    XLSX is written in openpyxl's write-only mode to a temporary file first.
    """
    stamp = local_today().isoformat()
    department = g.department.code.lower()
    if file_format == "xlsx":
        return send_file(
            imports.write_xlsx(imports.export_rows(db.session, filters)),
            mimetype=XLSX_TYPE,
            as_attachment=True,
            download_name=f"employees-{department}-{stamp}.xlsx",
        )
    response = Response(
        imports.stream_csv_export(db.engine, g.department.id, filters),
        mimetype="text/csv; charset=utf-8",
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="employees-{department}-{stamp}.csv"'
    )
    return response


def send_document(document: EmployeeDocument) -> Response:
    """Send a stored document as an attachment (404 when its file is missing)."""
    path = document_path(current_app.config["HR_DOCUMENT_DIR"], document)
    if not path.is_file():
        abort(404, description="The file of this document is missing.")
    return send_file(
        path,
        mimetype=document.content_type,
        as_attachment=True,
        download_name=document.file_name,
        max_age=0,
    )
