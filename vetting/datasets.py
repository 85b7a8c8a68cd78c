"""Validation before anything runs: training datasets, hyperparameters, and staff-uploaded eval sets.

Everything here is pure: inputs in, a JSON-serialisable report out. Line numbers are 1-based lines of
the file as uploaded (blank lines count but are skipped). Errors make a submission be rejected;
warnings are advice. Nothing here knows the hidden items: a report must read the same whether or not
an uploaded text is one (any difference would answer "is this a hidden item?"). The overlap is
measured later, in the scoring worker (`HiddenTextIndex`), and the items overlapped are left out of
that submission's score.

An example counts as a task example when its system message is the challenge's published one: those
are the examples whose assistant turns must be valid outputs of the task (and whose labels are
counted). Other examples (for instance general questions mixed in to keep general ability) are
checked for format only.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from core import jsonsafe
from sandbox.engines import hyperparameters
from sandbox.engines.common import json_type, message_problems
from sandbox.engines.hyperparameters import LINEAR_MODULES
from vetting.challenges.base import Metric, PublishedPrompt, Split
from vetting.text import NearDuplicateIndex, normalize_text, sketch, token_set

MAX_LISTED_PER_CODE = 50

TokenCounter = Callable[[list[dict[str, str]]], int]


def approximate_token_counter(messages: list[dict[str, str]]) -> int:
    """About four characters a token plus each turn's markers; the pipeline passes the real tokenizer."""
    return sum(math.ceil(len(message["content"]) / 4) + 4 for message in messages)


def text_token_counter(count_text: Callable[[str], int], per_message: int = 4) -> TokenCounter:
    """A messages counter from a text counter (e.g. `lambda text: len(text.split())` in tests)."""
    return lambda messages: sum(count_text(message["content"]) + per_message for message in messages)


@dataclass(frozen=True)
class DatasetRules:
    min_examples: int
    max_examples: int
    max_tokens_per_example: int
    prompt: PublishedPrompt | None = None
    metric: Metric | None = None
    public_inputs: tuple[str, ...] = ()
    near_threshold: float = 0.85
    train_tokens_per_second: float = 120.0
    throughput_basis: str = ""  # how train_tokens_per_second was arrived at, shown with the estimate
    device_cost_per_hour: int = 0  # minor units
    currency: str = "usd"


@dataclass
class HiddenTextIndex:
    """Hidden item inputs by key, held as normalised text and token sets: which items a training set
    overlaps (exactly or nearly). Scoring workers only; never the web process."""

    exact: dict[str, list[str]]
    near: NearDuplicateIndex

    @classmethod
    def build(cls, texts: Mapping[str, str], threshold: float) -> HiddenTextIndex:
        near = NearDuplicateIndex(threshold)
        exact: dict[str, list[str]] = defaultdict(list)
        for key, text in texts.items():
            near.add(key, sketch(token_set(text)))
            exact[normalize_text(text)].append(key)
        return cls(exact=dict(exact), near=near)

    def overlapping_keys(self, texts: Iterable[str]) -> set[str]:
        keys: set[str] = set()
        for text in texts:
            keys.update(self.exact.get(normalize_text(text), ()))
            near = self.near.query(sketch(token_set(text)))
            if near is not None:
                keys.add(str(near))
        return keys


@dataclass
class _Report:
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    error_counts: Counter = field(default_factory=Counter)
    warning_counts: Counter = field(default_factory=Counter)

    def error(self, line: int | None, code: str, message: str) -> None:
        self.error_counts[code] += 1
        if self.error_counts[code] <= MAX_LISTED_PER_CODE:
            self.errors.append({"line": line, "code": code, "message": message})

    def warning(self, line: int | None, code: str, message: str) -> None:
        self.warning_counts[code] += 1
        if self.warning_counts[code] <= MAX_LISTED_PER_CODE:
            self.warnings.append({"line": line, "code": code, "message": message})


def _lines(data: bytes | str, report: _Report) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) for each non-blank line that is UTF-8 JSON; errors for the others."""
    raw_lines = data.split(b"\n") if isinstance(data, bytes) else data.split("\n")
    for number, raw in enumerate(raw_lines, start=1):
        if isinstance(raw, bytes):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                report.error(number, "encoding", f"not UTF-8 text (byte {exc.start + 1} of the line)")
                continue
        else:
            line = raw
        if number == 1:
            line = line.removeprefix("\ufeff")
        if not line.strip():
            continue
        try:
            yield number, jsonsafe.loads(line)
        except jsonsafe.JSONInputError as exc:
            report.error(number, "invalid_json", str(exc))


def _check_messages(number: int, record: Any, report: _Report) -> list[dict[str, str]] | None:
    """The messages of a well-formed record, or None after reporting every structural problem."""
    if not isinstance(record, dict):
        report.error(number, "not_object", f"each line must be a JSON object, not {json_type(record)}")
        return None
    ok = True
    if "messages" not in record:
        report.error(number, "missing_key", "missing key 'messages'")
        ok = False
    for key in record:
        if key != "messages":
            report.error(number, "unknown_key", f"unknown key {key!r}; a line holds only 'messages'")
            ok = False
    messages = record.get("messages")
    if "messages" in record and (not isinstance(messages, list) or not messages):
        report.error(number, "invalid_messages", "'messages' must be a non-empty list")
        return None
    if not ok:
        return None
    for code, problem in message_problems(messages):
        report.error(number, code, problem)
        ok = False
    for index, message in enumerate(messages, start=1):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str) and not content.strip():
            report.error(number, "empty_content", f"message {index}: content is empty")
            ok = False
    if not ok:
        return None
    roles = [message["role"] for message in messages]
    if "assistant" not in roles:
        report.error(number, "no_assistant_turn", "no assistant message: nothing to learn from this example")
        return None
    problem = _turn_order_problem(roles)
    if problem:
        report.error(number, "turn_order", problem)
        return None
    return messages


def _turn_order_problem(roles: list[str]) -> str | None:
    start = 1 if roles[0] == "system" else 0
    for index, role in enumerate(roles[start:], start=start + 1):
        if role == "system":
            return f"message {index}: a system message may only come first"
        expected = "user" if (index - start) % 2 == 1 else "assistant"
        if role != expected:
            return f"message {index}: expected {expected} (user and assistant turns alternate, user first)"
    if roles[-1] != "assistant":
        return "the last message must be the assistant's"
    return None


def validate_dataset(
    data: bytes | str,
    *,
    rules: DatasetRules,
    count_tokens: TokenCounter = approximate_token_counter,
    epochs: int = 1,
) -> dict[str, Any]:
    """The validation report of a chat-format JSONL training set (see the module docstring)."""
    report = _Report()
    metric, prompt = rules.metric, rules.prompt
    public = {normalize_text(text) for text in rules.public_inputs}
    seen_exact: dict[str, int] = {}
    near_index = NearDuplicateIndex(rules.near_threshold)
    labels: dict[str, Counter] = defaultdict(Counter)
    examples = task_examples = total_tokens = longest = assistant_turns = 0
    duplicates = near_duplicates = copied = 0
    for number, record in _lines(data, report):
        messages = _check_messages(number, record, report)
        if messages is None:
            continue
        examples += 1
        if examples > rules.max_examples:
            # Nothing past the limit is tokenised: an oversized upload costs no more than a full one.
            break
        tokens = count_tokens(messages)
        total_tokens += tokens
        longest = max(longest, tokens)
        if tokens > rules.max_tokens_per_example:
            report.error(
                number,
                "too_many_tokens",
                f"{tokens} tokens, over the limit of {rules.max_tokens_per_example}: it would be truncated",
            )
        is_task = (
            prompt is not None and messages[0]["role"] == "system" and messages[0]["content"] == prompt.system
        )
        assistant = [m for m in messages if m["role"] == "assistant"]
        assistant_turns += len(assistant)
        if is_task:
            task_examples += 1
            if metric is not None:
                valid = True
                for index, message in enumerate(messages, start=1):
                    if message["role"] == "assistant":
                        problem = metric.output_problem(message["content"])
                        if problem:
                            valid = False
                            report.error(number, "invalid_target", f"message {index} (assistant): {problem}")
                target = metric.parse_output(assistant[-1]["content"]) if valid else None
                if target is not None:
                    for dimension, value in metric.labels(target).items():
                        labels[dimension][value] += 1

        conversation = [m for m in messages if m["role"] != "system"]
        exact_key = normalize_text("\n".join(f"{m['role']}: {m['content']}" for m in messages))
        if exact_key in seen_exact:
            duplicates += 1
            report.warning(number, "duplicate", f"the same example as line {seen_exact[exact_key]}")
        else:
            seen_exact[exact_key] = number
            example_sketch = sketch(token_set(" ".join(m["content"] for m in conversation)))
            similar = near_index.query(example_sketch)
            if similar is not None:
                near_duplicates += 1
                report.warning(number, "near_duplicate", f"nearly the same example as line {similar}")
            near_index.add(number, example_sketch)

        inputs = _user_inputs(conversation, prompt)
        if any(normalize_text(text) in public for text in inputs):
            copied += 1
            report.warning(number, "public_example_copied", "a public example of the challenge, copied")

    if examples == 0 and not report.error_counts:
        report.error(None, "empty_file", "the file holds no examples")
    elif examples < rules.min_examples:
        report.error(
            None, "too_few_examples", f"{examples} valid examples; at least {rules.min_examples} needed"
        )
    if examples > rules.max_examples:
        examples = rules.max_examples
        report.error(
            None,
            "too_many_examples",
            f"more than {rules.max_examples} examples; at most {rules.max_examples} allowed",
        )
    if prompt is not None and examples and not task_examples:
        report.warning(
            None,
            "no_task_examples",
            "no example uses the published system message, so none trains the task in its evaluation format",
        )
    _label_warnings(labels, metric, task_examples, report)

    billable = total_tokens * epochs
    device_seconds = billable / rules.train_tokens_per_second if rules.train_tokens_per_second else 0.0
    stats = {
        "examples": examples,
        "task_examples": task_examples,
        "other_examples": examples - task_examples,
        "assistant_turns": assistant_turns,
        "tokens": total_tokens,
        "max_tokens_per_example": longest,
        "mean_tokens_per_example": round(total_tokens / examples, 1) if examples else 0,
        "epochs": epochs,
        "billable_tokens": billable,
        "estimated_device_seconds": round(device_seconds, 1),
        "train_tokens_per_second": rules.train_tokens_per_second,
        "throughput_basis": rules.throughput_basis,
        "estimated_cost": math.ceil(device_seconds / 3600 * rules.device_cost_per_hour),
        "currency": rules.currency,
        "duplicates": duplicates,
        "near_duplicates": near_duplicates,
        "public_examples_copied": copied,
        "label_distribution": {
            dimension: dict(sorted(counts.items())) for dimension, counts in labels.items()
        },
        "error_counts": dict(report.error_counts),
        "warning_counts": dict(report.warning_counts),
    }
    return {
        "ok": not report.error_counts,
        "errors": report.errors,
        "warnings": report.warnings,
        "stats": stats,
    }


def _label_warnings(labels: dict[str, Counter], metric: Metric | None, total: int, report: _Report) -> None:
    """Warn when a value is missing, or far below or above its uniform share (1/K of the examples)."""
    if metric is None or not total:
        return
    for dimension, values in metric.label_values().items():
        counts = labels.get(dimension, Counter())
        missing = [value for value in values if not counts[value]]
        if missing:
            report.warning(
                None,
                "label_missing",
                f"{dimension}: no task example of " + ", ".join(missing),
            )
        uniform = 1 / len(values)
        for value in values:
            share = counts[value] / total
            if counts[value] and (share < uniform / 4 or share > min(0.9, uniform * 2.5)):
                report.warning(
                    None,
                    "label_imbalance",
                    f"{dimension}={value} is {share:.0%} of the task examples (an even share is {uniform:.0%})",
                )


def _user_inputs(messages: list[dict[str, str]], prompt: PublishedPrompt | None) -> list[str]:
    return [
        prompt.extract_input(m["content"]) if prompt else m["content"]
        for m in messages
        if m["role"] == "user"
    ]


def dataset_user_inputs(data: bytes, *, prompt: PublishedPrompt | None) -> Iterator[list[str]]:
    """The user inputs of each example of a dataset that passed validation (every non-blank line is a
    valid example), as the evaluation would place them: for the overlap with hidden items."""
    for raw in data.split(b"\n"):
        if raw.strip():
            messages = jsonsafe.loads(raw.decode("utf-8").removeprefix("\ufeff"))["messages"]
            yield _user_inputs(messages, prompt)


# --- hyperparameters ------------------------------------------------------------------------------

# Hyperparameters arrive as one small JSON object; anything larger is not a set of hyperparameters.
HYPERPARAMETERS_MAX_BYTES = 16 * 1024


@dataclass(frozen=True)
class HyperparameterLimits:
    max_rank: int
    max_epochs: int
    max_seq_length: int


def hyperparameter_specs(limits: HyperparameterLimits) -> dict[str, hyperparameters.Spec]:
    """The engine's schema narrowed to what a challenge allows: its budgets, the base model's linear
    layers, and learning rates, dropouts and batches a sensible submission stays within."""
    return hyperparameters.narrowed(
        hyperparameters.ENGINE,
        rank={"default": min(16, limits.max_rank), "high": limits.max_rank},
        alpha={"low": 1.0, "high": 1024.0, "low_open": False},
        dropout={"low": 0.0, "high": 0.5, "high_open": False},
        target_modules={"choices": LINEAR_MODULES},
        learning_rate={"low": 1e-6, "high": 1e-2, "low_open": False},
        warmup_ratio={"low": 0.0, "high": 0.5, "high_open": False},
        epochs={"default": min(2, limits.max_epochs), "high": limits.max_epochs},
        batch_size={"high": 64},
        gradient_accumulation={"high": 16},
        max_seq_length={"default": limits.max_seq_length, "high": limits.max_seq_length},
    )


def hyperparameter_schema(limits: HyperparameterLimits) -> dict[str, dict[str, Any]]:
    """Each key the training engine takes, with its default and bounds under the challenge's budget."""
    return {key: spec.describe() for key, spec in hyperparameter_specs(limits).items()}


def validate_hyperparameters(
    raw: Any, limits: HyperparameterLimits
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """(every key with defaults filled in, errors naming each bad key)."""
    values, problems = hyperparameters.check(raw, hyperparameter_specs(limits))
    return values, [{"key": key, "message": message} for key, message in problems]


# --- eval sets (staff uploads) --------------------------------------------------------------------

EVALSET_KEYS = ("split", "input", "target")


@dataclass(frozen=True)
class EvalRecord:
    line: int
    split: str
    input: str
    target: Any


def _has_exactly(number: int, record: dict[str, Any], keys: tuple[str, ...], report: _Report) -> bool:
    """Whether the line's object has these keys and no other; reports what is missing and what is not
    known otherwise."""
    missing = [key for key in keys if key not in record]
    unknown = [key for key in record if key not in keys]
    if missing:
        report.error(number, "missing_key", "missing key " + ", ".join(repr(key) for key in missing))
    if unknown:
        report.error(number, "unknown_key", "unknown key " + ", ".join(repr(key) for key in unknown))
    return not missing and not unknown


def parse_evalset(
    data: bytes | str, *, metric: Metric, general_metric: Metric, min_sizes: dict[str, int]
) -> tuple[list[EvalRecord], list[dict[str, Any]]]:
    """Records of an eval-set JSONL file ({"split", "input", "target"} a line) and line-numbered errors.

    A file without general items is valid: the caller supplies a general set.
    """
    report = _Report()
    records: list[EvalRecord] = []
    seen: dict[str, int] = {}
    for number, record in _lines(data, report):
        if not isinstance(record, dict):
            report.error(number, "not_object", f"each line must be a JSON object, not {json_type(record)}")
            continue
        if not _has_exactly(number, record, EVALSET_KEYS, report):
            continue
        split, text, target = record["split"], record["input"], record["target"]
        if split not in Split.ALL:
            report.error(number, "unknown_split", "split must be " + ", ".join(Split.ALL))
            continue
        if not isinstance(text, str) or not text.strip():
            report.error(number, "empty_input", "input must be a non-empty string")
            continue
        problem = (general_metric if split == Split.GENERAL else metric).check_target(target)
        if problem:
            report.error(number, "invalid_target", f"target {problem}")
            continue
        normalized = normalize_text(text)
        if normalized in seen:
            report.error(number, "duplicate_input", f"the same input as line {seen[normalized]}")
            continue
        seen[normalized] = number
        records.append(EvalRecord(line=number, split=split, input=text, target=target))
    counts = Counter(record.split for record in records)
    for split, minimum in min_sizes.items():
        if split == Split.GENERAL and not counts[split]:
            continue
        if counts[split] < minimum:
            report.error(None, "too_few_items", f"{counts[split]} {split} items; at least {minimum} needed")
    if not records and not report.error_counts:
        report.error(None, "empty_file", "the file holds no items")
    return records, report.errors


def evalset_stats(items: list[tuple[str, str, Any]], *, metric: Metric) -> dict[str, Any]:
    """Counts, label distribution and average lengths per split, from (split, input, target) triples."""
    by_split: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    for split, text, target in items:
        by_split[split].append((text, target))
    stats: dict[str, Any] = {"counts": {split: len(by_split[split]) for split in Split.ALL}}
    for split, entries in by_split.items():
        texts = [text for text, _ in entries]
        split_stats: dict[str, Any] = {
            "avg_input_chars": round(sum(map(len, texts)) / len(texts), 1),
            "avg_input_words": round(sum(len(text.split()) for text in texts) / len(texts), 1),
        }
        if split != Split.GENERAL:
            distribution: dict[str, Counter] = defaultdict(Counter)
            for _, target in entries:
                for dimension, value in metric.labels(target).items():
                    distribution[dimension][value] += 1
            split_stats["labels"] = {d: dict(sorted(c.items())) for d, c in distribution.items()}
            split_stats["avg_output_chars"] = round(
                sum(len(metric.render(target)) for _, target in entries) / len(entries), 1
            )
        stats[split] = split_stats
    return stats


# --- input/target sets (a client's acceptance tests and prompting baselines) ---------------------


@dataclass(frozen=True)
class PromptRecord:
    """One item: the turns the model is given, and the target its answer is scored against."""

    line: int
    messages: list[dict[str, str]]
    target: Any


def parse_prompt_set(
    data: bytes | str, *, metric: Metric, min_items: int, max_items: int
) -> tuple[list[PromptRecord], list[dict[str, Any]]]:
    """Items of a JSONL file and line-numbered errors. A line is `{"input": ..., "target": ...}` (the
    input becomes the user turn) or a chat-format line whose last assistant turn is the target and
    whose earlier turns are the prompt. Inputs must be distinct; the target must suit the metric."""
    report = _Report()
    records: list[PromptRecord] = []
    seen: dict[str, int] = {}
    for number, record in _lines(data, report):
        if isinstance(record, dict) and "messages" in record:
            messages = _check_messages(number, record, report)
            if messages is None:
                continue
            prompt, target = messages[:-1], messages[-1]["content"]
        elif isinstance(record, dict):
            if not _has_exactly(number, record, ("input", "target"), report):
                continue
            text, target = record["input"], record["target"]
            if not isinstance(text, str) or not text.strip():
                report.error(number, "empty_input", "input must be a non-empty string")
                continue
            prompt = [{"role": "user", "content": text}]
        else:
            report.error(number, "not_object", f"each line must be a JSON object, not {json_type(record)}")
            continue
        problem = metric.check_target(target)
        if problem:
            report.error(number, "invalid_target", f"target {problem}")
            continue
        normalized = normalize_text("\n".join(message["content"] for message in prompt))
        if normalized in seen:
            report.error(number, "duplicate_input", f"the same input as line {seen[normalized]}")
            continue
        seen[normalized] = number
        records.append(PromptRecord(line=number, messages=prompt, target=target))
    if not records and not report.error_counts:
        report.error(None, "empty_file", "the file holds no items")
    elif not report.error_counts and not min_items <= len(records) <= max_items:
        report.error(
            None,
            "item_count",
            f"{len(records):,} items; an evaluation set holds {min_items:,} to {max_items:,}",
        )
    return records, report.errors
