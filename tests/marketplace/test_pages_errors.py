"""Branded error pages (DEBUG off, as in production): they say what happened and where to go next, and
never echo the request, the exception or the data sent."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import EngineerFactory

pytestmark = pytest.mark.django_db


def _assert_branded(response, status: int, heading: str) -> None:
    assert response.status_code == status
    body = response.content.decode()
    assert "Tunehire" in body and heading in body and f"Error {status}" in body
    assert 'href="/dashboard/"' in body


def test_an_unknown_page_is_a_branded_404_that_does_not_echo_the_address(settings):
    settings.DEBUG = False
    response = Client().get("/no-such-page-<script>alert(1)</script>/")
    _assert_branded(response, 404, "Page not found")
    assert "no-such-page" not in response.content.decode()


def test_a_page_for_another_role_is_a_branded_403(settings):
    settings.DEBUG = False
    browser = Client()
    browser.force_login(EngineerFactory())
    response = browser.get(reverse("request-create"))  # for clients
    _assert_branded(response, 403, "No access to this page")
    assert "This page is for" not in response.content.decode()  # the exception's message stays inside


@pytest.mark.urls("tests.error_urls")
def test_a_crash_is_a_branded_500_without_the_exception(settings):
    settings.DEBUG = False
    browser = Client(raise_request_exception=False)
    browser.force_login(EngineerFactory())
    response = browser.get("/fail/")
    _assert_branded(response, 500, "Something went wrong on our side")
    assert (
        "secret-detail" not in response.content.decode() and "RuntimeError" not in response.content.decode()
    )
