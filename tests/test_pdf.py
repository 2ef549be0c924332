"""The PDF service: bilingual text, Arabic shaped and right to left, the URL fetcher that
serves only the project's static files, worker processes, and flat memory over a batch.

Text and page images are read back with Debian's poppler-utils (pdftotext, pdftoppm):
skipped with a reason where it is missing, failed under CI (scripts/test installs it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from grp import pdf
from grp.app import PROJECT_ROOT, create_app

SAMPLE = "pdf/sample.html"
NAME_AR = "مريم خالد المنصوري"
TOTAL = "29,590.00"
# Direction marks pdftotext wraps right-to-left runs in (RLE, PDF, LRM, RLM, isolates).
BIDI_CONTROLS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def poppler(tool: str) -> str:
    """Return the path of a poppler-utils tool; skip locally, fail under CI, when missing."""
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} not found: apt-get install poppler-utils (scripts/test does as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_poppler(tool: str, *arguments: str, cwd: Path | None = None) -> str:
    """Run a poppler-utils tool and return what it printed."""
    return subprocess.run(  # noqa: S603 - a poppler tool found on PATH, our own arguments
        [poppler(tool), *arguments], capture_output=True, text=True, check=True, cwd=cwd
    ).stdout


def pdf_text(path: Path, *options: str) -> str:
    """Return the PDF's text, NFKC-normalised (presentation forms to letters), marks removed."""
    output = run_poppler("pdftotext", *options, str(path), "-")
    return BIDI_CONTROLS.sub("", unicodedata.normalize("NFKC", output))


def rss_mib() -> float:
    """Return this process's resident memory in MiB (peak RSS where /proc is missing)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def app_config(instance: Path) -> dict[str, Any]:
    # Rendering needs the app's templates and Babel, not a database: nothing migrates.
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "INSTANCE_PATH": str(instance),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'unused.sqlite3'}",
        "GRP_LOG_JSON": True,
    }


@pytest.fixture(scope="module")
def pdf_config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return app_config(tmp_path_factory.mktemp("pdf-instance"))


@pytest.fixture(scope="module")
def pdf_app(pdf_config: dict[str, Any]) -> Iterator[Flask]:
    app = create_app(pdf_config)
    with app.app_context():
        yield app


@pytest.fixture(scope="module")
def renderer(pdf_app: Flask) -> pdf.PdfRenderer:
    return pdf.get_renderer()


@pytest.fixture(scope="module")
def sample_pdfs(renderer: pdf.PdfRenderer, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The sample document rendered for an English and an Arabic reader, as files."""
    folder = tmp_path_factory.mktemp("pdf")
    paths = {}
    for language in ("en", "ar"):
        path = folder / f"sample-{language}.pdf"
        path.write_bytes(pdf.render_pdf(SAMPLE, pdf.sample_context(), language=language))
        paths[language] = path
    return paths


# ------------------------------------------------------------------------ the document


@pytest.mark.parametrize("language", ["en", "ar"])
def test_text_has_the_arabic_name_in_logical_order_and_the_total(sample_pdfs, language):
    path = sample_pdfs[language]
    assert path.read_bytes().startswith(b"%PDF-")
    for options in ((), ("-layout",)):
        text = pdf_text(path, *options)
        assert NAME_AR in text, text
        assert TOTAL in text
        assert "Mariam Khalid Al" in text
        assert "General Command of Police" in text
        assert "القيادة العامة للشرطة" in text
        assert "18,000.00" in text


def test_arabic_runs_right_to_left_on_the_page(sample_pdfs):
    """The name's first word (logical order) is printed to the right of its last word."""
    bbox = run_poppler("pdftotext", "-bbox", str(sample_pdfs["en"]), "-")
    # -bbox gives each word's characters in visual (left to right) order.
    words = {
        unicodedata.normalize("NFKC", text)[::-1]: float(x_min)
        for x_min, text in re.findall(r'<word xMin="([\d.]+)"[^>]*>([^<]+)</word>', bbox)
    }
    first, middle, last = NAME_AR.split()
    assert words[first] > words[middle] > words[last], words
    a4_width_pt = 595.28
    assert words[last] > a4_width_pt / 2, "the Arabic name is on the right half of the page"


@pytest.mark.parametrize("language", ["en", "ar"])
def test_bilingual_pairs_share_a_line_from_margin_to_margin(sample_pdfs, language):
    """The header's English starts at the left margin and its Arabic ends at the right one,
    on the same line, whatever the reader's language (templates/pdf/macros.html)."""
    bbox = run_poppler("pdftotext", "-bbox", str(sample_pdfs[language]), "-")
    words = [
        (unicodedata.normalize("NFKC", text), float(x0), float(y0), float(x1), float(y1))
        for x0, y0, x1, y1, text in re.findall(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]+)</word>',
            bbox,
        )
    ]
    margin = 15 / 25.4 * 72  # pdf.css: @page margin, left and right
    right_edge = 595.28 - margin
    english = next(w for w in words if w[0] == "General")
    arabic = [w for w in words if w[0][::-1] in {"القيادة", "العامة", "للشرطة"}]
    assert len(arabic) == 3, words[:12]
    assert english[1] == pytest.approx(margin, abs=1.0)
    assert max(w[3] for w in arabic) == pytest.approx(right_edge, abs=1.0)
    middle = (english[2] + english[4]) / 2
    assert all(w[2] < middle < w[4] for w in arabic), (english, arabic)


def test_arabic_letters_are_joined(renderer, tmp_path):
    """HarfBuzz shapes Arabic: a joined word is narrower than its letters kept apart."""
    from PIL import Image, ImageOps

    def ink_width(text: str, name: str) -> int:
        html = (
            '<p lang="ar" dir="rtl" style="font-family: \'Noto Sans Arabic\'; '
            f'font-size: 36pt">{text}</p>'
        )
        (tmp_path / f"{name}.pdf").write_bytes(renderer.html_to_pdf(html))
        run_poppler(
            "pdftoppm",
            "-png",
            "-gray",
            "-r",
            "50",
            "-singlefile",
            f"{name}.pdf",
            name,
            cwd=tmp_path,
        )
        with Image.open(tmp_path / f"{name}.png") as image:
            # The top of the page only: the page number is printed at the bottom.
            top = image.convert("L").crop((0, 0, image.width, image.height // 4))
            box = ImageOps.invert(top).getbbox()
        assert box is not None, f"nothing printed for {name}"
        return box[2] - box[0]

    word = "المنصوري"
    joined = ink_width(word, "joined")
    # Zero-width non-joiners between the letters forbid joining: isolated forms.
    apart = ink_width("\u200c".join(word), "apart")
    print(f"\nink width of {word!r}: {joined} px joined, {apart} px with letters apart")
    assert joined < apart * 0.9, (joined, apart)


def test_page_image_is_saved_and_shows_both_columns(sample_pdfs, tmp_path):
    from PIL import Image, ImageOps

    run_poppler(
        "pdftoppm", "-png", "-r", "100", "-singlefile", str(sample_pdfs["ar"]), "page", cwd=tmp_path
    )
    png = tmp_path / "page.png"
    assert png.stat().st_size > 20_000
    with Image.open(png) as image:
        # A4 (210 x 297 mm) at 100 dpi, give or take poppler's rounding.
        assert abs(image.width - 827) <= 1 and abs(image.height - 1169) <= 1, image.size
        ink = ImageOps.invert(image.convert("L"))
        width, height = image.size
        # The header prints English on the left half and Arabic on the right half.
        left = ink.crop((0, 0, width // 2, height // 6)).getbbox()
        right = ink.crop((width // 2, 0, width, height // 6)).getbbox()
    assert left is not None and right is not None
    print(f"\npage image: {png}")


def test_recipient_language_sets_direction_and_title(renderer):
    arabic = renderer.render_html(SAMPLE, pdf.sample_context(), language="ar")
    english = renderer.render_html(SAMPLE, pdf.sample_context(), language="en")
    assert '<html lang="ar" dir="rtl">' in arabic
    assert f"بيان المبالغ · {NAME_AR}</title>" in arabic
    assert '<html lang="en" dir="ltr">' in english
    assert "Statement of amounts · Mariam Khalid Al Mansoori</title>" in english
    with pytest.raises(pdf.PdfError, match="unknown language"):
        renderer.render_html(SAMPLE, pdf.sample_context(), language="fr")


def test_rendering_a_template_needs_an_app_context(renderer):
    import contextvars

    # A fresh context has no app context pushed (the module's fixture pushed one).
    with pytest.raises(pdf.PdfError, match="app context"):
        contextvars.Context().run(renderer.render_html, SAMPLE, pdf.sample_context(), language="en")


# ------------------------------------------------------------------------ URL fetcher


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if anything tries to open a network connection."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the PDF URL fetcher opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/x.css",
        "https://example.com/x.css",
        "file:///etc/passwd",
        "ftp://example.com/x.css",
        "grp-static:../../pyproject.toml",
        "grp-static:%2e%2e/%2e%2e/pyproject.toml",
        "grp-static:/%2Fetc%2Fpasswd",
        "https://grp.invalid/static/../../pyproject.toml",
        "https://grp.invalid/grp/app.py",
        "http://grp.invalid.example.com/static/css/grp.css",
        "/etc/passwd",
    ],
)
def test_url_fetcher_refuses_anything_but_static_files(renderer, no_network, url):
    with pytest.raises(pdf.ForbiddenUrlError, match="refused"):
        renderer.url_fetcher.fetch(url)


def test_url_fetcher_refuses_a_link_leaving_the_static_folder(monkeypatch, tmp_path, renderer):
    static = tmp_path / "static"
    (static / "css").mkdir(parents=True)
    (static / "css" / "ok.css").write_text("p { color: red }")
    (static / "css" / "escape.css").symlink_to(PROJECT_ROOT / "pyproject.toml")
    monkeypatch.setattr(pdf, "STATIC_ROOT", static)
    assert renderer.url_fetcher.fetch("grp-static:css/ok.css").read() == b"p { color: red }"
    with pytest.raises(pdf.ForbiddenUrlError):
        renderer.url_fetcher.fetch("grp-static:css/escape.css")


@pytest.mark.parametrize(
    ("url", "filename"),
    [
        ("grp-static:css/grp.css", "css/grp.css"),
        ("grp-static:///css/pdf.css", "css/pdf.css"),
        ("https://grp.invalid/static/css/pdf.css", "css/pdf.css"),
        (pdf.pdf_static("css/grp.css"), "css/grp.css"),
    ],
)
def test_url_fetcher_serves_the_projects_static_files(renderer, no_network, url, filename):
    response = renderer.url_fetcher.fetch(url)
    try:
        assert response.read() == (pdf.STATIC_ROOT / filename).read_bytes()
        assert response.content_type == "text/css"
    finally:
        response.close()


def test_url_fetcher_reports_a_missing_static_file(renderer):
    with pytest.raises(pdf.PdfError, match="no static file"):
        renderer.url_fetcher.fetch("grp-static:css/missing.css")


def test_a_document_with_an_outside_url_fails_and_names_it(renderer, no_network):
    with pytest.raises(pdf.ForbiddenUrlError, match="example.com"):
        renderer.html_to_pdf('<link rel="stylesheet" href="http://example.com/x.css"><p>x</p>')
    with pytest.raises(pdf.ForbiddenUrlError, match="passwd"):
        renderer.html_to_pdf('<p><img src="file:///etc/passwd" alt=""></p>')


def test_a_document_may_use_static_files_and_data_urls(renderer, no_network):
    pixel = (
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
        "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    html = (
        '<link rel="stylesheet" href="/static/css/grp.css">'
        f'<link rel="stylesheet" href="grp-static:css/pdf.css"><p><img src="{pixel}" alt=""></p>'
    )
    assert renderer.html_to_pdf(html).startswith(b"%PDF-")


# ----------------------------------------------------------------- processes and memory


def test_documents_render_in_spawned_worker_processes(pdf_app, tmp_path):
    tasks = [pdf.PdfTask(SAMPLE, pdf.sample_context(), language) for language in ("en", "ar")]
    started = time.perf_counter()
    documents = list(pdf.render_in_processes(tasks * 2, processes=2))
    print(f"\n4 documents in 2 spawned workers: {time.perf_counter() - started:.1f} s")
    assert len(documents) == 4
    for number, document in enumerate(documents):
        path = tmp_path / f"worker-{number}.pdf"
        path.write_bytes(document)
        text = pdf_text(path)
        assert NAME_AR in text and TOTAL in text
        # In task order, each in its reader's language (the title is the PDF's metadata).
        title = "بيان المبالغ" if number % 2 else "Statement of amounts"
        assert re.search(rf"^Title:\s+{title} · ", run_poppler("pdfinfo", str(path)), re.M)
    with pytest.raises(ValueError, match="fork-safe"):
        next(pdf.render_in_processes(tasks, start_method="fork"))


def test_memory_stays_flat_over_many_documents(renderer, capsys):
    context = pdf.sample_context()
    for _ in range(10):  # warm up: fonts, caches, allocator arenas
        pdf.render_pdf(SAMPLE, context, language="en")
    before = rss_mib()
    count = 60
    started = time.perf_counter()
    for number in range(count):
        pdf.render_pdf(SAMPLE, context, language="ar" if number % 2 else "en")
    elapsed = time.perf_counter() - started
    growth = rss_mib() - before
    with capsys.disabled():
        print(
            f"\nPDF memory: RSS {before:.1f} MiB before, +{growth:.1f} MiB after {count} "
            f"documents; {1000 * elapsed / count:.0f} ms per document"
        )
    # A leak of a document per document (~20 KiB of PDF, far more in layout objects)
    # would pass this only if each leaked under 250 KiB; measured growth is ~1-3 MiB.
    assert growth < 20, f"RSS grew {growth:.1f} MiB over {count} documents"


# -------------------------------------------------------------------- start-up check


def test_start_up_warns_once_when_system_packages_are_missing(pdf_config, monkeypatch, caplog):
    monkeypatch.setattr(pdf.ctypes.util, "find_library", lambda name: None)
    monkeypatch.setattr(pdf, "_arabic_font_installed", lambda: False)
    missing = pdf.check_pdf_dependencies()
    assert any(item.startswith("libharfbuzz-subset0") for item in missing)
    assert any(item.startswith("fonts-noto-core") for item in missing)
    monkeypatch.setattr(pdf, "_missing_dependencies_once", lambda: tuple(missing))
    caplog.set_level("WARNING", logger="grp.pdf")
    create_app(pdf_config)
    records = [r for r in caplog.records if r.name == "grp.pdf"]
    assert len(records) == 1
    assert records[0].levelname == "WARNING"
    assert records[0].event == "pdf_dependencies_missing"
    assert "libharfbuzz-subset0" in records[0].getMessage()


def test_this_machine_has_the_system_packages():
    missing = pdf.check_pdf_dependencies()
    if missing and not os.environ.get("CI"):
        pytest.skip(f"missing here (scripts/test installs them as root): {missing}")
    assert missing == []


def test_starting_the_app_does_not_import_weasyprint(pdf_config):
    code = (
        "import grp_boot, json, sys\n"
        "from grp.app import create_app\n"
        "create_app(json.loads(sys.argv[1]))\n"
        "assert 'weasyprint' not in sys.modules, 'create_app imported weasyprint'\n"
    )
    subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code, json.dumps(pdf_config)],
        cwd=PROJECT_ROOT,
        check=True,
        timeout=60,
    )


# ------------------------------------------------------------- the tree read by expat


def _word_boxes(pdf_bytes: bytes, folder: Path, name: str) -> str:
    path = folder / name
    path.write_bytes(pdf_bytes)
    return run_poppler("pdftotext", "-bbox", str(path), "-")


def test_xml_tree_is_read_for_grp_templates_and_lays_out_as_the_html5_tree(
    renderer, pdf_app, tmp_path, monkeypatch
):
    """GRP's document templates are also well-formed XML: expat reads them, and every word
    lands where it lands with WeasyPrint's own HTML5 parser."""
    for language in ("en", "ar"):
        html = renderer.render_html(SAMPLE, pdf.sample_context(), language=language)
        assert pdf.xml_document_tree(html) is not None
        fast = _word_boxes(renderer.html_to_pdf(html), tmp_path, f"fast-{language}.pdf")
        with monkeypatch.context() as patched:
            patched.setattr(pdf, "xml_document_tree", lambda html: None)
            slow = _word_boxes(renderer.html_to_pdf(html), tmp_path, f"slow-{language}.pdf")
        assert fast.count("<word ") > 50
        assert fast == slow


def test_the_parsed_document_is_what_weasyprint_makes_of_the_string(renderer):
    """`PdfRenderer.document` of a tree sets what WeasyPrint's HTML sets after parsing a
    string (a WeasyPrint release that sets more fails here)."""
    html = renderer.render_html(SAMPLE, pdf.sample_context(), language="en")
    from_tree = renderer.document(html)
    from_string = renderer._weasyprint.HTML(
        string=html, base_url=pdf.PDF_BASE_URL, url_fetcher=renderer.url_fetcher
    )
    assert type(from_tree) is not type(from_string)
    assert isinstance(from_tree, type(from_string))
    assert vars(from_tree).keys() == vars(from_string).keys()
    for key in ("base_url", "media_type", "url_fetcher"):
        assert getattr(from_tree, key) == getattr(from_string, key)
    assert from_tree.etree_element.tag == from_string.etree_element.tag == "html"


@pytest.mark.parametrize(
    "html",
    [
        "<html><head></head><body>a&nbsp;b</body></html>",  # a named HTML entity
        "<html><head><meta charset='utf-8'></head><body></body></html>",  # a void element
        "<p>a fragment</p>",
        "<html><body>no head</body></html>",
        '<html xmlns="http://www.w3.org/1999/xhtml"><head/><body/></html>',
        "<html><head><base href='https://example.org/'/></head><body/></html>",
        '<!DOCTYPE html [<!ENTITY e "x">]><html><head/><body>&e;</body></html>',
        "<?xml-stylesheet href='x'?><html><head/><body/></html>",
        "<html><head/><body>a < b</body></html>",
    ],
)
def test_documents_that_are_not_plain_xml_go_to_the_html5_parser(renderer, html):
    assert pdf.xml_document_tree(html) is None
    assert type(renderer.document(html)) is renderer._weasyprint.HTML


def test_a_plain_xml_document_is_read_by_expat():
    root = pdf.xml_document_tree(
        "<!DOCTYPE html>\n<html lang='ar'><head><meta charset='utf-8' /></head>"
        "<body><p dir='rtl'>أ &amp; ب &#39;</p></body></html>"
    )
    assert root is not None and root.get("lang") == "ar"
    assert root.find("body/p").text == "أ & ب '"
