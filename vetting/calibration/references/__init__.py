"""Reference task data per built-in challenge, written from what an engineer can see (the public
instructions, the published prompt and the public examples), never from the challenge's generator:
a reference run must measure what a careful engineer can reach, not what the hidden distribution's
own source gives.

Each module offers `task_examples(rng, count) -> list[tuple[str, str]]`: (input text, the assistant's
output) pairs, outputs valid for the challenge's metric and right by its instructions.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable

MODULES = {
    "support-ticket-json": "vetting.calibration.references.support_ticket_json",
    "ml-incident-triage": "vetting.calibration.references.ml_incident_triage",
    "changelog-entry": "vetting.calibration.references.changelog_entry",
}

TaskExamples = Callable[[random.Random, int], list[tuple[str, str]]]


def task_examples_for(slug: str) -> TaskExamples:
    if slug not in MODULES:
        raise KeyError(f"no reference data for {slug!r}; written for: {', '.join(MODULES)}")
    return importlib.import_module(MODULES[slug]).task_examples
