"""Two officers creating the month's regular run at once get one run (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from grp.db import db
from grp.tenancy import set_current_department


@pytest.mark.postgres
def test_concurrent_regular_runs_make_one(app, payroll_departments):
    from modules.payroll.models import PayrollRun
    from modules.payroll.services import DuplicateRunError, create_run

    police = payroll_departments["POLICE"].id
    ready = threading.Barrier(2)
    outcomes: list[str] = []

    def create() -> None:
        with app.app_context():
            session = sa.orm.Session(db.engine)
            try:
                set_current_department(session, police)
                ready.wait(timeout=10)
                create_run(session, "2026-11")
                session.commit()
                outcomes.append("created")
            except DuplicateRunError:
                session.rollback()
                outcomes.append("duplicate")
            finally:
                session.close()

    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["created", "duplicate"]
    set_current_department(db.session, police)
    assert db.session.scalar(sa.select(sa.func.count(PayrollRun.id))) == 1
