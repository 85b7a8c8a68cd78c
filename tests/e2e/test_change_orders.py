"""A change order in a real browser: the engineer edits the unfunded plan in place and adds a milestone
(a bad amount is named and what was typed stays), the client reads the change and accepts it."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from marketplace.models import ChangeOrder
from marketplace.services import engagements as engagement_services
from tests.e2e.test_hiring_flow import log_in
from tests.factories import ClientFactory, EngineerFactory, engagement

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_engineer_proposes_a_change_and_the_client_accepts(new_page, screenshot):
    client = ClientFactory(username="clara", first_name="Clara", last_name="Obi")
    engineer = EngineerFactory(username="maya", first_name="Maya", last_name="Okafor")
    eng = engagement(amounts=(300_000, 200_000), client=client, engineer=engineer)
    first, second = eng.milestones.order_by("position")
    engagement_services.milestone_mark_funded(milestone_id=first.pk)

    page = new_page()
    log_in(page, "maya")
    page.goto(f"/engagements/{eng.pk}/")
    page.locator("#change-orders").get_by_role("link", name="Propose a change").click()
    row = page.locator(f"#row-m{second.pk}")
    expect(row).to_contain_text(second.title)
    row.get_by_label("Amount (USD)").fill("1,500")
    new = page.locator("#row-new0")
    new.get_by_label("Title").fill("Evaluation report")
    new.get_by_label("Amount (USD)").fill("five hundred")
    new.get_by_label("Due date").fill((timezone.localdate() + timedelta(days=21)).isoformat())
    page.get_by_label("Why the plan changes").fill(
        "The report is its own piece of work; training costs less."
    )
    page.get_by_role("button", name="Propose the change").click()

    expect(new.locator(".field-error")).to_contain_text("Enter an amount such as")
    expect(new.get_by_label("Amount (USD)")).to_have_value("five hundred")
    expect(row.get_by_label("Amount (USD)")).to_have_value("1,500")
    screenshot(page, "change-order-form-error")
    new.get_by_label("Amount (USD)").fill("500")
    page.get_by_role("button", name="Propose the change").click()
    card = page.locator("#change-orders")
    expect(card).to_contain_text("Awaiting answer")
    expect(card).to_contain_text("Waiting for Clara Obi to answer.")

    page = new_page()
    log_in(page, "clara")
    page.goto(f"/engagements/{eng.pk}/#change-orders")
    card = page.locator("#change-orders")
    expect(card).to_contain_text("Evaluation report")
    expect(card).to_contain_text("Total ±0.00 USD")
    screenshot(page, "change-order-answer")
    card.get_by_label("Note to Maya Okafor").fill("Makes sense.")
    card.get_by_role("button", name="Accept change").click()
    expect(page.locator(".messages, .alert").first).to_contain_text("Change accepted")
    expect(page.locator("#change-orders")).to_contain_text("Accepted by Clara Obi")
    expect(page.locator(".milestones")).to_contain_text("Evaluation report")
    assert ChangeOrder.objects.get().state == ChangeOrder.State.ACCEPTED
    second.refresh_from_db()
    assert second.amount == 150_000
