"""Scoring: the prompts the evaluation engine generates from, item scores, bootstrap intervals, forgetting.

Every configuration (base zero-shot, base few-shot, fine-tuned zero-shot) is scored on the same items,
so the fine-tuned model's gain over few-shot prompting is measured per item and its interval comes
from a paired bootstrap: one resampling of items applied to both configurations. Intervals are
percentile intervals over seeded resamples, so the same scores and seed give the same interval.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from vetting.challenges.base import Metric, PublishedPrompt

Messages = list[dict[str, str]]


def zero_shot_messages(prompt: PublishedPrompt, text: str) -> Messages:
    """The published evaluation prompt with one input: what the fine-tuned model and the baseline get."""
    messages = [{"role": "system", "content": prompt.system}] if prompt.system else []
    return [*messages, {"role": "user", "content": prompt.user_content(text)}]


def few_shot_messages(prompt: PublishedPrompt, examples: Sequence[Mapping[str, str]], text: str) -> Messages:
    """The published prompt with the public examples as earlier turns: the "have you tried prompting?"
    baseline."""
    messages = [{"role": "system", "content": prompt.system}] if prompt.system else []
    for example in examples:
        messages.append({"role": "user", "content": prompt.user_content(example["input"])})
        messages.append({"role": "assistant", "content": example["output"]})
    return [*messages, {"role": "user", "content": prompt.user_content(text)}]


def general_messages(question: str) -> Messages:
    """A general-set question as a user would ask it: a bare user turn."""
    return [{"role": "user", "content": question}]


def prompt_tokens_saved_per_call(
    prompt: PublishedPrompt,
    examples: Sequence[Mapping[str, str]],
    inputs: Iterable[str],
    count_tokens: Callable[[Messages], int],
) -> float:
    """Mean prompt tokens of the few-shot prompt minus the zero-shot prompt, over the given inputs."""
    differences = [
        count_tokens(few_shot_messages(prompt, examples, text))
        - count_tokens(zero_shot_messages(prompt, text))
        for text in inputs
    ]
    return round(sum(differences) / len(differences), 1) if differences else 0.0


def score_outputs(metric: Metric, targets: Mapping[str, Any], outputs: Mapping[str, str]) -> dict[str, float]:
    """Each item's score; an item without an output scores 0 (the caller checks completeness)."""
    return {key: metric.score(outputs.get(key, ""), target) for key, target in targets.items()}


def mean(values: Iterable[float]) -> float:
    values = list(values)
    if not values:
        raise ValueError("the mean of no values")
    return sum(values) / len(values)


def bootstrap_ci(
    values: Sequence[float], *, seed: int, resamples: int = 2000, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    if not values:
        raise ValueError("a bootstrap interval of no values")
    rng = random.Random(seed)  # noqa: S311 - reproducibility, not secrecy
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    tail = (1 - confidence) / 2
    low = means[max(0, math.floor(tail * resamples))]
    high = means[min(resamples - 1, math.ceil((1 - tail) * resamples) - 1)]
    return round(low, 4), round(high, 4)


def paired_difference_ci(
    values: Sequence[float],
    baseline: Sequence[float],
    *,
    seed: int,
    resamples: int = 2000,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Bootstrap interval of mean(values - baseline) over the same items (the same resampled indices)."""
    if len(values) != len(baseline):
        raise ValueError("paired scores must cover the same items")
    differences = [a - b for a, b in zip(values, baseline, strict=True)]
    return bootstrap_ci(differences, seed=seed, resamples=resamples, confidence=confidence)


def forgetting_ratio(before: float, after: float) -> float:
    """General score after tuning / before. A base model scoring 0 has nothing to lose: ratio 1."""
    if before <= 0:
        return 1.0
    return round(after / before, 4)
