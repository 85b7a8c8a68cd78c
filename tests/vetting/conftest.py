"""Vetting fixtures: the built-in challenges seeded with a test secret, datasets and generations."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from sandbox.models import Job
from vetting.challenges import BUILTIN, GENERAL_METRIC
from vetting.challenges.base import derive_rng
from vetting.models import Challenge, EvalSetVersion, Submission

TEST_SEED = "test-secret-seed"


@pytest.fixture(autouse=True)
def _vetting_settings(settings):
    settings.VETTING_SECRET_SEED = TEST_SEED
    settings.VETTING_BOOTSTRAP_RESAMPLES = 500


@pytest.fixture(scope="session")
def _hidden_items_once():
    """The built-in challenges' hidden items, generated once per test process for each (spec, secret,
    version, sizes): a pure function of those, and half the cost of seeding the challenges, which some
    hundred tests do. The first call for each runs the real generator."""
    from vetting.challenges import hidden_items

    return cache(hidden_items)


@pytest.fixture(autouse=True)
def _generate_once(monkeypatch, _hidden_items_once):
    monkeypatch.setattr("vetting.services.evalsets.hidden_items", _hidden_items_once)


@pytest.fixture
def pipeline_entry(monkeypatch) -> list[int]:
    """For page and API tests: the pipeline's entry point runs for real, except that it counts tokens
    approximately (no base model is prepared there) and records the submissions it would advance
    instead of training them. Returns those submission ids."""
    from vetting.datasets import approximate_token_counter

    advanced: list[int] = []
    monkeypatch.setattr("vetting.pipeline.token_counter", lambda base_model: approximate_token_counter)
    monkeypatch.setattr("vetting.pipeline.enqueue_advance", advanced.append)
    return advanced


@pytest.fixture
def seeded(db) -> dict[str, Challenge]:
    from vetting.services.evalsets import challenge_sync_builtin, evalset_generate

    challenges = {}
    for slug in BUILTIN:
        challenge, _ = challenge_sync_builtin(slug=slug)
        evalset_generate(actor=None, challenge_id=challenge.pk)
        challenges[slug] = challenge
    return challenges


@pytest.fixture
def ticket(seeded) -> Challenge:
    return seeded["support-ticket-json"]


def chat_line(system: str | None, user: str, assistant: str) -> str:
    messages = [{"role": "system", "content": system}] if system is not None else []
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return json.dumps({"messages": messages})


def task_dataset(challenge: Challenge, count: int, *, seed: str = "training-data") -> bytes:
    """`count` correct task examples in the published format, from a seed space of their own."""
    spec = BUILTIN[challenge.slug]
    rng = derive_rng(seed, challenge.slug)
    lines = []
    for _ in range(count):
        text, target = spec.generate(rng)
        lines.append(
            chat_line(
                challenge.system_prompt, challenge.prompt.user_content(text), spec.metric.render(target)
            )
        )
    return ("\n".join(lines) + "\n").encode()


def generations(
    eval_set: EvalSetVersion,
    *,
    general: bool = False,
    right: Callable[[int], bool] = lambda i: True,
    prompt_tokens: int = 300,
) -> list[dict[str, Any]]:
    """Engine-like records for every task (or general) item: the right output where `right(index)`."""
    splits = ["general"] if general else ["feedback", "final"]
    metric = GENERAL_METRIC if general else eval_set.challenge.metric_obj
    items = eval_set.items.filter(split__in=splits).order_by("position")
    return [
        {
            "id": item.key,
            "output": metric.render(item.target) if right(index) else "I cannot help with that.",
            "prompt_tokens": prompt_tokens,
        }
        for index, item in enumerate(items)
    ]


def fraction(share: float) -> Callable[[int], bool]:
    """Right on `share` of the items, spread evenly."""
    return lambda index: int((index + 1) * share) > int(index * share)


def evaluated_submission(challenge: Challenge, engineer) -> Submission:
    """A dataset submission driven through the services to `evaluating`."""
    from vetting.services.submissions import (
        submission_create,
        submission_start_evaluation,
        submission_start_training,
    )

    submission = submission_create(
        actor=engineer,
        challenge_id=challenge.pk,
        kind="dataset",
        dataset=task_dataset(challenge, 40),
        hyperparameters={"rank": 8, "epochs": 2},
    )
    assert submission.state == Submission.State.QUEUED, submission.validation_report["errors"]
    submission_start_training(submission_id=submission.pk, job_id=sandbox_job("train").pk)
    return submission_start_evaluation(submission_id=submission.pk, job_ids={"evaluate": sandbox_job().pk})


GOOD_COST = {
    "trained_tokens": 24000,
    "device_seconds": 120.0,
    "trainable_params": 460000,
    "adapter_bytes": 1840000,
}


def scored(challenge, engineer, *, general_after: float = 1.0) -> Submission:
    """A dataset submission with results recorded: feedback split 0.5, final split 0.83."""
    from vetting.services.results import submission_record_results

    submission = evaluated_submission(challenge, engineer)
    eval_set = submission.eval_set
    submission_record_results(
        submission_id=submission.pk,
        generations={
            "fine_tuned": generations(
                eval_set, right=lambda i: i % 2 == 0 if i < 100 else (i - 100) % 6 != 0
            ),
            "few_shot": generations(eval_set, right=fraction(0.3)),
            "zero_shot": generations(eval_set, right=fraction(0.0)),
            "general_base": generations(eval_set, general=True),
            "general_fine_tuned": generations(eval_set, general=True, right=fraction(general_after)),
        },
        cost=GOOD_COST,
    )
    submission.refresh_from_db()
    return submission


def sandbox_job(kind: str = "evaluate", owner=None) -> Job:
    """A job row for a submission to link to, where no engine needs to run."""
    return Job.objects.create(
        kind=kind, owner=owner, spec={}, wall_seconds=600, memory_mb=1024, output_mb=64, max_attempts=1
    )
