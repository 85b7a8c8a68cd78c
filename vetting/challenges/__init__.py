"""The challenges whose hidden items code generates, and the metrics any challenge can use, by name.

BUILTIN holds the repository's demo challenges. Their generators are public, so whoever runs one trains
on the hidden distribution itself: `generated_specs()` offers them only where
VETTING_ALLOW_DEMO_CHALLENGES is set (the default outside production). A deployment's own generated
challenges live in modules kept outside the repository and named in VETTING_CHALLENGE_MODULES (each
defines `SPEC`, a ChallengeSpec); otherwise staff upload private evaluation sets.
"""

import importlib

from vetting.challenges import changelog_entry, ml_incident_triage, support_ticket_json
from vetting.challenges.base import (
    ChallengeSpec,
    Item,
    Metric,
    PublishedPrompt,
    Split,
    derive_rng,
    generate_items,
)
from vetting.challenges.general import GENERAL_METRIC, GENERAL_SIZE, generate_general

BUILTIN: dict[str, ChallengeSpec] = {
    spec.slug: spec for spec in (support_ticket_json.SPEC, ml_incident_triage.SPEC, changelog_entry.SPEC)
}
METRICS: dict[str, Metric] = {spec.metric.name: spec.metric for spec in BUILTIN.values()}

__all__ = [
    "BUILTIN",
    "GENERAL_METRIC",
    "METRICS",
    "ChallengeSpec",
    "Item",
    "Metric",
    "PublishedPrompt",
    "Split",
    "generated_specs",
    "hidden_items",
    "metric_named",
]


def generated_specs() -> dict[str, ChallengeSpec]:
    """The challenges this deployment may generate hidden items for, by slug."""
    from django.conf import settings

    specs = dict(BUILTIN) if settings.VETTING_ALLOW_DEMO_CHALLENGES else {}
    for path in settings.VETTING_CHALLENGE_MODULES:
        spec = importlib.import_module(path).SPEC
        specs[spec.slug] = spec
    return specs


def metric_named(name: str) -> Metric:
    metrics = {**METRICS, **{spec.metric.name: spec.metric for spec in generated_specs().values()}}
    if name not in metrics:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(sorted(metrics))}")
    return metrics[name]


def hidden_items(
    spec: ChallengeSpec, *, secret: str, version: int, feedback: int, final: int, general: int = GENERAL_SIZE
) -> list[Item]:
    """A built-in challenge's hidden items for one eval-set version: a pure function of the secret."""
    items = generate_items(
        generate=spec.generate,
        metric=spec.metric,
        rng_for=lambda split: derive_rng("hidden", secret, spec.slug, str(version), split),
        sizes={Split.FEEDBACK: feedback, Split.FINAL: final},
        public_inputs=[example["input"] for example in spec.public_examples()],
    )
    general_rng = derive_rng("general", secret, spec.slug, str(version))
    items += [
        Item(key=f"general-{index:04d}", split=Split.GENERAL, input=question, target=target, label="")
        for index, (question, target) in enumerate(generate_general(general_rng, general), start=1)
    ]
    return items
