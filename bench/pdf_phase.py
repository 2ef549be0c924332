"""Benchmark phase: PDF payslips per second in worker processes, GRP against bare WeasyPrint.

    python -m bench.pdf_phase --mode grp|bare [--documents 200] [--processes 2]

Both modes print the same payslips (the first `--documents` of the largest
department's approved run, read from the database with their lines, one PDF each)
with the same template (`modules/payroll/payslip_pdf.py`'s, or
templates/pdf/sample.html if the payroll module has none) in `--processes` spawned
worker processes, and time from the pool's start to the last PDF (workers' start-up
included in both):

* grp: `modules.payroll.payslip_pdf.render_in_workers` (what the run's ZIP and merged
  PDF use): each worker builds the app, imports WeasyPrint, keeps one renderer; the
  payslip data (plain dicts) travel to the workers, which render the Jinja template
  and then the PDF.
* bare: the HTML of each payslip rendered by Jinja here beforehand (not timed), then
  plain WeasyPrint in a multiprocessing pool: `HTML(string=...).write_pdf()` with one
  FontConfiguration and the parsed print stylesheet per worker, nothing else. The
  ceiling GRP is compared with.

Emits documents, seconds, documents per second (also "steady": from the first PDF
back to the last, start-up excluded), and the largest worker's peak memory
(ru_maxrss of the finished children).
"""

from __future__ import annotations

import grp_boot  # noqa: F401  (first: `grp` must be the GRP package)

import argparse
import json
import multiprocessing
import time
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from bench.common import children_peak_rss_mib, config_from_environment, emit, peak_rss_mib

LANGUAGE = "en"

# --------------------------------------------------------------------------- bare worker

_bare: dict[str, Any] = {}


def _bare_init(stylesheet: str) -> None:
    import weasyprint
    from weasyprint.text.fonts import FontConfiguration

    font_config = FontConfiguration()
    _bare["weasyprint"] = weasyprint
    _bare["font_config"] = font_config
    _bare["css"] = weasyprint.CSS(string=stylesheet, font_config=font_config)


def _bare_render(html: str) -> int:
    weasyprint = _bare["weasyprint"]
    document = weasyprint.HTML(string=html)
    pdf = document.write_pdf(stylesheets=[_bare["css"]], font_config=_bare["font_config"])
    return len(pdf)


# --------------------------------------------------------------------------- data


def _payslip_datas(app: Any, department_id: int, count: int) -> tuple[str, list[Any]]:
    """Return the template used and one render input per payslip of the approved run."""
    from sqlalchemy.orm import selectinload

    from grp.db import db
    from grp.models import Department
    from grp.tenancy import department_context
    from modules.payroll.models import PayrollRun, Payslip

    with app.app_context(), department_context(db.session, department_id):
        department = db.session.get(Department, department_id)
        run = db.session.scalar(
            sa.select(PayrollRun)
            .where(PayrollRun.state.in_(("approved", "posted", "paid")))
            .order_by(PayrollRun.period.desc())
        )
        if run is None:
            raise SystemExit("no approved payroll run in the largest department")
        slips = list(
            db.session.scalars(
                sa.select(Payslip)
                .where(Payslip.run_id == run.id)
                .options(selectinload(Payslip.lines))
                .order_by(Payslip.employee_no)
                .limit(count)
            )
        )
        try:
            from modules.payroll import payslip_pdf
        except ImportError:
            return "pdf/sample.html", [_sample_context(slip, department) for slip in slips]
        return payslip_pdf.TEMPLATE, [payslip_pdf.payslip_data(s, department, run) for s in slips]


def _sample_context(slip: Any, department: Any) -> dict[str, Any]:
    """The context of templates/pdf/sample.html for a payslip (before payslip PDFs existed)."""
    from types import SimpleNamespace

    return {
        "department": SimpleNamespace(name_en=department.name_en, name_ar=department.name_ar),
        "person": SimpleNamespace(
            name_en=slip.name_en, name_ar=slip.name_ar, number=slip.employee_no
        ),
        "period": f"{slip.pay_start:%Y-%m}",
        "currency": {"code": "AED", "name_ar": "درهم"},
        "lines": [
            {"label_en": line.name_en, "label_ar": line.name_ar, "amount": line.amount}
            for line in slip.lines
        ],
        "total": slip.net,
    }


def _context(template: str, data: Any) -> dict[str, Any]:
    return {"slips": [data]} if template.startswith("payroll/") else data


# --------------------------------------------------------------------------- modes


def _timed(documents: Iterator[Any]) -> tuple[int, float, float | None, int]:
    """Consume the PDFs; return count, total seconds, seconds after the first, bytes."""
    started = time.perf_counter()
    first_at = None
    count = size = 0
    for document in documents:
        if first_at is None:
            first_at = time.perf_counter()
        count += 1
        size += document if isinstance(document, int) else len(document)
    end = time.perf_counter()
    return count, end - started, (end - first_at) if first_at else None, size


def _run_grp(app: Any, template: str, datas: list[Any], processes: int) -> Any:
    try:
        from modules.payroll import payslip_pdf
    except ImportError:
        payslip_pdf = None
    if payslip_pdf is not None and template == payslip_pdf.TEMPLATE:
        return payslip_pdf.render_in_workers(
            ([data] for data in datas),
            processes=processes,
            language=LANGUAGE,
        )
    from grp.pdf import PdfTask, render_in_processes

    return render_in_processes(
        (PdfTask(template, data, LANGUAGE) for data in datas), processes=processes
    )


def _run_bare(app: Any, template: str, datas: list[Any], processes: int) -> Iterator[int]:
    from grp.pdf import STATIC_ROOT, get_renderer

    with app.app_context():
        renderer = get_renderer()
        htmls = [
            renderer.render_html(template, _context(template, data), language=LANGUAGE)
            for data in datas
        ]
    stylesheet = (STATIC_ROOT / "css" / "pdf.css").read_text(encoding="utf-8")

    def results() -> Iterator[int]:
        # The pool starts on the first next(), inside the timing, as GRP's does.
        pool = multiprocessing.get_context("spawn").Pool(
            processes, initializer=_bare_init, initargs=(stylesheet,)
        )
        try:
            yield from pool.imap(_bare_render, htmls, chunksize=1)
        finally:
            pool.close()
            pool.join()

    return results()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("grp", "bare"), required=True)
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()

    from grp.app import create_app

    fixtures = json.loads(config_from_environment().fixtures_file.read_text())
    app = create_app()
    template, datas = _payslip_datas(app, fixtures["department_id"], args.documents)
    # Both return a generator whose pool starts on the first PDF asked for; bare has
    # rendered its HTML by then (not timed).
    run = _run_grp if args.mode == "grp" else _run_bare
    with app.app_context():  # GRP renders each document's HTML here, timed
        count, seconds, steady, size = _timed(run(app, template, datas, args.processes))
    emit(
        {
            "mode": args.mode,
            "template": template,
            "processes": args.processes,
            "documents": count,
            "seconds": seconds,
            "per_second": count / seconds,
            "steady_per_second": (count - 1) / steady if steady else None,
            "kib_per_document": size / count / 1024 if count else None,
            "worker_peak_rss_mib": children_peak_rss_mib(),
            "parent_peak_rss_mib": peak_rss_mib(),
        }
    )


if __name__ == "__main__":
    main()
