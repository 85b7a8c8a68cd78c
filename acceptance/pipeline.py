"""An acceptance run: a delivered adapter through three sandbox evaluations to a pass or a fail.

    queued  -> `run_advance` starts the evaluate jobs (owned by nobody: no page or API shows them to
               the engineer, and the private items are only in their prompts files):
                 base          the base model zero-shot and few-shot (the public sample as earlier
                               turns) on the private items: shared by every run on the same items
                 general_base  the base model on the platform's general set: shared by every run on
                               that base model, whatever its test
                 delivered     the base model with the adapter on the private items and the general
                               set, in one job (the model loaded once)
    running -> once every job has finished, the scores (95% bootstrap intervals, the paired difference
               against few-shot, the general ratio) and the verdict against the terms: passed/failed.
               A job that failed makes the run `errored`, naming the step, never quoting output.

Chaining is the vetting pipeline's: the run is advanced when a job it waits on finishes (django-fsm's
`post_transition` on Job, sent after commit), and by a periodic sweep for lost messages. Advancing
locks the run row, so running it twice does nothing more than once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from django_fsm.signals import post_transition

from acceptance import baselines
from acceptance.dispatch import send_on_commit
from acceptance.metrics import METRICS
from acceptance.models import (
    AcceptanceItem,
    AcceptanceRun,
    AcceptanceRunJob,
    AcceptanceTest,
    PromptingBaseline,
)
from core.transitions import transition_apply
from marketplace.services.engagements import milestone_set_auto_approval
from marketplace.services.notifications import notify
from sandbox import registry
from sandbox import services as sandbox_services
from sandbox.models import Job
from vetting.challenges import GENERAL_METRIC, GENERAL_SIZE, generate_general
from vetting.challenges.base import derive_rng
from vetting.challenges.general import GENERAL_MAX_NEW_TOKENS
from vetting.conf import secret_seed
from vetting.pipeline import (
    ID_SEPARATOR,
    evaluate_job,
    generations_path,
    job_seconds,
    read_generations,
    remove_job_inputs,
)
from vetting.scoring import bootstrap_ci, forgetting_ratio, general_messages, mean, paired_difference_ci

logger = logging.getLogger(__name__)

TRAIN = "train"  # a training delivery's job, before the evaluations
# The evaluations' roles; each is also the configuration its job's prompts are tagged with (the delivered
# model's job also answers the general set as GENERAL_DELIVERED).
BASE, DELIVERED, GENERAL_BASE, GENERAL_DELIVERED = "base", "delivered", "general_base", "general_delivered"
ROLES = (BASE, GENERAL_BASE, DELIVERED)
# Runs that started when the delivered model's general set had a job of its own finish on those four.
EARLIER_ROLES = (BASE, DELIVERED, GENERAL_BASE, GENERAL_DELIVERED)
# States in which a run waits on its jobs (training, then the evaluations).
WAITING_STATES = (AcceptanceRun.State.TRAINING, AcceptanceRun.State.RUNNING)
STEP_NAMES = {
    BASE: "the base model's evaluation",
    DELIVERED: "the delivered model's evaluation",
    GENERAL_BASE: "the base model's general-knowledge check",
    GENERAL_DELIVERED: "the delivered model's general-knowledge check",
}
# Generation room for an answer: the longest target's characters / 3 (English runs near 4 per token),
# with a margin, within these bounds.
MIN_NEW_TOKENS, MAX_NEW_TOKENS = 16, 512


def adapters_dir() -> Path:
    """Delivered adapters, one folder each (private)."""
    return Path(settings.ACCEPTANCE_ADAPTERS_DIR or Path(settings.MEDIA_ROOT) / "acceptance" / "adapters")


def datasets_dir() -> Path:
    """Delivered training sets (private), next to the adapters."""
    return adapters_dir().parent / "datasets"


def remove_orphan_uploads(*, older_than_seconds: int = 3600) -> int:
    """Adapters and training sets no run refers to (their delivery was refused or rolled back after
    they were written) are deleted once this old; returns how many."""
    referenced = set(AcceptanceRun.objects.exclude(adapter_dir="").values_list("adapter_dir", flat=True))
    referenced |= set(AcceptanceRun.objects.exclude(dataset_path="").values_list("dataset_path", flat=True))
    cutoff = time.time() - older_than_seconds
    removed = 0
    for folder in (adapters_dir(), datasets_dir()):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if str(path) in referenced or path.lstat().st_mtime > cutoff:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed += 1
    return removed


def timeline_key(run: AcceptanceRun) -> str:
    return f"acceptance-run:{run.pk}"


# --- chaining -----------------------------------------------------------------------------------


def enqueue_advance(run_id: int) -> None:
    send_on_commit("acceptance_run_advance", run_id)


@receiver(post_transition, sender=Job, dispatch_uid="acceptance.pipeline.job_finished")
def _job_transitioned(sender, instance: Job, name: str, source: str, target: str, **kwargs) -> None:
    if target not in Job.FINISHED_STATES:
        return
    job_id = instance.pk
    # Only jobs a run or a baseline waits on are announced (the links were committed with the job).
    runs = AcceptanceRunJob.objects.filter(job_id=job_id, run__state__in=WAITING_STATES)
    run_ids = list(runs.values_list("run_id", flat=True))
    waiting_baselines = PromptingBaseline.objects.filter(job_id=job_id, state=PromptingBaseline.State.RUNNING)
    baseline_ids = list(waiting_baselines.values_list("pk", flat=True))
    for run_id in run_ids:
        enqueue_advance(run_id)
    for baseline_id in baseline_ids:
        baselines.enqueue_advance(baseline_id)
    if run_ids or baseline_ids:
        transaction.on_commit(lambda: remove_job_inputs(job_id))


def runs_sweep() -> int:
    """Advance every unfinished run and prompting baseline (the safety net under the job hook);
    returns how many runs moved."""
    unfinished = (PromptingBaseline.State.QUEUED, PromptingBaseline.State.RUNNING)
    for baseline_id in PromptingBaseline.objects.filter(state__in=unfinished).values_list("pk", flat=True):
        try:
            baselines.baseline_advance(baseline_id=baseline_id)
        except Exception:
            logger.exception(
                "Prompting baseline %s: advancing failed; retried at the next sweep.", baseline_id
            )
    moved = 0
    unfinished = (AcceptanceRun.State.QUEUED, *WAITING_STATES)
    for run_id in AcceptanceRun.objects.filter(state__in=unfinished).values_list("pk", flat=True):
        try:
            before = AcceptanceRun.objects.values_list("state", flat=True).get(pk=run_id)
            run_advance(run_id=run_id)
            moved += AcceptanceRun.objects.values_list("state", flat=True).get(pk=run_id) != before
        except Exception:
            logger.exception("Acceptance run %s: advancing failed; retried at the next sweep.", run_id)
    remove_orphan_uploads()
    return moved


def run_advance(*, run_id: int) -> str:
    """Take the run's next step if what it waits on is done. Idempotent; returns what it did."""
    with transaction.atomic():
        run = (
            AcceptanceRun.objects.select_for_update(of=("self",))
            .select_related("test", "delivery__milestone__engagement")
            .filter(pk=run_id)
            .first()
        )
        if run is None:
            return "missing"
        if run.state == AcceptanceRun.State.QUEUED and run.dataset_path:
            return _start_training(run)
        if run.state == AcceptanceRun.State.QUEUED:
            return _start(run, Path(run.adapter_dir))
        if run.state == AcceptanceRun.State.TRAINING:
            return _after_training(run)
        if run.state == AcceptanceRun.State.RUNNING:
            return _after_jobs(run)
        return f"nothing to do ({run.state})"


# --- the jobs -----------------------------------------------------------------------------------


def max_new_tokens(test: AcceptanceTest, items: Sequence[AcceptanceItem]) -> int:
    metric = METRICS[test.metric]
    longest = max((len(metric.render(item.target)) for item in items), default=0)
    return max(MIN_NEW_TOKENS, min(MAX_NEW_TOKENS, math.ceil(longest / 3) + 8))


def few_shot_messages(
    test: AcceptanceTest, sample: Sequence[AcceptanceItem], messages: list[dict[str, str]]
) -> list[dict[str, str]]:
    """The item's turns with the public sample before them, as earlier exchanges (a system message
    stays first)."""
    metric = METRICS[test.metric]
    system = messages[:1] if messages and messages[0]["role"] == "system" else []
    shots: list[dict[str, str]] = []
    for item in sample:
        turns = [turn for turn in item.messages if turn["role"] != "system"]
        shots += [*turns, {"role": "assistant", "content": metric.render(item.target)}]
    return [*system, *shots, *messages[len(system) :]]


def general_items() -> list[tuple[str, Any]]:
    """The platform's general set for acceptance runs: generated from the secret seed, never shown."""
    return generate_general(derive_rng("acceptance-general", secret_seed()), GENERAL_SIZE)


def _prompt(config: str, key: Any, messages: list[dict[str, str]], room: int) -> dict[str, Any]:
    return {"id": f"{config}{ID_SEPARATOR}{key}", "messages": messages, "max_new_tokens": room}


def _start_training(run: AcceptanceRun) -> str:
    """A training delivery: one train job on the engineer's dataset and the base model only (it is the
    engineer's: they may watch it; it never sees an item of the test), within the terms' minutes."""
    test = run.test
    try:
        base_dir = registry.base_model_dir(test.base_model)
    except registry.BaseModelError:
        return _error(run, f"The base model {test.base_model} is not available on the platform.")
    if not Path(run.dataset_path).is_file():
        return _error(run, "The delivered training set is missing on the platform.")
    job = sandbox_services.job_create(
        kind=Job.Kind.TRAIN,
        owner=run.delivery.milestone.engagement.engineer,
        spec={
            "base_model_dir": str(base_dir),
            "dataset_path": run.dataset_path,
            "hyperparameters": run.hyperparameters,
        },
        wall_seconds=min(
            test.training_budget_minutes * 60 + settings.VETTING_TRAIN_STARTUP_SECONDS,
            settings.SANDBOX_MAX_WALL_SECONDS,
        ),
        memory_mb=settings.VETTING_TRAIN_MEMORY_MB,
    )
    AcceptanceRunJob.objects.create(run=run, job=job, role=TRAIN)
    transition_apply(
        instance=run,
        transition="start_training",
        actor=None,
        timeline_key=timeline_key(run),
        now=timezone.now(),
    )
    return f"training (job {job.pk})"


TRAIN_FAILURES = {
    Job.FailureReason.TIMEOUT: "Training ran past the terms' budget of {minutes} minutes.",
    Job.FailureReason.OUT_OF_MEMORY: "Training ran out of memory.",
}


def _after_training(run: AcceptanceRun) -> str:
    job = run.job_links.select_related("job").get(role=TRAIN).job
    if not job.is_finished:
        return "waiting"
    if job.state != Job.State.SUCCEEDED:
        template = TRAIN_FAILURES.get(job.failure_reason)
        reason = (job.get_failure_reason_display() or job.get_state_display()).lower()
        message = (
            template.format(minutes=run.test.training_budget_minutes)
            if template
            else f"Training did not finish ({reason})."
        )
        return _error(run, message)
    adapter_dir = sandbox_services.job_output_dir(job) / "adapter"
    if not adapter_dir.is_dir():
        return _error(run, "Training finished without an adapter.")
    run.adapter = {
        "rank": run.hyperparameters.get("rank"),
        "trainable_params": job.metrics.get("trainable_parameters"),
        "adapter_bytes": job.metrics.get("adapter_bytes"),
        "trained_tokens": job.metrics.get("trained_tokens"),
    }
    return _start(run, adapter_dir)


@sensitive_variables()
def _start(run: AcceptanceRun, adapter_dir: Path) -> str:
    test = run.test
    try:
        base_dir = registry.base_model_dir(test.base_model)
    except registry.BaseModelError:
        return _error(run, f"The base model {test.base_model} is not available on the platform.")
    items = list(test.items.all())
    private = [item for item in items if not item.is_public]
    sample = [item for item in items if item.is_public]
    room = max_new_tokens(test, items)
    questions = [general_messages(question) for question, _ in general_items()]

    def general(config: str) -> list[dict[str, Any]]:
        return [
            _prompt(config, index, messages, GENERAL_MAX_NEW_TOKENS)
            for index, messages in enumerate(questions)
        ]

    base_prompts = [
        *(_prompt(BASE, item.position, item.messages, room) for item in private),
        *(
            _prompt("few_shot", item.position, few_shot_messages(test, sample, item.messages), room)
            for item in private
        ),
    ]
    delivered_prompts = [
        *(_prompt(DELIVERED, item.position, item.messages, room) for item in private),
        *general(GENERAL_DELIVERED),
    ]
    jobs = {
        # What the base model does depends on the prompts and the model only: one job serves every run
        # that needs the same (its items: a re-delivery, or another test on the same items and model;
        # the general set: every run on the model). The general set stays a job of its own for that.
        BASE: _shared_job(base_dir=base_dir, prompts=base_prompts, max_new_tokens=room),
        GENERAL_BASE: _shared_job(
            base_dir=base_dir, prompts=general(GENERAL_BASE), max_new_tokens=GENERAL_MAX_NEW_TOKENS
        ),
        DELIVERED: evaluate_job(
            base_dir=base_dir, adapter_dir=adapter_dir, prompts=delivered_prompts, max_new_tokens=room
        ),
    }
    AcceptanceRunJob.objects.bulk_create(
        AcceptanceRunJob(run=run, job=job, role=role) for role, job in jobs.items()
    )
    transition_apply(
        instance=run,
        transition="start",
        actor=None,
        timeline_key=timeline_key(run),
        now=timezone.now(),
        adapter_dir=str(adapter_dir),
    )
    return "running (jobs " + ", ".join(str(job.pk) for job in jobs.values()) + ")"


@sensitive_variables()
def _shared_job(*, base_dir: Path, prompts: list[dict[str, Any]], max_new_tokens: int) -> Job:
    """The base model's evaluation of exactly these prompts: one queued, running, or finished with its
    generations still stored is reused; else a new one."""
    digest = hashlib.sha256(
        json.dumps([str(base_dir), max_new_tokens, prompts], sort_keys=True).encode()
    ).hexdigest()
    key = f"acceptance:{digest}"
    existing = (
        Job.objects.filter(kind=Job.Kind.EVALUATE, owner=None, spec__vetting_baseline=key)
        .exclude(state__in=(Job.State.FAILED, Job.State.CANCELLED))
        .order_by("-pk")
        .first()
    )
    if existing is not None and (not existing.is_finished or generations_path(existing).is_file()):
        return existing
    return evaluate_job(
        base_dir=base_dir, adapter_dir=None, prompts=prompts, max_new_tokens=max_new_tokens, baseline_key=key
    )


def _error(run: AcceptanceRun, message: str) -> str:
    transition_apply(
        instance=run,
        transition="error",
        actor=None,
        timeline_key=timeline_key(run),
        message=message,
        now=timezone.now(),
    )
    milestone_set_auto_approval(milestone_id=run.delivery.milestone_id, at=None)
    _tell_parties(
        run, f"The acceptance test of “{run.delivery.milestone.title}” could not be completed: {message}"
    )
    return f"errored: {message}"


def _jobs(run: AcceptanceRun) -> dict[str, Job]:
    """The run's evaluations by role (a training delivery's train job aside)."""
    return {link.role: link.job for link in run.job_links.select_related("job") if link.role != TRAIN}


def _after_jobs(run: AcceptanceRun) -> str:
    jobs = _jobs(run)
    if set(jobs) not in (set(ROLES), set(EARLIER_ROLES)):
        return _error(run, "Its evaluations were not all started; the platform will look into it.")
    if not all(job.is_finished for job in jobs.values()):
        return "waiting"
    for role in EARLIER_ROLES:
        job = jobs.get(role)
        if job is None:
            continue
        if job.state != Job.State.SUCCEEDED:
            reason = job.get_failure_reason_display() or job.get_state_display()
            return _error(run, f"{STEP_NAMES[role].capitalize()} did not finish ({reason.lower()}).")
    outputs = {
        config: {record["id"]: record for record in records}
        for job in jobs.values()
        for config, records in read_generations(job).items()
    }
    test = run.test
    private = list(test.items.filter(is_public=False))
    general = general_items()
    expected = {"base": private, "few_shot": private, "delivered": private}
    expected |= {GENERAL_BASE: general, GENERAL_DELIVERED: general}
    if any(len(outputs.get(config, {})) < len(items) for config, items in expected.items()):
        return _error(run, "An evaluation returned incomplete results.")
    figures = score(test=test, private=private, outputs=outputs, general=general)
    run.scores, run.outcomes, run.reasons = figures["scores"], figures["outcomes"], figures["reasons"]
    run.cost = cost({link.role: link.job for link in run.job_links.select_related("job")})
    now = timezone.now()
    passed = not run.reasons
    transition_apply(
        instance=run,
        transition="record_pass" if passed else "record_fail",
        actor=None,
        timeline_key=timeline_key(run),
        now=now,
    )
    milestone = run.delivery.milestone
    delivered = run.scores["delivered"]
    if passed:
        days = settings.ACCEPTANCE_AUTO_APPROVE_DAYS
        milestone_set_auto_approval(milestone_id=milestone.pk, at=now + timedelta(days=days))
        _tell_parties(
            run,
            f"“{milestone.title}” passed its acceptance test: {delivered:.2f} against a pass mark of {test.pass_mark:.2f}.",
        )
    else:
        milestone_set_auto_approval(milestone_id=milestone.pk, at=None)  # the client decides
        _tell_parties(run, f"“{milestone.title}” did not pass its acceptance test: {run.reasons[0]}")
    return run.state


# --- scoring ------------------------------------------------------------------------------------


def score(
    *,
    test: AcceptanceTest,
    private: Sequence[AcceptanceItem],
    outputs: Mapping[str, Mapping[str, Mapping[str, Any]]],
    general: Sequence[tuple[str, Any]],
) -> dict[str, Any]:
    """Scores, per-item outcomes and the reasons the run fails (none: it passes). Pure."""
    metric = METRICS[test.metric]
    resamples, seed = settings.VETTING_BOOTSTRAP_RESAMPLES, settings.VETTING_BOOTSTRAP_SEED
    per_config: dict[str, list[float]] = {}
    for config in ("base", "few_shot", "delivered"):
        per_config[config] = [
            metric.score(str(outputs[config][str(item.position)]["output"]), item.target) for item in private
        ]
    general_scores = {
        config: [
            GENERAL_METRIC.score(str(outputs_for[str(index)]["output"]), target)
            for index, (_, target) in enumerate(general)
        ]
        for config, outputs_for in (
            (GENERAL_BASE, outputs[GENERAL_BASE]),
            (GENERAL_DELIVERED, outputs[GENERAL_DELIVERED]),
        )
    }
    general_base, general_delivered = (
        mean(general_scores[GENERAL_BASE]),
        mean(general_scores[GENERAL_DELIVERED]),
    )
    delivered = mean(per_config["delivered"])
    ratio = forgetting_ratio(general_base, general_delivered)
    scores = {
        "base": round(mean(per_config["base"]), 4),
        "few_shot": round(mean(per_config["few_shot"]), 4),
        "delivered": round(delivered, 4),
        "delivered_ci": list(bootstrap_ci(per_config["delivered"], seed=seed, resamples=resamples)),
        "delta_vs_few_shot_ci": list(
            paired_difference_ci(
                per_config["delivered"], per_config["few_shot"], seed=seed, resamples=resamples
            )
        ),
        "general_base": round(general_base, 4),
        "general_delivered": round(general_delivered, 4),
        "forgetting_ratio": ratio,
    }
    reasons = []
    if delivered < test.pass_mark:
        reasons.append(
            f"The delivered model scores {delivered:.2f}, below the pass mark of {test.pass_mark:.2f}."
        )
    if ratio < test.forgetting_floor:
        reasons.append(
            f"It keeps {ratio:.2f} of the base model's general score, below the floor of {test.forgetting_floor:.2f}."
        )
    outcomes = [
        {
            "position": item.position,
            "base": per_config["base"][index],
            "few_shot": per_config["few_shot"][index],
            "delivered": per_config["delivered"][index],
            # Models generate anything; PostgreSQL's JSON cannot hold a NUL character.
            "output": str(outputs["delivered"][str(item.position)]["output"]).replace("\x00", "")[:2000],
        }
        for index, item in enumerate(private)
    ]
    return {"scores": scores, "outcomes": outcomes, "reasons": reasons}


def cost(jobs: Mapping[str, Job]) -> dict[str, Any]:
    """Device seconds and tokens of every job of the run (training, where the platform trained)."""
    tokens = sum(
        int((job.metrics or {}).get(key) or 0)
        for job in jobs.values()
        for key in ("prompt_tokens", "output_tokens", "trained_tokens")
    )
    return {
        "device_seconds": round(sum(job_seconds(job) for job in jobs.values()), 1),
        "tokens": tokens,
        "device": sorted({job.device for job in jobs.values() if job.device}),
    }


def _tell_parties(run: AcceptanceRun, message: str) -> None:
    milestone = run.delivery.milestone
    url = reverse("acceptance:terms", args=[milestone.pk]) + "#runs"
    for user in (milestone.engagement.client, milestone.engagement.engineer):
        notify(user=user, kind=f"acceptance_{run.state}", message=message, url=url)
