"""Employee documents: upload checks, storage under the instance folder, expiry list.

Files are stored at `<root>/<department id>/<key[:2]>/<key>`, where `key` is a
random hex string made here: nothing of the uploader's file name reaches the
path. The type is decided by the file's first bytes (its signature) and must
agree with the extension, so a `.pdf` that is not a PDF is refused.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import unicodedata
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.orm import Session

from grp.errors import ValidationError
from modules.hr.i18n import _
from modules.hr.models import DOCUMENT_TYPES, Employee, EmployeeDocument
from modules.hr.services.values import FieldErrors, Invalid, as_date, local_today

#: Content signatures (magic numbers) of the accepted types.
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
EXTENSIONS = {
    ".pdf": "application/pdf",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
}
#: Documents that need an expiry date (a certificate does not expire).
EXPIRING_TYPES = ("passport", "residence_visa", "emirates_id", "labour_card")
_KEY = re.compile(r"^[0-9a-f]{32}$")
CHUNK = 64 * 1024


def detect_content_type(head: bytes) -> str | None:
    """Return the MIME type whose signature `head` starts with, or None."""
    for signature, content_type in SIGNATURES:
        if head.startswith(signature):
            return content_type
    return None


def clean_file_name(name: str | None, content_type: str) -> str:
    """Return a display-safe base name (no folders, no control characters), up to 200 characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip(" .")
    if not base:
        extension = next(ext for ext, kind in EXTENSIONS.items() if kind == content_type)
        base = f"document{extension}"
    if len(base) > 200:
        stem, extension = os.path.splitext(base)
        base = stem[: 200 - len(extension)] + extension
    return base


def document_path(root: Path, document: EmployeeDocument) -> Path:
    """Return where a document's file lives under `root` (the documents folder)."""
    if not _KEY.match(document.storage_key):
        raise ValueError("corrupt storage key")
    key = document.storage_key
    return Path(root) / str(int(document.department_id)) / key[:2] / key


def _clean_metadata(data: Mapping[str, Any]) -> tuple[dict[str, Any], FieldErrors]:
    errors = FieldErrors()
    values: dict[str, Any] = {}
    doc_type = str(data.get("doc_type") or "").strip().lower()
    if doc_type not in DOCUMENT_TYPES:
        errors.add("doc_type", _("Choose one of: %(choices)s.", choices=", ".join(DOCUMENT_TYPES)))
    values["doc_type"] = doc_type
    number = str(data.get("number") or "").strip() or None
    if number is not None and len(number) > 50:
        errors.add("number", _("Use at most %(num)d characters.", num=50))
    values["number"] = number
    for name in ("issue_date", "expiry_date"):
        try:
            values[name] = as_date(data.get(name))
        except Invalid as exc:
            errors.add(name, str(exc))
            values[name] = None
    if values["expiry_date"] is None and doc_type in EXPIRING_TYPES and "expiry_date" not in errors:
        errors.add("expiry_date", _("Enter the expiry date of this document."))
    if (
        values["issue_date"] is not None
        and values["expiry_date"] is not None
        and values["expiry_date"] < values["issue_date"]
    ):
        errors.add("expiry_date", _("The expiry date cannot be before the issue date."))
    return values, errors


def store_document(
    session: Session,
    employee: Employee,
    *,
    stream: BinaryIO,
    file_name: str | None,
    data: Mapping[str, Any],
    root: Path,
    max_bytes: int,
    uploaded_by_id: int | None,
) -> EmployeeDocument:
    """Check and store an uploaded document of `employee`; raise ValidationError if refused.

    Refused: a type other than PDF, JPEG or PNG by content signature, an
    extension that disagrees with the content, an empty file, or more than
    `max_bytes`. The metadata (`doc_type`, `number`, `issue_date`,
    `expiry_date`) is checked too; every problem is reported at once.
    """
    values, errors = _clean_metadata(data)
    head = stream.read(16)
    content_type = detect_content_type(head)
    extension = os.path.splitext(file_name or "")[1].lower()
    if not head:
        errors.add("file", _("The file is empty."))
    elif content_type is None:
        errors.add("file", _("Upload a PDF, JPEG or PNG file."))
    elif EXTENSIONS.get(extension) != content_type:
        errors.add(
            "file",
            _("The file's content does not match its name %(name)s.", name=file_name or "?"),
        )
    if errors:
        raise ValidationError(dict(errors))
    key = secrets.token_hex(16)
    folder = Path(root) / str(int(employee.department_id)) / key[:2]
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / key
    digest = hashlib.sha256(head)
    size = len(head)
    try:
        # Exclusive create: a key collision (practically impossible) never overwrites.
        with open(target, "xb") as handle:
            handle.write(head)
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    megabytes = f"{max_bytes / 1_048_576:.1f}"
                    raise ValidationError(
                        {"file": [_("The file is larger than %(size)s MB.", size=megabytes)]}
                    )
                digest.update(chunk)
                handle.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    document = EmployeeDocument(
        employee_id=employee.id,
        file_name=clean_file_name(file_name, content_type),
        content_type=content_type,
        size=size,
        sha256=digest.hexdigest(),
        storage_key=key,
        uploaded_by_id=uploaded_by_id,
        **values,
    )
    session.add(document)
    session.flush()
    return document


def employee_documents(session: Session, employee: Employee) -> list[EmployeeDocument]:
    """Return an employee's documents, soonest expiry first (no expiry last)."""
    return list(
        session.scalars(
            sa.select(EmployeeDocument)
            .where(EmployeeDocument.employee_id == employee.id)
            .order_by(EmployeeDocument.expiry_date.is_(None), EmployeeDocument.expiry_date)
        )
    )


def find_document(
    session: Session, employee: Employee, document_id: int
) -> EmployeeDocument | None:
    """Return the employee's document `document_id`, or None (another employee's: None too)."""
    return session.scalar(
        sa.select(EmployeeDocument).where(
            EmployeeDocument.id == document_id, EmployeeDocument.employee_id == employee.id
        )
    )


def expiring_documents_query(within_days: int, *, today: date | None = None) -> sa.Select:
    """Return documents of non-terminated employees that expire within `within_days` days.

    Already expired ones are included (they are the most urgent); soonest first.
    """
    today = today or local_today()
    return (
        sa.select(EmployeeDocument)
        .join(Employee, Employee.id == EmployeeDocument.employee_id)
        .where(
            EmployeeDocument.expiry_date.is_not(None),
            EmployeeDocument.expiry_date <= today + timedelta(days=within_days),
            Employee.status != "terminated",
        )
        .order_by(EmployeeDocument.expiry_date, EmployeeDocument.id)
    )
