"""Writes: challenges and eval-set versions (staff), attempts, submissions and their results, badges.

Running a submission (sandbox jobs for training and evaluation) is the pipeline's job: it takes a
`queued` submission from `submission_validate` (after `submission_receive` stored the upload), calls `submission_start_training` /
`submission_start_evaluation` as its jobs start, and hands the generations to
`submission_record_results`, or calls `submission_error` when a step fails.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.debug import sensitive_variables

from core.errors import (
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
    ValidationError,
    full_clean_or_raise,
)
from core.transitions import transition_apply
from marketplace.models import Skill, User
from sandbox.selectors import train_throughput_measured
from vetting import ladder, scoring, verdict
from vetting.challenges import GENERAL_METRIC, Split, generated_specs, hidden_items
from vetting.challenges.base import derive_rng
from vetting.challenges.general import GENERAL_SIZE, generate_general
from vetting.conf import secret_seed
from vetting.datasets import (
    DatasetRules,
    HiddenTextIndex,
    TokenCounter,
    approximate_token_counter,
    dataset_user_inputs,
    evalset_stats,
    parse_evalset,
    validate_dataset,
    validate_hyperparameters,
)
from vetting.models import (
    AttemptGrant,
    Badge,
    Challenge,
    EvalBaseline,
    EvalItem,
    EvalSetVersion,
    LeaderboardOptIn,
    Submission,
)
from vetting.selectors import attempt_status, best_released_feedback, grants_with_left

# --- permissions ----------------------------------------------------------------------------------


def _require_staff(actor: User | None) -> None:
    if actor is None or not actor.is_staff:
        raise PermissionDeniedError("Only staff may do this.")


def _challenge(challenge_id: int, *, lock: bool = False) -> Challenge:
    queryset = Challenge.objects.select_for_update() if lock else Challenge.objects.all()
    challenge = queryset.filter(pk=challenge_id).first()
    if challenge is None:
        raise NotFoundError("Challenge not found.")
    return challenge


# --- challenges -----------------------------------------------------------------------------------


_DEMO_HINT = (
    " (the repository's demo challenges need VETTING_ALLOW_DEMO_CHALLENGES; a deployment's own come from "
    "VETTING_CHALLENGE_MODULES)"
)


@transaction.atomic
def challenge_sync_builtin(*, slug: str) -> tuple[Challenge, bool]:
    """Create or update a built-in challenge from its code. (challenge, created)

    What the code owns (texts, prompt, metric, public examples) is rewritten; what staff calibrate
    (budgets, thresholds, attempt limits, active flag) is set only when the challenge is created.
    """
    spec = generated_specs().get(slug)
    if spec is None:
        raise NotFoundError(f"No generated challenge {slug!r} on this deployment{_DEMO_HINT}.")
    owned = {
        "title": spec.title,
        "summary": spec.summary,
        "task_type": spec.task_type,
        "metric": spec.metric.name,
        "instructions": spec.instructions,
        "system_prompt": spec.prompt.system,
        "user_template": spec.prompt.user_template,
        "public_examples": spec.public_examples(),
        "max_new_tokens": spec.max_new_tokens,
        "is_builtin": True,
    }
    challenge = Challenge.objects.select_for_update().filter(slug=slug).first()
    created = challenge is None
    if created:
        budgets = spec.budgets
        challenge = Challenge(
            slug=slug,
            min_examples=budgets.min_examples,
            max_examples=budgets.max_examples,
            max_tokens_per_example=budgets.max_tokens_per_example,
            max_epochs=budgets.max_epochs,
            max_lora_rank=budgets.max_lora_rank,
            max_wall_seconds=budgets.max_wall_seconds,
            pass_threshold=spec.pass_threshold,
            band_strong=spec.band_strong,
            band_exceptional=spec.band_exceptional,
            forgetting_margin=(
                settings.VETTING_FORGETTING_MARGIN
                if spec.forgetting_margin is None
                else spec.forgetting_margin
            ),
            attempt_limit=settings.VETTING_ATTEMPT_LIMIT,
            attempt_window_days=settings.VETTING_ATTEMPT_WINDOW_DAYS,
        )
    for field, value in owned.items():
        setattr(challenge, field, value)
    full_clean_or_raise(challenge)
    challenge.save()
    skills = [
        Skill.objects.get_or_create(slug=slugify(name), defaults={"name": name})[0] for name in spec.skills
    ]
    challenge.skills.set(skills)
    return challenge, created


def _min_sizes() -> dict[str, int]:
    return {
        Split.FEEDBACK: settings.VETTING_MIN_FEEDBACK_ITEMS,
        Split.FINAL: settings.VETTING_MIN_FINAL_ITEMS,
        Split.GENERAL: settings.VETTING_MIN_GENERAL_ITEMS,
    }


@sensitive_variables()
def _evalset_create(
    *,
    actor: User | None,
    challenge: Challenge,
    records: Iterable[tuple[str, str, Any]],
    source: str,
    activate: bool,
    notes: str = "",
    version: int | None = None,
) -> EvalSetVersion:
    """A new version from (split, input, target) triples; the challenge row must be locked."""
    records = list(records)
    if version is None:
        version = (challenge.eval_sets.aggregate(last=Max("version"))["last"] or 0) + 1
    eval_set = EvalSetVersion.objects.create(
        challenge=challenge,
        version=version,
        source=source,
        notes=notes,
        created_by=actor if getattr(actor, "pk", None) else None,
        stats=evalset_stats(records, metric=challenge.metric_obj),
    )
    counters: dict[str, int] = {}
    items = []
    for position, (split, text, target) in enumerate(records, start=1):
        counters[split] = counters.get(split, 0) + 1
        label = "" if split == Split.GENERAL else challenge.metric_obj.primary_label(target)
        items.append(
            EvalItem(
                eval_set=eval_set,
                split=split,
                key=f"{split}-{counters[split]:04d}",
                position=position,
                input=text,
                target=target,
                label=label[:64],
            )
        )
    EvalItem.objects.bulk_create(items, batch_size=500)
    if activate:
        _activate(eval_set)
    return eval_set


def _activate(eval_set: EvalSetVersion) -> None:
    EvalSetVersion.objects.filter(challenge_id=eval_set.challenge_id, is_active=True).exclude(
        pk=eval_set.pk
    ).update(is_active=False)
    if not eval_set.is_active:
        eval_set.is_active = True
        eval_set.save(update_fields=["is_active", "updated_at"])


@transaction.atomic
@sensitive_variables()
def evalset_generate(*, actor: User | None, challenge_id: int, activate: bool = True) -> EvalSetVersion:
    """The next version of a built-in challenge's hidden items, generated from the secret seed.

    `actor` None is the platform itself (the seeding command); a person must be staff.
    """
    if actor is not None:
        _require_staff(actor)
    challenge = _challenge(challenge_id, lock=True)
    spec = generated_specs().get(challenge.slug)
    if spec is None or not challenge.is_builtin:
        raise ValidationError(
            f"Only generated challenges generate their items{_DEMO_HINT}; upload a JSONL file instead."
        )
    version = (challenge.eval_sets.aggregate(last=Max("version"))["last"] or 0) + 1
    sizes = _min_sizes()
    items = hidden_items(
        spec,
        secret=secret_seed(),
        version=version,
        feedback=sizes[Split.FEEDBACK],
        final=sizes[Split.FINAL],
        general=max(sizes[Split.GENERAL], GENERAL_SIZE),
    )
    return _evalset_create(
        actor=actor,
        challenge=challenge,
        records=[(item.split, item.input, item.target) for item in items],
        source=EvalSetVersion.Source.GENERATED,
        activate=activate,
        version=version,
        notes=f"Generated from the secret seed (version {version}).",
    )


@transaction.atomic
@sensitive_variables()
def evalset_upload(
    *, actor: User, challenge_id: int, data: bytes, activate: bool = False, notes: str = ""
) -> EvalSetVersion:
    """A new version from a staff JSONL upload ({"split", "input", "target"} a line).

    Every problem is reported with its line number; a file without general items gets the generated
    general set.
    """
    _require_staff(actor)
    challenge = _challenge(challenge_id, lock=True)
    records, errors = parse_evalset(
        data, metric=challenge.metric_obj, general_metric=GENERAL_METRIC, min_sizes=_min_sizes()
    )
    if errors:
        first = errors[0]
        where = f"line {first['line']}: " if first["line"] else ""
        raise ValidationError(
            f"The eval set has {len(errors)} problem(s); {where}{first['message']}",
            code="invalid_eval_set",
            details={"errors": errors},
        )
    triples = [(record.split, record.input, record.target) for record in records]
    version = (challenge.eval_sets.aggregate(last=Max("version"))["last"] or 0) + 1
    if not any(split == Split.GENERAL for split, _, _ in triples):
        rng = derive_rng("general", secret_seed(), challenge.slug, f"upload-{version}")
        count = max(_min_sizes()[Split.GENERAL], GENERAL_SIZE)
        triples += [(Split.GENERAL, question, target) for question, target in generate_general(rng, count)]
    return _evalset_create(
        actor=actor,
        challenge=challenge,
        records=triples,
        source=EvalSetVersion.Source.UPLOADED,
        activate=activate,
        version=version,
        notes=notes,
    )


@transaction.atomic
def evalset_activate(*, actor: User, evalset_id: int) -> EvalSetVersion:
    """Rotation: make this version the one new submissions are scored on."""
    _require_staff(actor)
    eval_set = EvalSetVersion.objects.filter(pk=evalset_id).first()
    if eval_set is None:
        raise NotFoundError("Eval-set version not found.")
    _challenge(eval_set.challenge_id, lock=True)
    _activate(eval_set)
    return eval_set


# --- attempts -------------------------------------------------------------------------------------


@transaction.atomic
def attempt_grant(
    *, actor: User, engineer_id: int, challenge_id: int, attempts: int, reason: str
) -> AttemptGrant:
    _require_staff(actor)
    engineer = User.objects.filter(pk=engineer_id).first()
    if engineer is None:
        raise NotFoundError("Engineer not found.")
    challenge = _challenge(challenge_id)
    if not isinstance(attempts, int) or not 1 <= attempts <= 20:
        raise ValidationError("Grant from 1 to 20 attempts.", details={"attempts": ["From 1 to 20."]})
    if not reason.strip():
        raise ValidationError("Say why the attempts are granted.", details={"reason": ["Required."]})
    return AttemptGrant.objects.create(
        engineer=engineer,
        challenge=challenge,
        attempts=attempts,
        reason=reason.strip()[:200],
        granted_by=actor,
    )


def _attempt_error(status) -> PermissionDeniedError:
    when = status.next_available_at.strftime("%Y-%m-%d %H:%M UTC") if status.next_available_at else "later"
    return PermissionDeniedError(
        f"You have used your {status.limit} attempts of the last {status.window_days} days on this "
        f"challenge; the next one is available from {when}.",
        code="attempt_limit",
        details={
            "next_available_at": status.next_available_at.isoformat() if status.next_available_at else None
        },
    )


# --- submissions ----------------------------------------------------------------------------------


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


def _read_upload(upload: Any) -> bytes:
    limit = settings.VETTING_MAX_DATASET_BYTES
    too_large = ValidationError(
        f"The dataset is larger than {limit // (1024 * 1024)} MB.", details={"dataset": ["Too large."]}
    )
    if isinstance(upload, str):
        data = upload.encode()
    elif isinstance(upload, bytes):
        data = upload
    else:
        if (upload.size or 0) > limit:
            raise too_large
        data = b"".join(upload.chunks())
    if len(data) > limit:
        raise too_large
    return data


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
        raise _attempt_error(status)

    data = b""
    adapter_dir = ""
    stored_rejection: dict[str, Any] | None = None
    if kind == Submission.Kind.DATASET:
        if dataset is None:
            raise ValidationError("Upload a JSONL dataset.", details={"dataset": ["Required."]})
        data = _read_upload(dataset)
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
        submission = _submission_locked(submission_id)
        # One submission settled at a time per engineer: the attempt count cannot be raced.
        User.objects.select_for_update().filter(pk=submission.engineer_id).first()
        if submission.state != Submission.State.VALIDATING:
            return submission
        engineer, challenge = submission.engineer, submission.challenge
        status = attempt_status(engineer=engineer, challenge=challenge, now=now)
        if report["ok"] and status.left == 0:
            report = _report_from_problems("attempt_limit", [_attempt_error(status).message])
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


def _submission_locked(submission_id: int) -> Submission:
    submission = (
        Submission.objects.select_for_update(of=("self",))
        .select_related("challenge", "eval_set", "engineer")
        .filter(pk=submission_id)
        .first()
    )
    if submission is None:
        raise NotFoundError("Submission not found.")
    return submission


@transaction.atomic
def submission_start_training(*, submission_id: int, job_id: int) -> Submission:
    submission = _submission_locked(submission_id)
    submission.job_ids = {**submission.job_ids, "train": job_id}
    transition_apply(
        instance=submission, transition="start_training", actor=None, timeline_key=submission.timeline_key
    )
    return submission


@transaction.atomic
def submission_start_evaluation(*, submission_id: int, job_ids: Mapping[str, int]) -> Submission:
    submission = _submission_locked(submission_id)
    submission.job_ids = {**submission.job_ids, **job_ids}
    transition_apply(
        instance=submission, transition="start_evaluation", actor=None, timeline_key=submission.timeline_key
    )
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
    submission = _submission_locked(submission_id)
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


# --- results --------------------------------------------------------------------------------------

TASK_CONFIGS = ("zero_shot", "few_shot", "fine_tuned")
BASELINE_CONFIGS = {"zero_shot": "zero_shot", "few_shot": "few_shot", "general_base": "general"}


def _outputs(config: str, records: Sequence[Mapping[str, Any]], keys: set[str]) -> dict[str, str]:
    outputs = {str(record["id"]): str(record.get("output", "")) for record in records}
    missing = keys - outputs.keys()
    if missing:
        raise ValidationError(
            f"Generations for {config} miss {len(missing)} item(s).", code="incomplete_generations"
        )
    return {key: outputs[key] for key in keys}


def _mean_prompt_tokens(records: Sequence[Mapping[str, Any]]) -> float | None:
    counts = [record["prompt_tokens"] for record in records if isinstance(record.get("prompt_tokens"), int)]
    return sum(counts) / len(counts) if counts else None


@sensitive_variables()
def _baseline_scores(
    *,
    eval_set: EvalSetVersion,
    base_model: str,
    config: str,
    records: Sequence[Mapping[str, Any]] | None,
    targets: Mapping[str, Any],
    metric: Any,
) -> EvalBaseline:
    """A submission-independent configuration: scored from `records` and kept, or the kept one."""
    stored = BASELINE_CONFIGS[config]
    if records is None:
        baseline = EvalBaseline.objects.filter(
            eval_set=eval_set, base_model=base_model, config=stored
        ).first()
        if baseline is None or set(baseline.item_scores) != set(targets):
            raise ValidationError(
                f"No stored {config} baseline for {eval_set} on {base_model}; pass its generations.",
                code="missing_baseline",
            )
        return baseline
    outputs = _outputs(config, records, set(targets))
    baseline, _ = EvalBaseline.objects.update_or_create(
        eval_set=eval_set,
        base_model=base_model,
        config=stored,
        defaults={
            "item_scores": scoring.score_outputs(metric, targets, outputs),
            "mean_prompt_tokens": _mean_prompt_tokens(records),
        },
    )
    return baseline


def _split_figures(
    keys: list[str],
    overlapping: set[str],
    fine_tuned: Mapping[str, float],
    few_shot: Mapping[str, float],
    zero_shot: Mapping[str, float],
) -> dict[str, Any]:
    """One split's figures. The baselines cover every item (they do not depend on the submission, and
    the engineer sees them on the feedback split); the fine-tuned figures leave out the items the
    training set overlaps. Staff also get the fine-tuned score on every item."""
    seed = settings.VETTING_BOOTSTRAP_SEED
    resamples = settings.VETTING_BOOTSTRAP_RESAMPLES
    scored = [key for key in keys if key not in overlapping]
    tuned = [fine_tuned[key] for key in scored]
    prompted = [few_shot[key] for key in scored]
    figures = {
        "items": len(keys),
        "zero_shot": round(scoring.mean(zero_shot[key] for key in keys), 4),
        "few_shot": round(scoring.mean(few_shot[key] for key in keys), 4),
        "overlapping_items": len(keys) - len(scored),
        "fine_tuned_all_items": round(scoring.mean(fine_tuned[key] for key in keys), 4),
    }
    if not scored:  # every item copied into the training set: nothing left to earn a score on
        return {**figures, "fine_tuned": 0.0, "fine_tuned_ci": [0.0, 0.0], "delta_ci": [-1.0, -1.0]}
    return {
        **figures,
        "fine_tuned": round(scoring.mean(tuned), 4),
        "fine_tuned_ci": list(scoring.bootstrap_ci(tuned, seed=seed, resamples=resamples)),
        "delta_ci": list(scoring.paired_difference_ci(tuned, prompted, seed=seed + 1, resamples=resamples)),
    }


@sensitive_variables()
def submission_record_results(
    *,
    submission_id: int,
    generations: Mapping[str, Sequence[Mapping[str, Any]]],
    cost: Mapping[str, Any],
) -> Submission:
    """Score an evaluated submission, decide its verdict, release its feedback figure, award a badge.

    `generations` maps a configuration to the evaluation engine's records ({"id": item key, "output",
    "prompt_tokens"}): "fine_tuned" and "general_fine_tuned" always; "zero_shot", "few_shot" and
    "general_base" when not already stored for this eval-set version and base model (they do not
    depend on the submission, so they are computed once and reused).
    `cost`: trained_tokens, device_seconds (training), trainable_params, adapter_bytes, and lora_rank
    for an uploaded adapter.
    """
    overlapping = submission_overlapping_items(Submission.objects.get(pk=submission_id))
    with transaction.atomic():
        submission = _submission_locked(submission_id)
        if submission.state != Submission.State.EVALUATING:
            raise InvalidTransitionError(
                f"Cannot record results: the submission is {submission.state}.",
                details={"state": submission.state},
            )
        # Serialises the Ladder per engineer (two results at once must not both release).
        User.objects.select_for_update().filter(pk=submission.engineer_id).first()
        challenge, eval_set = submission.challenge, submission.eval_set
        metric = challenge.metric_obj
        items = list(eval_set.items.values_list("key", "split", "target"))
        targets = {key: target for key, split, target in items if split != Split.GENERAL}
        general_targets = {key: target for key, split, target in items if split == Split.GENERAL}
        keys_by_split = {
            split: [key for key, item_split, _ in items if item_split == split] for split in Split.HIDDEN
        }
        if not all(keys_by_split.values()) or not general_targets:
            raise ValidationError("The eval set lacks a split.", code="incomplete_eval_set")

        baselines = {
            config: _baseline_scores(
                eval_set=eval_set,
                base_model=challenge.base_model,
                config=config,
                records=generations.get(config),
                targets=general_targets if config == "general_base" else targets,
                metric=GENERAL_METRIC if config == "general_base" else metric,
            )
            for config in BASELINE_CONFIGS
        }
        if "fine_tuned" not in generations or "general_fine_tuned" not in generations:
            raise ValidationError(
                "Generations of the fine-tuned model (task and general) are required.",
                code="missing_generations",
            )
        tuned = scoring.score_outputs(
            metric, targets, _outputs("fine_tuned", generations["fine_tuned"], set(targets))
        )
        general_tuned = scoring.score_outputs(
            GENERAL_METRIC,
            general_targets,
            _outputs("general_fine_tuned", generations["general_fine_tuned"], set(general_targets)),
        )
        figures = {
            split: _split_figures(
                keys,
                overlapping,
                tuned,
                baselines["few_shot"].item_scores,
                baselines["zero_shot"].item_scores,
            )
            for split, keys in keys_by_split.items()
        }
        general_keys = sorted(general_targets)
        general_before = baselines["general_base"].item_scores
        general_base = round(scoring.mean(general_before[key] for key in general_keys), 4)
        general_after = round(scoring.mean(general_tuned[key] for key in general_keys), 4)
        ratio = scoring.forgetting_ratio(general_base, general_after)
        general_delta_ci = list(
            scoring.paired_difference_ci(
                [general_tuned[key] for key in general_keys],
                [general_before[key] for key in general_keys],
                seed=settings.VETTING_BOOTSTRAP_SEED + 2,
                resamples=settings.VETTING_BOOTSTRAP_RESAMPLES,
            )
        )
        figures[Split.GENERAL] = {
            "items": len(general_targets),
            "base": general_base,
            "fine_tuned": general_after,
            "delta_ci": general_delta_ci,
        }

        few_tokens, zero_tokens = (
            baselines["few_shot"].mean_prompt_tokens,
            baselines["zero_shot"].mean_prompt_tokens,
        )
        if few_tokens is not None and zero_tokens is not None:
            saved = round(few_tokens - zero_tokens, 1)
        else:
            inputs = eval_set.items.filter(split=Split.FEEDBACK).values_list("input", flat=True)[:50]
            saved = scoring.prompt_tokens_saved_per_call(
                challenge.prompt, challenge.public_examples, inputs, approximate_token_counter
            )
        submission_cost = {
            "trained_tokens": cost.get("trained_tokens"),
            "device_seconds": cost.get("device_seconds"),
            "trainable_params": cost.get("trainable_params"),
            "adapter_bytes": cost.get("adapter_bytes"),
            "prompt_tokens_saved_per_call": saved,
        }
        final = figures[Split.FINAL]
        decision = verdict.decide(
            final_score=final["fine_tuned"],
            delta_ci=tuple(final["delta_ci"]),
            forgetting_ratio=ratio,
            general_delta_ci=tuple(general_delta_ci),
            budget=_budget_use(submission, cost),
            rules=challenge.pass_rules,
        )
        feedback_score = figures[Split.FEEDBACK]["fine_tuned"]
        margin = ladder.margin_for(len(keys_by_split[Split.FEEDBACK]), settings.VETTING_LADDER_MARGIN)
        best = best_released_feedback(
            engineer=submission.engineer, eval_set=eval_set, exclude_id=submission.pk
        )
        released, newly = ladder.ladder_release(feedback_score, best, margin)
        figures[Split.FEEDBACK]["ladder_margin"] = margin

        submission.base_score = final["zero_shot"]
        submission.few_shot_score = final["few_shot"]
        submission.fine_tuned_score = final["fine_tuned"]
        submission.fine_tuned_ci = final["fine_tuned_ci"]
        submission.delta_ci = final["delta_ci"]
        submission.feedback_score = feedback_score
        submission.released_feedback_score = released
        submission.feedback_released = newly
        submission.general_base_score = general_base
        submission.general_fine_tuned_score = general_after
        submission.forgetting_ratio = ratio
        submission.general_delta_ci = general_delta_ci
        submission.figures = figures
        submission.cost = submission_cost
        submission.verdict = decision
        submission.band = decision["band"] or ""
        transition_apply(
            instance=submission, transition="start_scoring", actor=None, timeline_key=submission.timeline_key
        )
        transition_apply(
            instance=submission,
            transition="record_pass" if decision["passed"] else "record_fail",
            actor=None,
            timeline_key=submission.timeline_key,
            now=timezone.now(),
        )
        if decision["passed"] and submission.engineer.is_engineer:
            _badge_award(submission)
    return submission


def _budget_use(submission: Submission, cost: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    challenge = submission.challenge
    stats = submission.validation_report.get("stats", {})
    if submission.kind == Submission.Kind.DATASET:
        rank = submission.hyperparameters.get("rank", 0)
        use = {
            "examples": (stats.get("examples", 0), challenge.max_examples),
            "epochs": (submission.hyperparameters.get("epochs", 0), challenge.max_epochs),
            "lora_rank": (rank, challenge.max_lora_rank),
            "train_seconds": (round(float(cost.get("device_seconds") or 0), 1), challenge.max_wall_seconds),
        }
    else:
        use = {"lora_rank": (cost.get("lora_rank") or stats.get("lora_rank", 0), challenge.max_lora_rank)}
    return use


# --- badges ---------------------------------------------------------------------------------------


def _badge_award(submission: Submission) -> Badge:
    """A pass shows on the profile: a new badge, or the active one raised to a better score."""
    challenge = submission.challenge
    badge = (
        Badge.objects.select_for_update()
        .filter(engineer=submission.engineer, challenge=challenge, revoked_at__isnull=True)
        .first()
    )
    if badge is not None and badge.score >= submission.fine_tuned_score:
        return badge
    if badge is None:
        badge = Badge(engineer=submission.engineer, challenge=challenge)
    badge.submission = submission
    badge.challenge_slug = challenge.slug
    badge.title = challenge.title
    badge.band = submission.band
    badge.score = submission.fine_tuned_score
    badge.awarded_at = timezone.now()
    badge.save()
    badge.skills.set(challenge.skills.all())
    return badge


@transaction.atomic
def badge_revoke(*, actor: User, badge_id: int, reason: str) -> Badge:
    _require_staff(actor)
    badge = Badge.objects.select_for_update().filter(pk=badge_id).first()
    if badge is None:
        raise NotFoundError("Badge not found.")
    if badge.revoked_at is not None:
        raise InvalidTransitionError("The badge is already revoked.")
    reason = reason.strip()
    if not reason:
        raise ValidationError("Say why the badge is revoked.", details={"reason": ["Required."]})
    badge.revoked_at = timezone.now()
    badge.revoked_reason = reason[:200]
    badge.revoked_by = actor
    badge.save(update_fields=["revoked_at", "revoked_reason", "revoked_by"])
    return badge


# --- leaderboard ----------------------------------------------------------------------------------


@transaction.atomic
def leaderboard_set_opt_in(*, actor: User, challenge_id: int, opted_in: bool) -> bool:
    if not actor.is_engineer:
        raise PermissionDeniedError("Only engineers appear on leaderboards.")
    challenge = _challenge(challenge_id)
    if opted_in:
        LeaderboardOptIn.objects.get_or_create(engineer=actor, challenge=challenge)
    else:
        LeaderboardOptIn.objects.filter(engineer=actor, challenge=challenge).delete()
    return opted_in
