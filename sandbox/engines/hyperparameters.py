"""The one hyperparameter schema: every key the training engine takes, its default and its bounds, and
the one check that names each bad key.

The engine checks what it is given against `ENGINE` (what it can run at all); the vetting app narrows
the same schema to a challenge's budgets (`narrowed`) and checks uploads against that before anything
runs, with the same wording. Pure Python: the engine imports it inside the sandbox.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any

MAX_RANK = 256
SCHEDULERS = ("linear", "cosine", "constant")
LINEAR_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ALL_LINEAR = "all-linear"
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_MODULES = 32


@dataclass(frozen=True)
class Spec:
    kind: str  # "integer", "number", "choice", "boolean" or "modules"
    default: Any
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()  # "choice": the values; "modules": the names allowed (empty: any name)

    def describe(self) -> dict[str, Any]:
        """As pages and the API show it: type, default, and min/max or choices."""
        described: dict[str, Any] = {"type": self.kind, "default": self.default}
        if self.kind in ("integer", "number"):
            described.update(min=self.low, max=self.high)
        elif self.kind == "choice":
            described["choices"] = list(self.choices)
        elif self.kind == "modules":
            described["choices"] = [ALL_LINEAR, *self.choices]
        return described


ENGINE: dict[str, Spec] = {
    "rank": Spec("integer", 16, 1, MAX_RANK),
    "alpha": Spec("number", 32.0, 0, 4096, low_open=True),
    "dropout": Spec("number", 0.05, 0, 1, high_open=True),
    "target_modules": Spec("modules", ALL_LINEAR),
    "learning_rate": Spec("number", 2e-4, 0, 1, low_open=True),
    "lr_scheduler": Spec("choice", "linear", choices=SCHEDULERS),
    "warmup_ratio": Spec("number", 0.0, 0, 1, high_open=True),
    "epochs": Spec("integer", 1, 1, 100),
    "batch_size": Spec("integer", 8, 1, 1024),
    "gradient_accumulation": Spec("integer", 1, 1, 1024),
    "max_seq_length": Spec("integer", 1024, 16, 32768),
    "seed": Spec("integer", 0, 0, 2**32 - 1),
    "qlora": Spec("boolean", False),
}


def narrowed(schema: dict[str, Spec], **changes: dict[str, Any]) -> dict[str, Spec]:
    """`schema` with some keys' fields changed: narrowed(ENGINE, rank={"high": 64, "default": 16})."""
    return {key: replace(spec, **changes.get(key, {})) for key, spec in schema.items()}


def _interval(spec: Spec) -> str:
    if spec.low_open or spec.high_open:
        return f"in {'(' if spec.low_open else '['}{spec.low}, {spec.high}{')' if spec.high_open else ']'}"
    return f"from {spec.low} to {spec.high}"


def value_problem(value: Any, spec: Spec) -> str | None:
    """What is wrong with `value` under `spec`, or None."""
    if spec.kind == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if spec.kind == "choice":
        return None if value in spec.choices else "must be one of " + ", ".join(spec.choices)
    if spec.kind == "modules":
        if value == ALL_LINEAR:
            return None
        allowed = spec.choices
        if not isinstance(value, list) or not value or len(value) > MAX_MODULES:
            if allowed:
                return f'must be "{ALL_LINEAR}" or a list of ' + ", ".join(allowed)
            return f'must be "{ALL_LINEAR}" or a list of 1 to {MAX_MODULES} module names'
        bad = [item for item in value if not isinstance(item, str) or not _MODULE_NAME.match(item)]
        bad += [item for item in value if not bad and allowed and item not in allowed]
        if bad:
            if allowed:
                return f'must be "{ALL_LINEAR}" or a list of ' + ", ".join(allowed)
            return f"{bad[0]!r} is not a module name such as q_proj"
        return None
    numeric = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if spec.kind == "integer" and not (numeric and float(value).is_integer()):
        return f"must be an integer {_interval(spec)}"
    if not numeric:
        return f"must be {'an integer' if spec.kind == 'integer' else 'a number'} {_interval(spec)}"
    too_low = value <= spec.low if spec.low_open else value < spec.low
    too_high = value >= spec.high if spec.high_open else value > spec.high
    if too_low or too_high:
        return f"must be {'an integer' if spec.kind == 'integer' else 'a number'} {_interval(spec)}"
    return None


def _clean(value: Any, spec: Spec) -> Any:
    if spec.kind == "integer":
        return int(value)  # 2.0 is 2
    if spec.kind == "number":
        return float(value)
    if spec.kind == "modules" and value != ALL_LINEAR:
        return list(dict.fromkeys(value))
    return value


def check(raw: Any, schema: dict[str, Spec]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """(every key, defaults filled in and values cleaned; (key, problem) for each bad key). A raw value
    that is not an object is one problem under the key "hyperparameters"."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return {}, [("hyperparameters", "must be a JSON object")]
    problems = [
        (key, "unknown hyperparameter; known: " + ", ".join(schema)) for key in raw if key not in schema
    ]
    values = {key: spec.default for key, spec in schema.items()}
    for key, value in raw.items():
        if key not in schema:
            continue
        problem = value_problem(value, schema[key])
        if problem:
            problems.append((key, problem))
        else:
            values[key] = _clean(value, schema[key])
    return values, problems
