"""The metrics a client can score an acceptance test with: a small library, each a vetting Metric.

Targets come from the client's evaluation set: a string (the assistant turn of a chat-format line, or
the `target` of an input/target line) or, for `json_fields`, a JSON object (given as such or as the
text of one). Every metric scores one output in [0, 1].
"""

from __future__ import annotations

import json
import re
from typing import Any

from vetting.challenges.base import Metric

_SPACES = re.compile(r"\s+")
_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```$", re.DOTALL)
LABEL_MAX_CHARS = 64


def _normalize(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


class _TextMetric(Metric):
    def render(self, target: Any) -> str:
        return target

    def check_target(self, target: Any) -> str | None:
        if not isinstance(target, str) or not target.strip():
            return "must be a non-empty string"
        return None

    def parse_output(self, text: str) -> Any | None:
        return text if text.strip() else None

    def output_problem(self, text: str) -> str | None:
        return None if text.strip() else "is empty"

    def labels(self, target: Any) -> dict[str, str]:
        return {}


class ExactMatch(_TextMetric):
    """1 when the output equals the target, whitespace runs and the ends aside."""

    name = "exact_match"

    def score(self, output: str, target: Any) -> float:
        return 1.0 if _normalize(output) == _normalize(target) else 0.0


class Contains(_TextMetric):
    """1 when the output contains the target, ignoring case and whitespace runs."""

    name = "contains"

    def score(self, output: str, target: Any) -> float:
        return 1.0 if _normalize(target).casefold() in _normalize(output).casefold() else 0.0


class Label(_TextMetric):
    """Classification: 1 when the output, trimmed of spaces, quotes and a final period, is the label
    (case ignored)."""

    name = "label"

    @staticmethod
    def _clean(text: str) -> str:
        return _normalize(text).strip("\"'`").rstrip(".").strip().casefold()

    def check_target(self, target: Any) -> str | None:
        problem = super().check_target(target)
        if problem is None and len(target) > LABEL_MAX_CHARS:
            return f"must be a label of at most {LABEL_MAX_CHARS} characters"
        return problem

    def score(self, output: str, target: Any) -> float:
        return 1.0 if self._clean(output) == self._clean(target) else 0.0

    def labels(self, target: Any) -> dict[str, str]:
        return {"label": self._clean(target)}


def json_object(value: Any) -> dict[str, Any] | None:
    """The JSON object a target or output expresses (an object, or the text of one, optionally in a
    Markdown code fence), else None."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _same(expected: Any, actual: Any) -> bool:
    # bool is an int in Python; JSON says they are different types, and so does this metric.
    return type(expected) is type(actual) and expected == actual


class JsonFields(Metric):
    """The share of the target object's keys whose values the output object matches, types included:
    output `{"a": 1, "b": "2"}` against target `{"a": 1, "b": 2}` scores 0.5; an output that is not
    a JSON object scores 0. Keys the target lacks are ignored."""

    name = "json_fields"
    json_targets = True

    def score(self, output: str, target: Any) -> float:
        expected = json_object(target) or {}
        actual = json_object(output)
        if actual is None or not expected:
            return 0.0
        matched = sum(1 for key, value in expected.items() if key in actual and _same(value, actual[key]))
        return matched / len(expected)

    def render(self, target: Any) -> str:
        return json.dumps(json_object(target), ensure_ascii=False)

    def check_target(self, target: Any) -> str | None:
        parsed = json_object(target)
        if parsed is None:
            return "must be a JSON object (or the text of one)"
        if not parsed:
            return "must have at least one key"
        return None

    def parse_output(self, text: str) -> Any | None:
        return json_object(text)

    def output_problem(self, text: str) -> str | None:
        return None if json_object(text) is not None else "is not a JSON object"

    def labels(self, target: Any) -> dict[str, str]:
        return {}


METRICS: dict[str, Metric] = {
    metric.name: metric for metric in (ExactMatch(), JsonFields(), Label(), Contains())
}
METRIC_CHOICES = [
    ("exact_match", "Exact match"),
    ("json_fields", "JSON fields matched"),
    ("label", "Label (classification)"),
    ("contains", "Contains the target"),
]
