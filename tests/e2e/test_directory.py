"""The directory, the job board and asking to be invited in a real browser: a client filters the
directory (a bad rate range is named by its label and the typed values stay), an engineer finds a
request on the job board and asks to be invited, and the client invites from the request page without
a reload."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from marketplace.models import Consultation, InviteRequest
from tests.e2e.test_hiring_flow import log_in
from tests.factories import ClientFactory, listed_engineer, open_request
from vetting.models import Badge

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_directory_job_board_and_an_ask_answered_without_a_reload(new_page, screenshot):
    client = ClientFactory(username="clara", first_name="Clara", last_name="Client")
    maya = listed_engineer(
        username="maya",
        first_name="Maya",
        last_name="Engineer",
        skills=["LoRA", "Evaluation"],
        profile__headline="LoRA fine-tuning for structured extraction",
        profile__bio="Six years of small fine-tuned models for support desks and routing.",
        profile__languages=["English", "German"],
        profile__rate_amount=15_000,
    )
    Badge.objects.create(
        engineer=maya,
        challenge_slug="support-ticket-json",
        title="Support tickets to JSON",
        band="strong",
        score=0.88,
        awarded_at=timezone.now(),
    )
    listed_engineer(
        username="nadia",
        first_name="Nadia",
        last_name="Ray",
        skills=["RAG", "DPO"],
        profile__headline="Retrieval and preference tuning",
        profile__time_zone="America/New_York",
        profile__languages=["English", "Spanish"],
        profile__rate_amount=22_000,
        profile__availability="limited",
    )
    listed_engineer(
        username="kenji",
        first_name="Kenji",
        last_name="Sato",
        skills=["QLoRA"],
        profile__headline="QLoRA on a single GPU",
        profile__time_zone="Asia/Tokyo",
        profile__languages=["Japanese", "English"],
        profile__rate_amount=15_000,
        profile__currency="jpy",
    )
    hiring_request = open_request(client=client, skills=["LoRA", "Evaluation"])
    open_request(skills=["DPO"])  # another client's request, further down the board

    # The client filters the directory: htmx swaps the results and the address follows.
    page = new_page()
    log_in(page, "clara")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Find engineers").click()
    expect(page).to_have_url(re.compile(r"/engineers/$"))
    cards = page.get_by_test_id("engineer-card")
    expect(cards).to_have_count(3)
    expect(cards.first).to_contain_text("Maya Engineer")  # the strong badge ranks first
    expect(cards.first).to_contain_text("Strong")
    expect(cards.first).not_to_contain_text("0.88")
    page.get_by_label("Search").fill("lora")
    page.get_by_label("Search").press("Enter")
    expect(page).to_have_url(re.compile(r"q=lora"))
    expect(cards).to_have_count(2)  # LoRA, and QLoRA
    page.locator("details.filter-more > summary").click()
    page.get_by_label("Search").fill("")
    page.get_by_label("Minimum rate").fill("300")
    page.get_by_label("Maximum rate").fill("100")
    page.get_by_role("button", name="Show engineers").click()
    errors = page.get_by_test_id("filter-errors")
    expect(errors).to_contain_text("Maximum rate: The maximum rate must not be below the minimum rate.")
    expect(page.get_by_label("Minimum rate")).to_have_value("300")
    expect(page.get_by_label("Maximum rate")).to_have_value("100")
    screenshot(page, "directory-bad-rate")
    page.get_by_label("Minimum rate").fill("100")
    page.get_by_label("Maximum rate").fill("200")
    page.get_by_role("button", name="Show engineers").click()
    expect(errors).to_have_count(0)
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("Maya Engineer")
    page.get_by_label("Time zone region").select_option("America")
    expect(page.get_by_test_id("empty-directory")).to_be_visible()
    page.get_by_label("Minimum rate").fill("")
    page.get_by_label("Maximum rate").fill("")
    page.get_by_role("button", name="Show engineers").click()
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("Nadia Ray")
    expect(cards.first).to_contain_text("America/New_York")
    page.goto("/engineers/")
    screenshot(page, "directory")

    # The engineer finds the request on the job board, their matching skills marked, and asks.
    engineer_page = new_page()
    log_in(engineer_page, "maya")
    engineer_page.get_by_role("navigation", name="Main").get_by_role("link", name="Find work").click()
    rows = engineer_page.get_by_test_id("job-row")
    expect(rows).to_have_count(2)
    row = rows.first
    expect(row).to_contain_text(hiring_request.title)
    expect(row).to_contain_text("You have 2 of 2 skills")
    expect(row).to_contain_text("Clara Client")
    screenshot(engineer_page, "job-board")
    row.get_by_text("Ask to be invited").click()
    row.get_by_label("Note to the client").fill("I built a ticket extractor for a bank last year.")
    row.get_by_role("button", name="Send ask").click()
    expect(row).to_contain_text("Asked")
    assert InviteRequest.objects.get().note == "I built a ticket extractor for a bank last year."

    # The client sees the ask on the request page and invites without a reload.
    page.goto(f"/requests/{hiring_request.pk}/")
    asks = page.locator("#invite-requests")
    expect(asks).to_contain_text("Maya Engineer")
    expect(asks).to_contain_text("I built a ticket extractor for a bank last year.")
    screenshot(page, "request-asks")
    page.evaluate("window.__notReloaded = true")
    asks.get_by_role("button", name="Invite Maya Engineer").click()
    expect(asks).to_contain_text("Invited")
    assert page.evaluate("window.__notReloaded") is True
    consultation = Consultation.objects.get()
    assert consultation.engineer == maya
    asks.get_by_role("link", name="Open thread").click()
    expect(page.get_by_text("I built a ticket extractor for a bank last year.")).to_be_visible()
