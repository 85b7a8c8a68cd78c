"""Browser tests: Playwright's sync API driving Debian's Chromium against pytest-django's live server."""

from pathlib import Path

import pytest
from django.conf import settings

from tests.browser import VIEWPORT

SCREEN_SIZES = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def new_page(browser, live_server):
    """Open a page in a fresh browser context (its own cookies: one per user)."""
    contexts = []

    def make():
        context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        # Accept the confirmation dialogs the pages ask before irreversible actions.
        page.on("dialog", lambda dialog: dialog.accept())
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot():
    folder = Path(settings.BASE_DIR) / "var" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)

    def save(page, name: str) -> Path:
        """`<name>-desktop.png` (1366x900) and `<name>-phone.png` (390x844), whole pages; returns the first."""
        viewport = page.viewport_size
        paths = []
        for label, size in SCREEN_SIZES.items():
            page.set_viewport_size(size)
            # From the top, after a repaint, so the sticky header is not drawn mid-page.
            page.evaluate(
                "() => new Promise(done => { window.scrollTo(0, 0); requestAnimationFrame(() => requestAnimationFrame(done)); })"
            )
            path = folder / f"{name}-{label}.png"
            page.screenshot(path=str(path), full_page=True)
            paths.append(path)
        page.set_viewport_size(viewport)
        return paths[0]

    return save
