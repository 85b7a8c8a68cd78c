"""The whole hiring flow in a real browser: request -> invite -> proposal -> accept -> fund -> work ->
deliver -> approve."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from core.models import TransitionLog
from marketplace.models import Consultation, Delivery, Engagement, HiringRequest, Milestone
from marketplace.services import engagements as engagement_services
from marketplace.services import users as user_services
from tests.factories import PASSWORD, EngineerFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def log_in(page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/dashboard/$"))


def test_client_hires_engineer_and_approves_delivery(new_page, screenshot, tmp_path):
    engineer = EngineerFactory(username="ada", first_name="Ada", last_name="Lovelace")
    user_services.engineer_profile_update(
        actor=engineer,
        headline="LoRA fine-tuning for structured extraction",
        bio="Six years shipping small fine-tuned models for support automation.",
        rate_amount=15_000,
        skills=["LoRA", "Evaluation", "Structured extraction"],
    )
    other = EngineerFactory(username="grace", first_name="Grace", last_name="Hopper")
    user_services.engineer_profile_update(actor=other, headline="RAG pipelines", skills=["RAG"])
    due = timezone.localdate() + timedelta(days=30)

    # The client signs up and raises a request.
    client_page = new_page()
    client_page.goto("/signup/")
    client_page.get_by_text("I want to hire an expert").click()
    client_page.get_by_label("First name").fill("Clara")
    client_page.get_by_label("Last name").fill("Client")
    client_page.get_by_label("Username").fill("clara")
    client_page.get_by_label("Email").fill("clara@example.com")
    client_page.get_by_label("Password", exact=True).fill(PASSWORD)
    client_page.get_by_label("Confirm password").fill(PASSWORD)
    client_page.get_by_role("button", name="Create account").click()
    expect(client_page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    screenshot(client_page, "signup-sent")
    [confirmation] = mail.outbox
    client_page.goto(re.search(r"https?://[^/\s]+(/signup/confirm/\S+)", confirmation.body).group(1))
    screenshot(client_page, "signup-confirm")
    client_page.get_by_role("button", name="Confirm and log in").click()
    expect(client_page.get_by_text("Welcome to Tunehire!")).to_be_visible()

    client_page.goto("/requests/new/")
    client_page.get_by_label("Title").fill("Fine-tune a support-ticket extractor")
    client_page.get_by_label("Description").fill(
        "Turn customer e-mails into routing JSON with 98% field accuracy."
    )
    client_page.get_by_label("Skills").fill("LoRA, Evaluation")
    client_page.get_by_label("Budget from").fill("2000")
    client_page.get_by_label("Budget up to").fill("5000")
    client_page.get_by_label("Deadline").fill((due + timedelta(days=30)).isoformat())
    client_page.get_by_label("Your data").fill("12,000 labelled tickets as CSV.")
    client_page.locator("input[name=tried_prompting][value=yes]").check()
    client_page.locator("input[name=has_enough_data][value=yes]").check()
    client_page.locator("input[name=has_success_metric][value=partly]").check()
    client_page.get_by_role("button", name="Save draft").click()
    expect(client_page.get_by_text("This request is a draft")).to_be_visible()
    client_page.get_by_role("button", name="Publish").click()
    expect(client_page.get_by_text("Your request is published")).to_be_visible()

    # The matching panel ranks the engineer with the requested skills first, with reasons.
    matches = client_page.locator("#matches .match")
    expect(matches.first).to_contain_text("Ada Lovelace")
    expect(matches.first).to_contain_text("Has 2 of 2 requested skills")
    expect(client_page.locator("#matches")).to_contain_text("Grace Hopper")
    screenshot(client_page, "request_matching")
    # Inviting swaps the card in place (htmx): no page load, so the marker survives.
    client_page.evaluate("window.stillSamePage = true")
    matches.first.get_by_role("button", name="Invite to consult").click()
    expect(matches.first.get_by_text("Invited")).to_be_visible()
    assert client_page.evaluate("window.stillSamePage === true")
    hiring_request = HiringRequest.objects.get(title="Fine-tune a support-ticket extractor")
    assert hiring_request.state == HiringRequest.State.CONSULTING
    consultation = Consultation.objects.get(request=hiring_request, engineer=engineer)

    # The engineer logs in, opens the consultation, and proposes two milestones.
    engineer_page = new_page()
    log_in(engineer_page, "ada")
    engineer_page.goto("/consultations/")
    engineer_page.get_by_role("link", name="Fine-tune a support-ticket extractor").click()
    engineer_page.evaluate("window.stillSamePage = true")
    engineer_page.get_by_label("Message").fill("Happy to help. Is the label set fixed?")
    engineer_page.get_by_role("button", name="Send message").click()
    expect(engineer_page.locator(".thread")).to_contain_text("Is the label set fixed?")
    expect(engineer_page.get_by_label("Message")).to_have_value("")
    assert engineer_page.evaluate("window.stillSamePage === true")

    form = engineer_page.locator("#proposal-form")
    form.get_by_label("Scope").fill(
        "Data audit, LoRA fine-tune on SmolLM2, evaluation report on a held-out set."
    )
    form.get_by_label("Total price").fill("3000")
    form.locator("input[name='milestones-0-title']").fill("Data audit and eval set")
    form.locator("input[name='milestones-0-amount']").fill("1000")
    form.locator("input[name='milestones-0-due_date']").fill(due.isoformat())
    form.get_by_role("button", name="+ Add milestone").click()
    form.locator("input[name='milestones-1-title']").fill("Fine-tuned adapter and report")
    form.locator("input[name='milestones-1-amount']").fill("2000")
    form.locator("input[name='milestones-1-due_date']").fill((due + timedelta(days=14)).isoformat())
    expect(form.locator("[data-milestone-total]")).to_contain_text("matches the price")
    form.get_by_role("button", name="Send proposal").click()
    expect(engineer_page.get_by_text("Proposal sent.")).to_be_visible()

    # The client sees the proposal and accepts it.
    client_page.goto(f"/consultations/{consultation.pk}/")
    proposal_card = client_page.locator(".proposal-live")
    expect(proposal_card).to_contain_text("3,000.00 USD")
    expect(proposal_card).to_contain_text("Fine-tuned adapter and report")
    expect(client_page.locator(".thread")).to_contain_text("Is the label set fixed?")
    screenshot(client_page, "consultation_proposal")
    proposal_card.get_by_role("button", name="Accept proposal and hire").click()
    expect(client_page.get_by_text("Proposal accepted")).to_be_visible()
    engagement = Engagement.objects.get(request=hiring_request)
    first, second = engagement.milestones.order_by("position")
    expect(client_page.locator(f"#milestone-{first.pk}")).to_contain_text("Awaiting funding")
    expect(
        client_page.locator(f"#milestone-{first.pk}").locator("summary", has_text="Approve delivery")
    ).to_have_count(0)

    # Funding arrives through the service the payments app will call.
    engagement_services.milestone_mark_funded(milestone_id=first.pk)

    # The engineer starts work and submits a delivery with a file attachment.
    engineer_page.goto(f"/engagements/{engagement.pk}/")
    milestone_card = engineer_page.locator(f"#milestone-{first.pk}")
    milestone_card.get_by_role("button", name="Start work").click()
    expect(engineer_page.get_by_text("Work started.")).to_be_visible()
    report = tmp_path / "eval-report.md"
    report.write_text("# Evaluation\n\nField accuracy 0.981 on 500 held-out tickets.\n")
    milestone_card = engineer_page.locator(f"#milestone-{first.pk}")
    milestone_card.get_by_label("Message").fill("Audit done; eval set of 500 tickets attached.")
    milestone_card.get_by_label("Links").fill("https://example.com/eval-set")
    milestone_card.get_by_label("Attachments").set_input_files(str(report))
    milestone_card.get_by_role("button", name="Submit delivery").click()
    expect(engineer_page.get_by_text("Delivery submitted")).to_be_visible()

    # The client downloads the attachment and approves.
    client_page.goto(f"/engagements/{engagement.pk}/")
    milestone_card = client_page.locator(f"#milestone-{first.pk}")
    expect(milestone_card).to_contain_text("Audit done; eval set of 500 tickets attached.")
    with client_page.expect_download() as download_info:
        milestone_card.get_by_role("link", name=re.compile("eval-report.md")).click()
    assert "Field accuracy 0.981" in Path(download_info.value.path()).read_text()
    milestone_card.locator("summary", has_text="Approve delivery").click()
    confirm = milestone_card.locator(".popover-body", has_text="Release")
    expect(confirm.locator(".confirm-question")).to_have_text(
        f"Release 1,000.00 USD to {engineer.display_name}?"
    )
    screenshot(client_page, "approve-confirm")
    confirm.get_by_role("button", name="Release 1,000.00 USD").click()
    expect(client_page.get_by_text("Milestone approved.")).to_be_visible()
    milestone_card = client_page.locator(f"#milestone-{first.pk}")
    expect(milestone_card.locator(".milestone-head .pill")).to_have_text("Approved")
    expect(client_page.locator(f"#milestone-{second.pk} .milestone-head .pill")).to_have_text(
        "Awaiting funding"
    )
    timeline = client_page.locator("#timeline")
    for text in [
        "Awaiting funding",
        "Funded",
        "In progress",
        "Submitted for review",
        "Approved",
        "Clara Client",
    ]:
        expect(timeline).to_contain_text(text)
    screenshot(client_page, "engagement_timeline")

    first.refresh_from_db()
    second.refresh_from_db()
    engagement.refresh_from_db()
    assert first.state == Milestone.State.APPROVED
    assert second.state == Milestone.State.PENDING_FUNDING
    assert engagement.state == Engagement.State.ACTIVE
    delivery = Delivery.objects.get(milestone=first)
    assert delivery.review == Delivery.Review.APPROVED
    assert delivery.links == ["https://example.com/eval-set"]
    assert [a.original_name for a in delivery.attachments.all()] == ["eval-report.md"]
    transitions = list(
        TransitionLog.objects.filter(timeline_key=engagement.timeline_key, object_id=first.pk).values_list(
            "transition", flat=True
        )
    )
    assert transitions == ["mark_funded", "start_work", "submit", "approve"]
