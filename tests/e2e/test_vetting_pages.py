"""The vetting pages in a real browser: an engineer opens the challenges from the nav, reads a challenge
(its exact evaluation prompt), uploads a broken dataset and gets the line-numbered report, watches a
training run's progress, and opens a result with its before/after chart. Screenshots go to
var/screenshots/."""

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from sandbox.models import Job
from tests.e2e.test_hiring_flow import log_in
from tests.factories import EngineerFactory, StaffFactory
from tests.vetting.conftest import TEST_SEED, scored, task_dataset
from tests.vetting.test_pages import bad_dataset, train_job
from vetting import services
from vetting.datasets import approximate_token_counter
from vetting.models import Badge, Challenge, Submission

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def ticket(settings, monkeypatch) -> Challenge:
    settings.VETTING_SECRET_SEED = TEST_SEED
    settings.VETTING_BOOTSTRAP_RESAMPLES = 500
    # The pipeline is not under test here: no base model is prepared, and nothing trains.
    monkeypatch.setattr("vetting.pipeline.token_counter", lambda base_model: approximate_token_counter)
    monkeypatch.setattr("vetting.pipeline.enqueue_advance", lambda submission_id: None)
    call_command("vetting_seed_challenges", stdout=open("/dev/null", "w"))  # noqa: SIM115
    return Challenge.objects.get(slug="support-ticket-json")


def test_engineer_reads_a_challenge_gets_a_line_numbered_report_and_sees_a_result(
    ticket, new_page, screenshot
):
    engineer = EngineerFactory(username="ada", first_name="Ada", last_name="Lovelace")
    page = new_page()
    log_in(page, "ada")

    # The challenge list, from the nav.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Challenges").click()
    expect(page).to_have_url(re.compile(r"/vetting/$"))
    expect(page.locator("[data-challenge]")).to_have_count(Challenge.objects.count())
    card = page.locator(f'[data-challenge="{ticket.slug}"]')
    expect(card).to_contain_text("3 attempts left")
    screenshot(page, "vetting_challenge_list")
    card.get_by_role("link", name=ticket.title).click()

    # The challenge: the exact prompt the model sees at evaluation, its public examples and rules.
    expect(page).to_have_url(re.compile(rf"/vetting/challenges/{ticket.slug}/$"))
    expect(page.get_by_test_id("system-prompt")).to_have_text(ticket.system_prompt)
    expect(page.locator("#public-examples")).to_contain_text(ticket.public_examples[0]["output"])
    expect(page.get_by_test_id("attempts-left")).to_have_text("3")
    screenshot(page, "vetting_challenge_detail")

    # A broken dataset: rejected before anything runs, each problem on its line.
    page.get_by_role("link", name="Submit", exact=True).click()
    expect(page.locator('[data-kind="adapter"]')).to_be_hidden()
    page.get_by_role("radio", name="LoRA adapter").check()
    expect(page.locator('[data-kind="adapter"]')).to_be_visible()
    expect(page.locator('[data-kind="dataset"]')).to_be_hidden()
    page.get_by_role("radio", name="Dataset + hyperparameters").check()
    screenshot(page, "vetting_submission_form")
    page.get_by_label("Training dataset (JSONL)").set_input_files(
        {"name": "train.jsonl", "mimeType": "application/jsonl", "buffer": bad_dataset(ticket)}
    )
    page.locator('input[name="rank"]').fill("8")
    page.get_by_role("button", name="Validate and submit").click()
    expect(page).to_have_url(re.compile(r"/vetting/submissions/\d+/validation/$"))
    expect(page.get_by_test_id("rejected")).to_be_visible()
    errors = page.get_by_test_id("errors").locator("tbody tr")
    expect(errors).to_have_count(2)
    expect(errors.nth(0)).to_contain_text("Line 31")
    expect(errors.nth(0)).to_contain_text("not valid JSON")
    expect(errors.nth(1)).to_contain_text("Line 32")
    expect(errors.nth(1)).to_contain_text("no assistant message")
    screenshot(page, "vetting_validation_report")
    assert Submission.objects.get().state == Submission.State.REJECTED
    assert not Job.objects.exists()

    # A run in training: the progress page follows the job.
    running = services.submissions.submission_create(
        actor=engineer, challenge_id=ticket.pk, kind="dataset", dataset=task_dataset(ticket, 40)
    )
    services.submissions.submission_start_training(submission_id=running.pk, job_id=train_job(engineer).pk)
    page.goto(f"/vetting/submissions/{running.pk}/")
    expect(page.locator('[data-step="train"]')).to_have_attribute("data-status", "running")
    expect(page.get_by_test_id("loss-curve")).to_be_visible()
    screenshot(page, "vetting_progress")

    # A result: verdict, each rule, the before/after chart drawn on the server.
    result = scored(ticket, engineer)
    page.goto(f"/vetting/submissions/{result.pk}/result/")
    expect(page.get_by_test_id("verdict")).to_contain_text("Passed")
    expect(page.get_by_test_id("task-chart")).to_be_visible()
    expect(page.get_by_test_id("task-chart").locator("rect")).to_have_count(3)
    expect(page.get_by_test_id("released-score")).to_have_text("0.50")
    expect(page.locator("#rules tbody tr")).to_have_count(4)
    assert "0.83" not in page.content()
    screenshot(page, "vetting_result")

    # Staff reach every submission's full figures from the nav, and revoke the badge there.
    StaffFactory(username="sam", first_name="Sam", last_name="Staff")
    staff_page = new_page()
    log_in(staff_page, "sam")
    staff_page.get_by_role("navigation", name="Main").get_by_role("link", name="Vetting").click()
    expect(staff_page.get_by_test_id("staff-submissions")).to_contain_text("0.830")
    staff_page.get_by_role("link", name=str(result.pk), exact=True).click()
    expect(staff_page.get_by_test_id("figures")).to_contain_text("0.83")
    screenshot(staff_page, "vetting_staff_report")
    staff_page.get_by_placeholder("Why the badge is revoked").fill("Dataset copied from a peer.")
    staff_page.get_by_role("button", name="Revoke badge").click()
    expect(staff_page.locator("#badge")).to_contain_text("Revoked")
    assert not Badge.objects.get(submission=result).active
