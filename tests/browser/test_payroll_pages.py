"""A payroll officer creates and computes a run in a real browser; another officer approves it.

The first officer sees the computation's progress reach "Computed" (the run page
reloads itself while the background job runs) and the payslips, and is told
that someone else must approve; the second officer approves.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from grp.demo import DEMO_PASSWORD

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hr"))

from hr_data import contract_data, employee_data  # noqa: E402

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config():
    # Real browsers submit the CSRF token: keep the protection on, as in production.
    return {"WTF_CSRF_ENABLED": True}


@pytest.fixture
def payroll_ready(live_server, create_user):
    """POLICE with the HR and payroll defaults, three employees and a second payroll officer."""
    from grp.db import db
    from grp.tenancy import department_context
    from modules.hr.services import create_employee
    from modules.hr.services.organisation import ensure_hr_defaults
    from modules.payroll.services import seed_payroll_defaults

    police = _department_id("POLICE")
    with department_context(db.session, police):
        ensure_hr_defaults(db.session)
        seed_payroll_defaults(db.session)
        for number in (1, 2, 3):
            create_employee(
                db.session, employee_data(number), department_id=police, contract=contract_data()
            )
        db.session.commit()
    create_user(
        username="police.payroll2", roles=[("POLICE", "payroll_officer")], password=DEMO_PASSWORD
    )
    return live_server


def _department_id(code: str) -> int:
    import sqlalchemy as sa

    from grp.db import db
    from grp.models import Department

    return db.session.scalar(sa.select(Department.id).where(Department.code == code))


def sign_in(page, base: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def test_officer_computes_and_another_officer_approves(app, payroll_ready, browser_page):
    from grp.workflow.jobs.worker import run_embedded_worker

    page, base = browser_page, payroll_ready
    sign_in(page, base, "police.payroll")
    page.get_by_role("link", name="Payroll runs").click()
    page.get_by_label("Month").first.fill("2026-11")
    page.get_by_role("button", name="Create the run").click()
    page.get_by_text("The run of 2026-11 is created.").wait_for()
    assert page.get_by_test_id("run-state").inner_text() == "Draft"
    run_url = page.url

    page.get_by_role("button", name="Compute", exact=True).click()
    page.get_by_text("The computation has started").wait_for()
    assert page.get_by_test_id("job-state").inner_text() in ("Queued", "Running")
    assert page.locator("progress").count() == 1
    # The worker process of a deployment; here, in the test's thread.
    assert run_embedded_worker(app, once=True) == 1
    # The page reloads itself every few seconds until the run is computed.
    page.get_by_test_id("run-state").filter(has_text="Computed").wait_for(timeout=15_000)
    assert page.get_by_test_id("total-net").inner_text() == "67,500.00"
    payslips = page.get_by_test_id("payslips").inner_text()
    assert "E00001" in payslips and "E00003" in payslips and "22,500.00" in payslips
    assert page.get_by_role("button", name="Approve").count() == 0
    assert (
        "another payroll officer must approve it"
        in page.get_by_test_id("approve-block").inner_text()
    )

    sign_in(page, base, "police.payroll2")
    page.goto(run_url)
    page.get_by_role("button", name="Approve").click()
    page.get_by_text("The run is approved.").wait_for()
    assert page.get_by_test_id("run-state").inner_text() == "Approved"
    assert page.get_by_role("button", name="Approve").count() == 0
