"""A new engineer in a real browser: the getting-started checklist, the profile details clients judge by
(time zone, languages, portfolio, track record), and a refused link that keeps what was typed."""

import pytest
from playwright.sync_api import expect

from marketplace.models import EngineerProfile, User
from tests.e2e.test_hiring_flow import log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_new_engineer_completes_the_profile_from_the_checklist(new_page, screenshot):
    engineer = UserFactory(username="nadia", first_name="Nadia", last_name="Ilić", role=User.Role.ENGINEER)
    EngineerProfile.objects.create(user=engineer)

    page = new_page()
    log_in(page, "nadia")
    page.goto("/dashboard/")
    checklist = page.locator("#getting-started")
    expect(checklist).to_contain_text("Clients cannot find you in matches until you add a headline")
    expect(checklist).to_contain_text("Set up payouts")
    expect(checklist).to_contain_text("Pass your first vetting challenge")
    screenshot(page, "engineer-checklist")

    checklist.get_by_role("link", name="Complete your profile").click()
    page.get_by_label("Headline").fill("Evaluation-first LoRA fine-tuning")
    page.get_by_label("Bio").fill("I build the evaluation before the fine-tune, then make the model pass it.")
    page.get_by_label("Skills").fill("LoRA, Evaluation")
    page.get_by_label("Rate amount").fill("95")
    page.get_by_label("Time zone").select_option("Europe/Zagreb")
    page.get_by_label("Languages").fill("Croatian, English")
    page.get_by_label("Portfolio links").fill("https://example.com/evals\nnot-a-link")
    page.get_by_role("button", name="Save profile").click()

    error = page.locator(".field-error")
    expect(error).to_contain_text("'not-a-link' is not a web address")
    expect(page.get_by_label("Portfolio links")).to_have_value("https://example.com/evals\nnot-a-link")
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Zagreb")
    screenshot(page, "engineer-profile-error")

    page.get_by_label("Portfolio links").fill("https://example.com/evals")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_role("heading", name="Nadia Ilić")).to_be_visible()
    main = page.locator("main")
    expect(main).to_contain_text("Europe/Zagreb")
    expect(main).to_contain_text("Croatian, English")
    expect(main.get_by_role("link", name="https://example.com/evals")).to_be_visible()
    expect(main).to_contain_text("Track record")
    expect(main).to_contain_text("No deliveries yet")
    screenshot(page, "engineer-profile")

    page.goto("/dashboard/")
    expect(page.locator("#getting-started")).to_contain_text("Clients find you in matches.")
    assert EngineerProfile.objects.listed().filter(user=engineer).exists()
