"""Benchmark phase: the SQL the list, search and payslip endpoints run, and its plans.

    python -m bench.explain

Calls each endpoint through the app (Flask's test client, bearer token, the largest
department), records every SQL statement it sends (SQLAlchemy `before_cursor_execute`),
and runs `EXPLAIN (ANALYZE, BUFFERS)` of the statements that read the employee and
payroll tables, with the same parameters, as the app role under row-level security
(`grp.department_id` set as the app sets it). Writes every plan to
bench/results/plans.txt and emits, per scenario: statements per request, time in SQL,
and per statement the scans used (index or sequential) and the execution time.
"""

from __future__ import annotations

import grp_boot  # noqa: F401  (first: `grp` must be the GRP package)

import json
import re
import time
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import event

from bench.common import RESULTS, config_from_environment, emit

#: Statements on these tables are explained; the rest (tokens, users, roles) are counted.
EXPLAINED = re.compile(r"\b(hr_employees|payroll_payslips|payroll_payslip_lines|payroll_runs)\b")
SCAN = re.compile(
    r"((?:Parallel )?(?:Seq Scan|Index Scan|Index Only Scan|Bitmap Heap Scan|Bitmap Index Scan)"
    r"(?: Backward)?(?: using \S+)? on \S+|Bitmap Index Scan on \S+)"
)


def scenarios(fixtures: dict[str, Any], ids: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(name, token kind, path) of every request explained."""
    employee = ids["employee"]
    run = ids["run"]
    deep = max(1, ids["employees"] // 50 - 1)
    deep_slips = max(1, ids["payslips"] // 50 - 1)
    return [
        ("employees: first page by name", "officer", "/api/v1/hr/employees"),
        ("search: English name", "officer", f"/api/v1/hr/employees?q={quote(ids['name_en'])}"),
        (
            "search: Arabic family name",
            "officer",
            f"/api/v1/hr/employees?q={quote(ids['name_ar'])}",
        ),
        ("search: part of a name", "officer", "/api/v1/hr/employees?q=mans"),
        # Two words, one of them in most family names: each candidate of the longer word
        # is checked for the other.
        ("search: family name of two words", "officer", "/api/v1/hr/employees?q=al%20hammadi"),
        ("search: employee number", "officer", f"/api/v1/hr/employees?q={ids['employee_no']}"),
        ("search: Emirates ID", "officer", f"/api/v1/hr/employees?q={ids['emirates_id']}"),
        (
            "search: Emirates ID without dashes",
            "officer",
            f"/api/v1/hr/employees?q={ids['emirates_id'].replace('-', '')}",
        ),
        (
            "filter: org unit and sub-units",
            "officer",
            f"/api/v1/hr/employees?org_unit_id={ids['unit']}",
        ),
        ("filter: grade", "officer", "/api/v1/hr/employees?grade=8"),
        ("filter: status", "officer", "/api/v1/hr/employees?status=suspended"),
        ("filter: nationality", "officer", "/api/v1/hr/employees?nationality_category=gcc"),
        ("sort: hire date descending", "officer", "/api/v1/hr/employees?sort=-hire_date"),
        ("sort: grade", "officer", "/api/v1/hr/employees?sort=grade"),
        ("page: deep offset", "officer", f"/api/v1/hr/employees?page={deep}&per_page=50"),
        ("employee detail", "officer", f"/api/v1/hr/employees/{employee}"),
        ("payslips of a run: first page", "payroll", f"/api/v1/payroll/runs/{run}/payslips"),
        (
            "payslips of a run: deep page",
            "payroll",
            f"/api/v1/payroll/runs/{run}/payslips?page={deep_slips}",
        ),
        ("me/payslips", "self", "/api/v1/me/payslips"),
        ("WPS file", "payroll", f"/api/v1/payroll/runs/{run}/wps.sif"),
    ]


def _ids(app: Any, fixtures: dict[str, Any]) -> dict[str, Any]:
    from grp.db import db
    from grp.tenancy import department_context
    from modules.hr.models import Employee, OrgUnit
    from modules.payroll.models import PayrollRun, Payslip

    session = db.session
    with app.app_context(), department_context(session, fixtures["department_id"]):
        middle = fixtures["employee_ids"][len(fixtures["employee_ids"]) // 2]
        employee = session.scalar(sa.select(Employee).where(Employee.id == middle))
        run = session.scalar(sa.select(PayrollRun).order_by(PayrollRun.period.desc()))
        found = {
            "employee": employee.id,
            "name_en": employee.name_en.split(" ")[0],
            "name_ar": employee.name_ar.split(" ", 1)[-1],
            "employee_no": employee.employee_no,
            "emirates_id": employee.emirates_id,
            "unit": session.scalar(sa.select(OrgUnit.id).where(OrgUnit.code == "OPS")),
            "run": run.id,
            "employees": session.scalar(sa.select(sa.func.count()).select_from(Employee)),
            "payslips": session.scalar(
                sa.select(sa.func.count()).select_from(Payslip).where(Payslip.run_id == run.id)
            ),
        }
        session.rollback()
    return found


def main() -> None:
    from grp.app import create_app
    from grp.db import db

    config = config_from_environment()
    fixtures = json.loads(config.fixtures_file.read_text())
    app = create_app()
    ids = _ids(app, fixtures)
    tokens = {
        "officer": fixtures["officer_token"],
        "payroll": fixtures["payroll_token"],
        "self": fixtures["self_service_tokens"][0],
    }
    captured: list[tuple[str, Any, float]] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool):  # noqa: ANN202
        conn.info["bench_started"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool):  # noqa: ANN202
        captured.append((statement, parameters, time.perf_counter() - conn.info["bench_started"]))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", before)
        event.listen(db.engine, "after_cursor_execute", after)
    client = app.test_client()
    explainer = sa.create_engine(config.app_url, poolclass=sa.pool.NullPool)
    report: list[dict[str, Any]] = []
    text: list[str] = []
    for name, token, path in scenarios(fixtures, ids):
        headers = {
            "Authorization": f"Bearer {tokens[token]}",
            "X-GRP-Department": fixtures["department"],
        }
        client.get(path, headers=headers)  # warm: compiled-statement caches, buffers
        captured.clear()
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        elapsed = time.perf_counter() - started
        statements = list(captured)
        entry: dict[str, Any] = {
            "scenario": name,
            "path": path,
            "status": response.status_code,
            "request_ms": elapsed * 1000,
            "statements": len(statements),
            "sql_ms": sum(seconds for _, _, seconds in statements) * 1000,
            "plans": [],
        }
        text.append(
            f"=== {name}: GET {path} -> {response.status_code}, {len(statements)} statements"
        )
        for statement, parameters, seconds in statements:
            if not EXPLAINED.search(statement) or not statement.lstrip().upper().startswith(
                "SELECT"
            ):
                continue
            with explainer.begin() as connection:
                connection.execute(
                    sa.select(
                        sa.func.set_config(
                            "grp.department_id", str(fixtures["department_id"]), True
                        )
                    )
                )
                plan = [
                    row[0]
                    for row in connection.exec_driver_sql(
                        "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
                    )
                ]
            execution = next(
                (float(line.split(":")[1].split()[0]) for line in plan if "Execution Time" in line),
                None,
            )
            scans = sorted({match.group(1) for line in plan for match in SCAN.finditer(line)})
            entry["plans"].append(
                {
                    "sql": " ".join(statement.split())[:300],
                    "client_ms": seconds * 1000,
                    "execution_ms": execution,
                    "scans": scans,
                }
            )
            text.append("--- " + " ".join(statement.split()))
            text.append(f"    parameters: {parameters}")
            text.extend("    " + line for line in plan)
        report.append(entry)
        text.append("")
    explainer.dispose()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "plans.txt").write_text("\n".join(text) + "\n")
    emit({"scenarios": report, "ids": ids})


if __name__ == "__main__":
    main()
