"""The calibrated pass marks, checked the way an engineer meets them: each reference dataset of
`support-ticket-json` (`vetting_calibrate --export`: written from the public instructions only) goes
through `vetting_submit --wait` on the real SmolLM2-135M-Instruct and gets the verdict it deserves:
careful passes, naive fails on forgetting only, mislabelled fails the pass mark.

About 40 minutes on a 2-core CPU (three trainings of ~300 examples, the baselines once), so it is not
part of `make test`: run it with `make test-references` (marker `reference`).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.vetting import test_pipeline_support as support
from vetting import verdict
from vetting.challenges import BUILTIN
from vetting.services.evalsets import challenge_sync_builtin, evalset_generate

pipeline_settings = support.pipeline_settings
tiny_model_dir = support.tiny_model_dir

pytestmark = [
    pytest.mark.reference,
    pytest.mark.slow,
    pytest.mark.e2e,
    pytest.mark.needs("bwrap", "base-model"),
]

SLUG = "support-ticket-json"


def submit(kind: str, folder: Path, engineer: str) -> dict:
    out = io.StringIO()
    call_command(
        "vetting_submit",
        *["--challenge", SLUG, "--engineer", engineer, "--wait", "--poll", "1"],
        *["--dataset", str(folder / f"{kind}.jsonl")],
        *["--hyperparams", str(folder / f"{kind}-hyperparameters.json")],
        stdout=out,
    )
    return json.loads(out.getvalue().strip().splitlines()[-1])


def failed_rules(report: dict) -> set[str]:
    return {rule["rule"] for rule in report["rules"] if not rule["passed"]}


def test_each_reference_dataset_gets_the_verdict_it_deserves(
    transactional_db, pipeline_settings, tmp_path, engineer_user
):
    # The calibrated conditions, on a smaller final split (100 items; the general set keeps its 80,
    # which the forgetting rule was calibrated on). Measured 2026-12-04 with the pass mark at 0.58: the
    # careful reference 0.612 (0.572-0.644), only about one interval half-width above it; the
    # mislabelled one 0.380, 0.20 below it (README "Calibrating pass marks").
    pipeline_settings.VETTING_MIN_FEEDBACK_ITEMS = 20
    pipeline_settings.VETTING_MIN_FINAL_ITEMS = 100
    challenge, _ = challenge_sync_builtin(slug=SLUG)
    spec = BUILTIN[SLUG]
    # The built-in challenge starts with its calibrated marks.
    assert (challenge.pass_threshold, challenge.forgetting_margin) == (
        spec.pass_threshold,
        spec.forgetting_margin,
    )
    evalset_generate(actor=None, challenge_id=challenge.pk)
    folder = tmp_path / "references"
    call_command(
        "vetting_calibrate",
        *["--challenge", SLUG, "--examples", "200", "--general-examples", "100", "--export", str(folder)],
        stdout=io.StringIO(),
    )

    reports = {
        kind: submit(kind, folder, engineer_user.username) for kind in ("careful", "naive", "mislabelled")
    }
    figures = {
        kind: (report["verdict"], report["scores"], report["reasons"]) for kind, report in reports.items()
    }
    print(json.dumps(figures, indent=1))  # shown with -s or on failure

    assert reports["careful"]["verdict"] == "pass", figures
    assert reports["careful"]["band"] is not None
    assert reports["naive"]["verdict"] == "fail", figures
    assert failed_rules(reports["naive"]) == {verdict.FORGETTING}, figures
    assert reports["naive"]["scores"]["fine_tuned"] >= challenge.pass_threshold, figures
    assert reports["mislabelled"]["verdict"] == "fail", figures
    assert verdict.THRESHOLD in failed_rules(reports["mislabelled"]), figures
