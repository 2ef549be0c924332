"""The HR officer creates an employee in a real browser: a field message first, then success."""

from __future__ import annotations

import re

import pytest

from grp.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config():
    # Real browsers submit the CSRF token: keep the protection on, as in production.
    return {"WTF_CSRF_ENABLED": True}


@pytest.fixture
def police_grades(app, departments):
    from grp.db import db
    from grp.tenancy import department_context
    from modules.hr.services.organisation import ensure_hr_defaults

    with department_context(db.session, departments["POLICE"].id):
        ensure_hr_defaults(db.session)
        db.session.commit()


def test_hr_officer_creates_an_employee_after_fixing_the_emirates_id(
    police_grades, live_server, browser_page
):
    page = browser_page
    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill("police.hr")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server}/")

    page.get_by_role("link", name="Employees").click()
    page.get_by_role("link", name="New employee").click()
    page.get_by_label("Employee number", exact=True).fill("POL-00042")
    page.get_by_label("Name (English)").fill("Layla Al Marri")
    page.get_by_label("Name (Arabic)").fill("ليلى المري")
    assert page.get_by_label("Name (Arabic)").get_attribute("dir") == "rtl"
    page.get_by_label("Emirates ID", exact=True).fill("784199012345671")  # wrong check digit
    page.get_by_label("Nationality", exact=True).select_option("IN")
    page.get_by_label("Date of birth").fill("1990-05-20")
    page.get_by_label("Gender").select_option("female")
    page.get_by_label("Hire date").fill("2018-09-02")
    page.get_by_label("Grade", exact=True).select_option("8")
    page.get_by_label("Band", exact=True).select_option("2")
    page.get_by_label("IBAN", exact=True).fill("AE07 0331 2345 6789 0123 456")
    page.get_by_label("Basic salary (AED a month)").fill("11000")
    page.get_by_role("button", name="Create employee").click()

    errors = page.locator("#emirates_id-errors")
    errors.wait_for()
    assert "check digit does not match" in errors.inner_text()
    assert page.get_by_label("Emirates ID", exact=True).get_attribute("aria-invalid") == "true"
    # What the officer typed is kept; only the Emirates ID needs fixing.
    assert page.get_by_label("Name (English)").input_value() == "Layla Al Marri"

    page.get_by_label("Emirates ID", exact=True).fill("784-1990-1234567-6")
    page.get_by_role("button", name="Create employee").click()
    page.wait_for_url(re.compile(rf"{live_server}/hr/employees/\d+$"))
    body = page.locator("main").inner_text()
    assert "The employee POL-00042 is created." in body
    assert "784-1990-1234567-6" in body
    assert "AE070331234567890123456" in body
    assert "11,000.00" in body  # the first contract version
