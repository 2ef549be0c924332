"""Bilingual PDF payslips: the data a payslip prints, rendering one or many, merging on disk.

One template, `payroll/pdf/payslip.html` (English left, Arabic right, shaped and right to
left), prints a list of payslips: one for a download, a batch for the merged run PDF
(each payslip starts a new page, and one WeasyPrint document per batch shares its fonts).

The template never sees ORM objects: `payslip_data(payslip, department)` makes a plain,
picklable dict (strings, ints, Decimals) from the approved snapshot, so the same data
goes to this process's renderer or to worker processes.

Functions:

* `render_payslip(data, language=)` -> bytes: one payslip in this process (needs an app
  context; uses the process's `grp.pdf` renderer, which keeps fonts and the stylesheet).
* `render_payslips(datas, language=)` -> bytes: many payslips in one document.
* `render_payslip_batch(datas, language=)` -> list[bytes]: one PDF per payslip, in this
  process, warm renderer reused; what the benchmark times.
* `render_in_workers(groups, processes=, language=)` -> iterator of bytes: one document
  per group of payslip dicts, laid out in spawned worker processes through
  `grp.pdf.render_in_processes` (the HTML is rendered here, in the app context; each
  worker imports WeasyPrint only and keeps one renderer; at most a few documents in
  flight, so memory stays flat whatever the run's size).
* `concatenate_pdfs(sources, target)`: one PDF of the pages of `sources`, written as it
  reads them, one source in memory at a time (the merged PDF of a 10,000-payslip run).

Speed (warm renderer, one process, the 2-core development machine): about 120 ms for a
payslip as its own PDF (the one-page sample statement of grp.pdf: 60 ms), about 110 ms
per payslip in a 50-payslip document; two worker processes render about twice that.
What keeps it there: the payslip fits one page (a second page nearly doubles the layout
work), fixed table layout, the installed Noto fonts only, no images, a small style block.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import IO, Any

from flask import Response, send_file

from grp.pdf import PdfTask, format_amount, get_renderer, render_in_processes

TEMPLATE = "payroll/pdf/payslip.html"

MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# The month names used in the UAE (not the Levantine كانون الثاني, ...).
MONTHS_AR = (
    "يناير",
    "فبراير",
    "مارس",
    "أبريل",
    "مايو",
    "يونيو",
    "يوليو",
    "أغسطس",
    "سبتمبر",
    "أكتوبر",
    "نوفمبر",
    "ديسمبر",
)


# --------------------------------------------------------------------------- data


def mask_iban(iban: str | None) -> str | None:
    """Return the IBAN with only its country, check digits and last four shown.

    A payslip is printed, mailed and forwarded; the full account number is in the WPS
    file, where the bank needs it.
    """
    if not iban:
        return None
    compact = iban.replace(" ", "")
    if len(compact) <= 8:
        return compact
    return f"{compact[:4]} •••• •••• {compact[-4:]}"


def line_basis(line: Any) -> str:
    """Return how a line was computed, briefly: "11% × 31,000.00" or "15/30" days."""
    if line.rate and line.base is not None:
        return f"{line.rate} × {format_amount(line.base)}"
    if line.days:
        paid, _, calendar = str(line.days).partition("/")
        if paid != calendar:
            return str(line.days)
    return ""


def _line_data(line: Any) -> dict[str, Any]:
    return {
        "code": line.component_code,
        "name_en": line.name_en,
        "name_ar": line.name_ar,
        "amount": line.amount,
        "basis": line_basis(line),
    }


def period_names(period: date) -> tuple[str, str]:
    """Return the month as printed in English and in Arabic: "November 2026", "نوفمبر 2026"."""
    return (
        f"{MONTHS_EN[period.month - 1]} {period.year}",
        f"{MONTHS_AR[period.month - 1]} {period.year}",
    )


def payslip_data(payslip: Any, department: Any, run: Any | None = None) -> dict[str, Any]:
    """Return what the payslip template prints, as a plain picklable dict.

    `payslip` is a `Payslip` with its lines loaded, `department` its `Department`,
    `run` its `PayrollRun` (default: `payslip.run`). Only the approved snapshot is read:
    the payslip prints the employee and the lines as they were for the period.
    """
    run = run if run is not None else payslip.run
    period_en, period_ar = period_names(run.period)
    if run.kind != "regular":
        period_en += f" (adjustment {run.sequence})"
        period_ar += f" (تعديل {run.sequence})"
    lines: dict[str, list[dict[str, Any]]] = {
        "earning": [],
        "deduction": [],
        "employer_contribution": [],
    }
    for line in payslip.lines:
        lines.setdefault(line.category, []).append(_line_data(line))
    return {
        "id": payslip.id,
        "run_id": run.id,
        "employee_id": payslip.employee_id,
        "department_en": department.name_en,
        "department_ar": department.name_ar,
        "period": f"{run.period:%Y-%m}",
        "period_en": period_en,
        "period_ar": period_ar,
        "employee_no": payslip.employee_no,
        "name_en": payslip.name_en,
        "name_ar": payslip.name_ar,
        "grade": payslip.grade,
        "iban": mask_iban(payslip.iban),
        "pay_start": payslip.pay_start.isoformat(),
        "pay_end": payslip.pay_end.isoformat(),
        "days_in_month": payslip.days_in_month,
        "paid_days": payslip.paid_days,
        "unpaid_days": payslip.unpaid_days,
        "earnings": lines["earning"],
        "deductions": lines["deduction"],
        "employer": lines["employer_contribution"],
        "total_earnings": payslip.total_earnings,
        "total_deductions": payslip.total_deductions,
        "net": payslip.net,
        "total_employer": payslip.total_employer,
    }


def payslip_file_name(data: Mapping[str, Any]) -> str:
    """Return the payslip's file name in a run's ZIP: its employee number, ".pdf"."""
    number = "".join(
        ch for ch in str(data["employee_no"]) if (ch.isascii() and ch.isalnum()) or ch in "-_."
    ).strip(".")
    return f"{number or 'payslip-' + str(data['id'])}.pdf"


def payslip_download_name(data: Mapping[str, Any]) -> str:
    """Return the file name offered for one payslip: payslip-2026-11-E00001.pdf."""
    return f"payslip-{data['period']}-{payslip_file_name(data)}"


# ----------------------------------------------------------------------- rendering


def render_payslips(datas: Sequence[Mapping[str, Any]], *, language: str = "en") -> bytes:
    """Render payslips into one PDF (each on its own page) in this process."""
    if not datas:
        raise ValueError("no payslips to render")
    return get_renderer().render(TEMPLATE, {"slips": list(datas)}, language=language)


def render_payslip(data: Mapping[str, Any], *, language: str = "en") -> bytes:
    """Render one payslip to PDF bytes in this process (needs an app context)."""
    return render_payslips([data], language=language)


def render_payslip_batch(
    datas: Iterable[Mapping[str, Any]], *, language: str = "en"
) -> list[bytes]:
    """Render each payslip to its own PDF in this process, reusing the warm renderer."""
    return [render_payslip(data, language=language) for data in datas]


def render_in_workers(
    groups: Iterable[Sequence[Mapping[str, Any]]],
    *,
    processes: int,
    language: str = "en",
) -> Iterator[bytes]:
    """Render one document per group of payslips, in order.

    Needs an app context. With `processes` >= 1 the documents are laid out in spawned
    worker processes (`grp.pdf.render_in_processes`: bounded memory, each worker one
    renderer); with 0 in this process, which spares a small run the workers' start-up
    (the WeasyPrint import, about a second each).
    `groups` may be a generator that reads the run in chunks.
    """
    tasks = (PdfTask(TEMPLATE, {"slips": list(group)}, language) for group in groups)
    if processes <= 0:
        renderer = get_renderer()
        for task in tasks:
            yield renderer.render(task.template_name, task.context, language=task.language)
        return
    yield from render_in_processes(tasks, processes=processes)


def payslip_pdf_response(payslip: Any, department: Any, *, language: str) -> Response:
    """Render one payslip and answer it as a PDF attachment that caches nowhere."""
    data = payslip_data(payslip, department)
    return private_file_response(
        io.BytesIO(render_payslip(data, language=language)),
        "application/pdf",
        payslip_download_name(data),
    )


def private_file_response(source: Path | IO[bytes], mimetype: str, name: str) -> Response:
    """Answer a file (path or bytes) as an attachment that no cache keeps: it holds pay."""
    response = send_file(source, mimetype=mimetype, as_attachment=True, download_name=name)
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --------------------------------------------------------------------------- merging


def concatenate_pdfs(
    sources: Iterable[Path], target: IO[bytes], *, title: str | None = None
) -> int:
    """Write one PDF holding the pages of `sources`, in order; return the page count.

    Streams: each source is read (pypdf), its pages and the objects they use are
    renumbered and written out, and the source is dropped before the next is opened,
    so memory holds one source whatever the total (a merged run of 10,000 payslips is
    200 sources of 50). Only pages are kept, not the sources' outlines or metadata,
    which is all a batch of payslips has.
    """
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    writer = _PdfStreamWriter(target)
    for source in sources:
        writer.add_pages_of(source)
    info = {NameObject("/Producer"): TextStringObject("GRP")}
    if title:
        info[NameObject("/Title")] = TextStringObject(title)
    return writer.finish(DictionaryObject(info))


class _PdfStreamWriter:
    """Write a PDF object by object: catalog first, then pages, page tree and xref last."""

    CATALOG, PAGE_TREE = 1, 2

    def __init__(self, target: IO[bytes]) -> None:
        from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

        self.target = target
        self.start = target.tell()
        self.offsets: list[int] = [0, 0, 0]  # by object number; 0 is the free-list head
        self.kids = ArrayObject()
        self.page_tree = IndirectObject(self.PAGE_TREE, 0, None)
        target.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        catalog = {
            NameObject("/Type"): NameObject("/Catalog"),
            NameObject("/Pages"): self.page_tree,
        }
        self.write(self.CATALOG, DictionaryObject(catalog))

    def new_number(self) -> int:
        self.offsets.append(0)
        return len(self.offsets) - 1

    def write(self, number: int, obj: Any) -> None:
        self.offsets[number] = self.target.tell() - self.start
        self.target.write(f"{number} 0 obj\n".encode())
        obj.write_to_stream(self.target)
        self.target.write(b"\nendobj\n")

    def add_pages_of(self, source: Path) -> None:
        """Append every page of `source` with the objects it uses (fonts, images, content)."""
        from pypdf import PdfReader
        from pypdf.generic import (
            ArrayObject,
            DictionaryObject,
            IndirectObject,
            NameObject,
            StreamObject,
        )

        reader = PdfReader(source)
        numbers: dict[tuple[int, int], int] = {}
        pending: list[tuple[int, IndirectObject]] = []

        def renumber(obj: Any) -> Any:
            if isinstance(obj, IndirectObject):
                key = (obj.idnum, obj.generation)
                if key not in numbers:
                    numbers[key] = self.new_number()
                    pending.append((numbers[key], obj))
                return IndirectObject(numbers[key], 0, None)
            if isinstance(obj, StreamObject):
                # Copied as read, still encoded: nothing is decompressed or compressed again.
                copy = StreamObject()
                copy.update({key: renumber(value) for key, value in obj.items()})
                copy._data = obj._data
                return copy
            if isinstance(obj, DictionaryObject):
                return DictionaryObject({key: renumber(value) for key, value in obj.items()})
            if isinstance(obj, ArrayObject):
                return ArrayObject(renumber(value) for value in obj)
            return obj

        pages = list(reader.pages)
        # Pages get their numbers first, so a link from one page to another points to
        # the copy rather than pulling the source's page tree in.
        for page in pages:
            reference = page.indirect_reference
            numbers[(reference.idnum, reference.generation)] = self.new_number()
        for page in pages:
            reference = page.indirect_reference
            number = numbers[(reference.idnum, reference.generation)]
            # pypdf has copied inherited attributes (MediaBox, Resources) onto the page.
            copy = DictionaryObject(
                {key: renumber(value) for key, value in page.items() if key != "/Parent"}
            )
            copy[NameObject("/Parent")] = self.page_tree
            self.write(number, copy)
            self.kids.append(IndirectObject(number, 0, None))
            while pending:
                written, reference = pending.pop()
                self.write(written, renumber(reference.get_object()))

    def finish(self, info: Any | None) -> int:
        """Write the page tree, the document information, the xref and the trailer."""
        from pypdf.generic import DictionaryObject, NameObject, NumberObject

        tree = {
            NameObject("/Type"): NameObject("/Pages"),
            NameObject("/Kids"): self.kids,
            NameObject("/Count"): NumberObject(len(self.kids)),
        }
        self.write(self.PAGE_TREE, DictionaryObject(tree))
        trailer = f"/Root {self.CATALOG} 0 R"
        if info is not None:
            number = self.new_number()
            self.write(number, info)
            trailer += f" /Info {number} 0 R"
        xref = self.target.tell() - self.start
        size = len(self.offsets)
        self.target.write(f"xref\n0 {size}\n0000000000 65535 f \n".encode())
        for offset in self.offsets[1:]:
            self.target.write(f"{offset:010d} 00000 n \n".encode())
        self.target.write(
            f"trailer\n<< /Size {size} {trailer} >>\nstartxref\n{xref}\n%%EOF\n".encode()
        )
        return len(self.kids)
