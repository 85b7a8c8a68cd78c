"""The real SmolLM2-135M-Instruct through the real pipeline (real workers, the sandbox, the engines):
a small good dataset beats the few-shot baseline, the same inputs with wrong labels fail.

Kept as short as the point allows: a few dozen training examples for one epoch, and an eval-set
version with few task items (the general set keeps its 80). Needs the prepared checkpoint
(`make test` prepares it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox import registry
from sandbox.models import Job
from tests.vetting import test_pipeline_support as support
from tests.vetting.test_pipeline_support import finished_submission
from vetting import pipeline
from vetting.challenges import BUILTIN
from vetting.challenges.base import derive_rng
from vetting.challenges.support_ticket_json import CATEGORIES, PRODUCTS, URGENCIES
from vetting.models import Challenge, Submission
from vetting.services.evalsets import challenge_sync_builtin, evalset_generate

# Fixtures (see test_pipeline_support).
pipeline_settings = support.pipeline_settings
start_pipeline_worker = support.start_pipeline_worker
tiny_model_dir = support.tiny_model_dir

pytestmark = [
    pytest.mark.slow,
    pytest.mark.e2e,
    pytest.mark.needs("bwrap", "base-model"),
]

SLUG = "support-ticket-json"
EXAMPLES = 64
# The mislabelled set only has to fail, which it does on its first inputs alone: its training is the
# second-longest step of the suite, so it trains on fewer.
MISLABELLED_EXAMPLES = 24
HYPERPARAMETERS = {
    "rank": 16,
    "alpha": 32,
    "epochs": 1,
    # Micro-batches of 4 keep training within the sandbox's default 8 GB on CPU (8 x ~270 tokens of
    # SmolLM2 activations come close to it); accumulation keeps the effective batch at 8.
    "batch_size": 4,
    "gradient_accumulation": 2,
    "learning_rate": 2e-3,
    "warmup_ratio": 0.1,
    "max_seq_length": 384,
}


@pytest.fixture
def smollm2() -> Path:
    return registry.base_model_dir(registry.DEFAULT_BASE_MODEL)


def wrong(target: dict) -> dict:
    """Every field wrong: the next value of each choice, the refund flipped, another order id."""

    def shift(values: tuple[str, ...], value: str) -> str:
        return values[(values.index(value) + 1) % len(values)]

    order = target["order_id"]
    return {
        "product": shift(PRODUCTS, target["product"]),
        "category": shift(CATEGORIES, target["category"]),
        "urgency": shift(URGENCIES, target["urgency"]),
        "refund_requested": not target["refund_requested"],
        "order_id": None if order else "ORD-10000",
    }


def datasets(challenge: Challenge) -> tuple[bytes, bytes]:
    """(good, mislabelled): the same inputs in the published format, right and wrong targets (the
    mislabelled set on the first MISLABELLED_EXAMPLES of them)."""
    spec = BUILTIN[SLUG]
    rng = derive_rng("test-real-model", SLUG)
    good, bad = [], []
    for _ in range(EXAMPLES):
        text, target = spec.generate(rng)
        for lines, answer in ((good, target), (bad, wrong(target))):
            messages = [
                {"role": "system", "content": challenge.system_prompt},
                {"role": "user", "content": challenge.prompt.user_content(text)},
                {"role": "assistant", "content": spec.metric.render(answer)},
            ]
            lines.append(json.dumps({"messages": messages}))
    bad = bad[:MISLABELLED_EXAMPLES]
    return ("\n".join(good) + "\n").encode(), ("\n".join(bad) + "\n").encode()


def test_a_good_dataset_beats_few_shot_and_a_mislabelled_one_fails(
    smollm2, start_pipeline_worker, engineer_user, pipeline_settings
):
    # A test-only eval-set version: 4 feedback + 16 final items (the general set keeps its 80).
    pipeline_settings.VETTING_MIN_FEEDBACK_ITEMS = 4
    pipeline_settings.VETTING_MIN_FINAL_ITEMS = 16
    pipeline_settings.VETTING_EVAL_BATCH_SIZE = 20
    challenge, _ = challenge_sync_builtin(slug=SLUG)
    # Outputs are at most ~50 tokens; the base model's rambling is cut sooner than at the default 96.
    Challenge.objects.filter(pk=challenge.pk).update(max_new_tokens=64)
    challenge.refresh_from_db()
    evalset_generate(actor=None, challenge_id=challenge.pk)
    # Two workers, as a deployment with two GPUs runs: the two submissions' jobs run side by side (on
    # one CPU thread each in a parallel suite), and they reach evaluation together or nearly so.
    workers = [start_pipeline_worker(VETTING_EVAL_BATCH_SIZE=20) for _ in range(2)]
    good_data, bad_data = datasets(challenge)

    submitted = {}
    for name, data in (("good", good_data), ("mislabelled", bad_data)):
        submission = pipeline.submission_submit(
            actor=engineer_user,
            challenge_id=challenge.pk,
            kind="dataset",
            dataset=data,
            hyperparameters=HYPERPARAMETERS,
        )
        assert submission.state == Submission.State.VALIDATING  # a worker validates it
        submitted[name] = submission
    good = finished_submission(submitted["good"].pk, workers=workers, timeout=3600)
    bad = finished_submission(submitted["mislabelled"].pk, workers=workers, timeout=3600)
    summary = {
        name: {
            "state": s.state,
            "base": s.base_score,
            "few_shot": s.few_shot_score,
            "fine_tuned": s.fine_tuned_score,
            "delta_ci": s.delta_ci,
            "general": [s.general_base_score, s.general_fine_tuned_score],
            "failure": s.failure_message,
            "jobs": list(
                Job.objects.filter(pk__in=s.job_ids.values()).values_list(
                    "pk", "state", "failure_reason", "failure_message", "peak_memory_mb"
                )
            ),
        }
        for name, s in (("good", good), ("mislabelled", bad))
    }
    ran = Job.objects.exclude(started_at=None).exclude(finished_at=None).order_by("pk")
    start = min(job.started_at for job in ran)
    summary["job_seconds"] = {  # every job of the run (baselines included): [start, end] in seconds
        f"{job.pk} {job.kind} {job.spec.get('vetting_baseline', '')}".strip(): [
            round((job.started_at - start).total_seconds()),
            round((job.finished_at - start).total_seconds()),
        ]
        for job in ran
    }
    print(json.dumps(summary, indent=1, default=str))  # the figures, shown with -s or on failure
    assert good.state in (Submission.State.PASSED, Submission.State.FAILED), summary
    assert bad.state == Submission.State.FAILED, summary
    assert good.fine_tuned_score > good.few_shot_score, summary
    assert bad.fine_tuned_score < good.fine_tuned_score, summary
    assert bad.verdict["reasons"], summary
    # The base model's figures were computed once, for both.
    assert (good.few_shot_score, good.base_score) == (bad.few_shot_score, bad.base_score)
    assert Job.objects.filter(kind=Job.Kind.EVALUATE).count() == 3  # the base model once, each adapter once
