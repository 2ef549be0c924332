"""The web shell in a real browser: demo sign-in, CSRF-protected forms, Arabic right to left."""

from __future__ import annotations

from pathlib import Path

import pytest

from grp.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config():
    # Real browsers submit the CSRF token: keep the protection on, as in production.
    return {"WTF_CSRF_ENABLED": True}


def sign_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_demo_hr_officer_signs_in_through_the_login_page(live_server, browser_page):
    sign_in(browser_page, live_server, "police.hr", DEMO_PASSWORD)
    browser_page.wait_for_url(f"{live_server}/")
    body = browser_page.locator("body").inner_text()
    assert "Dubai Police" in body
    assert "HR officer" in body


def test_wrong_password_shows_a_message(live_server, browser_page):
    sign_in(browser_page, live_server, "police.hr", "not the password")
    assert "Wrong username or password." in browser_page.locator("body").inner_text()
    assert browser_page.url.startswith(f"{live_server}/login")


def test_arabic_layout_is_right_to_left(live_server, browser_page, tmp_path: Path):
    sign_in(browser_page, live_server, "police.hr", DEMO_PASSWORD)
    browser_page.wait_for_url(f"{live_server}/")
    browser_page.locator("button[name='language'][value='ar']").click()
    browser_page.wait_for_load_state()
    html = browser_page.locator("html")
    assert html.get_attribute("dir") == "rtl"
    assert html.get_attribute("lang") == "ar"
    assert "شرطة دبي" in browser_page.locator("body").inner_text()
    direction = browser_page.evaluate("getComputedStyle(document.body).direction")
    assert direction == "rtl"
    browser_page.screenshot(path=str(tmp_path / "home-ar.png"), full_page=True)
