"""Whole-run payslip exports: a ZIP of one PDF per employee, or one merged PDF.

A run of 10,000 payslips takes about 1,000 s of rendering, so an export is a
background job ("payroll.payslip_export", one per run and format at a time) that
renders in worker processes and writes to disk as documents come back:

* ZIP: one PDF per payslip, named by employee number;
* merged PDF: one WeasyPrint document per batch of `PAYROLL_PDF_BATCH` payslips
  (a batch shares its fonts, which makes each payslip faster and the file smaller),
  concatenated at the end without loading the batches together.

Memory stays flat: payslips are read in chunks, at most a few documents are in
flight, and every document goes to disk as it comes. Each document is first a
file in a work folder next to the export; the job's checkpoint (the last payslip
done) is saved with its progress, so a job resumed after its worker died renders
only what came after the checkpoint. The finished file replaces the previous one
in one rename; approved payslips never change, so a finished export stays valid.

Settings (environment variable, default):

* `PAYROLL_EXPORT_DIR` (`GRP_PAYROLL_EXPORT_DIR`, `<instance>/payroll_exports`):
  exports, one folder per department id.
* `PAYROLL_PDF_PROCESSES` (`GRP_PAYROLL_PDF_PROCESSES`, 2): worker processes that
  render an export (0: in the job's own process).
* `PAYROLL_PDF_BATCH` (`GRP_PAYROLL_PDF_BATCH`, 50): payslips per document of the
  merged PDF.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Session, selectinload

from grp.models import Department, User
from grp.workflow.jobs import JobContext, start_job
from grp.workflow.jobs.models import ACTIVE_STATES, Job
from grp.workflow.jobs.services import department_jobs_query
from modules.payroll import payslip_pdf
from modules.payroll.i18n import _
from modules.payroll.models import LOCKED_STATES, PayrollRun, Payslip
from modules.payroll.services.runs import RunStateError, find_run

EXPORT_JOB_KIND = "payroll.payslip_export"
FORMATS = ("zip", "pdf")
MEDIA_TYPES = {"zip": "application/zip", "pdf": "application/pdf"}
#: Payslips read from the database per query.
CHUNK = 200
#: Runs this small render in the job's own process: workers take ~1.5 s to start.
IN_PROCESS_UP_TO = 20


class ExportError(RuntimeError):
    """The export cannot be made (the job fails with this reason)."""


def configure_exports(app: Flask) -> None:
    """Read the export settings from the environment unless the app config has them."""
    app.config.setdefault(
        "PAYROLL_EXPORT_DIR",
        Path(
            os.environ.get("GRP_PAYROLL_EXPORT_DIR") or Path(app.instance_path) / "payroll_exports"
        ),
    )
    app.config.setdefault(
        "PAYROLL_PDF_PROCESSES", int(os.environ.get("GRP_PAYROLL_PDF_PROCESSES", "2"))
    )
    app.config.setdefault("PAYROLL_PDF_BATCH", int(os.environ.get("GRP_PAYROLL_PDF_BATCH", "50")))


# --------------------------------------------------------------------------- files and jobs


def export_path(department_id: int, run_id: int, file_format: str) -> Path:
    """Return where the finished export of a run lives (it may not exist yet)."""
    if file_format not in FORMATS:
        raise ValueError(f"unknown export format {file_format!r}")
    folder = Path(current_app.config["PAYROLL_EXPORT_DIR"]) / str(int(department_id))
    return folder / f"run-{int(run_id)}-payslips.{file_format}"


def download_name(run: PayrollRun, department: Department, file_format: str) -> str:
    """Return the file name offered for a run's export, e.g. payslips-POLICE-2026-11-run7.zip."""
    return f"payslips-{department.code}-{run.period:%Y-%m}-run{run.id}.{file_format}"


def _dedupe_key(run: PayrollRun, file_format: str) -> str:
    return f"{run.id}:{file_format}"


def require_exportable(run: PayrollRun) -> None:
    """Raise `RunStateError` (409) unless the run's payslips are final (approved or later)."""
    if run.state not in LOCKED_STATES:
        raise RunStateError(_("Only the payslips of an approved run can be exported."))


def latest_export_job(session: Session, run: PayrollRun, file_format: str) -> Job | None:
    """Return the newest export job of this run and format, if any was started."""
    query = department_jobs_query(run.department_id, kind=EXPORT_JOB_KIND).where(
        Job.dedupe_key == _dedupe_key(run, file_format)
    )
    return session.scalar(query.limit(1))


def start_payslip_export(
    session: Session, run: PayrollRun, file_format: str, *, actor: User | None, language: str
) -> Job:
    """Queue the export of a run's payslips; the caller commits.

    Raises `RunStateError` for a run that is not approved and
    `grp.workflow.jobs.JobConflict` while the same export is queued or running.
    """
    require_exportable(run)
    if file_format not in FORMATS:
        raise ValueError(f"unknown export format {file_format!r}")
    return start_job(
        session,
        kind=EXPORT_JOB_KIND,
        department_id=run.department_id,
        params={"run_id": run.id, "format": file_format, "language": language},
        actor=actor,
        dedupe_key=_dedupe_key(run, file_format),
    )


@dataclass(frozen=True)
class ExportStatus:
    """Where a run's export stands: the finished file (if any) and the latest job (if any)."""

    path: Path | None
    job: Job | None

    @property
    def ready(self) -> bool:
        return self.path is not None

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.state in ACTIVE_STATES


def export_status(session: Session, run: PayrollRun, file_format: str) -> ExportStatus:
    """Return the export's finished file and latest job."""
    path = export_path(run.department_id, run.id, file_format)
    return ExportStatus(
        path if path.is_file() else None, latest_export_job(session, run, file_format)
    )


# --------------------------------------------------------------------------- reading


def payslips_query(run_id: int) -> sa.Select:
    """Return a run's payslips with their lines in export order (employee number, then id)."""
    return (
        sa.select(Payslip)
        .where(Payslip.run_id == run_id)
        .options(selectinload(Payslip.lines))
        .order_by(Payslip.employee_no, Payslip.id)
    )


def iter_payslip_data(
    session: Session,
    run: Any,
    department: Any,
    *,
    after: tuple[str, int] | list[Any] | None = None,
    chunk: int = CHUNK,
) -> Iterator[dict[str, Any]]:
    """Yield the run's payslips as template data, in export order, after `after`.

    `run` and `department` may be snapshots (`run_snapshot`): a job commits its
    progress between chunks, which expires ORM objects. Reads `chunk` payslips per
    query, by key (employee number, id) rather than by offset, so each query is
    cheap; a chunk becomes plain dicts before the first is yielded.
    """
    while True:
        query = payslips_query(run.id)
        if after is not None:
            number, payslip_id = after
            query = query.where(
                sa.or_(
                    Payslip.employee_no > number,
                    sa.and_(Payslip.employee_no == number, Payslip.id > payslip_id),
                )
            )
        rows = list(session.scalars(query.limit(chunk)))
        if not rows:
            return
        after = (rows[-1].employee_no, rows[-1].id)
        datas = [payslip_pdf.payslip_data(payslip, department, run) for payslip in rows]
        del rows
        yield from datas


def run_snapshot(run: PayrollRun) -> SimpleNamespace:
    """Return the run's fields a payslip prints, as a plain object that outlives commits."""
    return SimpleNamespace(
        id=run.id,
        department_id=run.department_id,
        period=run.period,
        kind=run.kind,
        sequence=run.sequence,
        state=run.state,
    )


def department_snapshot(department: Department) -> SimpleNamespace:
    """Return the department's names and code as a plain object."""
    return SimpleNamespace(
        id=department.id,
        code=department.code,
        name_en=department.name_en,
        name_ar=department.name_ar,
    )


# --------------------------------------------------------------------------- the job


@dataclass(frozen=True)
class _Issued:
    """A document sent to be rendered: its payslips' count, last key and file name."""

    count: int
    last: tuple[str, int]
    name: str


def export_payslips_job(ctx: JobContext) -> None:
    """Render a run's payslips to a ZIP or one merged PDF (params: run_id, format, language)."""
    params = ctx.job.params
    file_format = str(params.get("format"))
    if file_format not in FORMATS:
        raise ExportError(f"unknown export format {file_format!r}")
    language = str(params.get("language") or "en")
    if language not in current_app.config["GRP_LANGUAGES"]:
        language = "en"
    session = ctx.session
    found = find_run(session, int(params["run_id"]))
    if found is None:
        raise ExportError(f"no payroll run {params['run_id']} in this department")
    if found.state not in LOCKED_STATES:
        raise ExportError(f"run {found.id} is {found.state}; only approved runs are exported")
    run = run_snapshot(found)
    department = department_snapshot(session.get(Department, run.department_id))
    total = session.scalar(
        sa.select(sa.func.count()).select_from(Payslip).where(Payslip.run_id == run.id)
    )
    ctx.set_total(total)
    target = export_path(run.department_id, run.id, file_format)
    work = target.with_name(target.name + ".parts")
    cursor: dict[str, Any] = ctx.checkpoint or {"done": 0, "after": None, "files": 0}
    if cursor["done"] == 0 and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    if file_format == "pdf":
        # Batches a worker that died wrote after its checkpoint are made again.
        for stale in work.glob("*.pdf"):
            if int(stale.stem) > cursor["files"]:
                stale.unlink()
    ctx.progress(cursor["done"], checkpoint=cursor)

    config = current_app.config
    per_document = 1 if file_format == "zip" else max(1, int(config["PAYROLL_PDF_BATCH"]))
    processes = int(config["PAYROLL_PDF_PROCESSES"])
    if total - cursor["done"] <= IN_PROCESS_UP_TO:
        processes = 0
    # Documents come back in the order they were sent; this says what each one is.
    issued: deque[_Issued] = deque()

    def groups() -> Iterator[list[dict[str, Any]]]:
        group: list[dict[str, Any]] = []
        files = cursor["files"]
        for data in iter_payslip_data(session, run, department, after=cursor["after"]):
            group.append(data)
            if len(group) == per_document:
                files += 1
                issued.append(_issue(group, files, file_format))
                yield group
                group = []
        if group:
            issued.append(_issue(group, files + 1, file_format))
            yield group

    documents = payslip_pdf.render_in_workers(
        groups(),
        processes=processes,
        language=language,
    )
    for document in documents:
        done = issued.popleft()
        (work / done.name).write_bytes(document)
        cursor = {
            "done": cursor["done"] + done.count,
            "after": list(done.last),
            "files": cursor["files"] + 1,
        }
        ctx.progress(cursor["done"], checkpoint=cursor)

    if cursor["done"] != total:
        raise ExportError(f"{cursor['done']} of {total} payslips were rendered")
    title = f"Payslips {run.period:%Y-%m} · {department.name_en}"
    _assemble(work, target, file_format, title=title)
    shutil.rmtree(work, ignore_errors=True)


def _issue(group: list[dict[str, Any]], index: int, file_format: str) -> _Issued:
    last = (group[-1]["employee_no"], group[-1]["id"])
    name = payslip_pdf.payslip_file_name(group[0]) if file_format == "zip" else f"{index:06d}.pdf"
    return _Issued(len(group), last, name)


def _assemble(work: Path, target: Path, file_format: str, *, title: str) -> None:
    """Build the export from the work folder's documents and put it in place in one rename."""
    part = target.with_name(target.name + ".part")
    names = sorted(path.name for path in work.glob("*.pdf"))
    with open(part, "wb") as out:
        if file_format == "zip":
            # PDFs are compressed already: stored, the ZIP is built at disk speed.
            with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
                for name in names:
                    archive.write(work / name, arcname=name)
        else:
            payslip_pdf.concatenate_pdfs((work / name for name in names), out, title=title)
        out.flush()
        os.fsync(out.fileno())
    os.replace(part, target)
