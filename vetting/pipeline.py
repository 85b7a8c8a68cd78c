"""The vetting pipeline: a `queued` submission through its sandbox jobs to a verdict.

    validate (`submission_validate`, a default-queue task under a time limit, with the base model's
                real tokenizer; the web process only stores the upload, `submission_receive`)
    -> train    one train job on the submission's dataset (owned by the engineer: its page shows
                progress); an uploaded adapter skips it
    -> evaluate evaluate jobs, owned by nobody (no page or API shows them to the engineer), one
                per model, each loading its model once for every set of prompts it answers: the
                fine-tuned model on the task items and on the general set, and, once per eval-set
                version and base model, the base model zero-shot + few-shot on the task items and on
                the general set (EvalBaseline keeps them for every later submission)
    -> score, verdict (`submission_record_results`)

Chaining. `submission_advance` looks at the submission and the jobs it waits on and takes the next
step; it locks the submission row, so running it twice, or for a job that is not finished yet, does
nothing more than once. It is enqueued (`vetting.tasks`) when a submission is accepted, when a job
a submission waits on reaches a finished state (django-fsm's `post_transition` signal on Job; the
message is sent once that transaction commits), and by a periodic sweep (beat) that catches anything
a lost message or a restarted worker dropped.

Hidden items are written only into the prompts files of evaluate jobs (a private folder; each bound
read-only into that one sandbox, deleted once the job has finished). Training sandboxes get the base
model and the submission's dataset and nothing else. Failure messages name the step and the job's
failure reason; they never quote what an evaluation engine printed or generated.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Mapping
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from django_fsm.signals import post_transition

from core.errors import ApplicationError
from sandbox import registry
from sandbox import services as sandbox_services
from sandbox.models import Job
from vetting import services
from vetting.challenges.general import GENERAL_MAX_NEW_TOKENS
from vetting.datasets import TokenCounter
from vetting.models import EvalBaseline, EvalSetVersion, Submission
from vetting.selectors import evaluation_prompts

logger = logging.getLogger(__name__)

# Keys of Submission.job_ids (besides "train").
BASE = "evaluate:base"  # the base model: zero_shot + few_shot on the task items, general_base
TUNED = "evaluate:tuned"  # the fine-tuned model: fine_tuned, general_fine_tuned
# Submissions that started evaluating when each model had two jobs (task items, general set) finish
# on those.
EARLIER_BASE_KEYS = ("evaluate:base_task", "evaluate:base_general")
EARLIER_TUNED_KEYS = ("evaluate:tuned_task", "evaluate:tuned_general")
# Generation ids in a prompts file: "<configuration>|<item key>".
ID_SEPARATOR = "|"
ACTIVE_STATES = (Submission.State.QUEUED, Submission.State.TRAINING, Submission.State.EVALUATING)
FAILED_JOB_STATES = (Job.State.FAILED, Job.State.CANCELLED)


def inputs_dir() -> Path:
    """Where evaluate jobs' prompts files (hidden items) wait for their job: never served, never
    bound into any other sandbox."""
    return Path(settings.VETTING_INPUTS_DIR or Path(settings.SANDBOX_ROOT) / "vetting-inputs")


# --- tokens ---------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _tokenizer(model_dir: str, mtime_ns: int):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir, local_files_only=True)


def token_counter(base_model: str) -> TokenCounter:
    """Counts a chat's tokens with the base model's own tokenizer and chat template, as training will.

    The tokenizer is loaded at the first count, so that a submission refused before validation
    (role, attempts, bad kind) never waits for it or fails on it.
    """
    tokenizer = None

    def count(messages: list[dict[str, str]]) -> int:
        nonlocal tokenizer
        if tokenizer is None:
            tokenizer = _base_tokenizer(base_model)
        ids = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False)
        return len(ids)

    return count


def _base_tokenizer(base_model: str):
    folder = services.submissions.available_base_model_dir(base_model)
    return _tokenizer(str(folder), (folder / "config.json").stat().st_mtime_ns)


# --- entry points ---------------------------------------------------------------------------------


def submission_submit(
    *,
    actor,
    challenge_id: int,
    kind: str,
    dataset: Any = None,
    hyperparameters: Mapping[str, Any] | None = None,
    adapter_files: Any = None,
    leaderboard_opt_in: bool | None = None,
) -> Submission:
    """Store the upload and send it to a worker for validation (queue "default", with a time limit);
    once accepted, the pipeline starts. The web process never parses or tokenises an upload.
    An engineer may join (True) or leave (False) the challenge's leaderboard with the same request.

    What pages, the API and `vetting_submit` call. Returns the submission as it stands after sending:
    `validating` with a worker, already `queued` or `rejected` where tasks run inline.
    """
    submission = services.submissions.submission_receive(
        actor=actor,
        challenge_id=challenge_id,
        kind=kind,
        dataset=dataset,
        hyperparameters=hyperparameters,
        adapter_files=adapter_files,
    )
    if leaderboard_opt_in is not None and actor.is_engineer:
        services.badges.leaderboard_set_opt_in(
            actor=actor, challenge_id=challenge_id, opted_in=leaderboard_opt_in
        )
    if submission.state == Submission.State.VALIDATING:
        # submission_receive has committed (requests are not atomic): a worker finds the stored upload.
        _send_validation(submission.pk)
    return Submission.objects.get(pk=submission.pk)


def submission_validate(*, submission_id: int) -> str:
    """The validation task's work: validate with the base model's tokenizer, then start the pipeline."""
    submission = Submission.objects.select_related("challenge").filter(pk=submission_id).first()
    if submission is None or submission.state != Submission.State.VALIDATING:
        return "nothing to do"
    count_tokens = (
        token_counter(submission.challenge.base_model) if submission.kind == Submission.Kind.DATASET else None
    )
    submission = services.submissions.submission_validate(
        submission_id=submission_id, count_tokens=count_tokens
    )
    if submission.state == Submission.State.QUEUED:
        enqueue_advance(submission.pk)
    return submission.state


def _send(task_name: str, submission_id: int) -> None:
    """Send a submission's task; the broker being away loses nothing: the sweep sends every
    validation left waiting and advances every active submission."""
    from vetting import tasks

    try:
        getattr(tasks, task_name).delay(submission_id)
    except Exception:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            raise
        logger.exception("Submission %s: could not enqueue %s; the sweep will.", submission_id, task_name)


def _send_validation(submission_id: int) -> None:
    _send("submission_validate", submission_id)


def enqueue_advance(submission_id: int) -> None:
    """Advance the submission once the current transaction (if any) commits."""
    transaction.on_commit(lambda: _send("submission_advance", submission_id))


@receiver(post_transition, sender=Job, dispatch_uid="vetting.pipeline.job_finished")
def _job_transitioned(sender, instance: Job, name: str, source: str, target: str, **kwargs) -> None:
    if target not in Job.FINISHED_STATES:
        return
    job_id = instance.pk
    # Only jobs a submission waits on are announced (its job ids were committed with the job itself).
    if waiting_on(job_id):
        transaction.on_commit(lambda: _send_job_finished(job_id))


def _send_job_finished(job_id: int) -> None:
    from vetting.tasks import job_finished

    try:
        job_finished.delay(job_id)
    except Exception:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            raise
        logger.exception("Job %s finished but the pipeline could not be told; the sweep will.", job_id)


def waiting_on(job_id: int) -> list[int]:
    """Active submissions that wait on this job (a baseline job may serve several)."""
    return list(
        Submission.objects.filter(
            state__in=(Submission.State.TRAINING, Submission.State.EVALUATING), job_links__job_id=job_id
        )
        .values_list("pk", flat=True)
        .distinct()
        .order_by("pk")
    )


def job_finished(*, job_id: int) -> list[int]:
    """Advance every submission waiting on the job; returns their ids."""
    submission_ids = waiting_on(job_id)
    for submission_id in submission_ids:
        submission_advance(submission_id=submission_id)
    remove_job_inputs(job_id)
    return submission_ids


def _sweep_validations() -> None:
    """Validations whose message was lost are sent again; one still waiting after three time limits
    (a worker that dies on it every time) is rejected as a timeout."""
    limit = settings.VETTING_VALIDATION_SECONDS
    now = timezone.now()
    waiting = Submission.objects.filter(
        state=Submission.State.VALIDATING, created_at__lt=now - timedelta(seconds=limit + 60)
    ).values_list("pk", "created_at")
    for submission_id, created_at in waiting:
        if created_at < now - timedelta(seconds=3 * limit + 60):
            services.submissions.submission_validation_timeout(submission_id=submission_id, seconds=limit)
        else:
            _send_validation(submission_id)


def submissions_sweep() -> int:
    """Advance every active submission (the safety net under the job hook); returns how many moved."""
    _sweep_validations()
    moved = 0
    for submission_id in Submission.objects.filter(state__in=ACTIVE_STATES).values_list("pk", flat=True):
        before = Submission.objects.filter(pk=submission_id).values_list("state", flat=True).first()
        try:
            submission_advance(submission_id=submission_id)
        except Exception:
            logger.exception("Submission %s: advancing failed; retried at the next sweep.", submission_id)
            continue
        after = Submission.objects.filter(pk=submission_id).values_list("state", flat=True).first()
        moved += before != after
    _remove_stale_inputs()
    return moved


def _remove_stale_inputs(*, orphan_seconds: int = 3600) -> None:
    """Prompts files of finished jobs, and of none (their transaction rolled back), are deleted."""
    folder = inputs_dir()
    if not folder.is_dir():
        return
    now = time.time()
    for path in folder.glob("*.jsonl"):
        job = Job.objects.filter(kind=Job.Kind.EVALUATE, spec__prompts_path=str(path)).first()
        if job is not None:
            remove_job_inputs(job.pk, job=job)
        elif now - path.stat().st_mtime > orphan_seconds:
            path.unlink(missing_ok=True)


# --- the state machine ----------------------------------------------------------------------------


def submission_advance(*, submission_id: int) -> str:
    """Take the submission's next step if what it waits on is done. Idempotent; returns what it did."""
    with transaction.atomic():
        submission = (
            Submission.objects.select_for_update(of=("self",))
            .select_related("challenge", "eval_set", "engineer")
            .filter(pk=submission_id)
            .first()
        )
        if submission is None:
            return "missing"
        if submission.state == Submission.State.QUEUED:
            return _start(submission)
        if submission.state == Submission.State.TRAINING:
            return _after_training(submission)
        if submission.state == Submission.State.EVALUATING:
            return _after_evaluation(submission)
        return f"nothing to do ({submission.state})"


def _error(submission: Submission, step: str, message: str, *, platform_fault: bool = True) -> str:
    """End the submission at `step`; a platform fault (the default) returns the engineer's attempt."""
    logger.info("Submission %s errored at %s (platform fault: %s).", submission.pk, step, platform_fault)
    services.submissions.submission_error(
        submission_id=submission.pk, step=step, message=message, platform_fault=platform_fault
    )
    return f"errored at {step}"


def _base_model_dir(submission: Submission) -> Path | None:
    try:
        return registry.base_model_dir(submission.challenge.base_model)
    except registry.BaseModelError:
        logger.error(
            "Submission %s: base model %s is not available.", submission.pk, submission.challenge.base_model
        )
        return None


BASE_MODEL_MISSING = "The challenge's base model is not available on the platform."


def _start(submission: Submission) -> str:
    if submission.kind == Submission.Kind.ADAPTER:
        if not submission.adapter_dir or not Path(submission.adapter_dir).is_dir():
            return _error(submission, "evaluate", "The uploaded adapter's files are missing on the platform.")
        return _start_evaluation(submission, Path(submission.adapter_dir))
    base_dir = _base_model_dir(submission)
    if base_dir is None:
        return _error(submission, "train", BASE_MODEL_MISSING)
    if not submission.dataset or not Path(submission.dataset.path).is_file():
        return _error(submission, "train", "The submitted dataset is missing on the platform.")
    challenge = submission.challenge
    job = sandbox_services.job_create(
        kind=Job.Kind.TRAIN,
        owner=submission.engineer,
        spec={
            "base_model_dir": str(base_dir),
            "dataset_path": str(Path(submission.dataset.path).resolve()),
            "hyperparameters": dict(submission.hyperparameters),
        },
        # The budget is the training's wall time; loading the model and saving the adapter come on top.
        wall_seconds=min(
            challenge.max_wall_seconds + settings.VETTING_TRAIN_STARTUP_SECONDS,
            settings.SANDBOX_MAX_WALL_SECONDS,
        ),
        memory_mb=settings.VETTING_TRAIN_MEMORY_MB,
    )
    services.submissions.submission_start_training(submission_id=submission.pk, job_id=job.pk)
    return f"training (job {job.pk})"


# How a job ended by the platform (not by what the engineer sent) fails: the attempt is returned.
PLATFORM_JOB_FAILURES = (Job.FailureReason.INFRASTRUCTURE,)

TRAIN_FAILURES = {
    Job.FailureReason.TIMEOUT: "Training ran past its wall-time limit ({limit} s).",
    Job.FailureReason.OUT_OF_MEMORY: (
        "Training ran out of memory ({memory} MB); try a smaller batch_size or max_seq_length."
    ),
    Job.FailureReason.OUTPUT_TOO_LARGE: "Training wrote more output than allowed.",
    Job.FailureReason.TOO_MANY_PROCESSES: "Training started more processes than allowed.",
    Job.FailureReason.INFRASTRUCTURE: "The training job could not run on the platform's side.",
    Job.FailureReason.CANCELLED: "The training job was cancelled.",
}


def _train_failure(job: Job) -> str:
    if job.failure_reason == Job.FailureReason.CRASHED:
        # The engine's message is about the engineer's own data and hyperparameters (training never
        # sees a hidden item), e.g. "invalid hyperparameters: ..."; it is what they need to act on.
        detail = (job.failure_message or "").strip()
        return f"Training failed: {detail[:600]}" if detail else "Training failed."
    template = TRAIN_FAILURES.get(job.failure_reason, "Training failed ({reason}).")
    return template.format(
        limit=job.wall_seconds, memory=job.memory_mb, reason=job.failure_reason or "unknown"
    )


def _after_training(submission: Submission) -> str:
    job = Job.objects.filter(pk=submission.job_ids.get("train")).first()
    if job is None:
        return _error(submission, "train", "The training job is missing.")
    if not job.is_finished:
        return f"waiting for training (job {job.pk}, {job.state})"
    if job.state != Job.State.SUCCEEDED:
        # Crashed, out of memory, past its wall time, cancelled: the engineer's data, hyperparameters
        # or decision, and their attempt. Only an infrastructure failure is the platform's.
        return _error(
            submission,
            "train",
            _train_failure(job),
            platform_fault=job.failure_reason in PLATFORM_JOB_FAILURES,
        )
    adapter = sandbox_services.job_output_dir(job) / "adapter"
    if (
        not (adapter / "adapter_model.safetensors").is_file()
        or not (adapter / "adapter_config.json").is_file()
    ):
        return _error(submission, "train", "Training finished without writing an adapter.")
    return _start_evaluation(submission, adapter)


# --- evaluation jobs ------------------------------------------------------------------------------


def baselines_stored(eval_set: EvalSetVersion, base_model: str) -> bool:
    stored = set(
        EvalBaseline.objects.filter(eval_set=eval_set, base_model=base_model).values_list("config", flat=True)
    )
    return stored >= set(EvalBaseline.Config.values)


@sensitive_variables()
def _prompts(eval_set: EvalSetVersion, config: str, source: str) -> list[dict[str, Any]]:
    """`source` prompts of evaluation_prompts, their ids tagged with the configuration they score, each
    with its generation length (the challenge's for task items, the general set's for its questions)."""
    limit = GENERAL_MAX_NEW_TOKENS if source == "general" else eval_set.challenge.max_new_tokens
    return [
        {
            "id": f"{config}{ID_SEPARATOR}{prompt['id']}",
            "messages": prompt["messages"],
            "max_new_tokens": limit,
        }
        for prompt in evaluation_prompts(eval_set=eval_set, config=source)
    ]


@sensitive_variables()
def _model_prompts(eval_set: EvalSetVersion, *, tuned: bool) -> list[dict[str, Any]]:
    """Everything one model answers: the base model zero-shot and few-shot on the task items and the
    general set; the fine-tuned model the task items and the general set."""
    if tuned:
        return _prompts(eval_set, "fine_tuned", "fine_tuned") + _prompts(
            eval_set, "general_fine_tuned", "general"
        )
    return (
        _prompts(eval_set, "zero_shot", "zero_shot")
        + _prompts(eval_set, "few_shot", "few_shot")
        + _prompts(eval_set, "general_base", "general")
    )


@sensitive_variables()
def _write_prompts(prompts: list[dict[str, Any]]) -> Path:
    folder = inputs_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{uuid.uuid4().hex}.jsonl"
    # Created private; written whole before any job names it.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        for prompt in prompts:
            handle.write(json.dumps(prompt, ensure_ascii=False) + "\n")
    return path


@sensitive_variables()
def evaluate_job(
    *,
    base_dir: Path,
    adapter_dir: Path | None,
    prompts: list[dict[str, Any]],
    max_new_tokens: int,
    baseline_key: str = "",
) -> Job:
    spec: dict[str, Any] = {
        "base_model_dir": str(base_dir),
        "adapter_dir": str(adapter_dir) if adapter_dir is not None else None,
        "prompts_path": str(_write_prompts(prompts)),
        "max_new_tokens": max_new_tokens,
        "batch_size": settings.VETTING_EVAL_BATCH_SIZE,
    }
    if baseline_key:
        spec["vetting_baseline"] = baseline_key
    # No owner: an evaluation runs on hidden items, so no page or API shows it to anyone but staff.
    return sandbox_services.job_create(
        kind=Job.Kind.EVALUATE,
        owner=None,
        spec=spec,
        wall_seconds=settings.VETTING_EVAL_WALL_SECONDS,
        memory_mb=settings.VETTING_EVAL_MEMORY_MB,
    )


@sensitive_variables()
def _baseline_job(*, eval_set: EvalSetVersion, base_model: str, base_dir: Path) -> Job:
    """The base model's job (zero-shot + few-shot on the task items, the general set), shared by every
    submission that needs it while it is queued, running, or done but not yet stored."""
    key = f"{eval_set.pk}:{base_model}:base"
    running = (
        Job.objects.filter(kind=Job.Kind.EVALUATE, owner=None, spec__vetting_baseline=key)
        .exclude(state__in=FAILED_JOB_STATES)
        .order_by("-pk")
        .first()
    )
    if running is not None and (not running.is_finished or generations_path(running).is_file()):
        return running
    return evaluate_job(
        base_dir=base_dir,
        adapter_dir=None,
        prompts=_model_prompts(eval_set, tuned=False),
        max_new_tokens=eval_set.challenge.max_new_tokens,
        baseline_key=key,
    )


@sensitive_variables()
def _start_evaluation(submission: Submission, adapter_dir: Path) -> str:
    base_dir = _base_model_dir(submission)
    if base_dir is None:
        return _error(submission, "evaluate", BASE_MODEL_MISSING)
    eval_set, challenge = submission.eval_set, submission.challenge
    jobs: dict[str, int] = {}
    if not baselines_stored(eval_set, challenge.base_model):
        # The eval set's row lock makes the base model's jobs one decision: two submissions reaching
        # evaluation together (on two workers) would otherwise both find none and both start them.
        EvalSetVersion.objects.select_for_update().filter(pk=eval_set.pk).first()
        jobs[BASE] = _baseline_job(eval_set=eval_set, base_model=challenge.base_model, base_dir=base_dir).pk
    jobs[TUNED] = evaluate_job(
        base_dir=base_dir,
        adapter_dir=adapter_dir,
        prompts=_model_prompts(eval_set, tuned=True),
        max_new_tokens=challenge.max_new_tokens,
    ).pk
    services.submissions.submission_start_evaluation(submission_id=submission.pk, job_ids=jobs)
    return "evaluating (jobs " + ", ".join(str(pk) for pk in jobs.values()) + ")"


# --- results --------------------------------------------------------------------------------------


def generations_path(job: Job) -> Path:
    return sandbox_services.job_output_dir(job) / "generations.jsonl"


def read_generations(job: Job) -> dict[str, list[dict[str, Any]]]:
    """The job's generation records by configuration, as `submission_record_results` takes them.

    Malformed lines are skipped (scoring then reports the items as missing); their text is not logged.
    """
    by_config: dict[str, list[dict[str, Any]]] = {}
    path = generations_path(job)
    if not path.is_file() or path.is_symlink():
        return by_config
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
                config, separator, key = str(record["id"]).partition(ID_SEPARATOR)
            except (ValueError, KeyError, TypeError):
                continue
            if not separator:
                continue
            prompt_tokens = record.get("prompt_tokens")
            by_config.setdefault(config, []).append(
                {
                    "id": key,
                    "output": str(record.get("output", "")),
                    "prompt_tokens": prompt_tokens if isinstance(prompt_tokens, int) else None,
                }
            )
    return by_config


def job_seconds(job: Job) -> float:
    if job.started_at and job.finished_at:
        return round((job.finished_at - job.started_at).total_seconds(), 1)
    return 0.0


def _cost(submission: Submission) -> dict[str, Any]:
    if submission.kind == Submission.Kind.ADAPTER:
        stats = submission.validation_report.get("stats", {})
        return {
            "trained_tokens": 0,
            "device_seconds": 0.0,
            "trainable_params": stats.get("trainable_params"),
            "adapter_bytes": stats.get("adapter_bytes"),
            "lora_rank": stats.get("lora_rank"),
        }
    job = Job.objects.get(pk=submission.job_ids["train"])
    metrics = job.metrics or {}
    return {
        "trained_tokens": metrics.get("trained_tokens"),
        "device_seconds": job_seconds(job),
        "trainable_params": metrics.get("trainable_parameters"),
        "adapter_bytes": metrics.get("adapter_bytes"),
        "lora_rank": (metrics.get("hyperparameters") or {}).get("rank")
        or submission.hyperparameters.get("rank"),
    }


def _after_evaluation(submission: Submission) -> str:
    job_ids = submission.job_ids
    tuned_keys = [TUNED] if TUNED in job_ids else list(EARLIER_TUNED_KEYS)
    keys = [key for key in (BASE, *EARLIER_BASE_KEYS) if key in job_ids] + tuned_keys
    jobs = Job.objects.in_bulk([job_ids[key] for key in keys if key in job_ids])
    if any(job_ids.get(key) not in jobs for key in keys):
        return _error(submission, "evaluate", "An evaluation job is missing.")
    failed = [jobs[job_ids[key]] for key in keys if jobs[job_ids[key]].state in FAILED_JOB_STATES]
    if failed:
        reasons = sorted({job.get_failure_reason_display() or job.state for job in failed})
        logger.warning(
            "Submission %s: evaluation job(s) %s failed.", submission.pk, ", ".join(str(j.pk) for j in failed)
        )
        # The engineer's adapter is on trial only in the fine-tuned model's job: when it crashed,
        # stalled or ran out of memory, the adapter did it and the attempt is used. A baseline job's
        # failure, or an infrastructure one, is the platform's.
        tuned_ids = {job_ids[key] for key in tuned_keys}
        platform_fault = any(
            job.pk not in tuned_ids or job.failure_reason in PLATFORM_JOB_FAILURES for job in failed
        )
        # The reason's label only: an evaluation engine's own message may quote hidden items.
        reason = "; ".join(reasons).lower()
        message = (
            f"An evaluation job failed on the platform's side ({reason})."
            if platform_fault
            else f"The evaluation of the fine-tuned model failed ({reason})."
        )
        return _error(submission, "evaluate", message, platform_fault=platform_fault)
    waiting = [job for job in jobs.values() if not job.is_finished]
    if waiting:
        return "waiting for evaluation (jobs " + ", ".join(str(job.pk) for job in waiting) + ")"

    generations: dict[str, list[dict[str, Any]]] = {}
    for key in keys:
        generations.update(read_generations(jobs[job_ids[key]]))
    try:
        # A savepoint: a refused result leaves the submission as it was, to be errored below.
        with transaction.atomic():
            submission = services.results.submission_record_results(
                submission_id=submission.pk, generations=generations, cost=_cost(submission)
            )
    except ApplicationError as exc:
        # The services' messages name counts and configurations, never an item.
        return _error(submission, "score", f"Scoring failed: {exc}")
    for job in jobs.values():
        remove_job_inputs(job.pk, job=job)
    return f"scored: {submission.state}"


def remove_job_inputs(job_id: int, job: Job | None = None) -> None:
    """Delete a finished evaluate job's prompts file (hidden items are not kept around once used)."""
    job = job or Job.objects.filter(pk=job_id).first()
    if job is None or job.kind != Job.Kind.EVALUATE or not job.is_finished:
        return
    path = Path(str((job.spec or {}).get("prompts_path") or ""))
    if path.parent == inputs_dir() and path.suffix == ".jsonl":
        path.unlink(missing_ok=True)
