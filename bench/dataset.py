"""Build the benchmark's data set: a fresh `grp_bench` database, migrated and seeded.

    create_database(config)   drop and create grp_bench (as the postgres superuser)
    upgrade(config)           `grp db upgrade` (migrations as the owner; grants the app role)
    seed(config, ...)         `grp seed-demo --employees N --largest L`, timed
    python -m bench.dataset fixtures
                              users and API tokens the later phases need

Only the database `grp_bench` and the role `grp_bench_app` are created; nothing else
is left behind on the server.
"""

from __future__ import annotations

import grp_boot  # noqa: F401  (first: `grp` must be the GRP package)

import json
import random
import subprocess
import sys
import time
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from bench.common import GRP, LARGEST, ROOT, BenchConfig, emit, peak_rss_mib

#: Self-service users (role `employee`) linked to employees of LARGEST, for me/payslips.
SELF_SERVICE_USERS = 16
#: API tokens per user that the load uses: at least as many tokens as wrk has requests in
#: flight, so that concurrent requests rarely share a token (every request writes its
#: token's `last_used_at`, a row lock held until the request ends; see the README).
TOKENS_PER_USER = {"officer": 64, "self_service": 4}
BENCH_PASSWORD = "grp-bench-password-2026"  # noqa: S105 - a throw-away benchmark database


def _server_engine(config: BenchConfig) -> sa.Engine:
    return sa.create_engine(
        f"{config.server}/postgres", isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )


def create_database(config: BenchConfig) -> None:
    """Drop and create the bench database, and the app role if it is missing."""
    engine = _server_engine(config)
    with engine.connect() as connection:
        connection.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": config.database},
        )
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{config.database}"')
        connection.exec_driver_sql(f'CREATE DATABASE "{config.database}"')
        if not connection.scalar(
            sa.text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": config.app_role}
        ):
            connection.exec_driver_sql(
                f'CREATE ROLE "{config.app_role}" LOGIN NOSUPERUSER NOBYPASSRLS '
                "NOCREATEDB NOCREATEROLE"
            )
    engine.dispose()


def _grp(config: BenchConfig, *args: str, log_name: str) -> float:
    """Run a `grp` command against the bench database; return its wall time."""
    log = ROOT / "bench" / "results" / f"{log_name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log.open("w") as out:
        finished = subprocess.run(  # noqa: S603 - our own console script
            [GRP, *args],
            cwd=ROOT,
            env=config.environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    elapsed = time.perf_counter() - started
    if finished.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-20:])
        raise RuntimeError(f"grp {' '.join(args)} failed; {log}:\n{tail}")
    return elapsed


def upgrade(config: BenchConfig) -> float:
    """Migrate the bench database (`grp db upgrade`); return the seconds it took."""
    config.instance.mkdir(parents=True, exist_ok=True)
    return _grp(config, "db", "upgrade", log_name="db_upgrade")


def seed(config: BenchConfig, *, employees: int, largest: int) -> float:
    """Run `grp seed-demo`; return its wall time (process start-up included)."""
    return _grp(
        config,
        "seed-demo",
        "--employees",
        str(employees),
        "--largest",
        str(largest),
        log_name="seed_demo",
    )


def analyze(config: BenchConfig) -> float:
    """VACUUM ANALYZE the fresh data, as autovacuum soon would in production.

    Statistics make the plans the steady ones; the visibility map lets index-only scans
    (the search words) skip the table. Done here because a server may run with
    autovacuum off (this project's development VMs do).
    """
    engine = sa.create_engine(config.owner_url, isolation_level="AUTOCOMMIT")
    started = time.perf_counter()
    with engine.connect() as connection:
        connection.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    return time.perf_counter() - started


def make_fixtures() -> dict[str, Any]:
    """Create the benchmark's users and tokens (in the bench database); return them.

    - `bench.maker` and `bench.checker`: system administrators; one computes the
      payroll runs, the other approves them (maker-checker);
    - SELF_SERVICE_USERS users with the `employee` role in LARGEST, each linked to
      one of its employees (for me/payslips);
    - API tokens for the HR officer `police.hr` (search and detail: TOKENS_PER_USER of
      them, as if that many clients), the payroll officer `police.payroll` (WPS file)
      and each self-service user.
    """
    from grp.app import create_app
    from grp.audit import set_actor
    from grp.auth import services
    from grp.db import db
    from grp.models import Department, User
    from grp.tenancy import department_context
    from modules.hr.models import Employee

    app = create_app()
    with app.app_context():
        session = db.session
        set_actor(session, None, "bench")
        department = session.scalar(sa.select(Department).where(Department.code == LARGEST))
        users = {}
        for username in ("bench.maker", "bench.checker"):
            users[username] = services.create_user(
                session,
                username=username,
                password=BENCH_PASSWORD,
                name=f"Benchmark {username.split('.')[1]}",
                roles=[(LARGEST, "system_admin")],
            )
        with department_context(session, department.id):
            candidates = list(
                session.execute(
                    sa.select(Employee.id, Employee.employee_no)
                    .where(
                        Employee.user_id.is_(None),
                        Employee.status == "active",
                        Employee.hire_date < date(2026, 11, 1),
                    )
                    .order_by(Employee.id)
                ).all()
            )
            chosen = random.Random(2026).sample(candidates, SELF_SERVICE_USERS)  # noqa: S311
            self_service = []
            for employee_id, employee_no in chosen:
                user = services.create_user(
                    session,
                    username=f"bench.{employee_no.lower()}",
                    password=BENCH_PASSWORD,
                    name=f"Benchmark employee {employee_no}",
                    roles=[(LARGEST, "employee")],
                )
                session.execute(
                    sa.update(Employee)
                    .where(Employee.id == employee_id)
                    .values(user_id=user.id, version_id=Employee.version_id + 1)
                    .execution_options(synchronize_session=False)
                )
                self_service.append(user)
            employee_ids = list(session.scalars(sa.select(Employee.id).order_by(Employee.id)))
            search_terms = _search_terms(
                session.execute(
                    sa.select(
                        Employee.name_en,
                        Employee.name_ar,
                        Employee.employee_no,
                        Employee.emirates_id,
                    )
                    .order_by(Employee.id)
                    .limit(5000)
                ).all()
            )
        lifetime = timedelta(hours=12)

        def token(user: User, name: str) -> str:
            return services.create_api_token(session, user, lifetime=lifetime, name=name)[0]

        by_name = {u.username: u for u in session.scalars(sa.select(User))}
        fixtures = {
            "department": LARGEST,
            "department_id": department.id,
            "maker_id": users["bench.maker"].id,
            "checker_id": users["bench.checker"].id,
            "officer_token": token(by_name["police.hr"], "bench-hr"),
            "officer_tokens": [
                token(by_name["police.hr"], f"bench-hr-{n}")
                for n in range(TOKENS_PER_USER["officer"])
            ],
            "payroll_token": token(by_name["police.payroll"], "bench-payroll"),
            "self_service_tokens": [
                token(user, f"bench-self-{n}")
                for n in range(TOKENS_PER_USER["self_service"])
                for user in self_service
            ],
            "employee_ids": employee_ids,
            "search_terms": search_terms,
        }
        session.commit()
    return fixtures


def _search_terms(rows: list[Any]) -> list[str]:
    """What officers type in the employee search: names (either language, whole or part),
    employee numbers (whole or a prefix) and Emirates IDs (with or without dashes)."""
    rng = random.Random(6)  # noqa: S311 - benchmark data
    terms: list[str] = []
    for name_en, name_ar, employee_no, emirates_id in rng.sample(rows, 12):
        first_en, _, family_en = name_en.partition(" ")
        first_ar, _, family_ar = name_ar.partition(" ")
        terms += [
            first_en,
            family_en.lower(),
            name_en,
            first_ar,
            family_ar,
            employee_no,
            emirates_id,
            emirates_id.replace("-", ""),
            first_en[:4].lower(),
            employee_no[:-2],
        ]
    return terms


def main() -> None:
    if sys.argv[1:] != ["fixtures"]:
        raise SystemExit("usage: python -m bench.dataset fixtures")
    from bench.common import config_from_environment

    config = config_from_environment()
    started = time.perf_counter()
    fixtures = make_fixtures()
    config.fixtures_file.write_text(json.dumps(fixtures))
    emit(
        {
            "seconds": time.perf_counter() - started,
            "self_service_tokens": len(fixtures["self_service_tokens"]),
            "employees_in_largest": len(fixtures["employee_ids"]),
            "peak_rss_mib": peak_rss_mib(),
        }
    )


if __name__ == "__main__":
    main()
