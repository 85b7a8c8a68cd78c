"""The directory and asking to be invited through /api/v1/: filters and ordering, bad input named by
field, the refusals' 409 codes, and the OpenAPI description of the parameters."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from marketplace.models import EngineerProfile
from tests.factories import EngineerFactory, listed_engineer, open_request
from vetting.models import Badge

pytestmark = pytest.mark.django_db


def _as(user=None) -> APIClient:
    api = APIClient()
    if user is not None:
        api.force_authenticate(user)
    return api


def _usernames(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["username"] for row in response.json()["results"]]


def test_filters_and_ordering():
    maya = listed_engineer(
        username="maya", skills=["QLoRA", "RAG"], profile__languages=["German"], profile__rate_amount=9_000
    )
    listed_engineer(
        username="nyc",
        skills=["RAG"],
        profile__time_zone="America/New_York",
        profile__availability=EngineerProfile.Availability.LIMITED,
        profile__rate_amount=20_000,
    )
    EngineerFactory(username="incomplete")
    Badge.objects.create(
        engineer=maya,
        challenge_slug="json",
        title="JSON",
        band="strong",
        score=0.9,
        awarded_at=timezone.now(),
    )
    api = _as()
    assert sorted(_usernames(api.get("/api/v1/engineers/"))) == ["maya", "nyc"]
    assert _usernames(api.get("/api/v1/engineers/?skill=qlora")) == ["maya"]  # the filter kept from before
    assert sorted(_usernames(api.get("/api/v1/engineers/?skill=qlora&skill=rag"))) == ["maya", "nyc"]
    assert _usernames(api.get("/api/v1/engineers/?q=qlora")) == ["maya"]
    assert _usernames(api.get("/api/v1/engineers/?vetted=true")) == ["maya"]
    assert _usernames(api.get("/api/v1/engineers/?band=exceptional")) == []
    assert _usernames(api.get("/api/v1/engineers/?rate_min=10000&rate_max=25000")) == ["nyc"]
    assert _usernames(api.get("/api/v1/engineers/?availability=limited")) == ["nyc"]
    assert _usernames(api.get("/api/v1/engineers/?time_zone=Europe")) == ["maya"]
    assert _usernames(api.get("/api/v1/engineers/?language=german")) == ["maya"]
    assert _usernames(api.get("/api/v1/engineers/?ordering=-rate")) == ["nyc", "maya"]
    assert _usernames(api.get("/api/v1/engineers/?ordering=rate")) == ["maya", "nyc"]
    row = api.get("/api/v1/engineers/?q=maya").json()["results"][0]
    assert row["time_zone"] == "Europe/Berlin" and row["languages"] == ["German"]
    assert row["badges"][0]["band"] == "strong" and "score" not in row["badges"][0]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("rate_min=300&rate_max=100", "rate_max"),
        ("rate_min=12.5", "rate_min"),
        ("rate_max=-1", "rate_max"),
        ("band=legendary", "band"),
        ("availability=soon", "availability"),
        ("time_zone=Mars", "time_zone"),
        ("ordering=price", "ordering"),
        ("skill=not%20a%20slug", "skill[0]"),
    ],
)
def test_bad_filters_are_400_naming_the_field(query, field):
    response = _as().get(f"/api/v1/engineers/?{query}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error" and field in error["details"], error


def test_asking_answering_and_listing_the_asks():
    hiring_request = open_request()
    engineer = listed_engineer()
    created = _as(engineer).post(
        f"/api/v1/requests/{hiring_request.pk}/invite-requests/", {"note": "Pick me."}, format="json"
    )
    assert created.status_code == 201, created.content
    ask = created.json()
    assert (ask["state"], ask["note"], ask["engineer"]["username"]) == (
        "requested",
        "Pick me.",
        engineer.username,
    )
    again = _as(engineer).post(f"/api/v1/requests/{hiring_request.pk}/invite-requests/", {}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_asked"
    listed = _as(hiring_request.client).get(f"/api/v1/requests/{hiring_request.pk}/invite-requests/").json()
    assert [row["id"] for row in listed["results"]] == [ask["id"]]
    assert (
        _as(listed_engineer()).get(f"/api/v1/requests/{hiring_request.pk}/invite-requests/").json()["count"]
        == 0
    )
    accepted = _as(hiring_request.client).post(f"/api/v1/invite-requests/{ask['id']}/accept/")
    assert accepted.status_code == 201 and accepted.json()["engineer"]["username"] == engineer.username
    assert accepted.json()["messages"][0]["body"] == "Pick me."
    answered = _as(hiring_request.client).post(f"/api/v1/invite-requests/{ask['id']}/decline/")
    assert answered.status_code == 409 and answered.json()["error"]["code"] == "already_answered"


@pytest.mark.parametrize(
    ("engineer", "code"),
    [
        (lambda: EngineerFactory(), "profile_incomplete"),
        (lambda: listed_engineer(profile__availability="unavailable"), "not_taking_work"),
    ],
)
def test_refusals_are_409_with_their_codes(engineer, code):
    hiring_request = open_request()
    response = _as(engineer()).post(
        f"/api/v1/requests/{hiring_request.pk}/invite-requests/", {}, format="json"
    )
    assert response.status_code == 409 and response.json()["error"]["code"] == code


def test_a_long_note_is_400_naming_the_note():
    hiring_request = open_request()
    response = _as(listed_engineer()).post(
        f"/api/v1/requests/{hiring_request.pk}/invite-requests/", {"note": "x" * 1001}, format="json"
    )
    assert response.status_code == 400 and "note" in response.json()["error"]["details"]


def test_the_schema_documents_every_filter_and_the_answers():
    schema = _as().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    parameters = {p["name"] for p in schema["paths"]["/api/v1/engineers/"]["get"]["parameters"]}
    assert parameters >= {
        "q", "skill", "vetted", "band", "rate_min", "rate_max", "availability", "time_zone", "language",
        "ordering", "page",
    }  # fmt: skip
    asks = schema["paths"]["/api/v1/requests/{id}/invite-requests/"]
    assert set(asks["post"]["responses"]) == {"201", "400", "401", "403", "404", "409"}
    accept = schema["paths"]["/api/v1/invite-requests/{id}/accept/"]["post"]
    assert set(accept["responses"]) == {"201", "401", "403", "404", "409"}
