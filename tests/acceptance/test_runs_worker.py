"""Acceptance runs end to end on the real parts: the API, the broker and a real Celery worker (queues
gpu + default), the real sandbox (bubblewrap) and the real evaluation engine on the tiny model. One
milestone passes its test and is approved with the evidence; another fails it and is approved anyway,
with the reason on the timeline."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from acceptance.models import AcceptanceRun
from core.models import TransitionLog
from marketplace.models import Milestone
from sandbox.models import Job
from tests.acceptance.sets import TRAINING_SET
from tests.acceptance.support import milestone_with_test, private_texts
from tests.celery_worker import wait_for
from vetting.pipeline import inputs_dir

pytestmark = [pytest.mark.e2e, pytest.mark.needs("bwrap")]


def _api(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def _deliver(milestone: Milestone, adapter_bytes: dict[str, bytes]):
    return _api(milestone.engagement.engineer).post(
        f"/api/v1/milestones/{milestone.pk}/submit/",
        {
            "message": "The adapter.",
            "adapter_config": SimpleUploadedFile("adapter_config.json", adapter_bytes["adapter_config.json"]),
            "adapter_model": SimpleUploadedFile(
                "adapter_model.safetensors", adapter_bytes["adapter_model.safetensors"]
            ),
        },
        format="multipart",
    )


def test_acceptance_runs_through_a_real_worker(start_pipeline_worker, acceptance_settings, adapter_bytes):
    worker = start_pipeline_worker(VETTING_SECRET_SEED="test-secret-seed", VETTING_BOOTSTRAP_RESAMPLES=300)
    # The tiny random model answers nothing right: a pass mark of 0 passes, 0.9 fails.
    lenient = milestone_with_test(pass_mark=0.0, floor=0.0)
    strict = milestone_with_test(pass_mark=0.9, floor=0.0)
    for milestone in (lenient, strict):
        response = _deliver(milestone, adapter_bytes)
        assert response.status_code == 201, response.content
    # A third delivers a training set, which the platform trains (10 minutes granted) before testing.
    trained = milestone_with_test(pass_mark=0.0, floor=0.0, training_budget_minutes=10)
    response = _api(trained.engagement.engineer).post(
        f"/api/v1/milestones/{trained.pk}/submit/",
        {
            "message": "Our data; please train it.",
            "dataset": SimpleUploadedFile("train.jsonl", TRAINING_SET),
            "hyperparameters": '{"rank": 4, "alpha": 8, "epochs": 1, "batch_size": 8, "learning_rate": 0.01}',
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content

    def finished(milestone):
        runs = (
            _api(milestone.engagement.client)
            .get(f"/api/v1/milestones/{milestone.pk}/acceptance/runs/")
            .json()
        )
        return runs if runs and runs[0]["state"] in ("passed", "failed", "errored") else None

    passed = wait_for(lambda: finished(lenient), timeout=300, what="the lenient run")[0]
    failed = wait_for(lambda: finished(strict), timeout=300, what="the strict run")[0]
    trained_run = wait_for(lambda: finished(trained), timeout=300, what="the training delivery's run")[0]
    assert trained_run["state"] == "passed", (trained_run, worker.log())
    train_job = Job.objects.get(acceptance_links__role="train")
    assert (train_job.owner, train_job.state) == (trained.engagement.engineer, Job.State.SUCCEEDED)
    assert trained_run["cost"]["tokens"] > train_job.metrics["trained_tokens"] > 0
    assert passed["state"] == "passed", (passed, worker.log())
    assert failed["state"] == "failed", (failed, worker.log())
    for run in (passed, failed):
        assert set(run["scores"]) == {
            "base",
            "few_shot",
            "delivered",
            "delivered_ci",
            "delta_vs_few_shot_ci",
            "general_base",
            "general_delivered",
            "forgetting_ratio",
        }
        assert None not in run["scores"].values() and run["progress"] == 1.0
        assert 0 < run["cost"]["device_seconds"] < 600 and run["cost"]["tokens"] > 0
    assert failed["reasons"][0].endswith("below the pass mark of 0.90.")
    # The three tests hold the same items: the base model's two evaluations served every run.
    jobs = Job.objects.filter(kind=Job.Kind.EVALUATE, acceptance_links__run__isnull=False).distinct()
    assert jobs.count() == 5 and {(job.owner_id, job.state) for job in jobs} == {(None, Job.State.SUCCEEDED)}
    assert not list(inputs_dir().glob("*.jsonl"))  # private items are gone from disk once used
    # Nothing the engineer can read carries a private item: API answers, pages, notifications, jobs'
    # logs and failure messages, the timeline.
    engineer = strict.engagement.engineer
    api = _api(engineer)
    readable = [
        api.get(f"/api/v1/milestones/{strict.pk}/{path}").content.decode()
        for path in ("acceptance/runs/", "acceptance/", "")
    ]
    readable.append(api.get(f"/api/v1/engagements/{strict.engagement_id}/").content.decode())
    readable.append(api.get(f"/api/v1/engagements/{strict.engagement_id}/timeline/").content.decode())
    readable.append(api.get("/api/v1/notifications/").content.decode())
    browser = Client()
    browser.force_login(engineer)
    for url in (
        f"/engagements/{strict.engagement_id}/",
        f"/acceptance/milestones/{strict.pk}/",
        f"/acceptance/milestones/{strict.pk}/runs/",
        "/notifications/",
    ):
        page = browser.get(url)
        assert page.status_code == 200, url
        readable.append(page.content.decode())
    readable += [job.log_tail + job.failure_message for job in Job.objects.all()]
    readable += list(TransitionLog.objects.values_list("note", flat=True))
    for text in private_texts(strict):
        assert not any(text in content for content in readable), text

    approved = _api(lenient.engagement.client).post(
        f"/api/v1/milestones/{lenient.pk}/approve/", {"note": "Numbers check out."}
    )
    assert approved.status_code == 200 and approved.json()["state"] == "approved"

    client_api = _api(strict.engagement.client)
    refused = client_api.post(f"/api/v1/milestones/{strict.pk}/approve/", {"note": "ok"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "acceptance_not_passed"
    reason = "It misses our pass mark, but it beats what we run today; shipping it."
    anyway = client_api.post(
        f"/api/v1/milestones/{strict.pk}/approve/", {"note": reason, "approve_anyway": True}
    )
    assert anyway.status_code == 200, anyway.content
    assert TransitionLog.objects.get(to_state="approved", object_id=strict.pk).note == reason
    assert AcceptanceRun.objects.filter(state=AcceptanceRun.State.PASSED).count() == 2  # lenient, trained
