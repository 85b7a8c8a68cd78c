"""Challenge texts read well: Markdown rendered and sanitised, sentences not broken at source line
ends, and the scoring said in plain words instead of the metric's code name."""

import pytest
from django.urls import reverse

from vetting.challenges import BUILTIN
from vetting.templatetags.vetting_tags import markdown


def test_markdown_flows_wrapped_lines_and_keeps_lists_code_and_links():
    html = markdown(
        "Turn each message into\none JSON object.\n\n- `product`: one of the list\n- [docs](https://example.com)"
    )
    assert "<p>Turn each message into\none JSON object.</p>" in html  # one paragraph: no <br> mid-sentence
    assert "<br" not in html
    assert "<li><code>product</code>: one of the list</li>" in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">docs</a>' in html


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "[x](javascript:alert(1))",
        '<img src=x onerror="alert(1)">',
        "# Heading\n\n<iframe src=https://example.com></iframe>",
    ],
)
def test_markdown_never_passes_markup_or_scripts_through(text):
    html = markdown(text)
    for bad in ("<script", 'href="javascript:', "<img", "<iframe", "<h1"):
        assert bad not in html  # whatever stays is escaped text, never markup


def test_every_builtin_challenge_says_how_it_scores():
    for slug, spec in BUILTIN.items():
        assert spec.metric.summary, slug
        assert spec.metric.name not in spec.metric.summary  # plain words, not the code name


@pytest.mark.django_db
def test_the_challenge_page_renders_the_instructions_and_the_scoring(client, engineer_user, settings):
    from django.core.management import call_command

    settings.VETTING_BOOTSTRAP_RESAMPLES = 200
    call_command("vetting_seed_challenges", stdout=open("/dev/null", "w"))  # noqa: SIM115
    client.force_login(engineer_user)
    page = client.get(reverse("vetting:challenge-detail", args=["support-ticket-json"])).content.decode()
    assert "Metric support_ticket_json" not in page and "Ladder" not in page
    assert "Scored on the share of the five fields your JSON object gets right" in page
    assert '<div class="instructions prose"><p>' in page
