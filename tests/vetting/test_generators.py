"""Built-in challenges: hidden items are a pure function of the secret seed, never public, derivable."""

import re

import pytest

from vetting.challenges import BUILTIN, GENERAL_METRIC, Split, hidden_items
from vetting.challenges import changelog_entry as changelog
from vetting.challenges import ml_incident_triage as triage
from vetting.challenges import support_ticket_json as tickets
from vetting.challenges.general import GENERAL_SIZE
from vetting.text import normalize_text

SLUGS = sorted(BUILTIN)


def items_for(slug: str, secret: str = "seed-one", version: int = 1):  # noqa: S107
    return hidden_items(BUILTIN[slug], secret=secret, version=version, feedback=100, final=200)


@pytest.mark.parametrize("slug", SLUGS)
def test_same_seed_same_items_other_seed_or_version_other_items(slug):
    first, again = items_for(slug), items_for(slug)
    assert [(i.key, i.input, i.target) for i in first] == [(i.key, i.input, i.target) for i in again]
    for other in (items_for(slug, secret="seed-two"), items_for(slug, version=2)):
        hidden = [i for i in other if i.split != Split.GENERAL]
        shared = {i.input for i in first} & {i.input for i in hidden}
        assert len(shared) < len(hidden) * 0.05


@pytest.mark.parametrize("slug", SLUGS)
def test_split_sizes_and_unique_inputs(slug):
    items = items_for(slug)
    counts = {split: sum(1 for i in items if i.split == split) for split in Split.ALL}
    assert counts == {Split.FEEDBACK: 100, Split.FINAL: 200, Split.GENERAL: GENERAL_SIZE}
    assert GENERAL_SIZE >= 60
    normalized = [normalize_text(i.input) for i in items]
    assert len(set(normalized)) == len(normalized)
    assert len({i.key for i in items}) == len(items)


@pytest.mark.parametrize("slug", SLUGS)
def test_public_examples_never_collide_with_hidden_items(slug):
    spec = BUILTIN[slug]
    public = spec.public_examples()
    assert 3 <= len(public) <= 8
    assert public == spec.public_examples()  # from the public seed space: the same everywhere
    public_inputs = {normalize_text(e["input"]) for e in public}
    for secret in ("seed-one", "seed-two", "seed-three"):
        assert not public_inputs & {normalize_text(i.input) for i in items_for(slug, secret=secret)}


@pytest.mark.parametrize("slug", SLUGS)
def test_public_examples_are_valid_outputs_of_distinct_labels(slug):
    spec = BUILTIN[slug]
    outputs = [e["output"] for e in spec.public_examples()]
    assert all(spec.metric.output_problem(output) is None for output in outputs)
    labels = [spec.metric.primary_label(spec.metric.parse_output(output)) for output in outputs]
    assert len(set(labels)) == len(labels)


@pytest.mark.parametrize("slug", SLUGS)
def test_every_target_is_valid_and_its_rendering_scores_one(slug):
    metric = BUILTIN[slug].metric
    for item in items_for(slug):
        if item.split == Split.GENERAL:
            assert GENERAL_METRIC.check_target(item.target) is None
            assert GENERAL_METRIC.score(GENERAL_METRIC.render(item.target), item.target) == 1.0
        else:
            assert metric.check_target(item.target) is None
            assert metric.score(metric.render(item.target), item.target) == 1.0


@pytest.mark.parametrize("slug", SLUGS)
def test_labels_are_spread_over_the_vocabulary(slug):
    metric = BUILTIN[slug].metric
    items = [i for i in items_for(slug) if i.split != Split.GENERAL]
    dimension, values = next(iter(metric.label_values().items()))
    seen = {metric.labels(i.target)[dimension] for i in items}
    assert seen == set(values)


# --- labels derivable from the text ----------------------------------------------------------------


def ticket_items():
    return [i for i in items_for("support-ticket-json") if i.split != Split.GENERAL]


def test_ticket_order_ids_are_in_the_text_and_no_other_ord_number_is():
    items = ticket_items()
    assert any(i.target["order_id"] for i in items) and any(i.target["order_id"] is None for i in items)
    for item in items:
        found = re.findall(r"ORD-\d{5}", item.input)
        assert found == ([item.target["order_id"]] if item.target["order_id"] else [])


def test_ticket_products_are_named_and_other_names_none():
    phrases = {product: [p.lower() for p in names] for product, names in tickets.PRODUCT_PHRASES.items()}
    for item in ticket_items():
        text = item.input.lower()
        named = {product for product, names in phrases.items() if any(name in text for name in names)}
        if item.target["product"] == "other":
            assert not named, item.key
        else:
            assert item.target["product"] in named


def test_ticket_urgency_and_refund_follow_their_cues():
    high = [c.lower() for c in tickets.URGENCY_CUES["high"]]
    low = [c.lower() for c in tickets.URGENCY_CUES["low"]]
    refund = [c.lower().split("$")[0] for c in tickets.REFUND_YES]
    for item in ticket_items():
        text = item.input.lower()
        has_high = any(cue in text for cue in high)
        has_low = any(cue in text for cue in low)
        assert has_high == (item.target["urgency"] == "high"), item.key
        assert has_low == (item.target["urgency"] == "low"), item.key
        assert any(cue in text for cue in refund) == item.target["refund_requested"], item.key


def test_tickets_vary_in_length_and_noise():
    inputs = [i.input for i in ticket_items()]
    lengths = sorted(len(text) for text in inputs)
    assert lengths[-1] > 3 * lengths[0]
    assert any(text.startswith(tuple(tickets.GREETINGS)) for text in inputs)
    assert any(signature in text for text in inputs for signature in tickets.SIGNATURES)
    assert any(text.count("\n") >= 3 for text in inputs)


def test_triage_reports_contain_their_symptom():
    symptom_stems = {
        label: [sentence.split("{")[0][:30].lower() for sentence in sentences]
        for label, sentences in triage.SYMPTOMS.items()
    }
    for item in items_for("ml-incident-triage"):
        if item.split == Split.GENERAL:
            continue
        text = item.input.lower()
        assert any(stem in text for stem in symptom_stems[item.target]), item.key


def test_changelog_messages_name_the_object_and_show_the_scope():
    for item in items_for("changelog-entry"):
        if item.split == Split.GENERAL:
            continue
        text = item.input.lower()
        assert " ".join(item.target["keywords"]) in text
        scope = item.target["scope"]
        marks = [scope, *(name.lower() for name in changelog.COMPONENT_NAMES[scope])]
        assert any(mark in text for mark in marks), item.key
