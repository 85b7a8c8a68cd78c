"""The pipeline's steps without a worker: which jobs it starts with what, idempotence, the job hook and
the sweep, failures, and scoring from the evaluate jobs' generations.

Jobs here do not run: the test transaction never commits, so their supervisor tasks are never sent;
a test plays the supervisor's part where it needs a job to end (`end_job`), writing the files an
engine would. End to end with a real worker and the real engines: test_pipeline_worker.py.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from sandbox.models import Job
from sandbox.services import job_output_dir
from tests.vetting import test_pipeline_support as support
from tests.vetting.conftest import task_dataset
from tests.vetting.test_pipeline_support import TINY, end_job, tiny_adapter_files
from vetting import pipeline, services
from vetting.challenges import GENERAL_METRIC
from vetting.datasets import approximate_token_counter
from vetting.models import EvalBaseline, EvalItem, Submission, SubmissionJob
from vetting.selectors import PLATFORM_FAILED, attempt_status, submission_public
from vetting.tasks import submission_validate as validate_task

# Fixtures (see test_pipeline_support).
pipeline_settings = support.pipeline_settings
tiny_model_dir = support.tiny_model_dir
tiny_ticket = support.tiny_ticket

pytestmark = pytest.mark.django_db

HYPERPARAMETERS = {"rank": 4, "epochs": 1, "batch_size": 8}


def submit(challenge, engineer, data: bytes | None = None, **kwargs) -> Submission:
    return pipeline.submission_submit(
        actor=engineer,
        challenge_id=challenge.pk,
        kind="dataset",
        dataset=task_dataset(challenge, 24) if data is None else data,
        hyperparameters=HYPERPARAMETERS,
        **kwargs,
    )


def write_adapter(output: Path) -> None:
    (output / "adapter").mkdir()
    (output / "adapter" / "adapter_config.json").write_text("{}")
    (output / "adapter" / "adapter_model.safetensors").write_bytes(b"0" * 64)
    metrics = {"trained_tokens": 12345, "trainable_parameters": 2048, "adapter_bytes": 64}
    (output / "metrics.json").write_text(json.dumps({**metrics, "hyperparameters": {"rank": 4}}))


def generations_writer(job: Job, outputs: dict[str, Callable[[EvalItem], str]]) -> Callable[[Path], None]:
    """What the evaluation engine writes for the job's prompts: outputs[configuration](item)."""
    items = {item.key: item for item in EvalItem.objects.all()}

    def write(output: Path) -> None:
        lines = []
        for line in Path(job.spec["prompts_path"]).read_text().splitlines():
            prompt = json.loads(line)
            config, _, key = prompt["id"].partition("|")
            record = {"id": prompt["id"], "output": outputs[config](items[key]), "prompt_tokens": 100}
            lines.append(json.dumps(record | {"output_tokens": 10}))
        (output / "generations.jsonl").write_text("\n".join(lines) + "\n")

    return write


def right(item: EvalItem) -> str:
    metric = GENERAL_METRIC if item.split == "general" else item.eval_set.challenge.metric_obj
    return metric.render(item.target)


def wrong(item: EvalItem) -> str:
    return "I cannot help with that."


PASSING = {
    "zero_shot": wrong,
    "few_shot": wrong,
    "fine_tuned": right,
    "general_base": right,
    "general_fine_tuned": right,
}


def evaluation_jobs(submission: Submission) -> dict[str, Job]:
    return {
        key: Job.objects.get(pk=job_id)
        for key, job_id in submission.job_ids.items()
        if key.startswith("evaluate:")
    }


def to_evaluation(challenge, engineer, django_capture_on_commit_callbacks) -> Submission:
    submission = submit(challenge, engineer)
    pipeline.submission_advance(submission_id=submission.pk)
    submission.refresh_from_db()
    end_job(Job.objects.get(pk=submission.job_ids["train"]), write=write_adapter)
    pipeline.submission_advance(submission_id=submission.pk)
    submission.refresh_from_db()
    assert submission.state == Submission.State.EVALUATING
    return submission


# --- validation and training ----------------------------------------------------------------------


def test_validation_counts_tokens_with_the_base_models_tokenizer(tiny_ticket, engineer_user, tiny_model_dir):
    from transformers import AutoTokenizer

    data = task_dataset(tiny_ticket, 24)
    submission = submit(tiny_ticket, engineer_user, data)
    assert submission.state == Submission.State.QUEUED, submission.validation_report["errors"]

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    chats = [json.loads(line)["messages"] for line in data.decode().splitlines()]
    real = sum(len(tokenizer.apply_chat_template(chat, tokenize=True, return_dict=False)) for chat in chats)
    assert submission.validation_report["stats"]["tokens"] == real
    assert real != sum(approximate_token_counter(chat) for chat in chats)


def test_a_rejected_submission_starts_no_job(tiny_ticket, engineer_user, django_capture_on_commit_callbacks):
    jobs = Job.objects.count()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        submission = submit(tiny_ticket, engineer_user, b'{"messages": []}\nnot json\n')
    assert submission.state == Submission.State.REJECTED
    assert submission.steps["validate"]["status"] == "failed"
    assert {submission.steps[step]["status"] for step in ("train", "evaluate", "score", "verdict")} == {
        "pending"
    }
    assert callbacks == [] and Job.objects.count() == jobs and submission.job_ids == {}
    assert pipeline.submission_advance(submission_id=submission.pk) == "nothing to do (rejected)"
    assert Job.objects.count() == jobs


def received(challenge, engineer, *, seconds_ago: int) -> Submission:
    """An upload stored and left `validating`, as if its validation message had been lost."""
    submission = services.submissions.submission_receive(
        actor=engineer,
        challenge_id=challenge.pk,
        kind="dataset",
        dataset=task_dataset(challenge, 24),
        hyperparameters=HYPERPARAMETERS,
    )
    Submission.objects.filter(pk=submission.pk).update(
        created_at=timezone.now() - timedelta(seconds=seconds_ago)
    )
    return submission


def test_an_upload_is_stored_unread_and_validated_by_the_task(tiny_ticket, engineer_user):
    submission = received(tiny_ticket, engineer_user, seconds_ago=0)
    assert submission.state == Submission.State.VALIDATING and submission.validation_report == {}
    assert submission.steps["validate"]["status"] == "running"
    assert submission.hyperparameters == HYPERPARAMETERS  # as sent, until validated
    assert validate_task(submission.pk) == Submission.State.QUEUED
    submission.refresh_from_db()
    assert (
        submission.hyperparameters["rank"] == HYPERPARAMETERS["rank"] and "seed" in submission.hyperparameters
    )
    assert validate_task(submission.pk) == "nothing to do"  # twice is harmless


def test_a_validation_past_its_time_limit_is_rejected_saying_so(tiny_ticket, engineer_user, settings):
    submission = received(tiny_ticket, engineer_user, seconds_ago=0)
    submission = services.submissions.submission_validation_timeout(submission_id=submission.pk, seconds=120)
    assert submission.state == Submission.State.REJECTED and not submission.dataset
    assert submission.validation_report["errors"] == [
        {
            "line": None,
            "code": "validation_timeout",
            "message": "validating the upload took longer than 120 s; upload a smaller file",
        }
    ]
    assert attempts_used(submission) == 0


def test_the_sweep_sends_lost_validations_again_and_rejects_stuck_ones(tiny_ticket, engineer_user, settings):
    limit = settings.VETTING_VALIDATION_SECONDS
    fresh = received(tiny_ticket, engineer_user, seconds_ago=5)
    lost = received(tiny_ticket, engineer_user, seconds_ago=limit + 61)
    stuck = received(tiny_ticket, engineer_user, seconds_ago=3 * limit + 61)
    pipeline.submissions_sweep()
    states = dict(Submission.objects.filter(pk__in=[fresh.pk, lost.pk, stuck.pk]).values_list("pk", "state"))
    assert states == {
        fresh.pk: Submission.State.VALIDATING,  # its message may still be on its way
        lost.pk: Submission.State.TRAINING,  # validated, then advanced by the same sweep
        stuck.pk: Submission.State.REJECTED,
    }


def test_an_accepted_submission_is_sent_to_the_pipeline_once_committed(
    tiny_ticket, engineer_user, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    send = pipeline._send

    def record_advances(task_name: str, submission_id: int) -> None:
        if task_name == "submission_advance":
            sent.append(submission_id)
        else:
            send(task_name, submission_id)

    monkeypatch.setattr(pipeline, "_send", record_advances)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        submission = submit(tiny_ticket, engineer_user)
    assert submission.state == Submission.State.QUEUED and sent == []
    for callback in callbacks:
        callback()
    assert sent == [submission.pk]


def test_the_train_job_gets_the_dataset_and_the_base_model_only_and_advancing_twice_starts_it_once(
    tiny_ticket, engineer_user, tiny_model_dir
):
    submission = submit(tiny_ticket, engineer_user)
    assert pipeline.submission_advance(submission_id=submission.pk).startswith("training (job ")
    assert pipeline.submission_advance(submission_id=submission.pk).startswith("waiting for training")
    submission.refresh_from_db()
    assert submission.state == Submission.State.TRAINING
    assert (
        submission.steps["validate"]["status"] == "done" and submission.steps["train"]["status"] == "running"
    )
    job = Job.objects.get()
    assert submission.job_ids == {"train": job.pk}
    assert (job.kind, job.owner) == (Job.Kind.TRAIN, engineer_user)
    assert set(job.spec) == {"base_model_dir", "dataset_path", "hyperparameters"}
    assert job.spec["base_model_dir"] == str(tiny_model_dir)
    assert sorted(job.input_paths) == sorted([str(tiny_model_dir), job.spec["dataset_path"]])
    assert job.spec["hyperparameters"] == submission.hyperparameters
    assert job.spec["hyperparameters"]["rank"] == 4 and job.spec["hyperparameters"]["learning_rate"] == 2e-4
    # What the sandbox trains on is the submission's own file: no hidden item in it.
    trained = Path(job.spec["dataset_path"]).read_text()
    assert not [text for text in EvalItem.objects.values_list("input", flat=True) if text in trained]
    assert job.wall_seconds == tiny_ticket.max_wall_seconds + 300


# --- evaluation -----------------------------------------------------------------------------------


def test_evaluation_runs_hidden_items_in_ownerless_jobs_from_private_files(
    tiny_ticket, engineer_user, django_capture_on_commit_callbacks
):
    submission = to_evaluation(tiny_ticket, engineer_user, django_capture_on_commit_callbacks)
    train = Job.objects.get(pk=submission.job_ids["train"])
    assert (
        submission.steps["train"]["status"] == "done" and submission.steps["evaluate"]["status"] == "running"
    )
    jobs = evaluation_jobs(submission)
    # One job per model: each loads its model once for everything it answers.
    assert set(jobs) == {pipeline.BASE, pipeline.TUNED}
    assert {job.owner for job in jobs.values()} == {None}
    assert {job.kind for job in jobs.values()} == {Job.Kind.EVALUATE}
    assert jobs[pipeline.TUNED].spec["adapter_dir"] == str(job_output_dir(train) / "adapter")
    assert jobs[pipeline.BASE].spec["adapter_dir"] is None
    assert jobs[pipeline.TUNED].spec["max_new_tokens"] == tiny_ticket.max_new_tokens == 16

    def configs(job: Job) -> dict[tuple[str, int], int]:
        """How many prompts of each configuration the job answers, by their generation length."""
        counted: dict[tuple[str, int], int] = {}
        for line in Path(job.spec["prompts_path"]).read_text().splitlines():
            prompt = json.loads(line)
            key = (prompt["id"].split("|")[0], prompt["max_new_tokens"])
            counted[key] = counted.get(key, 0) + 1
        return counted

    eval_set = submission.eval_set
    task, general = (
        eval_set.items.exclude(split="general").count(),
        eval_set.items.filter(split="general").count(),
    )
    assert configs(jobs[pipeline.BASE]) == {
        ("zero_shot", 16): task,
        ("few_shot", 16): task,
        ("general_base", 24): general,
    }
    assert configs(jobs[pipeline.TUNED]) == {("fine_tuned", 16): task, ("general_fine_tuned", 24): general}
    for job in jobs.values():
        path = Path(job.spec["prompts_path"])
        assert path.parent == pipeline.inputs_dir()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert job.spec["prompts_path"] in job.input_paths
    # The training sandbox never saw any of these files.
    assert not any(pipeline.inputs_dir().as_posix() in path for path in train.input_paths)


def test_results_give_a_verdict_and_baselines_are_computed_once(
    tiny_ticket, engineer_user, django_capture_on_commit_callbacks
):
    first = to_evaluation(tiny_ticket, engineer_user, django_capture_on_commit_callbacks)
    jobs = evaluation_jobs(first)
    for job in jobs.values():
        end_job(job, write=generations_writer(job, PASSING))
    assert pipeline.submission_advance(submission_id=first.pk) == "scored: passed"
    first.refresh_from_db()
    assert first.state == Submission.State.PASSED
    assert {name: step["status"] for name, step in first.steps.items()} == dict.fromkeys(
        Submission.STEPS, "done"
    )
    assert (first.base_score, first.few_shot_score, first.fine_tuned_score) == (0.0, 0.0, 1.0)
    assert first.forgetting_ratio == 1.0
    assert first.cost["trained_tokens"] == 12345 and first.cost["trainable_params"] == 2048
    assert first.cost["device_seconds"] >= 0
    assert EvalBaseline.objects.filter(eval_set=first.eval_set, base_model=TINY).count() == 3
    # Hidden items do not stay on disk once their job is done.
    assert not any(Path(job.spec["prompts_path"]).exists() for job in jobs.values())

    second = to_evaluation(tiny_ticket, engineer_user, django_capture_on_commit_callbacks)
    assert set(evaluation_jobs(second)) == {pipeline.TUNED}
    half = {**PASSING, "fine_tuned": lambda item: right(item) if item.position % 2 else wrong(item)}
    for job in evaluation_jobs(second).values():
        end_job(job, write=generations_writer(job, half))
    assert pipeline.submission_advance(submission_id=second.pk) == "scored: failed"
    second.refresh_from_db()
    assert second.few_shot_score == 0.0 and 0.3 < second.fine_tuned_score < 0.7
    assert "The fine-tuned model's final-split score is below the pass mark." in second.verdict["reasons"]


def test_baseline_jobs_are_shared_while_they_run(
    tiny_ticket, engineer_user, django_capture_on_commit_callbacks
):
    first = to_evaluation(tiny_ticket, engineer_user, django_capture_on_commit_callbacks)
    second = to_evaluation(tiny_ticket, engineer_user, django_capture_on_commit_callbacks)
    assert first.job_ids[pipeline.BASE] == second.job_ids[pipeline.BASE]
    assert first.job_ids[pipeline.TUNED] != second.job_ids[pipeline.TUNED]
    # One job's end advances every submission waiting on it.
    for job in evaluation_jobs(first).values():
        end_job(job, write=generations_writer(job, PASSING))
    assert sorted(pipeline.job_finished(job_id=first.job_ids[pipeline.BASE])) == [first.pk, second.pk]
    assert Submission.objects.get(pk=first.pk).state == Submission.State.PASSED
    assert Submission.objects.get(pk=second.pk).state == Submission.State.EVALUATING


# The roles of the days when each model had a job for the task items and one for the general set.
EARLIER_ROLES = {
    "evaluate:base_task": (False, [("zero_shot", "zero_shot"), ("few_shot", "few_shot")]),
    "evaluate:base_general": (False, [("general_base", "general")]),
    "evaluate:tuned_task": (True, [("fine_tuned", "fine_tuned")]),
    "evaluate:tuned_general": (True, [("general_fine_tuned", "general")]),
}


@pytest.mark.parametrize(
    ("failing", "outcome", "returned"),
    [
        (None, "scored: passed", False),
        ("evaluate:tuned_general", "errored at evaluate", False),
        ("evaluate:base_general", "errored at evaluate", True),
    ],
)
def test_a_submission_that_started_evaluating_on_four_jobs_finishes_on_them(
    tiny_ticket, engineer_user, django_capture_on_commit_callbacks, tiny_model_dir, failing, outcome, returned
):
    submission = to_evaluation(tiny_ticket, engineer_user, django_capture_on_commit_callbacks)
    adapter = Path(evaluation_jobs(submission)[pipeline.TUNED].spec["adapter_dir"])
    SubmissionJob.objects.filter(submission=submission).exclude(role="train").delete()
    for role, (tuned, parts) in EARLIER_ROLES.items():
        prompts = [
            prompt
            for config, source in parts
            for prompt in pipeline._prompts(submission.eval_set, config, source)
        ]
        job = pipeline.evaluate_job(
            base_dir=tiny_model_dir,
            adapter_dir=adapter if tuned else None,
            prompts=prompts,
            max_new_tokens=tiny_ticket.max_new_tokens,
        )
        SubmissionJob.objects.create(submission=submission, job=job, role=role)
    jobs = evaluation_jobs(Submission.objects.get(pk=submission.pk))
    assert set(jobs) == set(EARLIER_ROLES)
    assert pipeline.submission_advance(submission_id=submission.pk).startswith("waiting for evaluation")
    for role, job in jobs.items():
        if role == failing:
            end_job(job, reason=Job.FailureReason.CRASHED, message="stalled")
        else:
            end_job(job, write=generations_writer(job, PASSING))
    assert pipeline.submission_advance(submission_id=submission.pk) == outcome
    submission.refresh_from_db()
    assert submission.attempt_returned is returned
    if failing is None:
        assert (submission.few_shot_score, submission.fine_tuned_score, submission.forgetting_ratio) == (
            0.0,
            1.0,
            1.0,
        )
        assert EvalBaseline.objects.filter(eval_set=submission.eval_set, base_model=TINY).count() == 3


def test_an_adapter_skips_training_and_its_cost_has_the_rank(
    tiny_ticket, engineer_user, tiny_model_dir, tmp_path
):
    files = tiny_adapter_files(tiny_model_dir, tmp_path / "adapter", rank=4)
    submission = pipeline.submission_submit(
        actor=engineer_user, challenge_id=tiny_ticket.pk, kind="adapter", adapter_files=files
    )
    assert submission.state == Submission.State.QUEUED, submission.validation_report
    assert pipeline.submission_advance(submission_id=submission.pk).startswith("evaluating")
    submission.refresh_from_db()
    assert "train" not in submission.job_ids and submission.steps["train"]["status"] == "skipped"
    jobs = evaluation_jobs(submission)
    assert jobs[pipeline.TUNED].spec["adapter_dir"] == submission.adapter_dir
    assert not Job.objects.filter(kind=Job.Kind.TRAIN).exists()
    for job in jobs.values():
        end_job(job, write=generations_writer(job, PASSING))
    pipeline.submission_advance(submission_id=submission.pk)
    submission.refresh_from_db()
    assert submission.state == Submission.State.PASSED
    assert submission.verdict["rules"][3]["figure"] == {
        "lora_rank": {"used": 4, "limit": tiny_ticket.max_lora_rank}
    }
    assert submission.cost["trainable_params"] == submission.validation_report["stats"]["trainable_params"]


# --- failures, the job hook and the sweep ---------------------------------------------------------


def test_a_finished_job_advances_its_submission_through_the_hook(
    tiny_ticket, engineer_user, django_capture_on_commit_callbacks
):
    submission = submit(tiny_ticket, engineer_user)
    pipeline.submission_advance(submission_id=submission.pk)
    job = Job.objects.get()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        end_job(job, reason=Job.FailureReason.OUT_OF_MEMORY, message="exceeded 8192 MB (resident 8200 MB)")
    assert callbacks, "finishing a job tells the pipeline"
    submission.refresh_from_db()
    assert (submission.state, submission.failure_step) == (Submission.State.ERRORED, "train")
    assert submission.failure_message == (
        f"Training ran out of memory ({job.memory_mb} MB); try a smaller batch_size or max_seq_length."
    )
    assert submission.steps["train"] == {"status": "failed", "detail": submission.failure_message}


def test_the_sweep_catches_a_lost_message(tiny_ticket, engineer_user, django_capture_on_commit_callbacks):
    # The test transaction never commits: the submission's own message is never sent (lost).
    submission = submit(tiny_ticket, engineer_user)
    assert pipeline.submissions_sweep() == 1
    submission.refresh_from_db()
    assert submission.state == Submission.State.TRAINING
    job = Job.objects.get()
    with django_capture_on_commit_callbacks(execute=False):
        end_job(
            job,
            reason=Job.FailureReason.CRASHED,
            message="invalid hyperparameters: hyperparameters.qlora: QLoRA needs a CUDA GPU",
        )
    assert Submission.objects.get(pk=submission.pk).state == Submission.State.TRAINING
    assert pipeline.submissions_sweep() == 1
    submission.refresh_from_db()
    assert submission.state == Submission.State.ERRORED
    # Training never sees hidden items, so its engine's own words are what the engineer needs.
    assert submission.failure_message == (
        "Training failed: invalid hyperparameters: hyperparameters.qlora: QLoRA needs a CUDA GPU"
    )
    assert pipeline.submissions_sweep() == 0


def test_an_evaluation_failure_is_described_never_quoted(
    tiny_ticket, engineer_user, django_capture_on_commit_callbacks
):
    submission = to_evaluation(tiny_ticket, engineer_user, django_capture_on_commit_callbacks)
    hidden = EvalItem.objects.filter(split="final").first().input
    jobs = evaluation_jobs(submission)
    end_job(jobs[pipeline.TUNED], reason=Job.FailureReason.CRASHED, message=f"prompts line 3: {hidden}")
    assert pipeline.submission_advance(submission_id=submission.pk) == "errored at evaluate"
    submission.refresh_from_db()
    assert submission.failure_step == "evaluate"
    assert submission.failure_message == "The evaluation of the fine-tuned model failed (crashed)."
    everything = json.dumps(
        [submission.steps, submission.failure_message, submission_public(submission=submission)], default=str
    )
    assert hidden not in everything and "prompts line" not in everything


def attempts_used(submission: Submission) -> int:
    return attempt_status(engineer=submission.engineer, challenge=submission.challenge).used_in_window


@pytest.mark.parametrize(
    ("reason", "returned"),
    [
        (Job.FailureReason.CRASHED, False),
        (Job.FailureReason.TIMEOUT, False),
        (Job.FailureReason.OUT_OF_MEMORY, False),
        (Job.FailureReason.CANCELLED, False),
        (Job.FailureReason.INFRASTRUCTURE, True),
    ],
)
def test_a_failed_training_uses_the_attempt_unless_the_platform_failed(
    tiny_ticket, engineer_user, reason, returned
):
    """Cancelling one's own job, or a dataset that crashes or stalls training, is no free probe."""
    submission = submit(tiny_ticket, engineer_user)
    pipeline.submission_advance(submission_id=submission.pk)
    end_job(Job.objects.get(), reason=reason, message="exit status 1: Traceback in the platform's code")
    assert pipeline.submission_advance(submission_id=submission.pk) == "errored at train"
    submission.refresh_from_db()
    assert (submission.state, submission.attempt_returned) == (Submission.State.ERRORED, returned)
    assert attempts_used(submission) == (0 if returned else 1)
    public = submission_public(submission=submission)
    if returned:
        # Staff keep the account; the engineer learns only that the platform failed.
        assert submission.failure_message == "The training job could not run on the platform's side."
        assert public["failure"] == {"step": "train", "message": PLATFORM_FAILED}
        assert public["steps"]["train"] == {"status": "failed", "detail": ""}
    else:
        assert public["failure"]["message"] == submission.failure_message != PLATFORM_FAILED


@pytest.mark.parametrize(
    ("failing", "reason", "returned"),
    [
        (pipeline.TUNED, Job.FailureReason.CRASHED, False),
        (pipeline.TUNED, Job.FailureReason.TIMEOUT, False),
        (pipeline.TUNED, Job.FailureReason.INFRASTRUCTURE, True),
        (pipeline.BASE, Job.FailureReason.CRASHED, True),
        (pipeline.BASE, Job.FailureReason.TIMEOUT, True),
    ],
)
def test_an_adapter_that_breaks_evaluation_uses_the_attempt_a_platform_failure_returns_it(
    tiny_ticket, engineer_user, django_capture_on_commit_callbacks, failing, reason, returned
):
    submission = to_evaluation(tiny_ticket, engineer_user, django_capture_on_commit_callbacks)
    end_job(evaluation_jobs(submission)[failing], reason=reason, message="stalled")
    assert pipeline.submission_advance(submission_id=submission.pk) == "errored at evaluate"
    submission.refresh_from_db()
    assert submission.attempt_returned is returned
    assert attempts_used(submission) == (0 if returned else 1)
    # Staff read which it was; the engineer reads only that the platform failed, when it did.
    assert ("platform's side" in submission.failure_message) is returned
    expected = PLATFORM_FAILED if returned else submission.failure_message
    assert submission_public(submission=submission)["failure"] == {"step": "evaluate", "message": expected}


def test_incomplete_generations_error_at_scoring(
    tiny_ticket, engineer_user, django_capture_on_commit_callbacks
):
    submission = to_evaluation(tiny_ticket, engineer_user, django_capture_on_commit_callbacks)
    for key, job in evaluation_jobs(submission).items():
        writer = generations_writer(job, PASSING)
        if key == pipeline.TUNED:

            def writer(output: Path, job: Job = job) -> None:
                """Two of the fine-tuned answers lost: one line cut, one not JSON."""
                generations_writer(job, PASSING)(output)
                lines = (output / "generations.jsonl").read_text().splitlines()
                tuned = [n for n, line in enumerate(lines) if line.startswith('{"id": "fine_tuned|')]
                lines[tuned[0]] = "{not json"
                del lines[tuned[1]]
                (output / "generations.jsonl").write_text("\n".join(lines) + "\n")

        end_job(job, write=writer)
    assert pipeline.submission_advance(submission_id=submission.pk) == "errored at score"
    submission.refresh_from_db()
    assert submission.failure_message == "Scoring failed: Generations for fine_tuned miss 2 item(s)."
    assert not EvalBaseline.objects.exists()


def test_a_missing_base_model_errors_without_starting_a_job(tiny_ticket, engineer_user, settings):
    submission = submit(tiny_ticket, engineer_user)
    settings.BASE_MODELS_EXTRA = {}
    assert pipeline.submission_advance(submission_id=submission.pk) == "errored at train"
    assert not Job.objects.exists()
    assert Submission.objects.get(pk=submission.pk).failure_message == pipeline.BASE_MODEL_MISSING
