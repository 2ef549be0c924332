"""PDF documents from Jinja templates, rendered by WeasyPrint.

Usage (inside an app context: a request, a CLI command or a job)::

    from grp.pdf import render_pdf
    data = render_pdf("payroll/payslip.html", {"payslip": ...}, language="ar")

Speed: `PdfRenderer` holds one WeasyPrint `FontConfiguration` and the parsed print
stylesheet (grp/static/css/pdf.css) and reuses them for every document; creating them
per document would cost several times the ~0.1 s a one-page document takes. One renderer
per process (`get_renderer()`); WeasyPrint (about 0.5 s to import) is imported by the
first renderer, so a web process that never renders a PDF never loads it.

Safety: a document fetches only the project's own static files (grp/static), named as
`/static/<path>` (what `url_for("static", ...)` gives; `pdf_static(path)` in templates)
or `grp-static:<path>`; `data:` URLs are allowed. Everything else (http(s) anywhere,
`file:` paths, other schemes, paths leaving grp/static) is refused before any network
or file access, and the rendering fails with `PdfError` naming the URL.

Language: templates render through the app's Jinja environment with the recipient's
language forced (Flask-Babel `force_locale`), so `locale`, `text_dir`, `localized()`
and `_()` follow the recipient, not whoever triggered the job.

Large runs (a payroll run of 10,000 payslips): render in worker processes started with
"spawn" or "forkserver" (`render_in_processes`): the calling process renders each
document's HTML from its template, each worker (no app, WeasyPrint only) lays it out
with one `FontConfiguration` and the parsed stylesheet; at most `window` documents are in
flight, so memory stays bounded whatever the run's size, and the caller counts progress
as documents come back, in order. Do not create a renderer in a process and then fork
it: Pango and Fontconfig state is not fork-safe (`get_renderer()` makes a new one in a
forked child).

System packages (Debian): libpango-1.0-0 and libpangoft2-1.0-0 (required),
libharfbuzz-subset0 (font subsetting in C; without it WeasyPrint subsets in Python,
about 4.5 times slower) and fonts-noto-core (Arabic). `init_pdf(app)` logs one warning
at start when any is missing.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import logging
import mimetypes
import multiprocessing
import os
import re
import shutil
import subprocess
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from decimal import Decimal
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

from flask import Flask, current_app, has_app_context, render_template

from grp.money import round_money

if TYPE_CHECKING:
    from weasyprint.urls import URLFetcher

logger = logging.getLogger(__name__)

STATIC_ROOT = Path(__file__).resolve().parent / "static"
STATIC_SCHEME = "grp-static"
#: The origin documents are rendered at. `.invalid` never resolves (RFC 6761): it is a
#: name that lets relative and `/static/...` URLs resolve, never a host that is contacted.
PDF_BASE_URL = "https://grp.invalid/"
STATIC_URL_PREFIX = PDF_BASE_URL + "static/"
#: Parsed once per renderer and applied to every document.
DEFAULT_STYLESHEETS: tuple[str, ...] = ("css/pdf.css",)

# Debian's fonts-noto-core; looked for only where fc-list is not installed.
_ARABIC_FONT_FILES = (
    "/usr/share/fonts/truetype/noto/NotoSansArabic-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoNaskhArabic-Regular.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansArabic-Regular.ttf",
    "/usr/share/fonts/opentype/noto/NotoNaskhArabic-Regular.ttf",
)


class PdfError(RuntimeError):
    """A PDF cannot be rendered (bad template, refused URL, missing static file)."""


class ForbiddenUrlError(PdfError):
    """A document asked for a URL outside the project's static files."""


class PdfTask(NamedTuple):
    """One document of a batch: which template, its context, the recipient's language."""

    template_name: str
    context: Mapping[str, Any]
    language: str


# --------------------------------------------------------------------------- URLs


def pdf_static(filename: str) -> str:
    """Return the URL under which a document fetches grp/static/<filename>."""
    return STATIC_URL_PREFIX + filename.lstrip("/")


def resolve_static_url(url: str) -> Path:
    """Return the file in grp/static that `url` names, or raise `ForbiddenUrlError`.

    Accepted: `grp-static:<path>` (any number of slashes after the colon) and
    `https://grp.invalid/static/<path>` (what `/static/<path>` resolves to against
    PDF_BASE_URL). The path must stay inside grp/static once decoded and resolved
    (symbolic links included) and name an existing file.
    """
    shown = url if len(url) <= 200 else url[:200] + "..."
    refusal = (
        f"PDF documents may fetch only the project's static files "
        f"(/static/<path> or {STATIC_SCHEME}:<path>) and data: URLs; refused {shown!r}"
    )
    if url[: len(STATIC_SCHEME) + 1].lower() == STATIC_SCHEME + ":":
        # Not parsed with urlsplit: in grp-static://css/x.css it would take "css" as a host.
        relative = url[len(STATIC_SCHEME) + 1 :].split("#", 1)[0].split("?", 1)[0]
    else:
        parts = urlsplit(url)
        prefix = urlsplit(STATIC_URL_PREFIX)
        origin = (parts.scheme.lower(), parts.netloc.lower())
        if origin != (prefix.scheme, prefix.netloc) or not parts.path.startswith(prefix.path):
            raise ForbiddenUrlError(refusal)
        relative = parts.path[len(prefix.path) :]
    # Slashes before the path are spelling (grp-static:///css/x.css); an encoded one
    # (%2F) or a backslash after decoding is an attempt to name another folder.
    relative = unquote(relative.lstrip("/"))
    if (
        not relative
        or relative.startswith("/")
        or "\\" in relative
        or "\x00" in relative
        or ".." in Path(relative).parts
    ):
        raise ForbiddenUrlError(refusal)
    root = STATIC_ROOT.resolve()
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root):
        raise ForbiddenUrlError(refusal)
    if not candidate.is_file():
        raise PdfError(f"no static file {relative!r} in grp/static (asked for {shown!r})")
    return candidate


@cache
def _static_fetcher_class() -> type[URLFetcher]:
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class StaticOnlyFetcher(URLFetcher):
        """WeasyPrint URL fetcher that serves grp/static and data: URLs, nothing else."""

        def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> Any:
            if url[:5].lower() == "data:":
                # WeasyPrint decodes data: URLs itself; allowed_protocols keeps it to that.
                return super().fetch(url, headers)
            path = resolve_static_url(url)
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if content_type.startswith("text/"):
                content_type += "; charset=utf-8"
            return URLFetcherResponse(
                url, path.read_bytes(), headers={"Content-Type": content_type}
            )

    return StaticOnlyFetcher


def make_url_fetcher(*, fail_on_errors: bool = True) -> URLFetcher:
    """Return a WeasyPrint URL fetcher that serves only grp/static and data: URLs.

    With `fail_on_errors` (the default) a refused or missing URL stops the rendering
    instead of leaving a document without its stylesheet or image.
    """
    return _static_fetcher_class()(
        allowed_protocols=("data",), allow_redirects=False, fail_on_errors=fail_on_errors
    )


# ----------------------------------------------------------------------- rendering


def format_amount(value: object) -> str:
    """Format money as printed on documents: 29,590.00 (Western digits in both languages)."""
    return f"{round_money(value):,.2f}"


class PdfRenderer:
    """Render HTML and Jinja templates to PDF, reusing fonts and stylesheets.

    Create one per process (see `get_renderer`). WeasyPrint's font configuration is
    not thread-safe, so a renderer lays out one document at a time (a lock: threads of
    a web server that render a download take turns; batches belong in processes).
    """

    def __init__(
        self,
        stylesheets: Sequence[str] = DEFAULT_STYLESHEETS,
        *,
        strict: bool = True,
        **pdf_options: Any,
    ) -> None:
        """Load WeasyPrint and parse `stylesheets` (paths under grp/static) once.

        `strict`: a URL that is refused or missing fails the document. `pdf_options`
        go to WeasyPrint's write_pdf (e.g. pdf_variant="pdf/a-3b").
        """
        progress_logger = logging.getLogger("weasyprint.progress")
        if progress_logger.level == logging.NOTSET:
            # Seven INFO lines per document would bury the logs of a payroll run.
            progress_logger.setLevel(logging.WARNING)
        import weasyprint
        from weasyprint.text.fonts import FontConfiguration
        from weasyprint.urls import FatalURLFetchingError

        self._weasyprint = weasyprint
        self._fatal_fetch_error = FatalURLFetchingError
        self.pid = os.getpid()
        self.font_config = FontConfiguration()
        self.url_fetcher = make_url_fetcher(fail_on_errors=strict)
        self.pdf_options = pdf_options
        # Images (a logo on every payslip) decoded once per renderer, keyed by URL;
        # bounded by the number of distinct static images.
        self._image_cache: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.stylesheets = [self._parse_stylesheet(name) for name in stylesheets]
        self._parsed_html = _parsed_html_class(weasyprint)

    def _parse_stylesheet(self, name: str) -> Any:
        path = resolve_static_url(pdf_static(name))
        with self._fetch_errors_as_pdf_error():
            return self._weasyprint.CSS(
                string=path.read_text(encoding="utf-8"),
                base_url=pdf_static(name),
                url_fetcher=self.url_fetcher,
                font_config=self.font_config,
            )

    @contextlib.contextmanager
    def _fetch_errors_as_pdf_error(self) -> Iterator[None]:
        # WeasyPrint raises FatalURLFetchingError, a BaseException, from a failing fetch
        # in strict mode; give callers an ordinary exception that names the URL's fault.
        try:
            yield
        except self._fatal_fetch_error as exc:
            cause = exc.__cause__
            if isinstance(cause, PdfError):
                raise type(cause)(str(cause)) from exc
            raise PdfError(f"{exc}: {cause}") from exc

    def document(self, html: str) -> Any:
        """WeasyPrint's document of `html`: its tree read by expat where `html` is also
        well-formed XML, as GRP's document templates write it, else by WeasyPrint's own
        HTML5 parser.

        The HTML5 parser is pure Python: about 12 ms of a payslip's 190 (6%), against a
        fraction of a millisecond for expat. Either tree lays out the same
        (tests/test_pdf.py compares the words' positions on the page).
        """
        root = xml_document_tree(html)
        if root is None:
            return self._weasyprint.HTML(
                string=html, base_url=PDF_BASE_URL, url_fetcher=self.url_fetcher
            )
        return self._parsed_html(root, PDF_BASE_URL, self.url_fetcher)

    def html_to_pdf(self, html: str) -> bytes:
        """Render an HTML string to PDF bytes with the renderer's stylesheets."""
        with self._lock, self._fetch_errors_as_pdf_error():
            document = self.document(html)
            return document.write_pdf(
                stylesheets=self.stylesheets,
                font_config=self.font_config,
                cache=self._image_cache,
                **self.pdf_options,
            )

    def render_html(self, template_name: str, context: Mapping[str, Any], *, language: str) -> str:
        """Render a template to HTML in the recipient's `language` (needs an app context)."""
        return render_document_html(template_name, context, language=language)

    def render(self, template_name: str, context: Mapping[str, Any], *, language: str) -> bytes:
        """Render a template to PDF bytes in the recipient's `language`."""
        return self.html_to_pdf(self.render_html(template_name, context, language=language))

    def render_many(self, tasks: Iterable[PdfTask]) -> Iterator[bytes]:
        """Render documents one after another, yielding each PDF as it is ready."""
        for task in tasks:
            yield self.render(task.template_name, task.context, language=task.language)


_XML_DOCTYPE = re.compile(r"\A\s*<!doctype html>", re.IGNORECASE)
#: What only a document type definition or a processing instruction has: left to the
#: HTML5 parser rather than read by expat (no entity declarations are ever expanded).
_XML_DECLARATIONS = re.compile(r"<!(doctype|entity|element|attlist)|<\?", re.IGNORECASE)


def xml_document_tree(html: str) -> Any | None:
    """The element tree of `html` read as XML (after its `<!doctype html>`), or None where
    it is not well-formed XML or not a plain `<html>` document, as the HTML5 parser would
    read it: named HTML entities, unclosed void elements, a namespace, a `<base>`."""
    text = _XML_DOCTYPE.sub("", html, count=1)
    if _XML_DECLARATIONS.search(text):
        return None
    try:
        # No DTD reaches expat (`_XML_DECLARATIONS`): no entity to expand, nothing to fetch.
        root = ElementTree.fromstring(text)  # noqa: S314
    except ElementTree.ParseError:
        return None
    if root.tag != "html" or root.find("head") is None or root.find("body") is None:
        return None
    if any("{" in element.tag or element.tag == "base" for element in root.iter()):
        return None
    return root


def _parsed_html_class(weasyprint: Any) -> type:
    """A `weasyprint.HTML` made from a tree parsed already (`xml_document_tree`).

    It sets what `HTML.__init__` sets after its parse, as that would for a document
    without `<base>` (tests/test_pdf.py checks the two alike).
    """
    import cssselect2
    from weasyprint.urls import ensure_url

    class ParsedHTML(weasyprint.HTML):  # type: ignore[name-defined,misc]
        def __init__(self, root: Any, base_url: str, url_fetcher: Any) -> None:  # noqa: D107
            # The parent's __init__ would parse a string: everything but that, here.
            self.base_url = ensure_url(base_url)
            self.url_fetcher = url_fetcher
            self.media_type = "print"
            self.wrapper_element = cssselect2.ElementWrapper.from_html_root(
                root, content_language=None
            )
            self.etree_element = self.wrapper_element.etree_element

    return ParsedHTML


def render_document_html(template_name: str, context: Mapping[str, Any], *, language: str) -> str:
    """Render a document template to HTML in the recipient's `language` (app context)."""
    if not has_app_context():
        raise PdfError(
            "rendering a PDF template needs an app context (with app.app_context(): ...)"
        )
    from flask_babel import force_locale

    if language not in current_app.config["GRP_LANGUAGES"]:
        raise PdfError(f"unknown language {language!r} for {template_name}")
    helpers = {"pdf_static": pdf_static, "format_amount": format_amount}
    with force_locale(language):
        return render_template(template_name, **{**helpers, **context})


_renderer: PdfRenderer | None = None
_renderer_lock = threading.Lock()


def get_renderer() -> PdfRenderer:
    """Return this process's renderer, creating it on first use (and after a fork)."""
    global _renderer
    with _renderer_lock:
        if _renderer is None or _renderer.pid != os.getpid():
            _renderer = PdfRenderer()
        return _renderer


def render_pdf(template_name: str, context: Mapping[str, Any], *, language: str) -> bytes:
    """Render `template_name` with `context` to PDF bytes, in the recipient's `language`."""
    return get_renderer().render(template_name, context, language=language)


def render_many(tasks: Iterable[PdfTask]) -> Iterator[bytes]:
    """Render a batch in this process, yielding PDFs in order (memory stays flat)."""
    return get_renderer().render_many(tasks)


# ------------------------------------------------------------------ worker processes


def _html_to_pdf_in_worker(html: str) -> bytes:
    """Lay out one document in a pool worker: WeasyPrint and this module only, no app."""
    return get_renderer().html_to_pdf(html)


def render_in_processes(
    tasks: Iterable[PdfTask],
    *,
    processes: int = 2,
    window: int | None = None,
    start_method: str = "spawn",
    max_tasks_per_child: int | None = None,
) -> Iterator[bytes]:
    """Render `tasks` in `processes` worker processes, yielding PDFs in task order.

    Call it in an app context: each task's template is rendered to HTML here (Jinja, a
    few milliseconds), and the workers only lay the HTML out and write the PDF (about
    a hundred milliseconds), each with one renderer that keeps WeasyPrint's fonts and
    the parsed stylesheet. A worker needs no app: it starts in the time WeasyPrint
    takes to import, not GRP's whole start-up (which made a 200-payslip batch in two
    workers 20% slower than bare WeasyPrint; bench/pdf_phase.py measures both).

    At most `window` documents (default 4 per process) are queued or waiting to be
    consumed, so a run of any size needs memory for that many documents only; `tasks`
    may be a generator that reads the run in chunks. Count progress as results come
    back. `max_tasks_per_child` replaces a worker after that many documents, a
    backstop against slow leaks in very long runs. A failing document raises its
    exception here; the remaining work is cancelled.
    """
    if start_method == "fork":
        raise ValueError("use 'spawn' or 'forkserver': Pango and Fontconfig are not fork-safe")
    window = window or processes * 4
    pool = ProcessPoolExecutor(
        max_workers=processes,
        mp_context=multiprocessing.get_context(start_method),
        # A worker imports `grp_boot` first so that `grp` is this package (see
        # grp_boot.py), before the tasks that name functions of grp.pdf arrive.
        initializer=__import__,
        initargs=("grp_boot",),
        max_tasks_per_child=max_tasks_per_child,
    )
    pending: deque[Future[bytes]] = deque()
    try:
        for task in tasks:
            html = render_document_html(task.template_name, task.context, language=task.language)
            pending.append(pool.submit(_html_to_pdf_in_worker, html))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------ start-up dependencies


def _arabic_font_installed() -> bool:
    fc_list = shutil.which("fc-list")
    if fc_list is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            found = subprocess.run(  # noqa: S603 - fixed arguments, no shell
                [fc_list, ":lang=ar", "family"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            if found.returncode == 0:
                return bool(found.stdout.strip())
    return any(Path(name).is_file() for name in _ARABIC_FONT_FILES)


def check_pdf_dependencies() -> list[str]:
    """Return the Debian packages PDF rendering misses here, each with what it costs."""
    missing = []
    if ctypes.util.find_library("pango-1.0") is None:
        missing.append("libpango-1.0-0 (required: PDFs cannot be rendered)")
    if ctypes.util.find_library("pangoft2-1.0") is None:
        missing.append("libpangoft2-1.0-0 (required: PDFs cannot be rendered)")
    if ctypes.util.find_library("harfbuzz-subset") is None:
        missing.append("libharfbuzz-subset0 (fonts are subset in Python: about 4.5x slower)")
    if not _arabic_font_installed():
        missing.append("fonts-noto-core (no font covers Arabic: Arabic text is unreadable)")
    return missing


@cache
def _missing_dependencies_once() -> tuple[str, ...]:
    # Once per process: create_app runs for every test, and the answer cannot change.
    return tuple(check_pdf_dependencies())


def init_pdf(app: Flask) -> None:
    """Warn once in the log when system packages PDF rendering needs are missing.

    Cheap (a cached ldconfig and fc-list lookup) and never imports WeasyPrint.
    """
    missing = _missing_dependencies_once()
    if missing:
        logger.warning(
            "PDF rendering is degraded; install the Debian packages: %s",
            "; ".join(missing),
            extra={"event": "pdf_dependencies_missing"},
        )


def sample_context() -> dict[str, Any]:
    """Return the context of templates/pdf/sample.html used by the tests and bench/."""
    lines = [
        ("Basic salary", "الراتب الأساسي", "18000.00"),
        ("Housing allowance", "بدل السكن", "7500.00"),
        ("Transport allowance", "بدل المواصلات", "2590.00"),
        ("Other allowances", "بدلات أخرى", "1500.00"),
    ]
    amounts = [Decimal(amount) for _, _, amount in lines]
    return {
        # Objects, as services pass them (localized() reads attributes); picklable for
        # worker processes.
        "department": SimpleNamespace(
            name_en="General Command of Police", name_ar="القيادة العامة للشرطة"
        ),
        "person": SimpleNamespace(
            name_en="Mariam Khalid Al Mansoori", name_ar="مريم خالد المنصوري", number="E-004217"
        ),
        "period": "2026-03",
        "currency": {"code": "AED", "name_ar": "درهم"},
        "lines": [
            {"label_en": en, "label_ar": ar, "amount": amount}
            for (en, ar, _), amount in zip(lines, amounts, strict=True)
        ],
        "total": sum(amounts, Decimal("0")),
    }
