"""An employee requests leave in a real browser; the manager, then HR, approve it."""

from __future__ import annotations

import pytest

from grp.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

FIRST, LAST = "2026-12-02", "2026-12-10"  # a weekend and National Day inside: 5 working days


@pytest.fixture
def app_config():
    # Real browsers submit the CSRF token: keep the protection on, as in production.
    return {"WTF_CSRF_ENABLED": True}


@pytest.fixture
def demo_hr(live_server):
    """The demo HR data: police.employee reports to police.manager and has a leave balance."""
    from grp.db import db
    from modules.hr.demo import seed

    seed(db.session, employees=40)
    db.session.commit()
    return live_server


def sign_in(page, base: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def approve_in_inbox(page, base: str, username: str) -> None:
    sign_in(page, base, username)
    page.get_by_role("link", name="Awaiting my decision").click()
    page.locator("main").get_by_role("link", name="Leave request").first.click()
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"{base}/approvals")


def test_employee_requests_leave_and_it_is_approved(demo_hr, browser_page):
    page, base = browser_page, demo_hr
    sign_in(page, base, "police.employee")
    page.get_by_role("link", name="My leave").click()
    available = page.get_by_test_id("available-annual").inner_text()
    page.get_by_role("link", name="Request leave").click()
    page.get_by_label("Leave type").select_option(label="Annual leave")
    page.get_by_label("First day").fill(FIRST)
    page.get_by_label("Last day").fill(LAST)
    page.get_by_role("button", name="Count the days").click()
    assert "count 5 days" in page.get_by_test_id("counted-days").inner_text()
    page.get_by_role("button", name="Send for approval").click()
    page.get_by_text("is sent for approval").wait_for()
    assert "Pending" in page.get_by_role("table").nth(1).inner_text()

    approve_in_inbox(page, base, "police.manager")
    approve_in_inbox(page, base, "police.hr")

    sign_in(page, base, "police.employee")
    page.get_by_role("link", name="My leave").click()
    assert "Approved" in page.get_by_role("table").nth(1).inner_text()
    left = page.get_by_test_id("available-annual").inner_text()
    assert float(available) - float(left) == 5
