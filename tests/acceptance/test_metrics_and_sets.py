"""The metric library and the evaluation-set parser a client's acceptance test is built from."""

import json

import pytest

from acceptance.metrics import METRICS
from tests.acceptance.sets import jsonl, ticket_items
from vetting.datasets import parse_prompt_set


@pytest.mark.parametrize(
    ("metric", "output", "target", "score"),
    [
        ("exact_match", "  Paris \n", "Paris", 1.0),
        ("exact_match", "paris", "Paris", 0.0),
        ("contains", "The answer is PARIS, France.", "Paris", 1.0),
        ("contains", "Lyon", "Paris", 0.0),
        ("label", ' "Billing." ', "billing", 1.0),
        ("label", "billing issue", "billing", 0.0),
        ("json_fields", '{"team": "it", "priority": 2}', {"team": "it", "priority": 2}, 1.0),
        # Types count: "2" is not 2, and true is not 1.
        ("json_fields", '{"team": "it", "priority": "2"}', {"team": "it", "priority": 2}, 0.5),
        ("json_fields", '{"urgent": 1}', {"urgent": True}, 0.0),
        ("json_fields", '```json\n{"team": "it", "extra": 1}\n```', '{"team": "it", "priority": 2}', 0.5),
        ("json_fields", "team: it", {"team": "it"}, 0.0),
        ("json_fields", "[1, 2]", {"team": "it"}, 0.0),
    ],
)
def test_metric_scores(metric, output, target, score):
    assert METRICS[metric].score(output, target) == score


def test_json_fields_targets_must_be_objects_with_keys():
    metric = METRICS["json_fields"]
    assert metric.check_target({"a": 1}) is None
    assert metric.check_target('{"a": 1}') is None
    assert metric.check_target("[1]") == "must be a JSON object (or the text of one)"
    assert metric.check_target({}) == "must have at least one key"


def _parse(data, metric="label", min_items=3, max_items=10):
    return parse_prompt_set(data, metric=METRICS[metric], min_items=min_items, max_items=max_items)


def test_both_line_formats_give_prompt_turns_and_targets():
    chat = {
        "messages": [
            {"role": "system", "content": "Route the ticket."},
            {"role": "user", "content": "VPN drops every hour"},
            {"role": "assistant", "content": "network"},
        ]
    }
    records, errors = _parse(jsonl([*ticket_items(2), chat]))
    assert errors == []
    assert records[0].messages == [{"role": "user", "content": ticket_items(1)[0]["input"]}]
    assert records[0].target == "billing"
    assert records[2].messages == chat["messages"][:2]
    assert records[2].target == "network"
    assert [record.line for record in records] == [1, 2, 3]


def test_every_problem_is_reported_with_its_line():
    lines = [
        json.dumps(ticket_items(1)[0]),
        "{not json",
        json.dumps({"input": "x"}),
        json.dumps({"input": "y", "target": "z", "weight": 2}),
        json.dumps({"input": "", "target": "billing"}),
        json.dumps(ticket_items(1)[0]),
        json.dumps([1]),
        json.dumps({"messages": [{"role": "user", "content": "only a question"}]}),
    ]
    _, errors = _parse("\n".join(lines).encode())
    assert [(error["line"], error["code"]) for error in errors] == [
        (2, "invalid_json"),
        (3, "missing_key"),
        (4, "unknown_key"),
        (5, "empty_input"),
        (6, "duplicate_input"),
        (7, "not_object"),
        (8, "no_assistant_turn"),
    ]
    assert errors[4]["message"] == "the same input as line 1"


def test_targets_are_checked_against_the_metric():
    _, errors = _parse(jsonl([{"input": "a", "target": "not json"}]), metric="json_fields", min_items=1)
    assert errors == [
        {"line": 1, "code": "invalid_target", "message": "target must be a JSON object (or the text of one)"}
    ]


def test_the_item_count_is_bounded():
    assert _parse(jsonl(ticket_items(2)))[1][0]["message"] == "2 items; an evaluation set holds 3 to 10"
    assert _parse(jsonl(ticket_items(11)))[1][0]["code"] == "item_count"
    assert _parse(b"\n\n")[1] == [{"line": None, "code": "empty_file", "message": "the file holds no items"}]
    assert _parse(b"\xff\xfe")[1][0]["code"] == "encoding"
