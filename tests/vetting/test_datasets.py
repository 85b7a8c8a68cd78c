"""Dataset validation: every error kind with its line, warnings, counts; the hidden-item overlap the
scoring worker measures, which the report never shows."""

import json

import pytest

from sandbox.engines.train import parse_hyperparameters
from tests.vetting.conftest import chat_line
from vetting.challenges import BUILTIN
from vetting.challenges.base import derive_rng
from vetting.datasets import (
    DatasetRules,
    HiddenTextIndex,
    HyperparameterLimits,
    dataset_user_inputs,
    text_token_counter,
    validate_dataset,
    validate_hyperparameters,
)

SPEC = BUILTIN["support-ticket-json"]
SYSTEM = SPEC.prompt.system
WORDS = text_token_counter(lambda text: len(text.split()), per_message=0)


def rules(**overrides) -> DatasetRules:
    values = {
        "min_examples": 1,
        "max_examples": 1000,
        "max_tokens_per_example": 400,
        "prompt": SPEC.prompt,
        "metric": SPEC.metric,
        "public_inputs": tuple(example["input"] for example in SPEC.public_examples()),
        "train_tokens_per_second": 100.0,
        "device_cost_per_hour": 360,
    }
    return DatasetRules(**{**values, **overrides})


def good_lines(count: int, seed: str = "good") -> list[str]:
    rng = derive_rng(seed)
    lines = []
    for _ in range(count):
        text, target = SPEC.generate(rng)
        lines.append(chat_line(SYSTEM, SPEC.prompt.user_content(text), SPEC.metric.render(target)))
    return lines


def report_of(lines: list[str], **kwargs) -> dict:
    kwargs.setdefault("rules", rules())
    kwargs.setdefault("count_tokens", WORDS)
    return validate_dataset("\n".join(lines) + "\n", **kwargs)


def errors_by_line(report: dict) -> dict[int | None, list[str]]:
    found: dict[int | None, list[str]] = {}
    for error in report["errors"]:
        found.setdefault(error["line"], []).append(error["code"])
    return found


def test_a_clean_dataset_passes_with_counts():
    report = report_of(good_lines(30))
    assert report["ok"], report["errors"]
    stats = report["stats"]
    assert stats["examples"] == stats["task_examples"] == 30
    assert stats["tokens"] > 0 and stats["billable_tokens"] == stats["tokens"]
    assert stats["estimated_device_seconds"] == pytest.approx(stats["tokens"] / 100, abs=0.1)
    assert stats["estimated_cost"] >= 1 and stats["currency"] == "usd"
    json.dumps(report)  # serialisable as it is


def test_billable_tokens_are_tokens_times_epochs():
    report = report_of(good_lines(10), epochs=3)
    assert report["stats"]["billable_tokens"] == 3 * report["stats"]["tokens"]


BAD_LINES = {
    "invalid_json": '{"messages": [',
    "not_object": '["a list"]',
    "missing_key": "{}",
    "unknown_key": json.dumps({"messages": json.loads(good_lines(1)[0])["messages"], "weight": 1}),
    "invalid_messages": '{"messages": []}',
    "unknown_role": json.dumps(
        {"messages": [{"role": "human", "content": "hi"}, {"role": "assistant", "content": "x"}]}
    ),
    "empty_content": json.dumps(
        {"messages": [{"role": "user", "content": "  "}, {"role": "assistant", "content": "x"}]}
    ),
    "invalid_content": json.dumps(
        {"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "x"}]}
    ),
    "no_assistant_turn": json.dumps(
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]}
    ),
    "turn_order": json.dumps(
        {
            "messages": [
                {"role": "user", "content": "u"},
                {"role": "system", "content": "s"},
                {"role": "assistant", "content": "a"},
            ]
        }
    ),
    "invalid_target": chat_line(SYSTEM, "Customer message:\nhello", '{"product": "api"}'),
}


@pytest.mark.parametrize("code", sorted(BAD_LINES))
def test_each_error_kind_is_reported_on_its_line(code):
    lines = good_lines(3)
    lines.insert(2, BAD_LINES[code])  # line 3 of the file
    report = report_of(lines)
    assert not report["ok"]
    assert errors_by_line(report) == {3: [code]}
    assert all(error["message"] for error in report["errors"])


@pytest.mark.parametrize(
    "messages, expected",
    [
        ([("user", "u"), ("user", "u2"), ("assistant", "a")], "message 2: expected assistant"),
        ([("assistant", "a")], "message 1: expected user"),
        ([("system", "s"), ("user", "u"), ("assistant", "a"), ("user", "u")], "last message"),
        ([("system", "s"), ("system", "s"), ("user", "u"), ("assistant", "a")], "only come first"),
    ],
)
def test_turn_order_messages_say_which_message(messages, expected):
    line = json.dumps({"messages": [{"role": r, "content": c} for r, c in messages]})
    report = report_of([line])
    assert report["errors"][0]["code"] == "turn_order"
    assert expected in report["errors"][0]["message"]


def test_message_level_missing_and_unknown_keys_name_the_message():
    line = json.dumps({"messages": [{"role": "user"}, {"role": "assistant", "content": "a", "name": "bot"}]})
    report = report_of(["", line])  # a blank first line is skipped but counted
    messages = [(e["line"], e["code"], e["message"]) for e in report["errors"]]
    assert (2, "missing_key", "message 1: missing key 'content'") in messages
    assert (2, "unknown_key", "message 2: unknown key 'name'") in messages


def test_not_utf8_is_reported_on_its_line():
    data = ("\n".join(good_lines(2)) + "\n").encode() + b'{"messages": "\xff\xfe"}\n'
    report = validate_dataset(data, rules=rules(), count_tokens=WORDS)
    assert errors_by_line(report) == {3: ["encoding"]}


def test_deeply_nested_and_non_json_constants_are_errors_on_their_lines():
    lines = [*good_lines(2), "[" * 50_000, '{"messages": [' * 40 + "]}" * 40, '{"messages": NaN}']
    report = report_of(lines)
    assert errors_by_line(report) == {3: ["invalid_json"], 4: ["invalid_json"], 5: ["invalid_json"]}
    messages = {error["line"]: error["message"] for error in report["errors"]}
    assert messages[3] == messages[4] == "nested more than 32 levels deep"
    assert messages[5] == "NaN is not a JSON value"


def test_too_few_and_too_many_examples():
    few = report_of(good_lines(3), rules=rules(min_examples=5))
    assert errors_by_line(few) == {None: ["too_few_examples"]}
    many = report_of(good_lines(6), rules=rules(max_examples=5))
    assert errors_by_line(many) == {None: ["too_many_examples"]}
    empty = validate_dataset("\n\n", rules=rules(), count_tokens=WORDS)
    assert errors_by_line(empty) == {None: ["empty_file"]}


def test_examples_over_the_token_limit_are_errors_naming_the_count():
    long_line = chat_line(SYSTEM, "Customer message:\n" + "word " * 50, SPEC.metric.render(_target()))
    report = report_of([*good_lines(2), long_line], rules=rules(max_tokens_per_example=40))
    assert errors_by_line(report)[3] == ["too_many_tokens"]
    assert "truncated" in report["errors"][-1]["message"]


def test_the_token_counter_is_the_callers():
    calls = []

    def counter(messages):
        calls.append(messages)
        return 7

    report = report_of(good_lines(4), count_tokens=counter)
    assert len(calls) == 4 and report["stats"]["tokens"] == 28


def _target(**changes):
    return {
        "product": "api",
        "category": "bug",
        "urgency": "high",
        "refund_requested": False,
        "order_id": None,
        **changes,
    }


@pytest.mark.parametrize(
    "assistant, fragment",
    [
        ("not json at all", "not a JSON object"),
        ('["a"]', "not a JSON object"),
        (json.dumps({k: v for k, v in _target().items() if k != "order_id"}), "missing key 'order_id'"),
        (json.dumps({**_target(), "extra": 1}), "unknown key 'extra'"),
        (json.dumps(_target(product="phone")), "'product' must be one of"),
        (json.dumps(_target(refund_requested="false")), "'refund_requested' must be true or false"),
        (json.dumps(_target(order_id="12345")), "'order_id' must be"),
    ],
)
def test_json_targets_are_checked_against_the_schema(assistant, fragment):
    report = report_of([*good_lines(1), chat_line(SYSTEM, "Customer message:\nhi", assistant)])
    assert errors_by_line(report) == {2: ["invalid_target"]}
    assert fragment in report["errors"][0]["message"]


def test_examples_without_the_published_system_message_are_not_task_examples():
    general = chat_line(None, "What is 2+3? Answer with just the number.", "5")
    report = report_of([*good_lines(5), general])
    assert report["ok"]
    assert report["stats"]["task_examples"] == 5 and report["stats"]["other_examples"] == 1


def test_a_dataset_with_no_task_example_is_warned():
    report = report_of([chat_line("You are helpful.", "Hi", "Hello!")])
    assert [w["code"] for w in report["warnings"]] == ["no_task_examples"]


def test_exact_and_near_duplicates_are_warned_with_both_lines():
    lines = good_lines(4)
    record = json.loads(lines[1])
    near = json.loads(lines[1])
    near["messages"][1]["content"] += " Thanks again for the help."
    report = report_of([*lines, json.dumps(record), json.dumps(near)])
    warnings = {(w["line"], w["code"]): w["message"] for w in report["warnings"]}
    assert warnings[(5, "duplicate")] == "the same example as line 2"
    assert warnings[(6, "near_duplicate")] == "nearly the same example as line 2"
    assert report["stats"]["duplicates"] == 1 and report["stats"]["near_duplicates"] == 1


def test_formatting_differences_still_count_as_duplicates():
    line = json.loads(good_lines(1)[0])
    changed = json.loads(good_lines(1)[0])
    changed["messages"][1]["content"] = changed["messages"][1]["content"].upper() + "  !!"
    report = report_of([json.dumps(line), json.dumps(changed)])
    assert [w["code"] for w in report["warnings"] if w["line"] == 2] == ["duplicate"]


def test_label_imbalance_and_missing_labels_are_warned():
    lines = [
        chat_line(SYSTEM, f"Customer message:\nThe API crashes, case {i}", json.dumps(_target()))
        for i in range(20)
    ]
    report = report_of(lines)
    codes = [(w["code"], w["message"]) for w in report["warnings"]]
    assert ("label_imbalance", "category=bug is 100% of the task examples (an even share is 17%)") in codes
    assert any(
        code == "label_missing" and message.startswith("category: no task example of billing")
        for code, message in codes
    )
    assert report["stats"]["label_distribution"]["category"] == {"bug": 20}


def test_a_balanced_dataset_has_no_category_imbalance_warning():
    report = report_of(good_lines(300))
    assert not [
        w for w in report["warnings"] if w["code"] == "label_imbalance" and "category=" in w["message"]
    ]


def test_copied_public_examples_are_warned():
    public = SPEC.public_examples()[0]
    copied = chat_line(SYSTEM, SPEC.prompt.user_content(public["input"]), public["output"])
    report = report_of([*good_lines(3), copied])
    line_warnings = [(w["line"], w["code"]) for w in report["warnings"] if w["line"] is not None]
    assert line_warnings == [(4, "public_example_copied")]
    assert report["stats"]["public_examples_copied"] == 1


HIDDEN = {
    "final-1": "Hello, the Zapier connector double charged me on Tuesday and I want my money back, order ORD-55555.",
    "final-2": "Our iOS app shows a blank page since the update; please look at it soon, thanks, Maria",
    "feedback-1": "My Slack integration posts every alert twice since Monday, can you check it? Thanks, Tom",
}


def test_the_overlap_names_the_hidden_items_copied_exactly_or_nearly():
    index = HiddenTextIndex.build(HIDDEN, 0.85)
    lines = good_lines(3)
    lines.append(chat_line(SYSTEM, SPEC.prompt.user_content(HIDDEN["final-1"]), json.dumps(_target())))
    lines.append(
        chat_line(SYSTEM, SPEC.prompt.user_content(HIDDEN["final-2"] + " Cheers"), json.dumps(_target()))
    )
    data = ("\n".join(lines) + "\n").encode()
    overlapping = set()
    for inputs in dataset_user_inputs(data, prompt=SPEC.prompt):
        overlapping |= index.overlapping_keys(inputs)
    assert overlapping == {"final-1", "final-2"}


def test_the_report_is_the_same_whether_or_not_a_text_is_hidden():
    """Validation knows nothing hidden: a report cannot answer "is this text a hidden item?"."""
    plain = good_lines(6)
    carrying = plain[:3] + [
        chat_line(SYSTEM, SPEC.prompt.user_content(text), line_target)
        for text, line_target in zip(
            HIDDEN.values(), [json.loads(line)["messages"][-1]["content"] for line in plain[3:]], strict=True
        )
    ]
    assert report_of(carrying).keys() == report_of(plain).keys() == {"ok", "errors", "warnings", "stats"}
    serialised = json.dumps(report_of(carrying))
    for text in HIDDEN.values():
        assert text not in serialised


# --- hyperparameters ------------------------------------------------------------------------------

LIMITS = HyperparameterLimits(max_rank=32, max_epochs=4, max_seq_length=512)


def test_missing_keys_take_defaults():
    values, errors = validate_hyperparameters({"rank": 8}, LIMITS)
    assert errors == []
    assert values["rank"] == 8 and values["epochs"] == 2 and values["learning_rate"] == 2e-4
    assert values["max_seq_length"] == 512


@pytest.mark.parametrize(
    "raw, key, fragment",
    [
        ({"rank": 64}, "rank", "from 1 to 32"),
        ({"rank": 2.5}, "rank", "integer"),
        ({"rank": True}, "rank", "integer"),
        ({"epochs": 5}, "epochs", "from 1 to 4"),
        ({"learning_rate": 0.5}, "learning_rate", "from 1e-06 to 0.01"),
        ({"learning_rate": "fast"}, "learning_rate", "a number"),
        ({"dropout": 0.9}, "dropout", "from 0.0 to 0.5"),
        ({"max_seq_length": 1024}, "max_seq_length", "from 16 to 512"),
        ({"lr_scheduler": "exotic"}, "lr_scheduler", "one of linear, cosine, constant"),
        ({"target_modules": ["q_proj", "lm_head"]}, "target_modules", "all-linear"),
        ({"qlora": "yes"}, "qlora", "true or false"),
        ({"momentum": 0.9}, "momentum", "unknown hyperparameter"),
    ],
)
def test_hyperparameters_out_of_bounds_name_the_key(raw, key, fragment):
    _, errors = validate_hyperparameters(raw, LIMITS)
    assert [error["key"] for error in errors] == [key]
    assert fragment in errors[0]["message"]


def test_hyperparameters_must_be_an_object():
    _, errors = validate_hyperparameters([1, 2], LIMITS)
    assert errors == [{"key": "hyperparameters", "message": "must be a JSON object"}]


def test_what_validation_accepts_the_training_engine_runs():
    # One schema: a whole-number float is an integer on both sides (the engine once refused 2.0 that
    # validation had accepted, failing the job after the attempt was used).
    values, errors = validate_hyperparameters(
        {"epochs": 2.0, "rank": 8.0, "target_modules": ["q_proj", "q_proj", "v_proj"]}, LIMITS
    )
    assert errors == [] and values["epochs"] == 2 and isinstance(values["epochs"], int)
    checked = parse_hyperparameters(values)
    assert (checked.epochs, checked.rank, checked.target_modules) == (2, 8, ("q_proj", "v_proj"))
    assert checked.max_seq_length == LIMITS.max_seq_length
