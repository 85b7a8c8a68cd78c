"""`manage.py vetting_calibrate`: the rules proposed from careful, naive and mislabelled reference runs,
its datasets (written from the public instructions, never the generator), and a whole run (inline,
the real sandbox, the tiny model) recorded on the eval-set version and in a file it resumes from."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from tests.vetting import test_pipeline_support as support
from tests.vetting.test_pipeline_support import make_tiny_challenge
from vetting.calibration.datasets import KINDS, NotEnoughPrompts, distill_prompts, recipes
from vetting.calibration.references import MODULES, task_examples_for
from vetting.calibration.rules import propose, round_down
from vetting.calibration.runs import CalibrationError, assumed_spread, planned_runs
from vetting.challenges import BUILTIN
from vetting.challenges.base import derive_rng
from vetting.challenges.general import generate_general
from vetting.models import Challenge, Submission
from vetting.text import normalize_text

# Fixtures (see test_pipeline_support).
pipeline_settings = support.pipeline_settings
tiny_model_dir = support.tiny_model_dir

BUDGET = {"examples": {"used": 200, "limit": 2000}, "epochs": {"used": 1, "limit": 5}}


def run(kind: str, seed: int, final: float, general_low: float, delta_low: float = 0.2) -> dict:
    return {
        "kind": kind,
        "seed": seed,
        "scores": {
            "fine_tuned": final,
            "fine_tuned_ci": [final - 0.03, min(1.0, final + 0.03)],
            "delta_vs_few_shot_ci": [delta_low, delta_low + 0.2],
            "forgetting_ratio": 0.9,
            "general_delta_ci": [general_low, general_low + 0.08],
        },
        "budget": BUDGET,
    }


def runs_of(*figures: dict) -> dict:
    return {f"{figure['kind']}-{figure['seed']}": figure for figure in figures}


def challenge_stub() -> Challenge:
    return Challenge(pass_threshold=0.8, forgetting_margin=0.05, band_strong=0.9, band_exceptional=0.96)


def test_the_marks_sit_between_the_runs_with_gaps_larger_than_the_spread_between_seeds():
    # The measurements: careful 0.652 keeping general ability, naive 0.594 losing half of it,
    # mislabelled 0.426; three seeds of careful and naive.
    runs = runs_of(
        run("careful", 0, 0.652, -0.05),
        run("careful", 1, 0.64, -0.06),
        run("careful", 2, 0.66, -0.04),
        run("naive", 0, 0.594, -0.45),
        run("naive", 1, 0.60, -0.42),
        run("naive", 2, 0.58, -0.47),
        run("mislabelled", 0, 0.426, -0.02),
    )
    proposal = propose(challenge_stub(), runs)
    # Pass mark between the weakest careful run (0.64) and the mislabelled one (0.426): equal spreads
    # (0.02 each; mislabelled takes the larger of careful and naive), so halfway, rounded down.
    # Margin between what careful kept (-0.06, spread 0.02) and naive lost (-0.42, spread 0.05): equally
    # many spreads from each, so nearer the tighter careful side: -0.06 - 0.36 * 0.02 / 0.07 = -0.163.
    assert proposal["proposed"] == {
        "pass_threshold": 0.53,
        "forgetting_margin": 0.163,
        "band_strong": 0.9,
        "band_exceptional": 0.96,
    }
    assert proposal["spread"] == {
        "final": {"careful": 0.02, "naive": 0.02, "mislabelled": 0.02},
        "general_delta_low": {"careful": 0.02, "naive": 0.05},
    }
    assert proposal["gaps"] == {
        "final": {"careful": 0.11, "mislabelled": 0.104},
        "general_delta_low": {"careful": 0.103, "naive": 0.257},
    }
    assert proposal["ok"] and all(proposal["separated"].values())
    judged = proposal["judged"]
    assert [name for name, verdict in judged.items() if verdict["passed"]] == [
        "careful-0",
        "careful-1",
        "careful-2",
    ]
    assert any("general ability" in reason for reason in judged["naive-0"]["reasons"])
    assert any("below the pass mark" in reason for reason in judged["mislabelled-0"]["reasons"])


def test_runs_that_do_not_separate_are_not_ok():
    # Separated by 0.01 when the seeds alone move the careful run by 0.04: not shown to separate.
    close = runs_of(
        run("careful", 0, 0.65, -0.05),
        run("careful", 1, 0.69, -0.05),
        run("naive", 0, 0.6, -0.3),
        run("mislabelled", 0, 0.62, 0.0),
    )
    proposal = propose(challenge_stub(), close)
    assert not proposal["ok"]
    spread_too_wide = runs_of(
        run("careful", 0, 0.80, -0.05),
        run("careful", 1, 0.60, -0.05),
        run("naive", 0, 0.7, -0.4),
        run("mislabelled", 0, 0.45, 0.0),
    )
    proposal = propose(challenge_stub(), spread_too_wide)
    assert proposal["spread"]["final"]["careful"] == 0.2 and not proposal["ok"]
    assert not proposal["separated"]["final/careful"] and proposal["gaps"]["final"]["careful"] < 0.2
    # One naive seed that nearly kept what careful kept: the naive side is not separated.
    naive_spread = runs_of(
        run("careful", 0, 0.7, -0.05),
        run("careful", 1, 0.7, -0.06),
        run("naive", 0, 0.7, -0.40),
        run("naive", 1, 0.7, -0.10),
        run("mislabelled", 0, 0.3, 0.0),
    )
    proposal = propose(challenge_stub(), naive_spread)
    assert proposal["spread"]["general_delta_low"]["naive"] == 0.3
    assert not proposal["separated"]["general_delta_low/naive"] and not proposal["ok"]
    no_gain = runs_of(
        run("careful", 0, 0.7, -0.05, delta_low=-0.01),
        run("naive", 0, 0.7, -0.4),
        run("mislabelled", 0, 0.3, 0.0),
    )
    assert not propose(challenge_stub(), no_gain)["ok"]  # careful does not beat few-shot


def test_one_seed_takes_the_spread_measured_on_another_challenge():
    one_seed = runs_of(
        run("careful", 0, 0.7, -0.05),
        run("naive", 0, 0.72, -0.30),
        run("mislabelled", 0, 0.35, 0.0),
    )
    unmeasured = propose(challenge_stub(), one_seed)
    # Nothing measured: every spread is 0, the marks sit halfway.
    assert unmeasured["spread"]["general_delta_low"] == {"careful": 0.0, "naive": 0.0}
    assert (
        unmeasured["proposed"]["pass_threshold"] == 0.52
        and unmeasured["proposed"]["forgetting_margin"] == 0.175
    )
    assumed = {
        "final": {"careful": 0.01, "naive": 0.014},
        "general_delta_low": {"careful": 0.025, "naive": 0.19},
    }
    proposal = propose(challenge_stub(), one_seed, assumed)
    assert proposal["spread_assumed"] and proposal["spread"]["general_delta_low"] == {
        "careful": 0.025,
        "naive": 0.19,
    }
    assert proposal["spread"]["final"]["mislabelled"] == 0.014
    # Nearer the tighter careful side: -0.05 - 0.25 * 0.025 / 0.215 = -0.079.
    assert proposal["proposed"]["forgetting_margin"] == 0.079 and proposal["ok"]


def test_a_proposal_needs_every_kind_of_run():
    with pytest.raises(ValueError, match="no mislabelled run yet"):
        propose(challenge_stub(), runs_of(run("careful", 0, 0.7, -0.05), run("naive", 0, 0.7, -0.4)))
    assert round_down(0.8499, 0.05) == 0.8 and round_down(0.85, 0.05) == 0.85


@pytest.mark.parametrize("slug", sorted(MODULES))
def test_reference_task_data_is_valid_right_by_the_metric_and_not_the_hidden_generators(slug):
    spec = BUILTIN[slug]
    examples = task_examples_for(slug)(derive_rng("test", slug), 120)
    assert len(examples) == 120 and len({text for text, _ in examples}) == 120
    assert not [output for _, output in examples if spec.metric.output_problem(output)]
    # Every value of every labelled dimension appears: the cases the instructions name are covered.
    seen: dict[str, set[str]] = {}
    for _, output in examples:
        for dimension, value in spec.metric.labels(spec.metric.parse_output(output)).items():
            seen.setdefault(dimension, set()).add(value)
    for dimension, values in spec.metric.label_values().items():
        assert set(values) <= seen.get(dimension, set()), dimension


def test_the_mislabelled_dataset_moves_every_output_and_keeps_the_replay():
    challenge = Challenge(system_prompt="S", user_template="{input}")
    task = [(f"message {i}", f"label {i}") for i in range(10)]
    made = recipes(
        challenge=challenge,
        task=task,
        general=["G1", "G2"],
        common={"rank": 8},
        careful_lr=4e-4,
        naive_lr=1e-3,
        rng=derive_rng("t"),
    )
    assert (
        len(made["careful"].lines) == len(made["mislabelled"].lines) == 12 and len(made["naive"].lines) == 10
    )
    for line in made["mislabelled"].lines:
        if line.startswith("{"):
            messages = json.loads(line)["messages"]
            assert messages[1]["content"].replace("message", "label") != messages[2]["content"]
    assert made["naive"].hyperparameters["learning_rate"] == 1e-3
    assert made["mislabelled"].hyperparameters == made["careful"].hyperparameters


def test_distillation_prompts_ask_nothing_the_general_set_asks():
    prompts = distill_prompts(100, derive_rng("test"), short_answers=50)
    assert len(set(prompts)) == 150
    assert (
        sum("Answer with one word" in prompt or "Answer with a number" in prompt for prompt in prompts) == 50
    )
    general = {normalize_text(question) for question, _ in generate_general(derive_rng("g"), 80)}
    assert not {normalize_text(prompt) for prompt in prompts} & general
    kinds = ("repeat the word", "capital of", "opposite of", "language is mainly spoken", "plural of")
    assert not [prompt for prompt in prompts if any(kind in prompt.lower() for kind in kinds)]


def test_short_answer_replay_leaves_the_recorded_recipes_unchanged_and_is_bounded():
    # Records made before short-answer replay existed resume with the very same prompts.
    assert distill_prompts(100, derive_rng("test")) == distill_prompts(
        100, derive_rng("test"), short_answers=0
    )
    assert (
        distill_prompts(100, derive_rng("test"))[:5]
        != distill_prompts(100, derive_rng("test"), short_answers=5)[:5]
    )
    with pytest.raises(NotEnoughPrompts, match="short-answer"):
        distill_prompts(10, derive_rng("test"), short_answers=500)


@pytest.mark.e2e
@pytest.mark.needs("bwrap")
def test_a_whole_calibration_is_recorded_and_resumes_from_its_file(
    transactional_db, pipeline_settings, tmp_path
):
    challenge = make_tiny_challenge()
    record = tmp_path / "calibration.json"
    arguments = ["--challenge", challenge.slug, "--examples", "24", "--general-examples", "8", "--rank", "4"]
    arguments += ["--epochs", "1", "--max-seq-length", "1024", "--record", str(record)]

    def calibrate(*extra: str) -> dict:
        out = io.StringIO()
        call_command("vetting_calibrate", *arguments, *extra, stdout=out)
        return json.loads(out.getvalue().strip().splitlines()[-1])

    calibration = calibrate("--apply", "--force")
    eval_set = challenge.eval_sets.get(is_active=True)
    assert eval_set.calibration == calibration == json.loads(record.read_text())
    assert set(calibration["runs"]) == {"careful-0", "naive-0", "mislabelled-0"}
    runs = calibration["runs"]
    assert runs["naive-0"]["examples"] == 24 and 24 < runs["careful-0"]["examples"] <= 32
    assert runs["naive-0"]["hyperparameters"]["learning_rate"] == 1e-3
    assert runs["careful-0"]["hyperparameters"]["learning_rate"] == 4e-4
    assert runs["mislabelled-0"]["hyperparameters"] == runs["careful-0"]["hyperparameters"]
    for figures in runs.values():
        assert figures["scores"]["general_delta_ci"] is not None and figures["wall_seconds"] > 0
    assert calibration["applied"] is True
    challenge.refresh_from_db()
    proposed = calibration["proposal"]["proposed"]
    assert (challenge.pass_threshold, challenge.forgetting_margin) == (
        proposed["pass_threshold"],
        proposed["forgetting_margin"],
    )
    platform = Submission.objects.filter(engineer__username="vetting-calibration")
    assert platform.count() == 3 and not platform.exclude(state__in=("passed", "failed")).exists()
    assert not challenge.badges.exists()

    # Interrupted after two runs: a second call runs only what is missing; the others come back from
    # the file (not from the eval-set version, cleared here).
    eval_set.calibration = {}
    eval_set.save(update_fields=["calibration"])
    recorded = json.loads(record.read_text())
    del recorded["runs"]["naive-0"]
    record.write_text(json.dumps(recorded))
    calibration = calibrate()
    assert set(calibration["runs"]) == {"careful-0", "naive-0", "mislabelled-0"}
    assert calibration["runs"]["careful-0"] == runs["careful-0"]
    assert calibration["runs"]["mislabelled-0"] == runs["mislabelled-0"]
    assert platform.count() == 4
    # More seeds repeat the careful and naive runs (the mislabelled one is the floor, run once).
    assert planned_runs(2) == [("careful", 0), ("naive", 0), ("mislabelled", 0), ("careful", 1), ("naive", 1)]


@pytest.mark.e2e
@pytest.mark.needs("bwrap")
def test_the_reference_datasets_are_exported_as_an_engineer_submits_them(
    transactional_db, pipeline_settings, tmp_path, engineer_user
):
    challenge = make_tiny_challenge()
    out = io.StringIO()
    call_command(
        "vetting_calibrate",
        *["--challenge", challenge.slug, "--examples", "24", "--general-examples", "8", "--rank", "4"],
        *["--epochs", "1", "--max-seq-length", "1024", "--export", str(tmp_path / "refs")],
        stdout=out,
    )
    files = sorted(path.name for path in (tmp_path / "refs").iterdir())
    assert files == [
        "careful-hyperparameters.json",
        "careful.jsonl",
        "mislabelled-hyperparameters.json",
        "mislabelled.jsonl",
        "naive-hyperparameters.json",
        "naive.jsonl",
    ]
    lines = {kind: (tmp_path / "refs" / f"{kind}.jsonl").read_text().splitlines() for kind in KINDS}
    assert len(lines["naive"]) == 24 and len(lines["careful"]) == len(lines["mislabelled"]) > 24
    assert set(lines["naive"]) < set(lines["careful"])
    naive = json.loads((tmp_path / "refs" / "naive-hyperparameters.json").read_text())
    assert (naive["learning_rate"], naive["seed"], naive["rank"]) == (1e-3, 0, 4)
    # Nothing was submitted: exporting runs only the distillation.
    assert not Submission.objects.exists()

    out = io.StringIO()
    call_command(
        "vetting_submit",
        *["--challenge", challenge.slug, "--engineer", engineer_user.username, "--wait", "--poll", "0.2"],
        *["--dataset", str(tmp_path / "refs" / "naive.jsonl")],
        *["--hyperparams", str(tmp_path / "refs" / "naive-hyperparameters.json")],
        stdout=out,
    )
    report = json.loads(out.getvalue().strip().splitlines()[-1])
    assert report["verdict"] in ("pass", "fail"), report
    assert report["validation"]["stats"]["examples"] == 24, report["validation"]


def test_the_spread_is_read_from_a_record_and_a_file_that_is_not_one_is_refused(tmp_path):
    record = tmp_path / "record.json"
    record.write_text(
        json.dumps(
            {
                "runs": runs_of(
                    run("careful", 0, 0.65, -0.04),
                    run("careful", 1, 0.66, -0.06),
                    run("naive", 0, 0.72, -0.33),
                    run("naive", 1, 0.74, -0.51),
                    run("mislabelled", 0, 0.34, -0.06),
                )
            }
        )
    )
    assert assumed_spread(record) == {
        "final": {"careful": 0.01, "naive": 0.02, "mislabelled": 0.02},
        "general_delta_low": {"careful": 0.02, "naive": 0.18},
    }
    record.write_text("{}")
    with pytest.raises(CalibrationError, match="is not a calibration record"):
        assumed_spread(record)
    with pytest.raises(CalibrationError, match="is not a calibration record"):
        assumed_spread(tmp_path / "missing.json")
