"""Scoring: prompts, bootstrap intervals, paired differences, forgetting, the Ladder, the verdict."""

import pytest

from vetting.challenges import BUILTIN
from vetting.datasets import text_token_counter
from vetting.ladder import ladder_release, margin_for
from vetting.scoring import (
    bootstrap_ci,
    few_shot_messages,
    forgetting_ratio,
    general_messages,
    paired_difference_ci,
    prompt_tokens_saved_per_call,
    score_outputs,
    zero_shot_messages,
)
from vetting.verdict import PassRules, band_for, decide, public_verdict

SPEC = BUILTIN["support-ticket-json"]
SCORES = [1.0] * 70 + [0.0] * 30
BASELINE = [1.0] * 40 + [0.0] * 60


# --- prompts --------------------------------------------------------------------------------------


def test_zero_shot_prompt_is_the_published_one():
    messages = zero_shot_messages(SPEC.prompt, 'Hi {"x": 1}, my order ORD-12345 broke')
    assert messages == [
        {"role": "system", "content": SPEC.prompt.system},
        {"role": "user", "content": 'Customer message:\nHi {"x": 1}, my order ORD-12345 broke'},
    ]


def test_few_shot_prompt_puts_the_public_examples_before_the_input():
    examples = SPEC.public_examples()
    messages = few_shot_messages(SPEC.prompt, examples, "the input")
    assert messages[0]["role"] == "system"
    assert [m["role"] for m in messages[1:]] == ["user", "assistant"] * len(examples) + ["user"]
    assert messages[2]["content"] == examples[0]["output"]
    assert messages[1]["content"] == SPEC.prompt.user_content(examples[0]["input"])
    assert messages[-1] == zero_shot_messages(SPEC.prompt, "the input")[-1]


def test_general_questions_are_bare_user_turns():
    assert general_messages("What is 2+3?") == [{"role": "user", "content": "What is 2+3?"}]


def test_prompt_tokens_saved_is_the_few_shot_examples_cost():
    examples = [{"input": "a b c", "output": "d e"}, {"input": "f", "output": "g h i j"}]
    counter = text_token_counter(lambda text: len(text.split()), per_message=1)
    saved = prompt_tokens_saved_per_call(SPEC.prompt, examples, ["x y", "z"], counter)
    # Each example: user turn (2 template words + input) and assistant turn, 1 per message.
    assert saved == (2 + 3 + 1) + (2 + 1) + (2 + 1 + 1) + (4 + 1)


def test_score_outputs_gives_zero_to_items_without_output():
    targets = {"a": "overfitting", "b": "out_of_memory"}
    scores = score_outputs(BUILTIN["ml-incident-triage"].metric, targets, {"a": "overfitting"})
    assert scores == {"a": 1.0, "b": 0.0}


# --- bootstrap ------------------------------------------------------------------------------------


def test_bootstrap_is_reproducible_for_a_seed_and_differs_for_another():
    first = bootstrap_ci(SCORES, seed=7, resamples=1000)
    assert first == bootstrap_ci(SCORES, seed=7, resamples=1000)
    assert first != bootstrap_ci(SCORES, seed=8, resamples=1000)
    low, high = first
    assert low < 0.7 < high and low > 0.55 and high < 0.85


def test_paired_difference_uses_the_same_items():
    # Identical per-item scores: every resample has a difference of exactly 0.
    assert paired_difference_ci(SCORES, SCORES, seed=1) == (0.0, 0.0)
    low, high = paired_difference_ci(SCORES, BASELINE, seed=1, resamples=1000)
    assert 0 < low < 0.3 < high
    assert paired_difference_ci(SCORES, BASELINE, seed=1, resamples=1000) == (low, high)
    with pytest.raises(ValueError):
        paired_difference_ci(SCORES, BASELINE[:-1], seed=1)


def test_paired_is_tighter_than_unpaired_when_items_agree():
    # Both configurations right on the same easy items: a paired interval sees only the 10 that differ.
    tuned = [1.0] * 50 + [1.0] * 10 + [0.0] * 40
    prompted = [1.0] * 50 + [0.0] * 10 + [0.0] * 40
    low, high = paired_difference_ci(tuned, prompted, seed=3)
    assert low > 0 and high - low < 0.15


def test_forgetting_ratio():
    assert forgetting_ratio(0.8, 0.76) == 0.95
    assert forgetting_ratio(0.8, 0.4) == 0.5
    assert forgetting_ratio(0.0, 0.3) == 1.0


# --- ladder ---------------------------------------------------------------------------------------


def test_ladder_first_score_is_released_rounded():
    assert ladder_release(0.6349, None, 0.05) == (0.63, True)


def test_ladder_releases_an_improvement_beyond_the_margin():
    assert ladder_release(0.72, 0.65, 0.05) == (0.72, True)


def test_ladder_keeps_the_previous_figure_for_a_small_improvement():
    assert ladder_release(0.69, 0.65, 0.05) == (0.65, False)
    assert ladder_release(0.70, 0.65, 0.05) == (0.65, False)  # "more than" the margin


def test_ladder_keeps_the_previous_figure_for_a_worse_score():
    assert ladder_release(0.40, 0.65, 0.05) == (0.65, False)


def test_ladder_margin_from_split_size_or_setting():
    assert margin_for(100) == 0.05
    assert margin_for(400) == 0.03
    assert margin_for(10_000) == 0.01
    assert margin_for(100, configured=0.02) == 0.02
    assert ladder_release(0.6349, None, 0.025) == (0.635, True)


# --- verdict --------------------------------------------------------------------------------------

RULES = PassRules(threshold=0.8, forgetting_margin=0.05, band_strong=0.88, band_exceptional=0.94)
GOOD = {
    "final_score": 0.9,
    "delta_ci": (0.2, 0.4),
    "forgetting_ratio": 0.97,
    "general_delta_ci": (-0.04, 0.01),
    "budget": {"epochs": (2, 5), "lora_rank": (16, 64), "train_seconds": (300.0, 1800)},
}


def test_all_rules_met_passes_with_a_band():
    verdict = decide(**GOOD, rules=RULES)
    assert verdict["passed"] and verdict["band"] == "strong" and verdict["reasons"] == []
    assert [rule["rule"] for rule in verdict["rules"]] == [
        "final_score",
        "beats_few_shot",
        "forgetting",
        "budget",
    ]
    assert all(rule["passed"] for rule in verdict["rules"])


@pytest.mark.parametrize(
    "change, failing",
    [
        ({"final_score": 0.79}, "final_score"),
        ({"delta_ci": (0.0, 0.3)}, "beats_few_shot"),
        ({"delta_ci": (-0.05, 0.3)}, "beats_few_shot"),
        ({"general_delta_ci": (-0.05, 0.0)}, "forgetting"),
        ({"general_delta_ci": (-0.2, -0.1), "forgetting_ratio": 0.99}, "forgetting"),
        ({"budget": {**GOOD["budget"], "train_seconds": (1801.0, 1800)}}, "budget"),
    ],
)
def test_each_rule_failing_alone_fails_the_verdict_naming_it(change, failing):
    verdict = decide(**{**GOOD, **change}, rules=RULES)
    assert not verdict["passed"] and verdict["band"] is None
    assert [rule["rule"] for rule in verdict["rules"] if not rule["passed"]] == [failing]
    assert len(verdict["reasons"]) == 1


def test_each_rule_carries_its_figure():
    rules = {rule["rule"]: rule for rule in decide(**GOOD, rules=RULES)["rules"]}
    assert rules["final_score"]["figure"] == 0.9
    assert rules["beats_few_shot"]["figure"] == {"delta_ci": [0.2, 0.4]}
    assert rules["forgetting"]["figure"] == {"general_change_ci": [-0.04, 0.01], "kept_ratio": 0.97}
    assert rules["forgetting"]["required"] == "lower bound > -0.05"
    assert rules["budget"]["figure"]["train_seconds"] == {"used": 300.0, "limit": 1800}


def test_a_raw_ratio_below_the_old_mark_passes_when_the_interval_shows_no_real_loss():
    """One flipped item of 80 is a 1.3% ratio drop: not evidence of forgetting."""
    verdict = decide(**{**GOOD, "forgetting_ratio": 0.9875, "general_delta_ci": (-0.0375, 0.0)}, rules=RULES)
    assert verdict["passed"]
    reasons = decide(**{**GOOD, "general_delta_ci": (-0.31, -0.12)}, rules=RULES)["reasons"]
    assert reasons == [
        "Tuning cost too much general ability: the general-set score changed by -0.31 to -0.12 "
        "(95% interval), and the lower end must stay above -0.05."
    ]


def test_bands():
    assert band_for(0.8, RULES) == "pass"
    assert band_for(0.88, RULES) == "strong"
    assert band_for(0.94, RULES) == "exceptional"


def test_public_verdict_has_no_final_split_figure():
    verdict = decide(**{**GOOD, "final_score": 0.8123}, rules=RULES)
    public = public_verdict(verdict)
    assert "0.8123" not in repr(public) and "delta_ci" not in repr(public)
    shown = {rule["rule"]: rule for rule in public["rules"]}
    assert "figure" not in shown["final_score"] and "figure" not in shown["beats_few_shot"]
    assert shown["forgetting"]["figure"] == {"general_change_ci": [-0.04, 0.01], "kept_ratio": 0.97}
    assert public["passed"] and public["band"] == "pass"
