"""A request's prompting baseline: the client uploads a sample of the task; the platform measures the
base model zero-shot and few-shot on it (one sandbox job, played here; the job hook and sweep advance
it); the client, staff and invited engineers see the scores, never the items."""

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from acceptance import baselines
from acceptance.models import PromptingBaseline
from marketplace.services import requests as request_services
from sandbox.models import Job
from tests.acceptance.sets import jsonl, ticket_items
from tests.acceptance.support import finish_job
from tests.factories import EngineerFactory, open_request
from tests.vetting.test_pipeline_support import TINY

pytestmark = pytest.mark.django_db

ITEMS = ticket_items(23)  # 3 examples in the prompt, 20 scored


@pytest.fixture
def hiring_request(acceptance_settings):
    acceptance_settings.DEFAULT_BASE_MODEL = TINY
    return open_request()


def _api(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def _post(user, hiring_request, **fields):
    body = {"eval_set": SimpleUploadedFile("sample.jsonl", jsonl(ITEMS)), "metric": "label", **fields}
    return _api(user).post(f"/api/v1/requests/{hiring_request.pk}/baseline/", body, format="multipart")


def _measured(hiring_request, captured, outputs) -> PromptingBaseline:
    with captured(execute=False):
        response = _post(hiring_request.client, hiring_request, target="0.5")
    assert response.status_code == 202, response.content
    assert response.json()["state"] == "queued"
    baseline = PromptingBaseline.objects.get(request=hiring_request)
    assert baselines.baseline_advance(baseline_id=baseline.pk).startswith("running")
    baseline.refresh_from_db()
    finish_job(baseline.job, outputs)
    baselines.baseline_advance(baseline_id=baseline.pk)
    baseline.refresh_from_db()
    return baseline


def test_the_base_model_is_measured_zero_and_few_shot(hiring_request, django_capture_on_commit_callbacks):
    targets = {str(index): item["target"] for index, item in enumerate(ITEMS)}
    # Few-shot prompting gets every item right, zero-shot none.
    baseline = _measured(
        hiring_request,
        django_capture_on_commit_callbacks,
        lambda config, key: targets[key] if config == "few_shot" else "no idea",
    )
    assert baseline.state == PromptingBaseline.State.DONE
    assert baseline.scores["zero_shot"] == 0.0 and baseline.scores["few_shot"] == 1.0
    assert baseline.scores["few_shot_ci"] == [1.0, 1.0] and baseline.scores["items"] == 20
    assert baseline.reaches_target and baseline.job.owner_id is None
    prompts = [json.loads(line) for line in Path(baseline.job.spec["prompts_path"]).read_text().splitlines()]
    few_shot = [prompt for prompt in prompts if prompt["id"].startswith("few_shot|")]
    assert len(prompts) == 40 and len(few_shot[0]["messages"]) == 3 * 2 + 1

    body = _api(hiring_request.client).get(f"/api/v1/requests/{hiring_request.pk}/baseline/").json()
    assert body["scores"]["few_shot"] == 1.0 and body["reaches_target"] is True and body["scored_items"] == 20

    # Invited engineers see the scores, never the items; other engineers do not see it at all.
    invited = EngineerFactory()
    request_services.consultation_invite(
        actor=hiring_request.client, request_id=hiring_request.pk, engineer_id=invited.pk
    )
    seen = _api(invited).get(f"/api/v1/requests/{hiring_request.pk}/baseline/")
    assert seen.status_code == 200
    for item in ITEMS:
        assert item["input"] not in seen.content.decode()
    assert _api(EngineerFactory()).get(f"/api/v1/requests/{hiring_request.pk}/baseline/").status_code == 404


def test_the_request_page_says_plainly_when_prompting_is_enough(
    hiring_request, django_capture_on_commit_callbacks, client
):
    targets = {str(index): item["target"] for index, item in enumerate(ITEMS)}
    _measured(hiring_request, django_capture_on_commit_callbacks, lambda config, key: targets[key])
    client.force_login(hiring_request.client)
    html = client.get(f"/requests/{hiring_request.pk}/").content.decode()
    assert "Prompting alone scores <strong>1.00</strong>" in html
    assert "Prompting already reaches your target of 0.50." in html


def test_bad_uploads_and_a_second_measurement_while_one_runs(
    hiring_request, django_capture_on_commit_callbacks
):
    client = hiring_request.client
    few = _post(client, hiring_request, eval_set=SimpleUploadedFile("s.jsonl", jsonl(ITEMS[:9])))
    assert few.status_code == 400
    assert few.json()["error"]["details"]["eval_set"] == ["9 items; an evaluation set holds 10 to 500"]
    assert _post(client, hiring_request, target="2").json()["error"]["details"]["target"]
    invited = EngineerFactory()
    request_services.consultation_invite(actor=client, request_id=hiring_request.pk, engineer_id=invited.pk)
    assert _post(invited, hiring_request).status_code == 403
    assert _post(EngineerFactory(), hiring_request).status_code == 404
    with django_capture_on_commit_callbacks(execute=False):
        assert _post(client, hiring_request).status_code == 202
        again = _post(client, hiring_request)
    assert again.status_code == 409
    assert PromptingBaseline.objects.count() == 1 and not Job.objects.exists()


def test_a_failed_measurement_says_why(hiring_request, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        _post(hiring_request.client, hiring_request)
    baseline = PromptingBaseline.objects.get()
    baselines.baseline_advance(baseline_id=baseline.pk)
    baseline.refresh_from_db()
    finish_job(baseline.job, None, reason="timeout")
    assert baselines.baseline_advance(baseline_id=baseline.pk).startswith("errored")
    baseline.refresh_from_db()
    assert baseline.error_message == "The measurement did not finish (ran past its wall-time limit)."
