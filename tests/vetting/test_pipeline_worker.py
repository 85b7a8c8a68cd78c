"""End to end through the broker and a real Celery worker (queues gpu + default), the real sandbox
(bubblewrap) and the real engines on the tiny model: validate -> train -> evaluate -> score -> verdict,
an adapter that skips training, and sandbox failures surfacing as errored submissions with a reason."""

from __future__ import annotations

import io
import json
import time

import pytest
from django.core.management import call_command

from sandbox.models import Job
from sandbox.services import job_output_dir
from tests.vetting import test_pipeline_support as support
from tests.vetting.conftest import task_dataset
from tests.vetting.test_pipeline_support import (
    Upload,
    finished_submission,
    make_tiny_challenge,
    tiny_adapter_files,
)
from vetting import pipeline
from vetting.models import EvalBaseline, Submission

# Fixtures (see test_pipeline_support).
pipeline_settings = support.pipeline_settings
start_pipeline_worker = support.start_pipeline_worker
tiny_model_dir = support.tiny_model_dir

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.needs("bwrap"),
]

HYPERPARAMETERS = {"rank": 4, "alpha": 8, "epochs": 1, "batch_size": 8, "learning_rate": 1e-2}


def test_dataset_then_adapter_through_a_real_worker(
    start_pipeline_worker, engineer_user, tiny_model_dir, tmp_path
):
    worker = start_pipeline_worker()
    challenge = make_tiny_challenge()

    jobs_before = Job.objects.count()
    rejected = pipeline.submission_submit(
        actor=engineer_user, challenge_id=challenge.pk, kind="dataset", dataset=b"not json\n"
    )
    assert rejected.state == Submission.State.VALIDATING  # the worker validates, not this process
    rejected = finished_submission(rejected.pk, workers=[worker])
    assert rejected.state == Submission.State.REJECTED and not rejected.dataset

    submission = pipeline.submission_submit(
        actor=engineer_user,
        challenge_id=challenge.pk,
        kind="dataset",
        dataset=task_dataset(challenge, 24),
        hyperparameters=HYPERPARAMETERS,
    )
    assert submission.state == Submission.State.VALIDATING
    submission = finished_submission(submission.pk, workers=[worker])
    assert submission.state in (Submission.State.PASSED, Submission.State.FAILED), (
        submission.failure_message,
        worker.log(),
    )
    assert {name: step["status"] for name, step in submission.steps.items()} == dict.fromkeys(
        Submission.STEPS, "done"
    )
    train = Job.objects.get(pk=submission.job_ids["train"])
    assert (train.state, train.owner) == (Job.State.SUCCEEDED, engineer_user)
    assert train.progress_step == train.progress_total > 0 and train.loss_history
    evaluations = Job.objects.filter(
        pk__in=[submission.job_ids[key] for key in (pipeline.BASE, pipeline.TUNED)]
    )
    assert evaluations.count() == 2
    assert {(job.kind, job.owner, job.state) for job in evaluations} == {
        (Job.Kind.EVALUATE, None, Job.State.SUCCEEDED)
    }
    # Every configuration was scored on the same items; the tiny random model learns nothing useful.
    figures = submission.figures
    assert figures["final"]["items"] == 16 and figures["feedback"]["items"] == 8
    assert figures["general"]["items"] == 80
    assert submission.verdict["rules"] and len(submission.fine_tuned_ci) == 2
    assert submission.cost["trained_tokens"] == train.metrics["trained_tokens"] > 0
    assert submission.cost["trainable_params"] == train.metrics["trainable_parameters"]
    assert 0 < submission.cost["device_seconds"] < 600
    baselines = list(EvalBaseline.objects.order_by("config").values_list("pk", "config"))
    assert [config for _, config in baselines] == ["few_shot", "general", "zero_shot"]
    # Hidden items are gone from disk once used; nothing else was started for the rejection.
    assert not list(pipeline.inputs_dir().glob("*.jsonl"))
    assert Job.objects.count() == jobs_before + 3

    # The adapter it trained, uploaded: evaluated as it is, the baselines reused.
    output = job_output_dir(train) / "adapter"
    files = [
        Upload(name, (output / name).read_bytes())
        for name in ("adapter_config.json", "adapter_model.safetensors")
    ]
    uploaded = pipeline.submission_submit(
        actor=engineer_user, challenge_id=challenge.pk, kind="adapter", adapter_files=files
    )
    assert uploaded.state == Submission.State.VALIDATING
    uploaded = finished_submission(uploaded.pk, workers=[worker])
    assert uploaded.state in (Submission.State.PASSED, Submission.State.FAILED), uploaded.failure_message
    assert uploaded.steps["train"]["status"] == "skipped"
    assert set(uploaded.job_ids) == {pipeline.TUNED}
    assert list(EvalBaseline.objects.order_by("config").values_list("pk", "config")) == baselines
    assert uploaded.verdict["rules"][3]["figure"] == {
        "lora_rank": {"used": 4, "limit": challenge.max_lora_rank}
    }
    # Same adapter, same items, greedy decoding: the same score.
    assert uploaded.fine_tuned_score == submission.fine_tuned_score
    assert Job.objects.count() == jobs_before + 4


def test_sandbox_failures_surface_as_errored_with_a_reason(
    start_pipeline_worker, engineer_user, tiny_model_dir, tmp_path
):
    worker = start_pipeline_worker()
    challenge = make_tiny_challenge()

    # A training engine failure: its message is the engineer's to act on.
    submission = pipeline.submission_submit(
        actor=engineer_user,
        challenge_id=challenge.pk,
        kind="dataset",
        dataset=task_dataset(challenge, 24),
        hyperparameters={**HYPERPARAMETERS, "qlora": True},
    )
    submission = finished_submission(submission.pk, workers=[worker])
    assert (submission.state, submission.failure_step) == (Submission.State.ERRORED, "train"), worker.log()
    assert submission.failure_message.startswith("Training failed: ")
    assert "QLoRA needs a CUDA GPU" in submission.failure_message
    assert Job.objects.get(pk=submission.job_ids["train"]).failure_reason == Job.FailureReason.CRASHED

    # An evaluation engine failure: described by its reason, never quoted.
    challenge.max_new_tokens = 5000  # more than the engine allows
    challenge.save(update_fields=["max_new_tokens"])
    started = time.monotonic()
    submission = pipeline.submission_submit(
        actor=engineer_user,
        challenge_id=challenge.pk,
        kind="adapter",
        adapter_files=tiny_adapter_files(tiny_model_dir, tmp_path / "adapter"),
    )
    submission = finished_submission(submission.pk, workers=[worker])
    assert (submission.state, submission.failure_step) == (Submission.State.ERRORED, "evaluate"), worker.log()
    # The baseline jobs fail too (the same generation length): the platform's fault, the attempt returned.
    assert submission.failure_message == "An evaluation job failed on the platform's side (crashed)."
    assert submission.attempt_returned
    failed = Job.objects.filter(pk__in=submission.job_ids.values(), state=Job.State.FAILED)
    assert failed.exists() and "max_new_tokens" in failed.first().failure_message
    assert time.monotonic() - started < 600


def test_vetting_submit_waits_for_a_real_worker(
    start_pipeline_worker, engineer_user, tiny_model_dir, tmp_path
):
    start_pipeline_worker()
    challenge = make_tiny_challenge()
    folder = tmp_path / "adapter"
    tiny_adapter_files(tiny_model_dir, folder)
    out = io.StringIO()
    call_command(
        "vetting_submit",
        "--challenge",
        challenge.slug,
        "--engineer",
        engineer_user.username,
        "--adapter",
        str(folder),
        "--wait",
        "--poll",
        "0.5",
        stdout=out,
    )
    lines = out.getvalue().strip().splitlines()
    report = json.loads(lines[-1])
    assert report["verdict"] in ("pass", "fail"), report
    assert lines[0].startswith(f"submission {report['submission']}: ")
    # The steps as they changed, then the report.
    assert any(line.startswith("evaluating: ") for line in lines[1:-1])
    assert report["scores"]["few_shot"] is not None and report["cost"]["trainable_params"] > 0
