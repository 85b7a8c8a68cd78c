"""Acceptance runs: a delivery on a milestone with a test must carry an adapter that fits; it starts
three evaluations (owned by nobody); their results give a pass or a fail against the terms; approval
shows the evidence and needs "approve anyway" with a reason when the test did not pass. The engines
are played here (their outputs written for the prompts the jobs received); test_runs_worker.py runs
the real ones."""

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from acceptance import pipeline
from acceptance.models import AcceptanceRun
from acceptance.selectors import run_progress
from core.errors import ValidationError
from core.models import TransitionLog
from marketplace.models import Delivery, Milestone, Notification
from marketplace.services import engagements as engagement_services
from sandbox.models import Job
from tests.acceptance.sets import TRAINING_SET
from tests.acceptance.support import (
    adapter_upload,
    finish_job,
    milestone_with_test,
    private_texts,
    right_answers,
    wrong_where,
)
from tests.factories import StaffFactory, engagement
from tests.vetting.test_pipeline_support import end_job
from vetting.challenges.general import GENERAL_MAX_NEW_TOKENS
from vetting.pipeline import evaluate_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def milestone(acceptance_settings):
    return milestone_with_test()


def _deliver(milestone: Milestone, adapter: dict | None) -> Delivery:
    return engagement_services.milestone_submit(
        actor=milestone.engagement.engineer,
        milestone_id=milestone.pk,
        message="The adapter, trained on 2,000 tickets.",
        adapter=adapter,
    )


def _run_jobs(run: AcceptanceRun) -> dict[str, Job]:
    return {link.role: link.job for link in run.job_links.select_related("job")}


def _evaluated(milestone, adapter_bytes, outputs, captured) -> AcceptanceRun:
    with captured(execute=False) as callbacks:
        delivery = _deliver(milestone, adapter_upload(adapter_bytes))
    assert callbacks, "the run is sent to the pipeline once the delivery commits"
    run = AcceptanceRun.objects.get(delivery=delivery)
    assert pipeline.run_advance(run_id=run.pk).startswith("running")
    for job in _run_jobs(run).values():
        finish_job(job, outputs)
    pipeline.run_advance(run_id=run.pk)
    run.refresh_from_db()
    return run


def test_a_delivery_without_the_adapter_is_refused_and_nothing_is_kept(milestone):
    with pytest.raises(ValidationError) as refused:
        _deliver(milestone, None)
    assert refused.value.code == "adapter_required"
    assert set(refused.value.details) == {"adapter_config", "adapter_model"}
    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.IN_PROGRESS and not Delivery.objects.exists()


def test_an_adapter_that_does_not_fit_is_refused_before_any_job_runs(milestone, adapter_bytes, settings):
    settings.ADAPTER_MAX_RANK = 2  # the delivered adapter has rank 4
    with pytest.raises(ValidationError) as refused:
        _deliver(milestone, adapter_upload(adapter_bytes))
    assert refused.value.code == "adapter_rejected"
    assert refused.value.details == {
        "adapter_model": ["adapter_config.json: r = 4 is above the rank cap of 2"]
    }
    assert not Job.objects.exists() and not AcceptanceRun.objects.exists() and not Delivery.objects.exists()
    folder = Path(settings.MEDIA_ROOT) / "acceptance" / "adapters"
    assert not folder.exists() or not any(folder.iterdir())

    settings.ADAPTER_MAX_RANK = 64
    broken = adapter_upload(adapter_bytes) | {
        "adapter_model": SimpleUploadedFile("w.safetensors", b"\x00" * 64)
    }
    with pytest.raises(ValidationError) as refused:
        _deliver(milestone, broken)
    assert refused.value.code == "adapter_rejected" and not Job.objects.exists()


def test_an_adapter_on_a_milestone_without_a_test_is_refused(acceptance_settings, adapter_bytes):
    plain = engagement(amounts=(100_000,)).milestones.get()
    engagement_services.milestone_mark_funded(milestone_id=plain.pk)
    engagement_services.milestone_start(actor=plain.engagement.engineer, milestone_id=plain.pk)
    with pytest.raises(ValidationError, match="no acceptance test"):
        _deliver(plain, adapter_upload(adapter_bytes))
    assert _deliver(plain, None).milestone_id == plain.pk  # an ordinary delivery still works


def test_a_passing_run_scores_against_the_terms_and_shortens_the_review(
    milestone,
    adapter_bytes,
    django_capture_on_commit_callbacks,
):
    outputs = wrong_where(right_answers(milestone), "base", "few_shot")
    run = _evaluated(milestone, adapter_bytes, outputs, django_capture_on_commit_callbacks)
    assert run.state == AcceptanceRun.State.PASSED and run.reasons == []
    assert run.scores["base"] == 0.0 and run.scores["few_shot"] == 0.0 and run.scores["delivered"] == 1.0
    assert run.scores["delivered_ci"] == [1.0, 1.0] and run.scores["delta_vs_few_shot_ci"] == [1.0, 1.0]
    assert run.scores["forgetting_ratio"] == 1.0
    assert run.cost == {"device_seconds": 0.0, "tokens": 3300, "device": ["cpu"]}  # 1,100 a job
    assert run.adapter["rank"] == 4 and len(run.outcomes) == 20
    # The three evaluations are the platform's: no owner, so no page or API shows them to anyone but staff.
    jobs = _run_jobs(run)
    assert set(jobs) == {"base", "general_base", "delivered"}
    assert all(job.owner_id is None for job in jobs.values())
    assert (
        jobs["delivered"].spec["adapter_dir"] == run.adapter_dir and jobs["base"].spec["adapter_dir"] is None
    )
    assert sorted(path.name for path in Path(run.adapter_dir).iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
    ]
    milestone.refresh_from_db()
    assert milestone.auto_approve_at <= timezone.now() + timedelta(days=3)
    assert Notification.objects.filter(kind="acceptance_passed").count() == 2
    engagement_services.milestone_approve(actor=milestone.engagement.client, milestone_id=milestone.pk)
    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.APPROVED


def test_few_shot_prompts_carry_the_public_sample(
    milestone, adapter_bytes, django_capture_on_commit_callbacks
):
    import json

    with django_capture_on_commit_callbacks(execute=False):
        delivery = _deliver(milestone, adapter_upload(adapter_bytes))
    run = AcceptanceRun.objects.get(delivery=delivery)
    pipeline.run_advance(run_id=run.pk)
    jobs = _run_jobs(run)

    def prompts_of(role: str) -> list[dict]:
        return [json.loads(line) for line in Path(jobs[role].spec["prompts_path"]).read_text().splitlines()]

    prompts = prompts_of("base")
    few_shot = [prompt for prompt in prompts if prompt["id"].startswith("few_shot|")]
    zero_shot = [prompt for prompt in prompts if prompt["id"].startswith("base|")]
    assert len(few_shot) == len(zero_shot) == 20 and len(prompts) == 40
    general = prompts_of("general_base")
    assert [prompt["id"] for prompt in general] == [
        f"general_base|{n}" for n in range(len(pipeline.general_items()))
    ]
    # The delivered model's one job answers the items and the general set, each to its own length.
    delivered = prompts_of("delivered")
    room = pipeline.max_new_tokens(run.test, list(run.test.items.all()))
    assert {prompt["max_new_tokens"] for prompt in few_shot + zero_shot} == {room}
    assert {prompt["max_new_tokens"] for prompt in general} == {GENERAL_MAX_NEW_TOKENS} != {room}
    assert {(p["id"].split("|")[0], p["max_new_tokens"]) for p in delivered} == {
        ("delivered", room),
        ("general_delivered", GENERAL_MAX_NEW_TOKENS),
    }
    assert len(delivered) == 20 + len(general)
    assert len(few_shot[0]["messages"]) == 2 * 4 + 1 and len(zero_shot[0]["messages"]) == 1
    assert few_shot[0]["messages"][-1] == zero_shot[0]["messages"][-1]
    assert few_shot[0]["messages"][1]["role"] == "assistant"


def test_a_failed_run_needs_approve_anyway_with_a_reason(
    milestone, adapter_bytes, django_capture_on_commit_callbacks
):
    outputs = wrong_where(right_answers(milestone), "delivered", "general_delivered")
    run = _evaluated(milestone, adapter_bytes, outputs, django_capture_on_commit_callbacks)
    assert run.state == AcceptanceRun.State.FAILED
    assert run.reasons == [
        "The delivered model scores 0.00, below the pass mark of 0.80.",
        "It keeps 0.00 of the base model's general score, below the floor of 0.90.",
    ]
    milestone.refresh_from_db()
    assert milestone.auto_approve_at is None  # the client decides
    assert (
        engagement_services.milestones_auto_approve(now=timezone.now() + timedelta(days=30))["approved"] == 0
    )
    client = milestone.engagement.client

    with pytest.raises(ValidationError) as refused:
        engagement_services.milestone_approve(actor=client, milestone_id=milestone.pk, note="Looks fine")
    assert refused.value.code == "acceptance_not_passed" and "approve_anyway" in refused.value.details
    with pytest.raises(ValidationError) as refused:
        engagement_services.milestone_approve(actor=client, milestone_id=milestone.pk, approve_anyway=True)
    assert "note" in refused.value.details
    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.SUBMITTED

    reason = "Good enough on our real traffic; the eval set was too strict."
    engagement_services.milestone_approve(
        actor=client, milestone_id=milestone.pk, note=reason, approve_anyway=True
    )
    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.APPROVED
    log = TransitionLog.objects.filter(to_state="approved").get()
    assert log.note == reason and log.actor == client


def test_a_failed_evaluation_errors_the_run_naming_the_step_never_the_output(
    milestone,
    adapter_bytes,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=False):
        delivery = _deliver(milestone, adapter_upload(adapter_bytes))
    run = AcceptanceRun.objects.get(delivery=delivery)
    pipeline.run_advance(run_id=run.pk)
    jobs = _run_jobs(run)
    assert run_progress(run) == 0.0
    for number, role in enumerate(("base", "general_base", "delivered"), start=1):
        finish_job(
            jobs[role], right_answers(milestone), reason="out_of_memory" if role == "delivered" else ""
        )
        if number == 1:
            assert run_progress(run) == 0.333  # each of the three evaluations counts a third
    pipeline.run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert run.state == AcceptanceRun.State.ERRORED
    assert run.error_message == "The delivered model's evaluation did not finish (ran out of memory)."
    assert pipeline.run_advance(run_id=run.pk) == "nothing to do (errored)"


@pytest.mark.parametrize(("failing", "state"), [(None, "passed"), ("general_delivered", "errored")])
def test_a_run_that_started_on_four_jobs_finishes_on_them(
    milestone, adapter_bytes, django_capture_on_commit_callbacks, failing, state
):
    """Runs that started when the delivered model's general set had a job of its own (the roles of
    those days) are scored from those four jobs."""
    with django_capture_on_commit_callbacks(execute=False):
        run = AcceptanceRun.objects.get(delivery=_deliver(milestone, adapter_upload(adapter_bytes)))
    pipeline.run_advance(run_id=run.pk)
    # The delivered model's job split in two by set: the items', the general set's.
    job = _run_jobs(run)["delivered"]
    prompts = [json.loads(line) for line in Path(job.spec["prompts_path"]).read_text().splitlines()]
    for role, part in (
        ("delivered", [p for p in prompts if not p["id"].startswith("general_delivered|")]),
        ("general_delivered", [p for p in prompts if p["id"].startswith("general_delivered|")]),
    ):
        split = evaluate_job(
            base_dir=Path(job.spec["base_model_dir"]),
            adapter_dir=Path(job.spec["adapter_dir"]),
            prompts=part,
            max_new_tokens=job.spec["max_new_tokens"],
        )
        run.job_links.update_or_create(role=role, defaults={"job": split})
    jobs = _run_jobs(run)
    assert set(jobs) == {"base", "delivered", "general_base", "general_delivered"}
    outputs = wrong_where(right_answers(milestone), "base", "few_shot")
    for number, (role, job) in enumerate(jobs.items(), start=1):
        finish_job(job, outputs, reason="crashed" if role == failing else "")
        if number == 1:
            assert run_progress(run) == 0.25  # each of the four counts alike
    pipeline.run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert run.state == state
    if failing:
        assert run.error_message == (
            "The delivered model's general-knowledge check did not finish (crashed)."
        )
    else:
        assert (run.scores["few_shot"], run.scores["delivered"], run.scores["forgetting_ratio"]) == (
            0.0,
            1.0,
            1.0,
        )


def test_runs_api_and_pages_show_aggregates_to_the_engineer_and_outputs_to_the_client(
    milestone,
    adapter_bytes,
    django_capture_on_commit_callbacks,
    client,
):
    outputs = wrong_where(right_answers(milestone), "base")
    first = _evaluated(milestone, adapter_bytes, outputs, django_capture_on_commit_callbacks)
    engagement_services.milestone_request_revision(
        actor=milestone.engagement.client, milestone_id=milestone.pk, comment="Try again on longer tickets."
    )
    with django_capture_on_commit_callbacks(execute=False):
        _deliver(milestone, adapter_upload(adapter_bytes))

    api = APIClient()
    api.force_authenticate(milestone.engagement.engineer)
    response = api.get(f"/api/v1/milestones/{milestone.pk}/acceptance/runs/")
    assert response.status_code == 200
    runs = response.json()
    assert [run["state"] for run in runs] == ["queued", "passed"] and runs[1]["id"] == first.pk
    assert runs[1]["scores"]["delivered"] == 1.0 and runs[1]["pass_mark"] == 0.8
    assert runs[1]["cost"] == {"device_seconds": 0.0, "tokens": 3300} and runs[0]["progress"] == 0.0
    body = response.content.decode()
    for text in private_texts(milestone):
        assert text not in body

    client.force_login(milestone.engagement.engineer)
    html = client.get(f"/acceptance/milestones/{milestone.pk}/").content.decode()
    assert "Acceptance runs" in html and "Outputs on your items" not in html
    for text in private_texts(milestone):
        assert text not in html
    client.force_login(milestone.engagement.client)
    html = client.get(f"/acceptance/milestones/{milestone.pk}/").content.decode()
    assert "Outputs on your items" in html and private_texts(milestone)[0] in html
    assert client.get(f"/acceptance/milestones/{milestone.pk}/runs/").status_code == 200


def test_a_redelivery_reuses_the_base_models_evaluations(
    milestone, adapter_bytes, django_capture_on_commit_callbacks
):
    outputs = wrong_where(right_answers(milestone), "base", "few_shot", "delivered")
    first = _evaluated(milestone, adapter_bytes, outputs, django_capture_on_commit_callbacks)
    assert first.state == AcceptanceRun.State.FAILED
    engagement_services.milestone_request_revision(
        actor=milestone.engagement.client, milestone_id=milestone.pk, comment="Below the mark; try again."
    )
    with django_capture_on_commit_callbacks(execute=False):
        delivery = _deliver(milestone, adapter_upload(adapter_bytes))
    second = AcceptanceRun.objects.get(delivery=delivery)
    pipeline.run_advance(run_id=second.pk)
    before, after = _run_jobs(first), _run_jobs(second)
    assert after["base"] == before["base"] and after["general_base"] == before["general_base"]
    assert after["delivered"] != before["delivered"] and Job.objects.count() == 4
    finish_job(after["delivered"], right_answers(milestone))
    pipeline.run_advance(run_id=second.pk)
    second.refresh_from_db()
    assert second.state == AcceptanceRun.State.PASSED and second.scores["base"] == 0.0
    assert list(AcceptanceRun.objects.values_list("pk", flat=True)) == [second.pk, first.pk]


# --- training deliveries ----------------------------------------------------------------------------


@pytest.fixture
def trainable(acceptance_settings):
    return milestone_with_test(training_budget_minutes=30)


def _deliver_training(
    milestone, dataset: bytes = TRAINING_SET, hyperparameters: str = '{"rank": 4, "epochs": 1}'
):
    return engagement_services.milestone_submit(
        actor=milestone.engagement.engineer,
        milestone_id=milestone.pk,
        message="Our training set; please train it.",
        training={"dataset": SimpleUploadedFile("train.jsonl", dataset), "hyperparameters": hyperparameters},
    )


def test_a_training_delivery_is_trained_within_the_budget_then_tested(
    trainable, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        delivery = _deliver_training(trainable)
    run = AcceptanceRun.objects.get(delivery=delivery)
    assert run.hyperparameters["rank"] == 4 and Path(run.dataset_path).read_bytes() == TRAINING_SET
    assert pipeline.run_advance(run_id=run.pk).startswith("training")
    run.refresh_from_db()
    api = APIClient()
    api.force_authenticate(trainable.engagement.engineer)
    [listed] = api.get(f"/api/v1/milestones/{trainable.pk}/acceptance/runs/").json()
    assert listed["state"] == "running" and listed["progress"] == 0.0  # the API's states: training runs
    train = run.job_links.get(role="train").job
    # The engineer's job (they may watch it); the test's items are nowhere in it.
    assert train.owner == trainable.engagement.engineer and train.kind == Job.Kind.TRAIN
    assert train.wall_seconds == 30 * 60 + settings.VETTING_TRAIN_STARTUP_SECONDS
    assert set(train.spec) == {"base_model_dir", "dataset_path", "hyperparameters"}
    assert pipeline.run_advance(run_id=run.pk) == "waiting"

    def write_adapter(output: Path) -> None:
        (output / "adapter").mkdir()
        (output / "metrics.json").write_text(
            json.dumps({"trained_tokens": 900, "trainable_parameters": 2048})
        )

    # The train job's end advances the run (the job hook, after commit), which starts the evaluations.
    with django_capture_on_commit_callbacks(execute=False) as after_commit:
        end_job(train, write=write_adapter)
    for callback in after_commit:
        callback()
    run.refresh_from_db()
    assert run.state == AcceptanceRun.State.RUNNING
    jobs = _run_jobs(run)
    assert jobs["delivered"].spec["adapter_dir"].endswith("/adapter") and run.adapter["trained_tokens"] == 900
    for role in ("base", "general_base", "delivered"):
        finish_job(jobs[role], right_answers(trainable))
    pipeline.run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert run.state == AcceptanceRun.State.PASSED and run.cost["tokens"] == 3300 + 900


def test_training_past_the_budget_errors_the_run_saying_so(trainable, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        run = AcceptanceRun.objects.get(delivery=_deliver_training(trainable))
    pipeline.run_advance(run_id=run.pk)
    end_job(run.job_links.get(role="train").job, reason="timeout", message="wall time")
    pipeline.run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert run.state == AcceptanceRun.State.ERRORED
    assert run.error_message == "Training ran past the terms' budget of 30 minutes."


def test_training_deliveries_are_refused_where_the_terms_do_not_grant_them_or_the_input_is_bad(
    trainable,
    milestone,
    adapter_bytes,
):
    with pytest.raises(ValidationError, match="take a trained adapter"):
        _deliver_training(milestone)
    with pytest.raises(ValidationError, match="either the adapter or a training set"):
        engagement_services.milestone_submit(
            actor=trainable.engagement.engineer,
            milestone_id=trainable.pk,
            message="Both.",
            adapter=adapter_upload(adapter_bytes),
            training={"dataset": SimpleUploadedFile("t.jsonl", TRAINING_SET)},
        )
    with pytest.raises(ValidationError) as bad_json:
        _deliver_training(trainable, hyperparameters="{rank: 4")
    assert "hyperparameters" in bad_json.value.details
    with pytest.raises(ValidationError) as bad_key:
        _deliver_training(trainable, hyperparameters='{"rank": 4096}')
    assert bad_key.value.message.startswith("hyperparameters.rank:")
    with pytest.raises(ValidationError) as bad_set:
        _deliver_training(trainable, dataset=TRAINING_SET + b"{oops\n")
    assert bad_set.value.code == "invalid_dataset" and bad_set.value.details["dataset"][0].startswith(
        "line 25: "
    )
    assert not AcceptanceRun.objects.exists() and not Delivery.objects.exists()


def test_a_dispute_and_a_revision_carry_the_report(
    milestone, adapter_bytes, django_capture_on_commit_callbacks, client
):
    outputs = wrong_where(right_answers(milestone), "delivered")
    run = _evaluated(milestone, adapter_bytes, outputs, django_capture_on_commit_callbacks)
    engagement_services.milestone_open_dispute(
        actor=milestone.engagement.client,
        milestone_id=milestone.pk,
        category="scope_not_met",
        reason="It fails our test: the delivery does not match the agreed scope.",
    )
    client.force_login(StaffFactory())
    html = client.get(f"/engagements/{milestone.engagement_id}/").content.decode()
    assert 'data-testid="dispute-evidence"' in html and "Acceptance test failed." in html
    assert "The delivered model scores 0.00, below the pass mark of 0.80." in html
    assert f"#run-{run.pk}" in html and "Acceptance test of this delivery" in html


def test_the_sweep_removes_uploads_no_run_refers_to(
    milestone, adapter_bytes, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        run = AcceptanceRun.objects.get(delivery=_deliver(milestone, adapter_upload(adapter_bytes)))
    orphan = pipeline.adapters_dir() / "orphan"
    orphan.mkdir()
    (orphan / "adapter_model.safetensors").write_bytes(b"0")
    fresh = pipeline.adapters_dir() / "fresh"
    fresh.mkdir()
    hour_ago = timezone.now().timestamp() - 3700
    for path in (orphan, Path(run.adapter_dir)):
        os.utime(path, (hour_ago, hour_ago))
    assert pipeline.remove_orphan_uploads() == 1
    assert not orphan.exists() and fresh.exists() and Path(run.adapter_dir).is_dir()


def test_outputs_are_stored_without_nul_characters(
    milestone, adapter_bytes, django_capture_on_commit_callbacks
):
    # A model can generate anything; PostgreSQL's JSON refuses NUL, and the run must still be recorded.
    def outputs(config, key):
        return "bill\x00ing" if config == "delivered" else right_answers(milestone)(config, key)

    run = _evaluated(milestone, adapter_bytes, outputs, django_capture_on_commit_callbacks)
    assert run.state == AcceptanceRun.State.FAILED
    assert {outcome["output"] for outcome in run.outcomes} == {"billing"}
