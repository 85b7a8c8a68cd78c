"""Fixtures for the engine, adapter and registry tests: a tiny model built in code, a small chat
task it can learn in seconds, and one adapter trained on it (shared by the test modules).

Import what a module needs: `from tests.sandbox.engine_fixtures import tiny_model_dir, ...`.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.tiny import build_tiny_model

PROJECT_DIR = Path(__file__).resolve().parents[2]

COLOURS = {
    "sky": "blue",
    "grass": "green",
    "snow": "white",
    "coal": "black",
    "blood": "red",
    "sun": "yellow",
    "night": "dark",
    "cloud": "grey",
}

HYPERPARAMETERS: dict[str, Any] = {
    "rank": 8,
    "alpha": 16,
    "dropout": 0.0,
    "target_modules": "all-linear",
    "learning_rate": 0.005,
    "lr_scheduler": "linear",
    "warmup_ratio": 0.05,
    "epochs": 25,
    "batch_size": 8,
    "gradient_accumulation": 1,
    "max_seq_length": 128,
    "seed": 7,
    "qlora": False,
}


def colour_question(thing: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"What colour is the {thing}?"}]


COUNT_QUESTION = [{"role": "user", "content": "Count to ten."}]
COUNT_ANSWER = "one two three four five six seven eight nine ten"


def colour_examples(count: int = 64, seed: int = 0) -> list[dict[str, Any]]:
    """A task the tiny model learns in a few seconds: one-word answers, with and without a system
    turn, and one long answer (counting), so that generations end at different lengths."""
    rng = random.Random(seed)
    things = list(COLOURS)
    examples = []
    for index in range(count):
        thing = things[index % len(things)] if index < len(things) else rng.choice(things)
        messages = [*colour_question(thing), {"role": "assistant", "content": COLOURS[thing]}]
        if index % 4 == 3:
            messages = [*COUNT_QUESTION, {"role": "assistant", "content": COUNT_ANSWER}]
        if index % 3 == 0:
            messages.insert(0, {"role": "system", "content": "Answer with one word."})
        examples.append({"messages": messages})
    return examples


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def train_spec(tiny_model_dir: Path, dataset: Path, **overrides: Any) -> dict[str, Any]:
    return {
        "base_model_dir": str(tiny_model_dir),
        "dataset_path": str(dataset),
        "hyperparameters": {**HYPERPARAMETERS, **overrides},
        "device": "cpu",
        # One thread: the tiny model's operations are too small to share, and two threads on a
        # busy two-core machine spend their time waiting for each other.
        "cpu_threads": 1,
    }


def run_cli(engine: str, spec: dict[str, Any], workdir: Path) -> tuple[int, list[dict[str, Any]], Path]:
    """Run `python -m sandbox.engines.<engine> SPEC OUTPUT` as the supervisor does; return
    (exit status, the stdout events, the output folder). Every stdout line must be a JSON event."""
    workdir.mkdir(parents=True, exist_ok=True)
    spec_path = workdir / "spec.json"
    spec_path.write_text(json.dumps(spec))
    output = workdir / "output"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR), "HF_HUB_OFFLINE": "1"}
    completed = subprocess.run(
        [sys.executable, "-m", f"sandbox.engines.{engine}", str(spec_path), str(output)],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    events = [json.loads(line) for line in completed.stdout.splitlines()]
    assert all("event" in event for event in events), completed.stdout
    return completed.returncode, events, output


# Each test module that imports a fixture gets its own copy of it, even a session-scoped one, so the
# expensive values are kept here, once per test process.
_made: dict[str, Any] = {}


def _once(key: str, make: Callable[[], Any]) -> Any:
    if key not in _made:
        _made[key] = make()
    return _made[key]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return _once("tiny", lambda: build_tiny_model(tmp_path_factory.mktemp("tiny-model"), seed=0))


@pytest.fixture(scope="session")
def colour_dataset(tmp_path_factory) -> Path:
    return _once(
        "colours",
        lambda: write_jsonl(tmp_path_factory.mktemp("colour-data") / "train.jsonl", colour_examples()),
    )


@pytest.fixture(scope="session")
def trained(tiny_model_dir, colour_dataset, tmp_path_factory):
    """One training run on the colour task, in process: (TrainResult, output folder)."""
    from sandbox.engines.train import run_training

    def train():
        output = tmp_path_factory.mktemp("trained")
        return run_training(train_spec(tiny_model_dir, colour_dataset), output), output

    return _once("trained", train)


@pytest.fixture(scope="session")
def adapter_dir(trained) -> Path:
    return trained[1] / "adapter"
