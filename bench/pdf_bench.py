"""Print how fast GRP renders PDFs: documents per second in 1 and in N worker processes.

    .venv/bin/python bench/pdf_bench.py [--documents 200] [--processes 2]

Renders templates/pdf/sample.html (a one-page bilingual statement, like a payslip),
alternating English and Arabic readers. "in-process" reuses one renderer (what a job
does); "workers" uses grp.pdf.render_in_processes with spawned workers and includes
their start-up (the WeasyPrint import, in parallel); the HTML is rendered in this process.
Needs no database. Not part of the test run.
"""

from __future__ import annotations

import grp_boot  # noqa: F401  (first: `grp` must be the GRP package)

import argparse
import resource
import tempfile
import time
from pathlib import Path

from grp import pdf
from grp.app import create_app

TEMPLATE = "pdf/sample.html"


def rss_mib() -> float:
    """Return the resident memory of this process in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tasks(count: int) -> list[pdf.PdfTask]:
    """Return `count` sample documents, every other one for an Arabic reader."""
    context = pdf.sample_context()
    return [pdf.PdfTask(TEMPLATE, context, "ar" if n % 2 else "en") for n in range(count)]


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="grp-pdf-bench-") as instance:
        config = {
            "SECRET_KEY": "bench",
            "INSTANCE_PATH": instance,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance}/unused.sqlite3",
            "GRP_LOG_JSON": True,
        }
        app = create_app(config)
        with app.app_context():
            started = time.perf_counter()
            renderer = pdf.get_renderer()
            print(f"renderer created in {time.perf_counter() - started:.2f} s (WeasyPrint import)")
            pdf.render_pdf(TEMPLATE, pdf.sample_context(), language="en")  # warm up
            before = rss_mib()
            started = time.perf_counter()
            size = sum(len(document) for document in renderer.render_many(tasks(args.documents)))
            elapsed = time.perf_counter() - started
            print(
                f"in-process: {args.documents} documents in {elapsed:.1f} s = "
                f"{args.documents / elapsed:.1f} documents/s, "
                f"{1000 * elapsed / args.documents:.0f} ms each, "
                f"{size / args.documents / 1024:.0f} KiB each; "
                f"RSS {before:.0f} -> {rss_mib():.0f} MiB"
            )

        for processes in sorted({1, args.processes}):
            started = time.perf_counter()
            count = sum(
                1 for _ in pdf.render_in_processes(tasks(args.documents), processes=processes)
            )
            elapsed = time.perf_counter() - started
            print(
                f"workers={processes}: {count} documents in {elapsed:.1f} s = "
                f"{count / elapsed:.1f} documents/s (worker start-up included)"
            )


if __name__ == "__main__":
    main()
