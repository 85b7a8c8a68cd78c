"""Every error under /api/ is JSON in the one error shape, whoever answers it (core/middleware.py and
core.api.exception_handler): Django's resolver, the request-size limit, an unexpected exception with
DEBUG on or off. Pages keep their HTML error pages."""

import logging

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_api_url_is_a_json_404(settings, debug):
    settings.DEBUG = debug
    assert_error(Client().get("/api/v1/no-such-endpoint/"), 404, "not_found")
    assert_error(Client().post("/api/v1/requests/1/no-such-action/", {}), 404, "not_found")


def test_an_unknown_page_keeps_its_html_404():
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_body_over_the_limit_is_a_json_413(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = '{"username": "' + "x" * 5000 + '", "password": "p"}'
    response = Client().post("/api/v1/auth/token/", body, content_type="application/json")
    assert_error(response, 413, "request_too_large")


def test_a_wrong_method_is_a_json_405_naming_the_allowed_ones():
    api = APIClient()
    api.force_authenticate(ClientFactory())
    response = api.delete("/api/v1/me/")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_failure_is_a_logged_json_500_that_says_nothing_of_it(
    settings, monkeypatch, caplog, debug
):
    settings.DEBUG = debug

    def broken():
        raise RuntimeError("internal detail: hidden-item-7f3a")

    # Fault injection: the skill list's query fails the way a lost database connection would.
    monkeypatch.setattr("marketplace.api.views.accounts.selectors.skill_list", broken)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = Client(raise_request_exception=False).get("/api/v1/skills/")
    assert_error(response, 500, "server_error")
    assert b"hidden-item-7f3a" not in response.content
    assert any("hidden-item-7f3a" in str(record.exc_info) for record in caplog.records)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("[" * 50_000, "nested more than"),
        ('{"username": ' * 40 + "1" + "}" * 40, "nested more than"),
        ('{"username": NaN}', "not a JSON value"),
        ('{"username": "ada",', "not valid JSON"),
    ],
)
def test_a_json_body_nested_too_deep_or_broken_is_a_400_saying_why(body, why):
    """Even anonymously, on sign-up: once a RecursionError and a 500."""
    response = Client().post("/api/v1/auth/signup/", body, content_type="application/json")
    error = assert_error(response, 400, "parse_error")["error"]
    assert error["message"].startswith("JSON body: ") and why in error["message"]


@pytest.mark.parametrize(
    "size",
    [
        5_000,  # under the multipart allowance: refused when the file's bytes pass the cap
        400_000,  # refused from its Content-Length, before any of it is read
    ],
)
def test_an_upload_over_the_endpoints_cap_is_a_json_413_and_nothing_is_kept(settings, size):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from marketplace.models import Delivery, Milestone
    from tests.factories import milestone_in_state

    # The endpoint's cap: its attachments, plus an adapter or a training set for an acceptance test.
    settings.ATTACHMENT_MAX_BYTES, settings.ATTACHMENT_MAX_FILES = 1_000, 2
    settings.ADAPTER_MAX_BYTES = settings.ACCEPTANCE_MAX_DATASET_BYTES = 1_000
    milestone = milestone_in_state(Milestone.State.IN_PROGRESS)
    api = APIClient()
    api.force_authenticate(milestone.engagement.engineer)
    response = api.post(
        f"/api/v1/milestones/{milestone.pk}/submit/",
        {"message": "Weights attached.", "attachments": [SimpleUploadedFile("w.bin", b"x" * size)]},
        format="multipart",
    )
    assert_error(response, 413, "request_too_large")
    assert not Delivery.objects.filter(milestone=milestone).exists()
    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.IN_PROGRESS
