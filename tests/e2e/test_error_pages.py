"""The branded 404 page as a visitor sees it, on a desktop and a phone screen."""

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_404_page_in_a_browser(new_page, screenshot):
    page = new_page()
    response = page.goto("/requests/999999/nothing-here/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.get_by_role("link", name="Go to your dashboard")).to_be_visible()
    screenshot(page, "error-404")
