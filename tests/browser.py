"""The one headless Chromium of a test session, shared by every browser test (Playwright's sync API
allows a single running instance per thread)."""

import os

import pytest

from tests.tools import CHROMIUM, require

# Playwright's sync API runs an event loop in this thread; the tests' own ORM calls are still
# synchronous and safe, so Django's async-context guard is switched off wherever the browser is used
# (any test may use it, not only those under tests/e2e/).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1366, "height": 900}


@pytest.fixture(scope="session")
def browser():
    require("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
