"""Fixtures and helpers for the pipeline's tests (no tests here): a tiny base model registered for a challenge,
and a real Celery worker serving both queues (gpu: sandbox jobs; default: the pipeline's tasks)
on a broker of its own, sharing the test database.

Import the fixtures by name into a test module.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from core.transitions import transition_apply
from sandbox.models import Job
from sandbox.services import job_output_dir
from tests.celery_worker import Worker, wait_for
from tests.vetting.conftest import TEST_SEED
from vetting.models import Challenge, Submission

PROJECT_DIR = Path(__file__).resolve().parents[2]
TINY = "tiny-test"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The tiny random Llama, with room for a few-shot prompt in its tiny tokenizer's many tokens."""
    from tests.sandbox.tiny import build_tiny_model

    folder = build_tiny_model(tmp_path_factory.mktemp("tiny-base") / "model")
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    config["max_position_embeddings"] = 4096
    config_path.write_text(json.dumps(config, indent=2))
    return folder


@pytest.fixture
def pipeline_settings(settings, tmp_path, tiny_model_dir):
    settings.SANDBOX_ROOT = tmp_path / "sandbox"
    settings.BASE_MODELS_EXTRA = {TINY: str(tiny_model_dir)}
    settings.SANDBOX_HEARTBEAT_SECONDS = 1
    settings.SANDBOX_ALLOW_UNISOLATED = False
    # Small splits: the tiny model is scored on a handful of items (the general set keeps its 80).
    settings.VETTING_MIN_FEEDBACK_ITEMS = 8
    settings.VETTING_MIN_FINAL_ITEMS = 16
    settings.VETTING_EVAL_BATCH_SIZE = 48
    return settings


def make_tiny_challenge(slug: str = "support-ticket-json", **fields: Any) -> Challenge:
    """A built-in challenge on the tiny base model, with its first eval-set version."""
    from vetting.services.evalsets import challenge_sync_builtin, evalset_generate

    challenge, _ = challenge_sync_builtin(slug=slug)
    # The tiny tokenizer spends many more tokens on the same text than SmolLM2's.
    values = {"base_model": TINY, "max_tokens_per_example": 1024, "max_new_tokens": 16, **fields}
    Challenge.objects.filter(pk=challenge.pk).update(**values)
    evalset_generate(actor=None, challenge_id=challenge.pk)
    challenge.refresh_from_db()
    return challenge


@pytest.fixture
def tiny_ticket(db, pipeline_settings) -> Challenge:
    return make_tiny_challenge()


@pytest.fixture
def start_pipeline_worker(transactional_db, pipeline_settings, start_celery_worker) -> Callable[..., Worker]:
    """`start_pipeline_worker(**settings)` starts a real worker on queues gpu and default with the
    pipeline's test settings (start_celery_worker: every step goes through the broker)."""

    def start(**extra: Any) -> Worker:
        overrides = {
            "SANDBOX_ROOT": str(pipeline_settings.SANDBOX_ROOT),
            "SANDBOX_HEARTBEAT_SECONDS": 1,
            "BASE_MODELS_EXTRA": dict(pipeline_settings.BASE_MODELS_EXTRA),
            "MEDIA_ROOT": str(pipeline_settings.MEDIA_ROOT),
            "VETTING_SECRET_SEED": TEST_SEED,
            "VETTING_BOOTSTRAP_RESAMPLES": pipeline_settings.VETTING_BOOTSTRAP_RESAMPLES,
            "VETTING_EVAL_BATCH_SIZE": pipeline_settings.VETTING_EVAL_BATCH_SIZE,
            **extra,
        }
        return start_celery_worker("gpu,default", settings=overrides)

    return start


def finished_submission(
    submission_id: int, *, timeout: float = 900, workers: Sequence[Worker] = ()
) -> Submission:
    def done():
        for worker in workers:
            if not worker.alive:
                raise AssertionError(f"the worker died: {worker.log()}")
        submission = Submission.objects.get(pk=submission_id)
        return submission if submission.is_finished else None

    return wait_for(done, timeout=timeout, what=f"submission {submission_id} to finish", interval=1)


class Upload:
    """An uploaded file as Django hands it over (name, size, chunks)."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name, self.data, self.size = name, data, len(data)

    def chunks(self, chunk_size=None):
        yield self.data


def tiny_adapter_files(base_dir: Path, folder: Path, *, rank: int = 4) -> list[Upload]:
    """A real LoRA adapter of the tiny base model, as an engineer would upload it."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base_dir),
        LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    model.save_pretrained(folder)
    return [
        Upload(name, (folder / name).read_bytes())
        for name in ("adapter_config.json", "adapter_model.safetensors")
    ]


def end_job(
    job: Job, *, write: Callable[[Path], None] | None = None, reason: str = "", message: str = ""
) -> Job:
    """Play the supervisor: start the job, let `write` fill its output folder, then end it."""
    job = Job.objects.get(pk=job.pk)
    now = timezone.now()
    key = job.timeline_key
    transition_apply(
        instance=job,
        transition="start",
        actor=None,
        timeline_key=key,
        device="cpu",
        supervisor="test:0",
        now=now,
    )
    output = job_output_dir(job)
    output.mkdir(parents=True)
    if write is not None:
        write(output)
    if (output / "metrics.json").is_file():
        job.metrics = json.loads((output / "metrics.json").read_text())
    if reason:
        transition_apply(
            instance=job,
            transition="fail",
            actor=None,
            timeline_key=key,
            reason=reason,
            message=message,
            now=now,
        )
    else:
        transition_apply(instance=job, transition="succeed", actor=None, timeline_key=key, now=now)
    return job
