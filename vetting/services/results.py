"""Scoring an evaluated submission: the figures (bootstrap intervals, computed before any row lock),
the verdict, the Ladder release of the feedback figure, and a badge on a pass."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from core.errors import (
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)
from core.transitions import transition_apply
from marketplace.models import User
from vetting import ladder, scoring, verdict
from vetting.challenges import GENERAL_METRIC, Split
from vetting.datasets import (
    approximate_token_counter,
)
from vetting.models import (
    EvalBaseline,
    EvalSetVersion,
    Submission,
)
from vetting.selectors import best_released_feedback
from vetting.services.badges import badge_award
from vetting.services.submissions import submission_locked, submission_overlapping_items

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


@dataclass(frozen=True)
class _Scored:
    """A submission's figures, computed from its generations before any row is locked."""

    figures: dict[str, Any]
    general_base: float
    general_after: float
    forgetting_ratio: float
    general_delta_ci: list[float]
    cost: dict[str, Any]
    decision: dict[str, Any]


def _require_evaluating(submission: Submission) -> None:
    if submission.state != Submission.State.EVALUATING:
        raise InvalidTransitionError(
            f"Cannot record results: the submission is {submission.state}.",
            details={"state": submission.state},
        )


@sensitive_variables()
def _score(
    submission: Submission, generations: Mapping[str, Sequence[Mapping[str, Any]]], cost: Mapping[str, Any]
) -> _Scored:
    """Score the generations against the hidden targets: per-split figures with their bootstrap
    intervals, the general-set change, the cost and the verdict. Stores the base model's baselines the
    first time they are given (they do not depend on the submission); locks nothing."""
    overlapping = submission_overlapping_items(submission)
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
            keys, overlapping, tuned, baselines["few_shot"].item_scores, baselines["zero_shot"].item_scores
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
    final = figures[Split.FINAL]
    decision = verdict.decide(
        final_score=final["fine_tuned"],
        delta_ci=tuple(final["delta_ci"]),
        forgetting_ratio=ratio,
        general_delta_ci=tuple(general_delta_ci),
        budget=_budget_use(submission, cost),
        rules=challenge.pass_rules,
    )
    return _Scored(
        figures=figures,
        general_base=general_base,
        general_after=general_after,
        forgetting_ratio=ratio,
        general_delta_ci=general_delta_ci,
        cost={
            "trained_tokens": cost.get("trained_tokens"),
            "device_seconds": cost.get("device_seconds"),
            "trainable_params": cost.get("trainable_params"),
            "adapter_bytes": cost.get("adapter_bytes"),
            "prompt_tokens_saved_per_call": saved,
        },
        decision=decision,
    )


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

    The scoring (bootstrap intervals included) runs first, without locks; the rows are locked only to
    check the state again, release the feedback figure on the Ladder and record the outcome.
    """
    submission = Submission.objects.select_related("challenge", "eval_set").filter(pk=submission_id).first()
    if submission is None:
        raise NotFoundError("Submission not found.")
    _require_evaluating(submission)
    scored = _score(submission, generations, cost)
    with transaction.atomic():
        submission = submission_locked(submission_id)
        _require_evaluating(submission)
        # Serialises the Ladder per engineer (two results at once must not both release).
        User.objects.select_for_update().filter(pk=submission.engineer_id).first()
        figures, final = scored.figures, scored.figures[Split.FINAL]
        feedback_score = figures[Split.FEEDBACK]["fine_tuned"]
        margin = ladder.margin_for(figures[Split.FEEDBACK]["items"], settings.VETTING_LADDER_MARGIN)
        best = best_released_feedback(
            engineer=submission.engineer, eval_set=submission.eval_set, exclude_id=submission.pk
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
        submission.general_base_score = scored.general_base
        submission.general_fine_tuned_score = scored.general_after
        submission.forgetting_ratio = scored.forgetting_ratio
        submission.general_delta_ci = scored.general_delta_ci
        submission.figures = figures
        submission.cost = scored.cost
        submission.verdict = scored.decision
        submission.band = scored.decision["band"] or ""
        transition_apply(
            instance=submission, transition="start_scoring", actor=None, timeline_key=submission.timeline_key
        )
        transition_apply(
            instance=submission,
            transition="record_pass" if scored.decision["passed"] else "record_fail",
            actor=None,
            timeline_key=submission.timeline_key,
            now=timezone.now(),
        )
        if scored.decision["passed"] and submission.engineer.is_engineer:
            badge_award(submission)
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
