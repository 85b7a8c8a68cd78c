"""Reference runs (DESIGN section 7): the platform submits its own datasets through the same pipeline as
any engineer's, as the staff user `vetting-calibration` (no attempt limit, no badge), on the active
eval-set version, and records each finished run's figures at once, on the version and in a JSON file
that can be committed, so that a calibration interrupted after any run resumes from there.

    calibrate(challenge=..., options=CalibrationOptions(seeds=3), record_path=Path(...))
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError, ValidationError, full_clean_or_raise
from marketplace.models import User
from sandbox import registry
from sandbox.models import Job
from vetting import pipeline, verdict
from vetting.calibration import rules
from vetting.calibration.datasets import (
    DISTILL_MAX_NEW_TOKENS,
    Recipe,
    distill_prompts,
    general_chat,
    recipes,
)
from vetting.calibration.references import task_examples_for
from vetting.challenges.base import derive_rng
from vetting.models import Challenge, EvalSetVersion, Submission
from vetting.selectors import submission_staff_report

PLATFORM_USER = "vetting-calibration"
Say = Callable[[str], None]


class CalibrationError(ApplicationError):
    code = "calibration_failed"


@dataclass(frozen=True)
class CalibrationOptions:
    examples: int = 240
    general_examples: int = 120
    short_answer_examples: int = 0  # one-word replay questions (see datasets.SHORT_ANSWER_TEMPLATES)
    epochs: int = 2
    rank: int = 16
    # 4 x 2 accumulated: an effective batch of 8 within the sandbox's default memory on a CPU host.
    batch_size: int = 4
    gradient_accumulation: int = 2
    max_seq_length: int = 384
    careful_lr: float = 4e-4
    naive_lr: float = 1e-3
    seeds: int = 1  # careful and naive are retrained with each seed; mislabelled runs once
    timeout: float = 24 * 3600


def planned_runs(seeds: int) -> list[tuple[str, int]]:
    plan = [("careful", 0), ("naive", 0), ("mislabelled", 0)]
    for seed in range(1, seeds):
        plan += [("careful", seed), ("naive", seed)]
    return plan


def secret_fingerprint() -> str:
    """Which secret the eval-set versions came from, without revealing it."""
    return hashlib.sha256(settings.VETTING_SECRET_SEED.encode()).hexdigest()[:12]


def platform_user() -> User:
    user, _ = User.objects.get_or_create(
        username=PLATFORM_USER,
        defaults={
            "email": f"{PLATFORM_USER}@platform.invalid",
            "is_staff": True,
            "first_name": "Calibration",
        },
    )
    if not user.is_staff:
        raise CalibrationError(f"The user {PLATFORM_USER} exists and is not staff.")
    return user


def _wait_for(predicate: Callable[[], bool], *, deadline: float, what: str) -> None:
    while not predicate():
        if time.monotonic() > deadline:
            raise CalibrationError(f"{what} at the timeout")
        time.sleep(2)


def distilled_general(challenge: Challenge, prompts: list[str], *, deadline: float, say: Say) -> list[str]:
    """The base model's own answers to everyday instructions, as bare user/assistant chats."""
    if not prompts:
        return []
    job = pipeline.evaluate_job(
        base_dir=registry.base_model_dir(challenge.base_model),
        adapter_dir=None,
        prompts=[
            {
                "id": f"distill{pipeline.ID_SEPARATOR}{index}",
                "messages": [{"role": "user", "content": prompt}],
            }
            for index, prompt in enumerate(prompts)
        ],
        max_new_tokens=DISTILL_MAX_NEW_TOKENS,
    )
    say(f"distilling {len(prompts)} general answers from the base model (job {job.pk})")
    _wait_for(
        lambda: Job.objects.get(pk=job.pk).is_finished, deadline=deadline, what=f"job {job.pk} still running"
    )
    job = Job.objects.get(pk=job.pk)  # protected state: reload, not refresh_from_db
    if job.state != Job.State.SUCCEEDED:
        raise CalibrationError(f"the distillation job {job.pk} {job.state}: {job.failure_reason}")
    answers = {
        record["id"]: record["output"].strip() for record in pipeline.read_generations(job).get("distill", [])
    }
    lines = [
        general_chat(prompt, answers[str(index)])
        for index, prompt in enumerate(prompts)
        if answers.get(str(index))
    ]
    say(f"distilled {len(lines)} general examples")
    return lines


def _finished(submission: Submission, *, name: str, deadline: float, say: Say) -> Submission:
    last = ""

    def done() -> bool:
        nonlocal last, submission
        submission = Submission.objects.get(pk=submission.pk)
        if submission.state != last:
            say(f"{name}: {submission.state}")
            last = submission.state
        if not submission.is_finished and settings.CELERY_TASK_ALWAYS_EAGER:
            pipeline.submission_advance(submission_id=submission.pk)
        return submission.is_finished

    _wait_for(done, deadline=deadline, what=f"{name}: submission {submission.pk} still {submission.state}")
    if submission.state not in (Submission.State.PASSED, Submission.State.FAILED):
        raise CalibrationError(
            f"{name}: submission {submission.pk} {submission.state}: {submission.failure_message}"
        )
    return submission


def run_figures(submission: Submission, recipe: Recipe, seed: int, wall_seconds: float) -> dict[str, Any]:
    report = submission_staff_report(submission=submission)
    train = Job.objects.filter(pk=submission.job_ids.get("train")).first()
    return {
        "kind": recipe.kind,
        "seed": seed,
        "submission": submission.pk,
        "examples": len(recipe.lines),
        "hyperparameters": {**recipe.hyperparameters, "seed": seed},
        "verdict_at_the_time": report["verdict"],
        "scores": report["scores"],
        "feedback": report["feedback"]["score"],
        "cost": report["cost"],
        "budget": next(
            rule["figure"] for rule in submission.verdict["rules"] if rule["rule"] == verdict.BUDGET
        ),
        "train_seconds": round(pipeline.job_seconds(train), 1) if train else None,
        "wall_seconds": round(wall_seconds, 1),
        "recorded_at": timezone.now().isoformat(),
    }


def _read_record(path: Path | None, header: dict[str, Any]) -> dict[str, Any]:
    """Runs recorded in the file for the same challenge, base model, eval-set version and secret."""
    if path is None or not path.is_file():
        return {}
    record = json.loads(path.read_text())
    same = all(record.get(key) == value for key, value in header.items())
    return record.get("runs", {}) if same else {}


def _save(eval_set: EvalSetVersion, calibration: dict[str, Any], path: Path | None) -> None:
    with transaction.atomic():
        locked = EvalSetVersion.objects.select_for_update().get(pk=eval_set.pk)
        locked.calibration = calibration
        locked.save(update_fields=["calibration", "updated_at"])
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(calibration, indent=2, sort_keys=True) + "\n")


def reference_datasets(
    challenge: Challenge, eval_set: EvalSetVersion, options: CalibrationOptions, *, deadline: float, say: Say
) -> dict[str, Recipe]:
    """The careful, naive and mislabelled datasets of this challenge's reference runs (the same for
    every seed: only training's seed changes), general replay distilled from the base model."""
    rng = derive_rng("calibration", challenge.slug, str(eval_set.version))
    task = task_examples_for(challenge.slug)(
        derive_rng("calibration-task", challenge.slug, str(eval_set.version)), options.examples
    )
    general = distilled_general(
        challenge,
        distill_prompts(options.general_examples, rng, short_answers=options.short_answer_examples),
        deadline=deadline,
        say=say,
    )
    common = {
        "rank": options.rank,
        "alpha": 2.0 * options.rank,
        "epochs": options.epochs,
        "batch_size": options.batch_size,
        "gradient_accumulation": options.gradient_accumulation,
        "max_seq_length": options.max_seq_length,
    }
    return recipes(
        challenge=challenge,
        task=task,
        general=general,
        common=common,
        careful_lr=options.careful_lr,
        naive_lr=options.naive_lr,
        rng=rng,
    )


def export_datasets(
    *, challenge: Challenge, options: CalibrationOptions, directory: Path, say: Say = lambda _: None
) -> dict[str, Path]:
    """Write the reference datasets as an engineer would submit them: `<kind>.jsonl` and
    `<kind>-hyperparameters.json` (seed 0) for `vetting_submit --dataset ... --hyperparams ...`."""
    eval_set = _active_eval_set(challenge)
    datasets = reference_datasets(
        challenge, eval_set, options, deadline=time.monotonic() + options.timeout, say=say
    )
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for kind, recipe in datasets.items():
        written[kind] = directory / f"{kind}.jsonl"
        written[kind].write_bytes(recipe.data)
        (directory / f"{kind}-hyperparameters.json").write_text(
            json.dumps({**recipe.hyperparameters, "seed": 0}, indent=2, sort_keys=True) + "\n"
        )
        say(f"{kind}: {len(recipe.lines)} examples in {written[kind]}")
    return written


def _active_eval_set(challenge: Challenge) -> EvalSetVersion:
    eval_set = challenge.eval_sets.filter(is_active=True).first()
    if eval_set is None:
        raise ValidationError("The challenge has no active eval-set version.", code="no_eval_set")
    if not registry.is_prepared(challenge.base_model):
        raise CalibrationError(
            f"Base model {challenge.base_model} is not prepared (manage.py prepare_models)."
        )
    return eval_set


def assumed_spread(path: Path) -> dict[str, dict[str, float]]:
    """The run-to-run spreads measured by another challenge's recorded calibration (several seeds)."""
    try:
        runs = json.loads(path.read_text())["runs"]
    except (OSError, ValueError, KeyError) as exc:
        raise CalibrationError(f"{path} is not a calibration record: {exc}") from exc
    return rules.spreads(rules.by_kind(runs))


def calibrate(
    *,
    challenge: Challenge,
    options: CalibrationOptions,
    say: Say = lambda _: None,
    record_path: Path | None = None,
    apply: bool = False,
    force: bool = False,
    spread_from: Path | None = None,
) -> dict[str, Any]:
    """Run the reference submissions not yet recorded, then propose (and with `apply`, set) the rules."""
    eval_set = _active_eval_set(challenge)
    header = {
        "challenge": challenge.slug,
        "base_model": challenge.base_model,
        "eval_set_version": eval_set.version,
        "secret": secret_fingerprint(),
    }
    previous = (
        eval_set.calibration if all(eval_set.calibration.get(k) == v for k, v in header.items()) else {}
    )
    runs = {**_read_record(record_path, header), **previous.get("runs", {})}
    calibration = {**header, "options": asdict(options), "runs": runs, "proposal": None, "applied": False}
    todo = [(kind, seed) for kind, seed in planned_runs(options.seeds) if f"{kind}-{seed}" not in runs]
    if runs:
        say(f"resuming: {', '.join(sorted(runs))} recorded")
    _save(eval_set, calibration, record_path)

    if todo:
        deadline = time.monotonic() + options.timeout
        user = platform_user()
        datasets = reference_datasets(challenge, eval_set, options, deadline=deadline, say=say)
        for kind, seed in todo:
            name, recipe = f"{kind}-{seed}", datasets[kind]
            started = time.monotonic()
            submission = pipeline.submission_submit(
                actor=user,
                challenge_id=challenge.pk,
                kind=Submission.Kind.DATASET,
                dataset=recipe.data,
                hyperparameters={**recipe.hyperparameters, "seed": seed},
            )
            if submission.state == Submission.State.REJECTED:
                raise CalibrationError(f"{name}: rejected: {submission.validation_report['errors'][:3]}")
            say(f"{name}: submission {submission.pk} ({len(recipe.lines)} examples)")
            submission = _finished(submission, name=name, deadline=deadline, say=say)
            runs[name] = run_figures(submission, recipe, seed, time.monotonic() - started)
            say(f"{name}: recorded " + json.dumps(runs[name]["scores"]))
            _save(eval_set, calibration, record_path)

    assumed = assumed_spread(spread_from) if spread_from is not None else None
    calibration["proposal"] = rules.propose(challenge, runs, assumed)
    if spread_from is not None:
        calibration["proposal"]["spread_from"] = str(spread_from)
    if apply and (calibration["proposal"]["ok"] or force):
        with transaction.atomic():
            locked = Challenge.objects.select_for_update().get(pk=challenge.pk)
            for field, value in calibration["proposal"]["proposed"].items():
                setattr(locked, field, value)
            full_clean_or_raise(locked)
            locked.save()
        calibration["applied"] = True
    _save(eval_set, calibration, record_path)
    return calibration
