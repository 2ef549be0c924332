"""Browser tests: a real server in a thread and headless Chromium driven by Playwright.

Chromium comes from Debian (`apt-get install chromium`, done by scripts/test);
Playwright's own browser download is not used. Without Chromium the tests are
skipped locally, but CI installs it, so they always run there.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("GRP_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def live_server(app: Any, departments: Any) -> Iterator[str]:
    """Serve the test app on a free port; yields its base URL."""
    from grp.db import db
    from grp.demo import load_demo_users

    load_demo_users(db.session)
    db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def browser_page(tmp_path: Any) -> Iterator[Any]:
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM}: scripts/test installs it")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        context = browser.new_context(locale="en-US")
        page = context.new_page()
        page.set_default_timeout(10_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()
