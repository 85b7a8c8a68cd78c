"""The engagement's conversation in a real browser: the consultation's messages carry on after the hire,
a file travels with a message, the delivery and the revision request show in the same thread in order,
and the inbox and the navigation count what is unread."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from marketplace.models import MessageAttachment
from marketplace.services import conversations as conversation_services
from marketplace.services import engagements as engagement_services
from tests.e2e.test_hiring_flow import log_in
from tests.factories import ClientFactory, EngineerFactory, engagement

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_full_engagement_conversation_with_an_attachment(new_page, screenshot, tmp_path):
    client = ClientFactory(username="clara", first_name="Clara", last_name="Client")
    engineer = EngineerFactory(username="maya", first_name="Maya", last_name="Engineer")
    eng = engagement(amounts=(600_000,), client=client, engineer=engineer)
    conversation_services.message_post(
        actor=client, consultation_id=eng.consultation_id, body="Glad to have you. The tickets are ready."
    )
    milestone = eng.milestones.get()
    engagement_services.milestone_mark_funded(milestone_id=milestone.pk)

    # The engineer sees one unread message in the navigation and the inbox, and answers with a file.
    engineer_page = new_page()
    log_in(engineer_page, "maya")
    messages_link = engineer_page.get_by_role("navigation", name="Main").get_by_role("link", name="Messages")
    expect(messages_link).to_contain_text("1")
    messages_link.click()
    row = engineer_page.locator(".inbox .list-row").first
    expect(row).to_contain_text(eng.title)
    expect(row).to_contain_text("1 unread")
    expect(row).to_contain_text("Glad to have you.")
    row.get_by_role("link", name=eng.title).click()
    expect(engineer_page.get_by_text("Glad to have you. The tickets are ready.")).to_be_visible()
    expect(messages_link).not_to_contain_text("1")  # seeing the conversation read it
    plan = tmp_path / "training-plan.md"
    plan.write_text("# Plan\n\n1. Audit labels\n2. LoRA r=16\n")
    engineer_page.get_by_label("Message").fill("Here is my plan; details at https://example.com/plan")
    engineer_page.get_by_label("Attach files").set_input_files(plan)
    engineer_page.get_by_role("button", name="Send message").click()
    expect(engineer_page.get_by_role("link", name="training-plan.md")).to_be_visible()
    expect(engineer_page.get_by_role("link", name="https://example.com/plan")).to_be_visible()
    assert MessageAttachment.objects.get().original_name == "training-plan.md"

    # A file type the platform does not take is refused, naming the file, and the text is kept.
    bad = tmp_path / "setup.exe"
    bad.write_bytes(b"MZ")
    engineer_page.get_by_label("Message").fill("And the installer")
    engineer_page.get_by_label("Attach files").set_input_files(bad)
    engineer_page.get_by_role("button", name="Send message").click()
    expect(engineer_page.get_by_text("setup.exe", exact=False).first).to_be_visible()
    expect(engineer_page.get_by_label("Message")).to_have_value("And the installer")
    expect(engineer_page.get_by_label("Attach files")).to_be_focused()  # the first error has the focus

    engagement_services.milestone_start(actor=engineer, milestone_id=milestone.pk)
    engagement_services.milestone_submit(
        actor=engineer, milestone_id=milestone.pk, message="Adapter and eval report attached."
    )

    # The client reads it all in one scroll, downloads the file, and asks for a revision from there.
    client_page = new_page()
    log_in(client_page, "clara")
    client_page.goto(f"/engagements/{eng.pk}/")
    client_page.get_by_role("link", name="Conversation").click()
    thread = client_page.locator("#thread .thread")
    expect(thread).to_contain_text("Glad to have you.")
    expect(thread).to_contain_text("Here is my plan")
    expect(thread).to_contain_text(f"Delivered “{milestone.title}”.")
    expect(thread).to_contain_text("Adapter and eval report attached.")
    with client_page.expect_download() as download:
        client_page.get_by_role("link", name="training-plan.md").click()
    assert download.value.suggested_filename == "training-plan.md"
    assert Path(download.value.path()).read_text(encoding="utf-8").startswith("# Plan")
    engagement_services.milestone_request_revision(
        actor=client, milestone_id=milestone.pk, comment="Please add the held-out evaluation."
    )
    client_page.get_by_label("Message").fill("Thanks, one more thing before I approve.")
    client_page.get_by_role("button", name="Send message").click()
    entries = client_page.locator("#thread .thread > li")
    expect(entries).to_have_count(6)
    expect(entries.nth(3)).to_contain_text("Delivered")
    expect(entries.nth(4)).to_contain_text("Asked for a revision")
    expect(entries.nth(5)).to_contain_text("one more thing before I approve")
    screenshot(client_page, "engagement-conversation")

    engineer_page.goto("/messages/")
    expect(engineer_page.locator(".inbox .list-row").first).to_contain_text("2 unread")
    screenshot(engineer_page, "messages-inbox")
