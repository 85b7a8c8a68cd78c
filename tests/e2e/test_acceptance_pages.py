"""The acceptance-test page in a real browser: the client attaches terms to an unfunded milestone (a
bad file first, refused line by line with what was typed kept), then the engineer reads the terms
and the public sample."""

import pytest
from playwright.sync_api import expect

from acceptance import baselines, pipeline
from acceptance.models import AcceptanceRun, AcceptanceTest, PromptingBaseline
from marketplace.models import Milestone
from tests.acceptance import conftest as acceptance_fixtures
from tests.acceptance.sets import jsonl, ticket_items
from tests.acceptance.support import finish_job, milestone_with_test, right_answers, wrong_where
from tests.e2e.test_hiring_flow import log_in
from tests.factories import ClientFactory, EngineerFactory, engagement, open_request

# Fixtures (see tests/acceptance/conftest.py).
acceptance_settings = acceptance_fixtures.acceptance_settings
adapter_bytes = acceptance_fixtures.adapter_bytes
pipeline_settings = acceptance_fixtures.pipeline_settings
tiny_model_dir = acceptance_fixtures.tiny_model_dir

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


def test_a_delivery_runs_its_test_live_and_approval_shows_the_evidence(
    new_page, screenshot, tmp_path, monkeypatch, acceptance_settings, adapter_bytes
):
    # The run and its sandbox jobs are played in this process rather than sent to a worker
    # (test_runs_worker.py runs the real ones): the page polls while the run progresses, then shows
    # the report.
    started: list[int] = []
    monkeypatch.setattr("acceptance.receivers.enqueue_advance", started.append)
    monkeypatch.setattr("sandbox.services._send", lambda job_id: None)
    milestone = milestone_with_test(
        client=ClientFactory(username="clara", first_name="Clara", last_name="Client"),
        engineer=EngineerFactory(username="ada", first_name="Ada", last_name="Lovelace"),
    )
    for name, data in adapter_bytes.items():
        (tmp_path / name).write_bytes(data)

    engineer_page = new_page()
    log_in(engineer_page, "ada")
    engineer_page.goto(f"/engagements/{milestone.engagement_id}/")
    form = engineer_page.locator(".delivery-form")
    expect(form.get_by_text("The model for the acceptance test")).to_be_visible()
    form.locator("textarea").first.fill("Adapter trained on 2,000 routed tickets.")
    form.get_by_role("button", name="Submit delivery").click()
    expect(
        engineer_page.get_by_text(
            "Required: the milestone's acceptance test runs on the delivered LoRA adapter."
        ).first
    ).to_be_visible()
    form = engineer_page.locator(".delivery-form")
    form.get_by_label("Adapter config (adapter_config.json)").set_input_files(
        str(tmp_path / "adapter_config.json")
    )
    form.get_by_label("Adapter weights (adapter_model.safetensors)").set_input_files(
        str(tmp_path / "adapter_model.safetensors")
    )
    form.get_by_role("button", name="Submit delivery").click()
    expect(engineer_page.get_by_text("Delivery submitted for the client's review.")).to_be_visible()
    [run_id] = started

    engineer_page.goto(f"/acceptance/milestones/{milestone.pk}/#runs")
    expect(engineer_page.locator(f"#run-{run_id}")).to_have_attribute("data-state", "queued")
    pipeline.run_advance(run_id=run_id)
    run = AcceptanceRun.objects.get(pk=run_id)
    jobs = {link.role: link.job for link in run.job_links.select_related("job")}
    outputs = wrong_where(right_answers(milestone), "delivered")
    finish_job(jobs["base"], outputs)
    finish_job(jobs["general_base"], outputs)
    expect(engineer_page.locator(f"#run-{run_id}")).to_have_attribute("data-state", "running")
    expect(engineer_page.get_by_text("67% done.")).to_be_visible()
    screenshot(engineer_page, "acceptance-run-progress")
    finish_job(jobs["delivered"], outputs)
    pipeline.run_advance(run_id=run_id)
    expect(engineer_page.locator(f"#run-{run_id}")).to_have_attribute("data-state", "failed", timeout=10_000)
    expect(engineer_page.get_by_test_id("acceptance-task-chart")).to_be_visible()
    expect(engineer_page.get_by_text("Outputs on your items")).to_have_count(0)
    screenshot(engineer_page, "acceptance-run-report-engineer")

    client_page = new_page()
    log_in(client_page, "clara")
    client_page.goto(f"/acceptance/milestones/{milestone.pk}/#runs")
    expect(client_page.get_by_text("Outputs on your items")).to_be_visible()
    expect(client_page.locator("#outcomes tbody tr")).to_have_count(20)
    screenshot(client_page, "acceptance-run-report-client")

    client_page.goto(f"/engagements/{milestone.engagement_id}/")
    client_page.get_by_text("Approve delivery").click()
    evidence = client_page.get_by_test_id("approve-evidence")
    expect(evidence).to_contain_text("Acceptance test failed.")
    client_page.get_by_role("button", name="Release 3,000.00 USD").click()
    expect(client_page.get_by_text("To approve it anyway").first).to_be_visible()
    client_page.get_by_label("Approve anyway: I accept this delivery although its test did not pass").check()
    client_page.get_by_label("Note (optional)").fill(
        "Misses the mark on our set, but beats what we run today."
    )
    screenshot(client_page, "acceptance-approve-anyway")
    client_page.get_by_role("button", name="Release 3,000.00 USD").click()
    expect(client_page.get_by_text("Milestone approved.")).to_be_visible()
    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.APPROVED


def test_client_measures_prompting_before_hiring(
    new_page, screenshot, tmp_path, monkeypatch, acceptance_settings
):
    monkeypatch.setattr("acceptance.baselines.enqueue_advance", lambda baseline_id: None)  # played below
    monkeypatch.setattr("sandbox.services._send", lambda job_id: None)
    acceptance_settings.DEFAULT_BASE_MODEL = "tiny-test"
    hiring_request = open_request(
        client=ClientFactory(username="clara", first_name="Clara", last_name="Client")
    )
    items = ticket_items(23)
    bad, good = tmp_path / "draft.jsonl", tmp_path / "sample.jsonl"
    bad.write_bytes(jsonl(items[:5]))
    good.write_bytes(jsonl(items))

    page = new_page()
    log_in(page, "clara")
    page.goto(f"/requests/{hiring_request.pk}/")
    page.get_by_role("link", name="Measure prompting").click()
    page.get_by_label("Sample set (JSONL)").set_input_files(str(bad))
    page.get_by_label("Metric").select_option("label")
    page.get_by_label("Target score").fill("0.7")
    page.get_by_role("button", name="Measure").click()
    expect(page.get_by_text("5 items; an evaluation set holds 10 to 500").first).to_be_visible()
    expect(page.get_by_label("Target score")).to_have_value("0.7")
    page.get_by_label("Sample set (JSONL)").set_input_files(str(good))
    page.get_by_role("button", name="Measure").click()
    expect(page.get_by_text("Measuring the base model on 23 examples")).to_be_visible()

    baseline = PromptingBaseline.objects.get()
    baselines.baseline_advance(baseline_id=baseline.pk)
    baseline.refresh_from_db()
    targets = {str(index): item["target"] for index, item in enumerate(items)}
    finish_job(
        baseline.job, lambda config, key: targets[key] if config == "few_shot" and int(key) % 2 else "no"
    )
    baselines.baseline_advance(baseline_id=baseline.pk)
    expect(page.get_by_text("Prompting alone scores")).to_be_visible(timeout=10_000)
    expect(page.get_by_text("Prompting falls short of it")).to_be_visible()
    screenshot(page, "acceptance-baseline")
    page.goto(f"/requests/{hiring_request.pk}/")
    expect(page.locator("#prompting-baseline")).to_contain_text("Prompting alone scores")
    screenshot(page, "acceptance-baseline-request")
