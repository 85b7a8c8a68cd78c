"""Item metrics of the three built-in challenges and of the general set."""

import json

import pytest

from vetting.challenges import BUILTIN, GENERAL_METRIC

TICKET = BUILTIN["support-ticket-json"].metric
TRIAGE = BUILTIN["ml-incident-triage"].metric
CHANGELOG = BUILTIN["changelog-entry"].metric

TARGET = {
    "product": "api",
    "category": "bug",
    "urgency": "high",
    "refund_requested": False,
    "order_id": "ORD-12345",
}


def ticket(**changes) -> str:
    return json.dumps({**TARGET, **changes})


@pytest.mark.parametrize(
    "output, expected",
    [
        (ticket(), 1.0),
        ("  \n" + ticket() + "\n", 1.0),  # surrounding whitespace is not a second object
        (ticket(product="mobile_app"), 0.8),
        (ticket(product="other", urgency="low"), 0.6),
        (ticket(order_id=None), 0.8),
        (ticket(refund_requested="false"), 0.8),  # a string is not a boolean
        (ticket(refund_requested=0), 0.8),  # nor is 0
        (ticket(product="x", category="x", urgency="x", refund_requested=True, order_id=None), 0.0),
        (json.dumps({k: v for k, v in TARGET.items() if k != "order_id"}), 0.0),  # a key missing
        (json.dumps({**TARGET, "notes": ""}), 0.0),  # an extra key
        ("```json\n" + ticket() + "\n```", 0.0),  # not JSON as it stands
        ("Sure! " + ticket(), 0.0),
        ("[" + ticket() + "]", 0.0),
        ("", 0.0),
    ],
)
def test_support_ticket_json_item_score(output, expected):
    assert TICKET.score(output, TARGET) == pytest.approx(expected)


def test_ticket_render_is_the_full_mark_and_has_the_key_order():
    rendered = TICKET.render(TARGET)
    assert TICKET.score(rendered, TARGET) == 1.0
    assert list(json.loads(rendered)) == ["product", "category", "urgency", "refund_requested", "order_id"]


@pytest.mark.parametrize(
    "output, expected",
    [
        ("out_of_memory", 1.0),
        ("  Out_Of_Memory\n", 1.0),
        ("out of memory", 0.0),
        ("oom", 0.0),
        ("out_of_memory.", 0.0),
    ],
)
def test_triage_label_is_exact_match(output, expected):
    assert TRIAGE.score(output, "out_of_memory") == expected


def test_triage_target_check():
    assert TRIAGE.check_target("overfitting") is None
    assert "must be one of" in TRIAGE.check_target("gpu_on_fire")


CHANGE = {"type": "fix", "scope": "auth", "summary": "fix token refresh", "keywords": ["token", "refresh"]}


@pytest.mark.parametrize(
    "output, expected",
    [
        ("fix(auth): fix token refresh", 1.0),
        ("fix(auth): repair the token refresh race", 1.0),  # content, not letters
        ("fix(auth): fix refresh", 2 / 3),  # a keyword missing
        ("feat(auth): fix token refresh", 2 / 3),
        ("feat(api): fix token refresh", 1 / 3),
        ("feat(api): add rate limits", 0.0),
        ("fix(auth): Fix token refresh", 0.0),  # summary starts upper-case
        ("fix(auth): fix token refresh.", 0.0),  # final period
        ("fix(auth):fix token refresh", 0.0),
        ("fix(login): fix token refresh", 0.0),  # unknown scope
        ("bugfix(auth): fix token refresh", 0.0),  # unknown type
        ("fix(auth): fix token refresh\nmore text", 0.0),  # one line only
        ("fix(auth): " + "fix token refresh " * 6, 0.0),  # over 72 characters
    ],
)
def test_changelog_entry_score(output, expected):
    assert CHANGELOG.score(output, CHANGE) == pytest.approx(expected)


def test_changelog_target_check():
    assert CHANGELOG.check_target(CHANGE) is None
    assert (
        CHANGELOG.check_target({**CHANGE, "keywords": ["session"]})
        == "every keyword must be a word of the summary"
    )
    assert "keys" in CHANGELOG.check_target({"type": "fix"})


@pytest.mark.parametrize(
    "output, expected",
    [
        ("5", 1.0),
        ("2 + 3 = 5", 1.0),
        ("The star at the centre of our solar system is called the 5", 1.0),
        ("The answer is 5.", 1.0),
        ("6", 0.0),
        ("15", 0.0),
        ('{"product": "other", "category": "how_to"}', 0.0),
        (" ".join(["word"] * 16) + " 5", 0.0),  # too far in
    ],
)
def test_general_answer_counts_as_a_whole_word_among_the_first_words(output, expected):
    assert GENERAL_METRIC.score(output, {"answers": ["5"]}) == expected


def test_general_answers_are_case_insensitive_and_alternatives_count():
    assert GENERAL_METRIC.score("Closed.", {"answers": ["closed", "shut"]}) == 1.0
    assert GENERAL_METRIC.score("shut", {"answers": ["closed", "shut"]}) == 1.0
    assert GENERAL_METRIC.score("PARIS", {"answers": ["Paris"]}) == 1.0
