"""The permission matrix every app's API is tested with: each endpoint x each kind of user, the exact status.

An app's test module lists (route name, method, setup, expected status for each of ROLES); a setup
builds fresh objects through the services and returns the `Call` to make. The parties are the client
who owns the object and the engineer taking part in it; "other" users are strangers to it (404: its
existence must not leak); users who can see an object but may not act on it get 403. Used by
tests/{marketplace,payments,vetting}/test_api_permissions.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pytest
from django.urls import resolve
from rest_framework.test import APIClient

from marketplace.services.users import api_token_issue
from tests.factories import ClientFactory, EngineerFactory, StaffFactory

ROLES = ("anonymous", "client", "other_client", "engineer", "other_engineer", "staff")


@dataclass
class Call:
    method: str
    url: str
    client: object | None = None  # the client who owns the object; None: any client (one is made)
    engineer: object | None = None  # the engineer taking part; None: any engineer
    data: dict | Callable | None = None  # a callable gets the actor
    format: str = "json"
    # Authenticate with a real API token of the actor's (for endpoints that act on the token sent);
    # otherwise the actor is forced in, as a session would be.
    with_token: bool = False


def cells(matrix: Iterable[tuple], *, prefix: str) -> list:
    """One pytest case per (row, role), named `<route without prefix>-<method>-<role>`."""
    return [
        pytest.param(
            route, method, setup, role, expected[index], id=f"{route.removeprefix(prefix)}-{method}-{role}"
        )
        for route, method, setup, expected in matrix
        for index, role in enumerate(ROLES)
    ]


def actor_for(call: Call, role: str):
    return {
        "anonymous": lambda: None,
        "client": lambda: call.client or ClientFactory(),
        "other_client": ClientFactory,
        "engineer": lambda: call.engineer or EngineerFactory(),
        "other_engineer": EngineerFactory,
        "staff": StaffFactory,
    }[role]()


def answer(call: Call, *, route: str, method: str, role: str):
    """Makes the call as `role` (after checking it is the row's route and method); the response."""
    assert (resolve(call.url).url_name, call.method) == (route, method)
    actor = actor_for(call, role)
    api = APIClient()
    if actor is not None and call.with_token:
        api.credentials(HTTP_AUTHORIZATION=f"Token {api_token_issue(user=actor)[0]}")
    elif actor is not None:
        api.force_authenticate(actor)
    data = call.data(actor) if callable(call.data) else call.data
    return getattr(api, call.method)(call.url, data, format=call.format)


def assert_status(response, expected: int) -> None:
    """The expected status; an error in the one error shape; 401 says how to authenticate."""
    assert response.status_code == expected, getattr(response, "data", response)
    if expected >= 400:
        assert set(response.json()["error"]) == {"code", "message", "details"}
    if expected == 401:
        assert response["WWW-Authenticate"] == "Token"


def routes_and_methods(urlpatterns) -> set[tuple[str, str]]:
    """Every (route name, method) the URL patterns answer, to check a matrix leaves none out."""
    answered = set()
    for pattern in urlpatterns:
        view_class = pattern.callback.view_class
        methods = {
            m for m in view_class.http_method_names if m not in ("head", "options") and hasattr(view_class, m)
        }
        answered |= {(pattern.name, method) for method in methods}
    return answered


def rows(matrix: Iterable[tuple]) -> set[tuple[str, str]]:
    return {(route, method) for route, method, _, _ in matrix}
