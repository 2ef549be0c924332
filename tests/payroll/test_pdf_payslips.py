"""Bilingual PDF payslips: the document, who may read it, audited reads, whole-run exports.

PDFs are read back with poppler-utils (pdftotext, pdfinfo, pdftoppm), as in
tests/test_pdf.py: skipped with a reason where missing, failed under CI.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import threading
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from payroll_data import uae_national

NAME_EN = "Mariam Khalid Al Mansoori"
NAME_AR = "مريم خالد المنصوري"
NET = "29,590.00"
# DOMAIN.md's worked example: UAE national under Decree-Law 57/2023.
WORKED_EXAMPLE = {
    "start_date": "2024-01-01",
    "basic_salary": "20000.00",
    "housing_allowance": "8000.00",
    "transport_allowance": "2000.00",
    "social_allowance": "3000.00",
    "general_allowance": "0.00",
}
BIDI_MARKS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
A4_WIDTH_PT = 595.28


# --------------------------------------------------------------------------- helpers


def poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} not found: apt-get install poppler-utils (scripts/test does as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_tool(tool: str, *arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - a poppler tool found on PATH, our own arguments
        [poppler(tool), *arguments], capture_output=True, text=True, check=True, cwd=cwd
    )


def pdf_text(path: Path, *options: str) -> str:
    """The PDF's text, NFKC-normalised (presentation forms to letters), bidi marks removed."""
    output = run_tool("pdftotext", *options, str(path), "-").stdout
    return BIDI_MARKS.sub("", unicodedata.normalize("NFKC", output))


def page_count(path: Path) -> int:
    info = run_tool("pdfinfo", str(path))
    assert "Syntax Error" not in info.stderr, info.stderr
    return int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))


def save(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    assert data.startswith(b"%PDF-"), data[:40]
    return path


def audit_reads(db_session: Any, action: str = "payroll.payslip.read") -> list[Any]:
    from grp.models import AuditEntry

    db_session.expire_all()
    return list(
        db_session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
    )


# --------------------------------------------------------------------------- data


@pytest.fixture
def officers(create_user, api_client, payroll_departments):
    """API clients of two POLICE payroll officers: one computes, the other approves."""
    maker = create_user(username="pdf.maker", roles=[("POLICE", "payroll_officer")])
    checker = create_user(username="pdf.checker", roles=[("POLICE", "payroll_officer")])
    return api_client(maker, "POLICE"), api_client(checker, "POLICE")


@pytest.fixture
def employee_user(create_user):
    return create_user(username="mariam", roles=[("POLICE", "employee")])


@pytest.fixture
def mariam(make_employee, employee_user):
    """DOMAIN.md's worked example, linked to the `employee_user` login."""
    return make_employee(
        grade=12,
        band=2,
        name_en=NAME_EN,
        name_ar=NAME_AR,
        user_id=employee_user.id,
        iban="AE070331234567890123456",
        contract=WORKED_EXAMPLE,
        **uae_national(),
    )


def create_run(maker, period: str = "2026-11") -> int:
    created = maker.post("/api/v1/payroll/runs", json={"period": period, "kind": "regular"})
    assert created.status_code == 201, created.json
    computed = maker.post(f"/api/v1/payroll/runs/{created.json['id']}/compute?sync=1")
    assert computed.status_code == 202, computed.json
    return created.json["id"]


def approved_run(maker, checker, period: str = "2026-11") -> int:
    run_id = create_run(maker, period)
    approved = checker.post(f"/api/v1/payroll/runs/{run_id}/approve")
    assert approved.status_code == 200, approved.json
    return run_id


def payslip_ids(maker, run_id: int) -> dict[int, int]:
    """Payslip ids of a run by employee id."""
    page = maker.get(f"/api/v1/payroll/runs/{run_id}/payslips?per_page=100").json
    return {item["employee_id"]: item["id"] for item in page["items"]}


# --------------------------------------------------------------------------- the document


@pytest.fixture
def worked_example_pdf(officers, mariam, tmp_path) -> Path:
    maker, checker = officers
    run_id = approved_run(maker, checker)
    slip_id = payslip_ids(maker, run_id)[mariam]
    response = maker.get(f"/api/v1/payroll/payslips/{slip_id}.pdf")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=payslip-2026-11-E00001.pdf"
    )
    assert "no-store" in response.headers["Cache-Control"]
    return save(tmp_path, "payslip.pdf", response.data)


def test_payslip_prints_both_languages_and_domain_md_amounts(worked_example_pdf):
    assert page_count(worked_example_pdf) == 1
    for options in ((), ("-layout",)):
        text = pdf_text(worked_example_pdf, *options)
        for expected in (
            NAME_AR,
            NAME_EN,
            "Dubai Police",
            "شرطة دبي",
            "November 2026",
            "نوفمبر",  # pdftotext moves "2026" around in right-to-left text
            "E00001",
            "Basic salary",
            # Words without lam-alef: pdftotext gives the ligature's letters reversed.
            "بدل السكن",
            "اشتراك التقاعد",
            "20,000.00",
            "8,000.00",
            "2,000.00",
            "3,000.00",
            "33,000.00",  # earnings
            "3,410.00",  # employee pension, 11% of 31,000.00
            "4,650.00",  # employer pension, 15%: shown, not part of net
            "11% × 31,000.00",
            NET,
            "صافي الراتب",
            "2026-11-01",
            "2026-11-30",
            "AE07 •••• •••• 3456",  # the IBAN, masked
        ):
            assert expected in text, (expected, text)
        assert "AE070331234567890123456" not in text


def test_arabic_runs_right_to_left_on_the_right_half(worked_example_pdf):
    bbox = run_tool("pdftotext", "-bbox", str(worked_example_pdf), "-").stdout
    # -bbox prints each word's characters in visual (left to right) order.
    words: dict[str, list[float]] = {}
    for x_min, text in re.findall(r'<word xMin="([\d.]+)"[^>]*>([^<]+)</word>', bbox):
        words.setdefault(unicodedata.normalize("NFKC", text)[::-1], []).append(float(x_min))
    first, middle, last = NAME_AR.split()
    assert words[first][0] > words[middle][0] > words[last][0], words
    assert words[last][0] > A4_WIDTH_PT / 2
    english = {text: float(x) for x, text in re.findall(r'xMin="([\d.]+)"[^>]*>([^<]+)<', bbox)}
    assert english["Mariam"] < A4_WIDTH_PT / 2


def test_arabic_is_shaped_with_contextual_glyphs(worked_example_pdf):
    """A shaped م takes a different glyph at the start of مريم than at its end.

    The embedded Arabic font maps glyphs back to letters (ToUnicode); with HarfBuzz
    shaping, one letter is drawn by several glyphs (initial, medial, final forms).
    """
    from pypdf import PdfReader

    reader = PdfReader(worked_example_pdf)
    fonts = reader.pages[0]["/Resources"]["/Font"]
    glyphs_by_letter: dict[str, set[str]] = {}
    arabic_fonts = []
    for font in fonts.values():
        font = font.get_object()
        if "Arabic" not in font["/BaseFont"]:
            continue
        arabic_fonts.append(font["/BaseFont"])
        cmap = font["/ToUnicode"].get_object().get_data().decode("latin-1")
        for block in re.findall(r"beginbfchar(.*?)endbfchar", cmap, re.S):
            for glyph, text in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                letter = bytes.fromhex(text).decode("utf-16-be")
                glyphs_by_letter.setdefault(letter, set()).add(glyph)
    assert any("Noto" in name for name in arabic_fonts), arabic_fonts
    assert len(glyphs_by_letter["م"]) >= 2, glyphs_by_letter.get("م")
    assert len(glyphs_by_letter["ي"]) >= 2, glyphs_by_letter.get("ي")


def test_page_image_is_not_blank_and_has_both_columns(worked_example_pdf, tmp_path):
    from PIL import Image, ImageOps

    page_one = ("-f", "1", "-l", "1", "-singlefile")
    run_tool(
        "pdftoppm", "-png", "-r", "80", *page_one, str(worked_example_pdf), "page", cwd=tmp_path
    )
    png = tmp_path / "page.png"
    with Image.open(png) as image:
        assert abs(image.width - 661) <= 1 and abs(image.height - 935) <= 1, image.size
        ink = ImageOps.invert(image.convert("L"))
        width, height = image.size
        assert ink.getbbox() is not None, "blank page"
        # Header and names: English on the left half, Arabic on the right half.
        assert ink.crop((0, 0, width // 2, height // 3)).getbbox() is not None
        assert ink.crop((width // 2, 0, width, height // 3)).getbbox() is not None
        dark = sum(ink.histogram()[129:])
    assert dark > 5_000, dark
    print(f"\npayslip page image: {png}")


def plain_payslip() -> dict[str, Any]:
    """One payslip's data as `payslip_pdf.payslip_data` gives it (plain values)."""
    from decimal import Decimal

    return {
        "id": 1,
        "employee_no": "E/01",
        "period": "2026-11",
        "period_en": "November 2026",
        "period_ar": "نوفمبر 2026",
        "department_en": "Dubai Police",
        "department_ar": "شرطة دبي",
        "name_en": NAME_EN,
        "name_ar": NAME_AR,
        "grade": "12",
        "iban": None,
        "pay_start": "2026-11-01",
        "pay_end": "2026-11-30",
        "days_in_month": 30,
        "paid_days": 30,
        "unpaid_days": 0,
        "earnings": [{"name_en": "Basic", "name_ar": "أساسي", "amount": Decimal(100), "basis": ""}],
        "deductions": [],
        "employer": [],
        "total_earnings": Decimal(100),
        "total_deductions": Decimal(0),
        "net": Decimal(100),
        "total_employer": Decimal(0),
    }


def test_payslip_data_and_batch_rendering(app, tmp_path):
    """The benchmark's entry point: plain dicts in, one PDF per payslip out."""
    from decimal import Decimal
    from types import SimpleNamespace

    from modules.payroll import payslip_pdf

    assert payslip_pdf.mask_iban("AE070331234567890123456") == "AE07 •••• •••• 3456"
    assert payslip_pdf.mask_iban(None) is None
    line = SimpleNamespace(rate="11%", base=Decimal("31000.00"), days=None)
    assert payslip_pdf.line_basis(line) == "11% × 31,000.00"
    assert payslip_pdf.line_basis(SimpleNamespace(rate=None, base=None, days="15/30")) == "15/30"
    assert payslip_pdf.line_basis(SimpleNamespace(rate=None, base=None, days="30/30")) == ""
    data = plain_payslip()
    assert payslip_pdf.payslip_file_name(data) == "E01.pdf"
    documents = payslip_pdf.render_payslip_batch([data, {**data, "employee_no": "E02"}])
    assert len(documents) == 2
    text = pdf_text(save(tmp_path, "second.pdf", documents[1]))
    assert "E02" in text and "100.00" in text and NAME_AR in text


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_payslip_is_read_by_expat_and_lays_out_as_with_the_html5_parser(
    app, tmp_path, monkeypatch, language
):
    """The payslip template is well-formed XML too (grp.pdf reads it with expat), and
    every word of a payslip lands where WeasyPrint's HTML5 parser puts it."""
    from grp import pdf
    from modules.payroll import payslip_pdf

    renderer = pdf.get_renderer()
    html = renderer.render_html(
        payslip_pdf.TEMPLATE, {"slips": [plain_payslip()]}, language=language
    )
    assert pdf.xml_document_tree(html) is not None

    def word_boxes(name: str) -> str:
        path = save(tmp_path, name, renderer.html_to_pdf(html))
        return subprocess.run(  # noqa: S603 - poppler's pdftotext, our own file
            [shutil.which("pdftotext") or "pdftotext", "-bbox", str(path), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    fast = word_boxes("fast.pdf")
    monkeypatch.setattr(pdf, "xml_document_tree", lambda html: None)
    assert word_boxes("slow.pdf") == fast
    assert fast.count("<word ") > 40


# --------------------------------------------------------------------------- who may read


def test_other_department_and_colleagues_get_404(
    officers, mariam, make_employee, employee_user, api_client, api_as
):
    maker, checker = officers
    colleague = make_employee()
    run_id = approved_run(maker, checker)
    slips = payslip_ids(maker, run_id)

    other_department = api_as("payroll_officer", "DM")
    assert other_department.get(f"/api/v1/payroll/payslips/{slips[mariam]}.pdf").status_code == 404
    assert other_department.get(f"/api/v1/me/payslips/{slips[mariam]}.pdf").status_code == 404

    me = api_client(employee_user, "POLICE")
    own = me.get(f"/api/v1/me/payslips/{slips[mariam]}.pdf")
    assert own.status_code == 200 and own.data.startswith(b"%PDF-")
    assert me.get(f"/api/v1/me/payslips/{slips[colleague]}.pdf").status_code == 404
    # Employees have no officer permission at all.
    assert me.get(f"/api/v1/payroll/payslips/{slips[mariam]}.pdf").status_code == 403
    assert me.get(f"/api/v1/payroll/payslips/{slips[colleague]}.pdf").status_code == 403
    assert me.get("/api/v1/me/payslips/999999.pdf").status_code == 404


def test_a_payslip_of_a_run_not_yet_approved_is_not_the_employees(
    officers, mariam, employee_user, api_client
):
    maker, _ = officers
    run_id = create_run(maker)  # computed, not approved
    slip_id = payslip_ids(maker, run_id)[mariam]
    me = api_client(employee_user, "POLICE")
    assert me.get(f"/api/v1/me/payslips/{slip_id}.pdf").status_code == 404
    # The officer sees it whatever the run's state.
    assert maker.get(f"/api/v1/payroll/payslips/{slip_id}.pdf").status_code == 200


def test_officer_reads_are_audited_and_the_employees_own_are_not(
    officers, mariam, employee_user, api_client, db_session, departments
):
    maker, checker = officers
    run_id = approved_run(maker, checker)
    slip_id = payslip_ids(maker, run_id)[mariam]
    assert audit_reads(db_session) == []

    assert maker.get(f"/api/v1/payroll/payslips/{slip_id}").status_code == 200
    assert maker.get(f"/api/v1/payroll/payslips/{slip_id}.pdf").status_code == 200
    me = api_client(employee_user, "POLICE")
    assert me.get(f"/api/v1/me/payslips/{slip_id}.pdf").status_code == 200
    assert me.get(f"/api/v1/me/payslips/{slip_id}").status_code == 200

    entries = audit_reads(db_session)
    assert [(e.after["what"], e.actor_name) for e in entries] == [
        ("json", "pdf.maker"),
        ("pdf", "pdf.maker"),
    ]
    entry = entries[0]
    assert (entry.entity, entry.entity_id) == ("Payslip", str(slip_id))
    assert entry.after["employee_id"] == mariam and entry.after["run_id"] == run_id
    assert entry.department_id == departments["POLICE"].id


def test_an_officer_reading_their_own_payslip_is_not_audited(officers, make_employee, db_session):
    maker, checker = officers
    own = make_employee(user_id=checker.user.id)
    run_id = approved_run(maker, checker)
    slip_id = payslip_ids(maker, run_id)[own]
    assert checker.get(f"/api/v1/payroll/payslips/{slip_id}.pdf").status_code == 200
    assert audit_reads(db_session) == []
    assert maker.get(f"/api/v1/payroll/payslips/{slip_id}.pdf").status_code == 200
    assert len(audit_reads(db_session)) == 1


# --------------------------------------------------------------------------- run exports


@pytest.fixture
def app_config():
    # Progress saved after every document (visible, and a checkpoint to resume from);
    # merged PDFs in documents of 2 payslips, so 5 payslips make 3 documents to join.
    return {"GRP_JOB_PROGRESS_BATCH": 1, "PAYROLL_PDF_BATCH": 2}


@pytest.fixture
def five_payslips(officers, make_employee) -> int:
    """An approved run of 5 employees, E00001 to E00005; returns the run id."""
    for _ in range(5):
        make_employee()
    return approved_run(*officers)


def run_worker(app, stop: threading.Event | None = None) -> int:
    from grp.workflow.jobs.worker import run_embedded_worker

    return run_embedded_worker(app, once=True, stop=stop)


def test_zip_export_renders_in_worker_processes_with_progress(
    app, officers, five_payslips, monkeypatch, db_session, tmp_path
):
    from modules.payroll.services import payslip_exports

    monkeypatch.setattr(payslip_exports, "IN_PROCESS_UP_TO", 0)  # this small run too
    maker, _ = officers
    url = f"/api/v1/payroll/runs/{five_payslips}/payslips.zip"
    started = maker.post(url)
    assert started.status_code == 202, started.json
    job_id = started.json["job_id"]
    assert started.json["job_url"] == f"/api/v1/jobs/{job_id}" == started.headers["Location"]
    assert started.json["download_url"] == url
    assert maker.post(url).status_code == 409  # the same export while it is queued
    waiting = maker.get(url)
    assert waiting.status_code == 202 and waiting.json["state"] == "queued"
    assert waiting.json["job_id"] == job_id

    assert run_worker(app) == 1
    job = maker.get(f"/api/v1/jobs/{job_id}").json
    assert (job["state"], job["done"], job["total"], job["percent"]) == ("succeeded", 5, 5, 100)

    download = maker.get(url)
    assert download.status_code == 200, download.get_data(as_text=True)[:300]
    assert download.mimetype == "application/zip"
    assert download.headers["Content-Disposition"] == (
        f"attachment; filename=payslips-POLICE-2026-11-run{five_payslips}.zip"
    )
    # Closed before the PDFs are read: a missing poppler tool skips the test there, and
    # the open download would leak its file.
    data = download.data
    download.close()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert names == [f"E0000{n}.pdf" for n in range(1, 6)]
        for number, name in enumerate(names, start=1):
            path = save(tmp_path, name, archive.read(name))
            assert page_count(path) == 1
            text = pdf_text(path)
            assert f"E0000{number}" in text and f"Test Person {number}" in text
            assert "22,500.00" in text  # 10,000 basic + 10,000 general + 2,500 housing

    exports = audit_reads(db_session, "payroll.payslips.export")
    assert [(e.entity, e.entity_id, e.after["what"], e.after["payslips"]) for e in exports] == [
        ("PayrollRun", str(five_payslips), "zip", 5)
    ]


def test_merged_pdf_joins_batches_into_one_document(
    app, officers, five_payslips, departments, tmp_path
):
    maker, _ = officers
    url = f"/api/v1/payroll/runs/{five_payslips}/payslips.pdf"
    # A GET starts an export that was never started.
    first = maker.get(url)
    assert first.status_code == 202 and first.json["job_id"], first.json
    conflict = maker.post(url)
    assert conflict.status_code == 409
    assert conflict.json["errors"]["job_id"] == [str(first.json["job_id"])]
    assert run_worker(app) == 1

    download = maker.get(url)
    assert download.status_code == 200 and download.mimetype == "application/pdf"
    path = save(tmp_path, "run.pdf", download.data)
    download.close()
    assert page_count(path) == 5
    for number in range(1, 6):
        text = pdf_text(path, "-f", str(number), "-l", str(number))
        assert f"E0000{number} · 2026-11" in text  # the footer names each page's payslip
        assert f"Test Person {number}" in text and "22,500.00" in text
    assert "Payslips 2026-11 · Dubai Police" in run_tool("pdfinfo", str(path)).stdout
    # The batches' work folder is gone: only the export is left.
    from modules.payroll.services.payslip_exports import export_path

    target = export_path(departments["POLICE"].id, five_payslips, "pdf")
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_an_interrupted_export_resumes_after_its_checkpoint(
    app, officers, five_payslips, monkeypatch
):
    from modules.payroll import payslip_pdf

    maker, _ = officers
    url = f"/api/v1/payroll/runs/{five_payslips}/payslips.zip"
    job_id = maker.post(url).json["job_id"]
    original = payslip_pdf.render_in_workers
    rendered: list[int] = []
    stop = threading.Event()

    def render_and_stop_after_two(groups, **options):
        for document in original(groups, **options):
            rendered.append(1)
            if len(rendered) == 2:
                stop.set()  # as SIGTERM does: the worker stops at the next progress save
            yield document

    monkeypatch.setattr(payslip_pdf, "render_in_workers", render_and_stop_after_two)
    run_worker(app, stop)
    job = maker.get(f"/api/v1/jobs/{job_id}").json
    assert (job["state"], job["done"]) == ("queued", 1), job  # back in the queue at 1
    assert maker.get(url).status_code == 202

    run_worker(app)
    job = maker.get(f"/api/v1/jobs/{job_id}").json
    assert (job["state"], job["done"], job["attempts"]) == ("succeeded", 5, 2)
    assert len(rendered) == 2 + 4  # the second attempt rendered only what followed
    download = maker.get(url)
    with zipfile.ZipFile(io.BytesIO(download.data)) as archive:
        assert archive.namelist() == [f"E0000{n}.pdf" for n in range(1, 6)]
        assert all(archive.read(name).startswith(b"%PDF-") for name in archive.namelist())
    download.close()


def test_runs_not_approved_cannot_be_exported(officers, make_employee, api_as):
    maker, _ = officers
    make_employee()
    run_id = create_run(maker)  # computed
    for file_format in ("zip", "pdf"):
        url = f"/api/v1/payroll/runs/{run_id}/payslips.{file_format}"
        assert maker.post(url).status_code == 409
        assert maker.get(url).status_code == 409
    assert maker.get(f"/api/v1/payroll/runs/{run_id}").json["state"] == "computed"
    other = api_as("payroll_officer", "DM")
    assert other.post(f"/api/v1/payroll/runs/{run_id}/payslips.zip").status_code == 404
    employee = api_as("employee")
    assert employee.post(f"/api/v1/payroll/runs/{run_id}/payslips.zip").status_code == 403


# --------------------------------------------------------------------------- pages


def test_my_payslips_page_lists_approved_payslips_with_pdf_links(
    app, officers, mariam, employee_user, login, db_session
):
    maker, checker = officers
    run_id = approved_run(maker, checker)
    draft_run = create_run(maker, "2026-12")
    slip_id = payslip_ids(maker, run_id)[mariam]
    draft_slip = payslip_ids(maker, draft_run)[mariam]
    browser = app.test_client()
    login(browser, employee_user)

    page = browser.get("/me/payslips")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<a href="/me/payslips" aria-current="page">My payslips</a>' in html  # menu
    assert f'data-testid="net-{slip_id}">{NET}</td>' in html
    assert f'href="/me/payslips/{slip_id}.pdf"' in html
    assert "2026-12" not in html and f"/me/payslips/{draft_slip}.pdf" not in html

    pdf = browser.get(f"/me/payslips/{slip_id}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    assert browser.get(f"/me/payslips/{draft_slip}.pdf").status_code == 404
    assert browser.get(f"/payroll/payslips/{slip_id}.pdf").status_code == 403
    assert audit_reads(db_session) == []

    arabic = browser.post("/language", data={"language": "ar", "next": "/me/payslips"})
    assert arabic.status_code in (302, 303)
    assert "قسائم راتبي" in browser.get("/me/payslips").get_data(as_text=True)


def test_officer_pages_download_a_payslip_and_prepare_a_run_export(
    app, officers, five_payslips, login, db_session
):
    maker, _ = officers
    browser = app.test_client()
    login(browser, maker.user)
    slip_id = next(iter(payslip_ids(maker, five_payslips).values()))
    one = browser.get(f"/payroll/payslips/{slip_id}.pdf")
    assert one.status_code == 200 and one.data.startswith(b"%PDF-")
    assert [e.after["what"] for e in audit_reads(db_session)] == ["pdf"]

    export = f"/payroll/runs/{five_payslips}/payslips.zip"
    status_url = f"{export}/status"
    first = browser.get(export)  # nothing prepared yet: the status page
    assert first.status_code == 303 and first.headers["Location"].endswith(status_url)
    status = browser.get(status_url).get_data(as_text=True)
    assert "Prepare the file" in status and 'http-equiv="refresh"' not in status

    started = browser.post(export)
    assert started.status_code == 303 and started.headers["Location"].endswith(status_url)
    status = browser.get(status_url).get_data(as_text=True)
    assert 'data-testid="export-state">Queued<' in status
    assert 'http-equiv="refresh"' in status and "<progress" in status

    assert run_worker(app) == 1
    status = browser.get(status_url).get_data(as_text=True)
    assert 'data-testid="export-state">Succeeded<' in status
    assert f'data-testid="export-download" href="{export}"' in status
    download = browser.get(export)
    assert download.status_code == 200 and download.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(download.data)) as archive:
        assert len(archive.namelist()) == 5
    download.close()
    assert len(audit_reads(db_session, "payroll.payslips.export")) == 1


def test_officer_page_refuses_to_export_a_run_not_approved(app, officers, make_employee, login):
    maker, _ = officers
    make_employee()
    run_id = create_run(maker)
    browser = app.test_client()
    login(browser, maker.user)
    response = browser.post(f"/payroll/runs/{run_id}/payslips.pdf", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Only the payslips of an approved run can be exported." in html
    assert "Prepare the file" not in html
