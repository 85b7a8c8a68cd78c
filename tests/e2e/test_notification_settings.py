"""Notification settings in a real browser: from the notifications page, turn e-mail off for a topic."""

import pytest
from playwright.sync_api import expect

from marketplace.models import NotificationPreference
from tests.e2e.test_hiring_flow import log_in
from tests.factories import ClientFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_client_turns_off_payment_emails(new_page, screenshot):
    user = ClientFactory(username="quiet")
    page = new_page()
    log_in(page, "quiet")
    page.goto("/notifications/")
    page.get_by_role("link", name="Settings").click()
    email = page.get_by_label("Payments and payouts by e-mail")
    expect(email).to_be_checked()
    email.uncheck()
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Notification settings saved.")).to_be_visible()
    expect(page.get_by_label("Payments and payouts by e-mail")).not_to_be_checked()
    expect(page.get_by_label("Payments and payouts in the app")).to_be_checked()
    screenshot(page, "notification-settings")
    preference = NotificationPreference.objects.get(user=user, topic="payments")
    assert (preference.in_app, preference.email) == (True, False)
