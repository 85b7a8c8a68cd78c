"""The engineer directory: every filter, the orderings, listed profiles only, and the page (its errors
by label, the typed input kept, the htmx fragment, the empty state, who may see it)."""

from decimal import Decimal

import pytest
from django.utils import timezone

from marketplace.directory import EngineerFilters, engineer_directory
from marketplace.models import EngineerProfile
from tests.factories import ClientFactory, EngineerFactory, StaffFactory, listed_engineer
from vetting.models import Badge

pytestmark = pytest.mark.django_db
A = EngineerProfile.Availability


def _names(**filters) -> list[str]:
    return [profile.user.username for profile in engineer_directory(filters=EngineerFilters(**filters))]


def _badge(engineer, band: str, score: float, *, revoked: bool = False) -> Badge:
    return Badge.objects.create(
        engineer=engineer,
        challenge_slug=f"challenge-{band}",
        title=f"Ticket to JSON ({band})",
        band=band,
        score=score,
        awarded_at=timezone.now(),
        revoked_at=timezone.now() if revoked else None,
    )


def test_only_listed_profiles_appear():
    listed = listed_engineer(username="listed")
    EngineerFactory(username="no-skills")  # the factory's profile lacks skills
    listed_engineer(username="no-headline", profile__headline="")
    listed_engineer(username="short-bio", profile__bio="Too short.")
    listed_engineer(username="no-rate", profile__rate_amount=0)
    listed_engineer(username="no-zone", profile__time_zone="")
    listed_engineer(username="inactive", is_active=False)
    assert _names() == [listed.username]


def test_search_words_match_name_headline_bio_and_skills_all_of_them():
    # Fixed names: a generated one ("Diana", "Santana") would match the search for "ana" too.
    listed_engineer(
        username="ana",
        first_name="Ana",
        last_name="Silva",
        skills=["QLoRA"],
        profile__headline="Speech models",
    )
    listed_engineer(
        username="ben",
        first_name="Ben",
        last_name="Okafor",
        skills=["RAG"],
        profile__headline="Retrieval and QLoRA adapters",
    )
    listed_engineer(
        username="cy",
        first_name="Cy",
        last_name="Lindqvist",
        skills=["DPO"],
        profile__bio="Preference tuning with QLoRA on one GPU, for years now.",
    )
    listed_engineer(username="dee", first_name="Dee", last_name="Moreau", skills=["Evaluation"])
    assert set(_names(q="qlora")) == {"ana", "ben", "cy"}
    assert _names(q="ana") == ["ana"]
    assert _names(q="qlora speech") == ["ana"]  # every word must match somewhere
    assert _names(q="nothing-like-this") == []


def test_text_relevance_ranks_a_skill_above_a_bio_mention():
    listed_engineer(
        username="in-bio", skills=["RAG"], profile__bio="Mostly RAG; some DPO work too, on small models."
    )
    listed_engineer(username="as-skill", skills=["DPO"])
    assert _names(q="dpo") == ["as-skill", "in-bio"]


def test_skill_filter_takes_one_or_several_slugs():
    listed_engineer(username="lora", skills=["LoRA"])
    listed_engineer(username="rag", skills=["RAG"])
    listed_engineer(username="dpo", skills=["DPO"])
    assert _names(skills=["rag"]) == ["rag"]
    assert set(_names(skills=["rag", "dpo"])) == {"rag", "dpo"}


def test_vetted_and_band_filters_read_active_badges_only():
    passed, strong, exceptional = (listed_engineer(username=n) for n in ("passed", "strong", "exceptional"))
    revoked = listed_engineer(username="revoked")
    listed_engineer(username="unvetted")
    _badge(passed, "pass", 0.71)
    _badge(strong, "strong", 0.85)
    _badge(exceptional, "exceptional", 0.97)
    _badge(revoked, "exceptional", 0.99, revoked=True)
    assert set(_names(vetted=True)) == {"passed", "strong", "exceptional"}
    assert set(_names(band="pass")) == {"passed", "strong", "exceptional"}
    assert set(_names(band="strong")) == {"strong", "exceptional"}
    assert _names(band="exceptional") == ["exceptional"]


def test_relevance_counts_the_band_not_the_score():
    high_score = listed_engineer(username="a-strong-high")
    low_score = listed_engineer(username="b-strong-low")
    _badge(high_score, "strong", 0.89)
    _badge(low_score, "strong", 0.80)
    # Same band, same everything else: the order falls back to the username, whatever the scores.
    assert _names() == ["a-strong-high", "b-strong-low"]
    Badge.objects.filter(engineer=high_score).update(score=0.80)
    Badge.objects.filter(engineer=low_score).update(score=0.89)
    assert _names() == ["a-strong-high", "b-strong-low"]


def test_relevance_weighs_band_rating_and_availability():
    listed_engineer(username="unavailable", profile__availability=A.UNAVAILABLE)
    listed_engineer(username="limited", profile__availability=A.LIMITED)
    listed_engineer(username="available")
    rated = listed_engineer(username="rated")
    EngineerProfile.objects.filter(user=rated).update(rating_count=4, rating_sum=20)
    vetted = listed_engineer(username="vetted", profile__availability=A.LIMITED)
    _badge(vetted, "exceptional", 0.95)
    assert _names() == ["vetted", "rated", "available", "limited", "unavailable"]


def test_rate_range_in_minor_units_and_in_each_currencys_major_units():
    listed_engineer(username="usd-80", profile__rate_amount=8_000)
    listed_engineer(username="usd-120", profile__rate_amount=12_000)
    listed_engineer(username="usd-200", profile__rate_amount=20_000)
    listed_engineer(username="jpy-15000", profile__rate_amount=15_000, profile__currency="jpy")
    assert set(_names(rate_min=10_000, rate_max=15_000)) == {"usd-120", "jpy-15000"}
    # "100 to 150" means 100-150 USD for a USD rate, and ¥100-150 for a yen rate.
    assert _names(rate_min=Decimal("100"), rate_max=Decimal("150"), rates_in_major_units=True) == ["usd-120"]
    assert set(_names(rate_min=Decimal("120.00"), rates_in_major_units=True)) == {
        "usd-120",
        "usd-200",
        "jpy-15000",
    }
    assert set(_names(rate_max=Decimal("119.99"), rates_in_major_units=True)) == {"usd-80"}


def test_availability_region_and_language():
    listed_engineer(username="berlin", profile__languages=["English", "German"])
    listed_engineer(
        username="lisbon",
        profile__time_zone="Europe/Lisbon",
        profile__languages=["Português"],
        profile__availability=A.LIMITED,
    )
    listed_engineer(username="nyc", profile__time_zone="America/New_York", profile__languages=["english"])
    assert _names(availability="limited") == ["lisbon"]
    assert set(_names(region="Europe")) == {"berlin", "lisbon"}
    assert _names(region="America") == ["nyc"]
    assert set(_names(language="English")) == {"berlin", "nyc"}
    assert _names(language="português") == ["lisbon"]
    assert _names(language="Germ") == []  # whole names only


def test_orderings_by_rating_and_by_rate():
    low = listed_engineer(username="low", profile__rate_amount=5_000)
    listed_engineer(username="mid", profile__rate_amount=10_000)
    high = listed_engineer(username="high", profile__rate_amount=30_000)
    EngineerProfile.objects.filter(user=low).update(rating_count=10, rating_sum=48)
    EngineerProfile.objects.filter(user=high).update(rating_count=1, rating_sum=5)
    assert _names(ordering="rate") == ["low", "mid", "high"]
    assert _names(ordering="-rate") == ["high", "mid", "low"]
    # One 5-star review is not a record: ten reviews averaging 4.8 rank above it.
    assert _names(ordering="rating") == ["low", "high", "mid"]


# --- The page ----------------------------------------------------------------------------------------


def _page_client(client, user=None):
    client.force_login(user or ClientFactory())
    return client


def test_anonymous_users_log_in_first_and_every_role_may_look(client):
    response = client.get("/engineers/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    for user in (ClientFactory(), EngineerFactory(), StaffFactory()):
        client.force_login(user)
        assert client.get("/engineers/").status_code == 200


def test_the_page_lists_cards_with_bands_never_scores(client):
    engineer = listed_engineer(
        username="maya", first_name="Maya", skills=["QLoRA"], profile__languages=["English", "German"]
    )
    _badge(engineer, "strong", 0.8734)
    html = _page_client(client).get("/engineers/?q=qlora").content.decode()
    assert "Maya" in html and "QLoRA" in html and "Strong" in html
    assert "Europe/Berlin" in html and "English, German" in html and "120.00 USD" in html
    assert "/engineers/maya/" in html
    assert "0.87" not in html and "87" not in html.split("Strong")[1][:200]


def test_a_bad_rate_range_names_the_fields_by_label_and_keeps_what_was_typed(client):
    listed_engineer()
    response = _page_client(client).get("/engineers/?rate_min=200&rate_max=100&q=lora")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Maximum rate: The maximum rate must not be below the minimum rate." in html
    assert 'value="200"' in html and 'value="100"' in html and 'value="lora"' in html
    assert 'data-testid="engineer-card"' not in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("rate_min=cheap", "Minimum rate: Enter a number such as 120 or 120.50."),
        ("rate_max=12.345", "Maximum rate: Enter a number such as 120 or 120.50."),
        ("band=legendary", "Badge band: Select a valid choice."),
    ],
)
def test_each_bad_filter_is_named_by_its_label(client, query, message):
    html = _page_client(client).get(f"/engineers/?{query}").content.decode()
    assert message in html


def test_htmx_gets_the_results_alone_with_the_field_errors_out_of_band(client):
    listed_engineer(username="maya")
    page = _page_client(client)
    fragment = page.get("/engineers/?q=", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200
    html = fragment.content.decode()
    assert "<html" not in html and "maya" in html
    bad = page.get("/engineers/?rate_min=x", HTTP_HX_REQUEST="true")
    assert bad.status_code == 200  # htmx swaps only 2xx answers
    assert (
        'id="errors-rate_min" hx-swap-oob="true"><p class="field-error">Enter a number'
        in bad.content.decode()
    )


def test_no_match_shows_the_empty_state_with_a_clear_filters_link(client):
    listed_engineer()
    html = _page_client(client).get("/engineers/?language=Klingon").content.decode()
    assert "No engineers match these filters." in html
    assert 'href="/engineers/">Clear filters' in html


def test_the_page_is_paginated(client):
    for index in range(23):
        listed_engineer(username=f"eng{index:02d}")
    page = _page_client(client)
    first = page.get("/engineers/?ordering=rate").content.decode()
    assert first.count('data-testid="engineer-card"') == 20 and "Page 1 of 2" in first
    second = page.get("/engineers/?ordering=rate&page=2").content.decode()
    assert second.count('data-testid="engineer-card"') == 3


def test_the_navigation_offers_the_directory_to_clients_and_the_board_to_engineers(client):
    client.force_login(ClientFactory())
    html = client.get("/dashboard/").content.decode()
    assert 'href="/engineers/"' in html and 'href="/jobs/"' not in html
    client.force_login(EngineerFactory())
    html = client.get("/dashboard/").content.decode()
    assert 'href="/jobs/"' in html and ">Find engineers<" not in html
