"""The rating control in a real browser: five labelled stars in their natural order, chosen with the
keyboard, lit up to the one chosen; two-way reviews, hidden from each other until both have rated."""

import pytest
from playwright.sync_api import expect

from marketplace.models import Review
from marketplace.services import engagements as engagement_services
from tests.e2e.test_hiring_flow import log_in
from tests.factories import ClientFactory, engagement

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_client_rates_with_the_keyboard(new_page, screenshot):
    client = ClientFactory(username="clara")
    eng = engagement(amounts=(100_000,), client=client)
    milestone = eng.milestones.get()
    engagement_services.milestone_mark_funded(milestone_id=milestone.pk)
    engagement_services.milestone_start(actor=eng.engineer, milestone_id=milestone.pk)
    engagement_services.milestone_submit(actor=eng.engineer, milestone_id=milestone.pk, message="Done.")
    engagement_services.milestone_approve(actor=client, milestone_id=milestone.pk)
    page = new_page()
    log_in(page, "clara")
    page.goto(f"/engagements/{eng.pk}/#review")
    stars = page.get_by_role("radio")
    expect(stars).to_have_count(5)
    assert [stars.nth(i).get_attribute("value") for i in range(5)] == ["1", "2", "3", "4", "5"]
    for index, name in enumerate(["1 star", "2 stars", "3 stars", "4 stars", "5 stars"]):
        expect(page.get_by_role("radio", name=name, exact=True)).to_have_attribute("value", str(index + 1))
    page.get_by_role("radio", name="1 star", exact=True).focus()
    page.keyboard.press("Space")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect(page.get_by_role("radio", name="4 stars", exact=True)).to_be_checked()
    labels = page.locator(".star-input label")
    lit, dim = (
        labels.nth(3).evaluate("e => getComputedStyle(e).color"),
        labels.nth(4).evaluate("e => getComputedStyle(e).color"),
    )
    assert lit != dim  # the fourth is lit, the fifth is not
    screenshot(page, "rating-control")
    page.get_by_label("Your review").fill("Clear reports, on time.")
    page.get_by_role("button", name="Save review").click()
    card = page.locator("#review")
    expect(card).to_contain_text("Your review of")
    expect(card).to_contain_text("4/5")
    expect(card).to_contain_text("Not published yet")
    assert Review.objects.get(engagement=eng).rating == 4

    engineer_page = new_page()
    log_in(engineer_page, eng.engineer.username)
    engineer_page.goto(f"/engagements/{eng.pk}/#review")
    theirs = engineer_page.locator("#review")
    expect(theirs).to_contain_text("has rated you. You will see it once you rate them too")
    expect(theirs).not_to_contain_text("Clear reports, on time.")
    engineer_page.get_by_role("radio", name="5 stars", exact=True).check()
    engineer_page.get_by_label("Your review").fill("Quick answers, clear brief.")
    engineer_page.get_by_role("button", name="Save review").click()
    expect(engineer_page.locator(".messages, .alert").first).to_contain_text("Both reviews are now published")
    expect(theirs).to_contain_text("Clear reports, on time.")
    screenshot(engineer_page, "reviews-both")

    page.reload()
    expect(card).to_contain_text("Quick answers, clear brief.")
    page.get_by_text("Edit your review").click()
    page.get_by_role("radio", name="5 stars", exact=True).check()
    page.get_by_role("button", name="Save changes").click()
    expect(card).to_contain_text("5/5")
    assert Review.objects.get(engagement=eng).rating == 5
