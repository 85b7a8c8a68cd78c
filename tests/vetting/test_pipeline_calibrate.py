"""`manage.py vetting_calibrate`: the rules it proposes from two reference runs, its datasets, and a
whole run (inline, the real sandbox, the tiny model) recorded on the eval-set version."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from tests.vetting import test_pipeline_support as support
from tests.vetting.test_pipeline_support import make_tiny_challenge
from vetting.challenges.base import derive_rng
from vetting.challenges.general import generate_general
from vetting.management.commands.vetting_calibrate import Command, distill_prompts, round_down
from vetting.models import Challenge, Submission
from vetting.text import normalize_text

# Fixtures (see test_pipeline_support).
pipeline_settings = support.pipeline_settings
tiny_model_dir = support.tiny_model_dir

BUDGET = {"examples": {"used": 200, "limit": 2000}, "epochs": {"used": 1, "limit": 5}}


def run_figures(fine_tuned: float, low: float, delta_low: float, ratio: float) -> dict:
    return {
        "scores": {
            "fine_tuned": fine_tuned,
            "fine_tuned_ci": [low, min(1.0, fine_tuned + 0.05)],
            "delta_vs_few_shot_ci": [delta_low, delta_low + 0.2],
            "forgetting_ratio": ratio,
        },
        "budget": BUDGET,
    }


def challenge_stub() -> Challenge:
    return Challenge(pass_threshold=0.8, forgetting_min_ratio=0.95, band_strong=0.9, band_exceptional=0.96)


def test_the_design_figures_give_a_gate_between_the_runs(settings):
    # DESIGN section 7's measurements: naive 0.97 task, general 0.84 -> 0.28; careful 0.87, kept 0.64.
    runs = {
        "naive": run_figures(0.97, 0.94, 0.6, round(0.28 / 0.84, 4)),
        "careful": run_figures(0.87, 0.82, 0.5, round(0.64 / 0.84, 4)),
    }
    proposal = Command._propose(challenge_stub(), runs)
    assert proposal["proposed"] == {
        "pass_threshold": 0.8,
        "forgetting_min_ratio": 0.71,  # 0.7619 kept by the careful run, less 0.05, rounded down
        "band_strong": 0.9,
        "band_exceptional": 0.96,
    }
    assert proposal["ok"]
    assert runs["naive"]["verdict_after"] == "fail" and runs["careful"]["verdict_after"] == "pass"
    assert any("general-set score kept 33%" in reason for reason in runs["naive"]["reasons_after"])


def test_runs_too_close_get_the_midpoint_and_a_careful_run_that_forgets_is_not_ok():
    close = {"naive": run_figures(0.9, 0.85, 0.4, 0.70), "careful": run_figures(0.85, 0.8, 0.4, 0.72)}
    proposal = Command._propose(challenge_stub(), close)
    assert proposal["proposed"]["forgetting_min_ratio"] == 0.71 and proposal["ok"]
    worse = {"naive": run_figures(0.9, 0.85, 0.4, 0.80), "careful": run_figures(0.85, 0.8, 0.4, 0.60)}
    assert not Command._propose(challenge_stub(), worse)["ok"]
    no_gain = {"naive": run_figures(0.3, 0.2, -0.1, 0.3), "careful": run_figures(0.3, 0.21, -0.05, 0.9)}
    assert not Command._propose(challenge_stub(), no_gain)["ok"]  # careful does not beat few-shot


def test_a_pass_mark_above_the_bands_raises_them():
    runs = {"naive": run_figures(0.99, 0.97, 0.6, 0.3), "careful": run_figures(0.99, 0.98, 0.6, 0.9)}
    proposed = Command._propose(challenge_stub(), runs)["proposed"]
    assert proposed["pass_threshold"] == 0.95
    assert proposed["band_strong"] == 0.95 and proposed["band_exceptional"] == 0.96
    assert round_down(0.8499, 0.05) == 0.8 and round_down(0.85, 0.05) == 0.85


def test_distillation_prompts_ask_nothing_the_general_set_asks():
    prompts = distill_prompts(100, derive_rng("test"))
    assert len(set(prompts)) == 100
    general = {normalize_text(question) for question, _ in generate_general(derive_rng("g"), 80)}
    assert not {normalize_text(prompt) for prompt in prompts} & general
    kinds = ("repeat the word", "capital of", "opposite of", "language is mainly spoken", "plural of")
    assert not [prompt for prompt in prompts if any(kind in prompt.lower() for kind in kinds)]


@pytest.mark.e2e
@pytest.mark.needs("bwrap")
def test_a_whole_calibration_is_recorded_on_the_eval_set_version(transactional_db, pipeline_settings):
    challenge = make_tiny_challenge()
    out = io.StringIO()
    call_command(
        "vetting_calibrate",
        "--challenge",
        challenge.slug,
        "--examples",
        "24",
        "--general-examples",
        "8",
        "--rank",
        "4",
        "--max-seq-length",
        "1024",
        "--apply",
        "--force",
        stdout=out,
    )
    calibration = json.loads(out.getvalue().strip().splitlines()[-1])
    eval_set = challenge.eval_sets.get(is_active=True)
    assert eval_set.calibration == calibration
    assert set(calibration["runs"]) == {"naive", "careful"}
    naive, careful = calibration["runs"]["naive"], calibration["runs"]["careful"]
    assert naive["examples"] == 24 and 24 < careful["examples"] <= 32
    assert (
        naive["hyperparameters"]["learning_rate"] == 1e-3
        and careful["hyperparameters"]["learning_rate"] == 3e-4
    )
    assert calibration["applied"] is True
    challenge.refresh_from_db()
    assert challenge.pass_threshold == calibration["proposed"]["pass_threshold"]
    assert challenge.forgetting_min_ratio == calibration["proposed"]["forgetting_min_ratio"]
    platform = Submission.objects.filter(engineer__username="vetting-calibration")
    assert platform.count() == 2 and not platform.exclude(state__in=("passed", "failed")).exists()
    assert not challenge.badges.exists()
