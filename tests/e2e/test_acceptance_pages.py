"""The acceptance-test page in a real browser: the client attaches terms to an unfunded milestone (a
bad file first, refused line by line with what was typed kept), then the engineer reads the terms
and the public sample."""

import pytest
from playwright.sync_api import expect

from acceptance.models import AcceptanceTest
from tests.acceptance.sets import jsonl, ticket_items
from tests.e2e.test_hiring_flow import log_in
from tests.factories import ClientFactory, EngineerFactory, engagement

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_client_attaches_an_acceptance_test_and_the_engineer_reads_it(new_page, screenshot, tmp_path):
    client = ClientFactory(username="clara", first_name="Clara", last_name="Client")
    engineer = EngineerFactory(username="ada", first_name="Ada", last_name="Lovelace")
    milestone = engagement(amounts=(250_000,), client=client, engineer=engineer).milestones.get()
    items = ticket_items(60)
    bad, good = tmp_path / "tickets-draft.jsonl", tmp_path / "tickets.jsonl"
    bad.write_bytes(jsonl(items[:40]) + b'{"input": "no target"}\n')
    good.write_bytes(jsonl(items))

    page = new_page()
    log_in(page, "clara")
    page.goto(f"/engagements/{milestone.engagement_id}/")
    page.get_by_role("link", name="Attach an acceptance test").click()
    expect(page.get_by_role("heading", name="Attach an acceptance test")).to_be_visible()
    page.get_by_label("Evaluation set (JSONL)").set_input_files(str(bad))
    page.get_by_label("Metric").select_option("label")
    page.get_by_label("Pass mark").fill("0.85")
    page.get_by_role("button", name="Save acceptance test").click()
    expect(page.get_by_text("line 41: missing key 'target'").first).to_be_visible()
    expect(page.get_by_label("Pass mark")).to_have_value("0.85")
    expect(page.get_by_label("Metric")).to_have_value("label")
    screenshot(page, "acceptance-terms-error")

    page.get_by_label("Evaluation set (JSONL)").set_input_files(str(good))
    page.get_by_role("button", name="Save acceptance test").click()
    expect(page.get_by_text("Acceptance test saved.")).to_be_visible()
    expect(page.locator("#acceptance-terms")).to_contain_text("55")
    screenshot(page, "acceptance-terms-client")
    assert AcceptanceTest.objects.get(milestone=milestone).pass_mark == 0.85

    engineer_page = new_page()
    log_in(engineer_page, "ada")
    engineer_page.goto(f"/engagements/{milestone.engagement_id}/")
    expect(engineer_page.locator(f"#acceptance-{milestone.pk}")).to_contain_text("≥ 0.85 on 55 private items")
    engineer_page.get_by_role("link", name="View terms").click()
    expect(engineer_page.get_by_role("heading", name="Public sample")).to_be_visible()
    expect(engineer_page.locator(".sample-item")).to_have_count(5)
    expect(engineer_page.locator("#acceptance-form")).to_have_count(0)
    screenshot(engineer_page, "acceptance-terms-engineer")
