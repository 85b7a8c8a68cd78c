"""List endpoints run the same number of queries for 1 row as for 50 (no query per row)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from marketplace.services import conversations as conversation_services
from marketplace.services import notifications as notification_services
from marketplace.services import requests as request_services
from marketplace.services.users import skills_resolve
from tests.factories import (
    ClientFactory,
    EngineerFactory,
    HiringRequestFactory,
    engagement,
    open_request,
)
from vetting.models import Badge

pytestmark = pytest.mark.django_db
MANY = 50


def _queries(api: APIClient, url: str, expected_rows: int) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = api.get(url)
    assert response.status_code == 200, response.content
    body = response.json()
    rows = body["results"] if isinstance(body, dict) else body
    assert len(rows) == expected_rows
    return len(captured)


def _assert_flat(api: APIClient, url: str, add_row, *, page: int = 20) -> None:
    add_row()
    one = _queries(api, url, 1)
    for _ in range(MANY - 1):
        add_row()
    many = _queries(api, url, min(MANY, page))
    assert many == one, f"{url}: {one} queries for 1 row, {many} for {MANY}"


def _as(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def _vetted_engineer(skill_names: list[str]):
    engineer = EngineerFactory()
    skills = skills_resolve(names=skill_names)
    engineer.engineer_profile.skills.set(skills)
    badge = Badge.objects.create(
        engineer=engineer,
        challenge_slug="ticket-json",
        title="Ticket to JSON",
        band=Badge.Band.STRONG,
        score=0.9,
        awarded_at=timezone.now(),
    )
    badge.skills.set(skills)
    return engineer


def test_request_list():
    client = ClientFactory()

    def add_row():
        hiring_request = HiringRequestFactory(client=client)
        hiring_request.skills.set(skills_resolve(names=["LoRA", "Evaluation"]))

    _assert_flat(_as(client), "/api/v1/requests/", add_row)


def test_request_list_for_an_invited_engineer():
    engineer = EngineerFactory()

    def add_row():
        hiring_request = open_request()
        request_services.consultation_invite(
            actor=hiring_request.client, request_id=hiring_request.pk, engineer_id=engineer.pk
        )

    _assert_flat(_as(engineer), "/api/v1/requests/", add_row)


def test_consultation_list():
    hiring_request = open_request()

    def add_row():
        consultation = request_services.consultation_invite(
            actor=hiring_request.client,
            request_id=hiring_request.pk,
            engineer_id=EngineerFactory().pk,
            message="Could you help?",
        )
        conversation_services.message_post(
            actor=consultation.engineer, consultation_id=consultation.pk, body="Yes."
        )

    _assert_flat(_as(hiring_request.client), "/api/v1/consultations/", add_row)


def test_engagement_list():
    client = ClientFactory()
    _assert_flat(_as(client), "/api/v1/engagements/", lambda: engagement(client=client, amounts=(1000, 2000)))


def test_engineer_list():
    _assert_flat(_as(ClientFactory()), "/api/v1/engineers/", lambda: _vetted_engineer(["LoRA", "QLoRA"]))


def test_notification_list():
    user = ClientFactory()
    _assert_flat(
        _as(user),
        "/api/v1/notifications/",
        lambda: notification_services.notify(user=user, kind="message", message="Hello", url="/x/"),
    )


def test_matches():
    hiring_request = open_request(skills=["LoRA", "Evaluation"])
    url = f"/api/v1/requests/{hiring_request.pk}/matches/?limit={MANY}"

    def add_row():
        engineer = _vetted_engineer(["LoRA"])
        # Invited engineers are marked as such in the ranking.
        request_services.consultation_invite(
            actor=hiring_request.client, request_id=hiring_request.pk, engineer_id=engineer.pk
        )

    _assert_flat(_as(hiring_request.client), url, add_row, page=MANY)


def test_engineer_directory_with_filters():
    def add_row():
        engineer = _vetted_engineer(["LoRA", "QLoRA"])
        profile = engineer.engineer_profile
        profile.languages = ["English"]
        profile.save()

    url = "/api/v1/engineers/?q=lora&vetted=true&band=pass&rate_min=100&language=english&time_zone=Europe"
    _assert_flat(_as(ClientFactory()), url, add_row)


def test_engineer_directory_page():
    """The page costs the same for 1 card as for a full page of them."""
    from django.test import Client

    page = Client()
    page.force_login(ClientFactory())

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert page.get("/engineers/?q=lora").status_code == 200
        return len(captured)

    _vetted_engineer(["LoRA"])
    one = queries()
    for _ in range(MANY - 1):
        _vetted_engineer(["LoRA"])
    assert queries() == one
