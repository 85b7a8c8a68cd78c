"""The main navigation at phone width: folded behind a Menu button, every item reachable and none cut
off; a skip link is the first thing the keyboard reaches."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_hiring_flow import log_in
from tests.factories import EngineerFactory, StaffFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("role", ["engineer", "staff"])  # the longest menus
def test_the_menu_at_390_px_shows_every_item_uncut(new_page, screenshot, role):
    user = (EngineerFactory if role == "engineer" else StaffFactory)(username=f"nav-{role}")
    page = new_page()
    log_in(page, user.username)
    page.set_viewport_size({"width": 390, "height": 844})
    nav = page.get_by_role("navigation", name="Main")
    toggle = page.get_by_role("button", name="Menu")
    expect(toggle).to_be_visible()
    expect(nav).to_be_hidden()
    toggle.click()
    expect(page.get_by_role("button", name="Close")).to_have_attribute("aria-expanded", "true")
    links = nav.get_by_role("link")
    assert links.count() >= 6
    for index in range(links.count()):
        box = links.nth(index).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, links.nth(
            index
        ).inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, f"navigation-menu-{role}")
    links.filter(has_text="Consultations").click()
    expect(page).to_have_url(re.compile(r"/consultations/$"))


def test_the_skip_link_comes_first_and_moves_focus_to_the_content(new_page):
    EngineerFactory(username="keyboard")
    page = new_page()
    log_in(page, "keyboard")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
