"""Submissions: received (upload stored unread, web), validated (worker, time-limited), then moved
by the pipeline through training and evaluation (`vetting.pipeline`), or errored with or without the
attempt returned (only a platform fault returns it)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from core.errors import (
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
    ValidationError,
)
from core.transitions import transition_apply
from core.uploads import read_capped
from marketplace.models import User
from sandbox.selectors import train_throughput_measured
from vetting.challenges import Split
from vetting.datasets import (
    DatasetRules,
    HiddenTextIndex,
    TokenCounter,
    approximate_token_counter,
    dataset_user_inputs,
    validate_dataset,
    validate_hyperparameters,
)
from vetting.models import (
    Challenge,
    Submission,
    SubmissionJob,
)
from vetting.selectors import attempt_status, grants_with_left
from vetting.services.attempts import attempt_limit_error


def dataset_rules(challenge: Challenge) -> DatasetRules:
    measured = train_throughput_measured()
    if measured is not None:
        rate = measured.tokens_per_second
        basis = f"the median of the last {measured.jobs} training job(s) here, on {measured.device_kind}"
    else:
        rate, basis = (
            settings.VETTING_TRAIN_TOKENS_PER_SECOND,
            "the platform's default: no training job has run yet",
        )
    return DatasetRules(
        min_examples=challenge.min_examples,
        max_examples=challenge.max_examples,
        max_tokens_per_example=challenge.max_tokens_per_example,
        prompt=challenge.prompt,
        metric=challenge.metric_obj,
        public_inputs=tuple(example["input"] for example in challenge.public_examples),
        near_threshold=settings.VETTING_NEAR_DUPLICATE_JACCARD,
        train_tokens_per_second=rate,
        throughput_basis=basis,
        device_cost_per_hour=settings.VETTING_DEVICE_COST_PER_HOUR,
        currency=settings.VETTING_COST_CURRENCY,
    )


@sensitive_variables()
def submission_overlapping_items(submission: Submission) -> set[str]:
    """The hidden items whose inputs the submission's training set holds (exactly or nearly): left out
    of its score, so that copying them gains nothing. Scoring worker only; staff see the count."""
    if submission.kind != Submission.Kind.DATASET or not submission.dataset:
        return set()
    texts = dict(submission.eval_set.items.filter(split__in=Split.HIDDEN).values_list("key", "input"))
    index = HiddenTextIndex.build(texts, settings.VETTING_NEAR_DUPLICATE_JACCARD)
    with submission.dataset.open("rb") as handle:
        data = handle.read()
    keys: set[str] = set()
    for inputs in dataset_user_inputs(data, prompt=submission.challenge.prompt):
        keys |= index.overlapping_keys(inputs)
    return keys


def _report_from_problems(code: str, problems: list[str]) -> dict[str, Any]:
    return {
        "ok": False,
        "errors": [{"line": None, "code": code, "message": problem} for problem in problems],
        "warnings": [],
        "stats": {"error_counts": {code: len(problems)}},
    }


def _adapter_limits(challenge: Challenge):
    from sandbox.adapters import AdapterLimits

    defaults = AdapterLimits.from_settings()
    return AdapterLimits(
        max_rank=min(challenge.max_lora_rank, defaults.max_rank),
        max_bytes=defaults.max_bytes,
        max_header_bytes=defaults.max_header_bytes,
    )


def available_base_model_dir(base_model: str) -> Path:
    """The prepared base model's folder; 503 while the server does not have it."""
    from sandbox import registry

    try:
        return registry.base_model_dir(base_model)
    except registry.BaseModelError as exc:
        raise ServiceUnavailableError(
            "The challenge's base model is not available on this server; try again later.",
            code="base_model_unavailable",
        ) from exc


def _adapter_report(challenge: Challenge, folder: Path) -> dict[str, Any]:
    """The stored adapter checked against the base model."""
    from sandbox.adapters import AdapterRejected, validate_adapter_dir

    try:
        info = validate_adapter_dir(
            folder, available_base_model_dir(challenge.base_model), _adapter_limits(challenge)
        )
    except AdapterRejected as exc:
        return _report_from_problems("adapter_rejected", exc.problems)
    return {
        "ok": True,
        "errors": [],
        "warnings": [],
        "stats": {
            "lora_rank": info.rank,
            "lora_alpha": info.alpha,
            "target_modules": info.target_modules,
            "tensors": info.tensors,
            "trainable_params": info.parameters,
            "adapter_bytes": info.size_bytes,
            "error_counts": {},
        },
    }


def _dataset_report(
    *,
    challenge: Challenge,
    data: bytes,
    hyperparameters: Mapping[str, Any] | None,
    count_tokens: TokenCounter,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(validation report, hyperparameters with defaults). The report never depends on the hidden items."""
    values, hp_errors = validate_hyperparameters(
        dict(hyperparameters) if hyperparameters is not None else None, challenge.hyperparameter_limits
    )
    report = validate_dataset(
        data,
        rules=dataset_rules(challenge),
        count_tokens=count_tokens,
        epochs=values["epochs"] if not hp_errors else 1,
    )
    if hp_errors:
        report["ok"] = False
        report["errors"] += [
            {"line": None, "code": "hyperparameter", "message": f"hyperparameters.{e['key']}: {e['message']}"}
            for e in hp_errors
        ]
        report["stats"]["error_counts"]["hyperparameter"] = len(hp_errors)
    return report, values


def submission_receive(
    *,
    actor: User,
    challenge_id: int,
    kind: str,
    dataset: Any = None,
    hyperparameters: Mapping[str, Any] | None = None,
    adapter_files: Sequence[Any] | None = None,
) -> Submission:
    """Take an upload in: who may submit, attempts left and sizes are checked, the files are stored
    unread, and the submission is left `validating` for `submission_validate` (a worker, under a time
    limit). Only an adapter whose file names or sizes are wrong is rejected here, at once."""
    from sandbox.adapters import AdapterRejected, store_uploaded_adapter

    if not (actor.is_engineer or actor.is_staff):
        raise PermissionDeniedError("Only engineers take vetting challenges.")
    challenge = Challenge.objects.filter(pk=challenge_id, is_active=True).first()
    if challenge is None:
        raise NotFoundError("Challenge not found.")
    eval_set = challenge.eval_sets.filter(is_active=True).first()
    if eval_set is None:
        raise ValidationError("This challenge has no evaluation set yet.", code="no_eval_set")
    if kind not in Submission.Kind.values:
        raise ValidationError("Kind must be dataset or adapter.", details={"kind": ["dataset or adapter"]})
    status = attempt_status(engineer=actor, challenge=challenge)
    if status.left == 0:
        raise attempt_limit_error(status)

    data = b""
    adapter_dir = ""
    stored_rejection: dict[str, Any] | None = None
    if kind == Submission.Kind.DATASET:
        if dataset is None:
            raise ValidationError("Upload a JSONL dataset.", details={"dataset": ["Required."]})
        data = read_capped(dataset, limit=settings.VETTING_MAX_DATASET_BYTES, field="dataset", what="dataset")
    else:
        if not adapter_files:
            raise ValidationError("Upload the adapter's files.", details={"adapter": ["Required."]})
    # Checked here, cheaply, so that nothing is recorded while the server cannot run the challenge.
    available_base_model_dir(challenge.base_model)
    if kind == Submission.Kind.ADAPTER:
        folder = Path(settings.MEDIA_ROOT) / "vetting" / "adapters" / uuid.uuid4().hex
        try:
            store_uploaded_adapter(adapter_files, folder, _adapter_limits(challenge))
            adapter_dir = str(folder)
        except AdapterRejected as exc:
            stored_rejection = _report_from_problems("adapter_rejected", exc.problems)

    with transaction.atomic():
        submission = Submission(
            engineer=actor,
            challenge=challenge,
            eval_set=eval_set,
            kind=kind,
            # As sent, until validation replaces them with the checked values and their defaults.
            hyperparameters=dict(hyperparameters or {}),
            adapter_dir=adapter_dir,
        )
        submission.save()
        if kind == Submission.Kind.DATASET:
            submission.dataset.save("dataset.jsonl", ContentFile(data), save=True)
        transition_apply(
            instance=submission,
            transition="start_validation",
            actor=actor,
            timeline_key=submission.timeline_key,
        )
        if stored_rejection is not None:
            transition_apply(
                instance=submission,
                transition="reject",
                actor=actor,
                timeline_key=submission.timeline_key,
                report=stored_rejection,
                now=timezone.now(),
            )
    return submission


def submission_validate(*, submission_id: int, count_tokens: TokenCounter | None = None) -> Submission:
    """Validate a `validating` submission's stored upload (pure, before any lock), then reject it (no
    attempt used, the upload removed) or accept it as `queued` for the pipeline. Idempotent.

    `count_tokens` counts a chat's tokens; the pipeline passes the base model's tokenizer, the default is
    an approximation.
    """
    submission = Submission.objects.select_related("challenge", "engineer").filter(pk=submission_id).first()
    if submission is None:
        raise NotFoundError("Submission not found.")
    if submission.state != Submission.State.VALIDATING:
        return submission
    challenge = submission.challenge
    values: dict[str, Any] = {}
    if submission.kind == Submission.Kind.DATASET:
        with submission.dataset.open("rb") as handle:
            data = handle.read()
        report, values = _dataset_report(
            challenge=challenge,
            data=data,
            hyperparameters=submission.hyperparameters,
            count_tokens=count_tokens or approximate_token_counter,
        )
    else:
        report = _adapter_report(challenge, Path(submission.adapter_dir))
    return _submission_settle(submission_id=submission_id, report=report, values=values)


def submission_validation_timeout(*, submission_id: int, seconds: int) -> Submission:
    """Validation ran past its time limit: a rejection saying so (no attempt used)."""
    message = f"validating the upload took longer than {seconds} s; upload a smaller file"
    return _submission_settle(
        submission_id=submission_id, report=_report_from_problems("validation_timeout", [message]), values={}
    )


def _submission_settle(*, submission_id: int, report: dict[str, Any], values: dict[str, Any]) -> Submission:
    now = timezone.now()
    with transaction.atomic():
        submission = submission_locked(submission_id)
        # One submission settled at a time per engineer: the attempt count cannot be raced.
        User.objects.select_for_update().filter(pk=submission.engineer_id).first()
        if submission.state != Submission.State.VALIDATING:
            return submission
        engineer, challenge = submission.engineer, submission.challenge
        status = attempt_status(engineer=engineer, challenge=challenge, now=now)
        if report["ok"] and status.left == 0:
            report = _report_from_problems("attempt_limit", [attempt_limit_error(status).message])
        submission.hyperparameters = values
        rejected = not report["ok"]
        if rejected:
            transition_apply(
                instance=submission,
                transition="reject",
                actor=None,
                timeline_key=submission.timeline_key,
                report=report,
                now=now,
            )
        else:
            if status.limit is not None and status.used_in_window >= status.limit:
                submission.attempt_grant = next(
                    grant for grant in grants_with_left(engineer=engineer, challenge=challenge) if grant.left
                )
            transition_apply(
                instance=submission,
                transition="accept",
                actor=None,
                timeline_key=submission.timeline_key,
                report=report,
            )
    if rejected:  # after the lock: the rejection stands whatever happens to the files
        _remove_upload(submission)
    return submission


def _remove_upload(submission: Submission) -> None:
    """A rejected upload is not kept: nothing of it is trained on or looked at again."""
    if submission.dataset:
        submission.dataset.delete(save=False)
        Submission.objects.filter(pk=submission.pk).update(dataset="")
    if submission.adapter_dir:
        shutil.rmtree(submission.adapter_dir, ignore_errors=True)
        Submission.objects.filter(pk=submission.pk).update(adapter_dir="")


def submission_create(
    *,
    actor: User,
    challenge_id: int,
    kind: str,
    dataset: Any = None,
    hyperparameters: Mapping[str, Any] | None = None,
    adapter_files: Sequence[Any] | None = None,
    count_tokens: TokenCounter | None = None,
) -> Submission:
    """Receive and validate in one call (the command line, calibration, tests): it comes back `queued`
    (for the pipeline) or `rejected` with its report (nothing started, no attempt used)."""
    submission = submission_receive(
        actor=actor,
        challenge_id=challenge_id,
        kind=kind,
        dataset=dataset,
        hyperparameters=hyperparameters,
        adapter_files=adapter_files,
    )
    return submission_validate(submission_id=submission.pk, count_tokens=count_tokens)


def submission_locked(submission_id: int) -> Submission:
    submission = (
        Submission.objects.select_for_update(of=("self",))
        .select_related("challenge", "eval_set", "engineer")
        .filter(pk=submission_id)
        .first()
    )
    if submission is None:
        raise NotFoundError("Submission not found.")
    return submission


def _link_jobs(submission: Submission, jobs: Mapping[str, int]) -> None:
    for role, job_id in jobs.items():
        SubmissionJob.objects.update_or_create(submission=submission, role=role, defaults={"job_id": job_id})


@transaction.atomic
def submission_start_training(*, submission_id: int, job_id: int) -> Submission:
    submission = submission_locked(submission_id)
    transition_apply(
        instance=submission, transition="start_training", actor=None, timeline_key=submission.timeline_key
    )
    _link_jobs(submission, {"train": job_id})
    return submission


@transaction.atomic
def submission_start_evaluation(*, submission_id: int, job_ids: Mapping[str, int]) -> Submission:
    submission = submission_locked(submission_id)
    transition_apply(
        instance=submission, transition="start_evaluation", actor=None, timeline_key=submission.timeline_key
    )
    _link_jobs(submission, job_ids)
    return submission


@transaction.atomic
def submission_error(*, submission_id: int, step: str, message: str, platform_fault: bool) -> Submission:
    """A step failed. The attempt is returned only for a fault of the platform (infrastructure, a lost
    worker or message, a missing file or model); the engineer's own failure (training that crashes,
    stalls or runs out of memory, a cancelled job, an adapter that breaks evaluation) uses it.

    For evaluation steps `message` must not quote engine output (it ran on hidden items).
    """
    if step not in Submission.STEPS:
        raise ValueError(f"unknown step {step!r}")
    submission = submission_locked(submission_id)
    transition_apply(
        instance=submission,
        transition="error",
        actor=None,
        timeline_key=submission.timeline_key,
        note=message[:500],
        step=step,
        message=message,
        now=timezone.now(),
        platform_fault=platform_fault,
    )
    return submission
