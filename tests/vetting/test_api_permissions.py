"""Every vetting API endpoint x every kind of user: the exact status each one gets.

"engineer" owns the submission (and the badge); "client" and "other client" own nothing here (vetting
has no client side: they read challenges and leaderboards, and may not submit); strangers to a
submission get 404 (its existence must not leak); the owner of a submission gets 403 where only staff
may act. Each cell is its own test on fresh objects built through the services.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import resolve
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import ClientFactory, EngineerFactory, StaffFactory
from tests.vetting.conftest import task_dataset
from tests.vetting.test_api import pipeline  # noqa: F401 - fixtures
from vetting import services
from vetting.api.urls import urlpatterns as vetting_api_urlpatterns
from vetting.models import Badge, Challenge

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "client", "other_client", "engineer", "other_engineer", "staff")


@dataclass
class Call:
    method: str
    url: str
    engineer: object  # the engineer who owns the submission or badge
    data: dict | Callable | None = None
    format: str = "json"


def _submission(challenge: Challenge, engineer):
    return services.submissions.submission_create(
        actor=engineer, challenge_id=challenge.pk, kind="dataset", dataset=task_dataset(challenge, 30)
    )


def challenge_list(challenge):
    return Call("get", "/api/v1/vetting/challenges/", EngineerFactory())


def challenge_detail(challenge):
    return Call("get", f"/api/v1/vetting/challenges/{challenge.slug}/", EngineerFactory())


def leaderboard(challenge):
    return Call("get", f"/api/v1/vetting/challenges/{challenge.slug}/leaderboard/", EngineerFactory())


def leaderboard_opt_in(challenge):
    return Call(
        "put",
        f"/api/v1/vetting/challenges/{challenge.slug}/leaderboard/opt-in/",
        EngineerFactory(),
        data={"opted_in": True},
    )


def submission_list(challenge):
    engineer = EngineerFactory()
    _submission(challenge, engineer)
    return Call("get", "/api/v1/vetting/submissions/", engineer)


def submission_create(challenge):
    return Call(
        "post",
        "/api/v1/vetting/submissions/",
        EngineerFactory(),
        data=lambda actor: {
            "challenge": challenge.slug,
            "dataset": SimpleUploadedFile("train.jsonl", task_dataset(challenge, 30)),
        },
        format="multipart",
    )


def submission_detail(challenge):
    engineer = EngineerFactory()
    submission = _submission(challenge, engineer)
    return Call("get", f"/api/v1/vetting/submissions/{submission.pk}/", engineer)


def submission_report(challenge):
    engineer = EngineerFactory()
    submission = _submission(challenge, engineer)
    return Call("get", f"/api/v1/vetting/submissions/{submission.pk}/report/", engineer)


def badge_revoke(challenge):
    engineer = EngineerFactory()
    badge = Badge.objects.create(
        engineer=engineer,
        challenge=challenge,
        challenge_slug=challenge.slug,
        title=challenge.title,
        band=Badge.Band.PASS,
        score=0.85,
        awarded_at=timezone.now(),
    )
    return Call(
        "post", f"/api/v1/vetting/badges/{badge.pk}/revoke/", engineer, data={"reason": "Copied dataset."}
    )


#   route name, method, setup, expected for ROLES
MATRIX = [
    ("api-vetting-challenges", "get", challenge_list, (401, 200, 200, 200, 200, 200)),
    ("api-vetting-challenge", "get", challenge_detail, (401, 200, 200, 200, 200, 200)),
    ("api-vetting-leaderboard", "get", leaderboard, (401, 200, 200, 200, 200, 200)),
    ("api-vetting-leaderboard-opt-in", "put", leaderboard_opt_in, (401, 403, 403, 200, 200, 403)),
    ("api-vetting-submissions", "get", submission_list, (401, 200, 200, 200, 200, 200)),
    ("api-vetting-submissions", "post", submission_create, (401, 403, 403, 201, 201, 201)),
    ("api-vetting-submission", "get", submission_detail, (401, 404, 404, 200, 404, 200)),
    ("api-vetting-submission-report", "get", submission_report, (401, 404, 404, 403, 404, 200)),
    ("api-vetting-badge-revoke", "post", badge_revoke, (401, 403, 403, 403, 403, 200)),
]
CELLS = [
    pytest.param(route, method, setup, role, expected[index], id=f"{route[12:]}-{method}-{role}")
    for route, method, setup, expected in MATRIX
    for index, role in enumerate(ROLES)
]


def _actor(call: Call, role: str):
    return {
        "anonymous": lambda: None,
        "client": ClientFactory,
        "other_client": ClientFactory,
        "engineer": lambda: call.engineer,
        "other_engineer": EngineerFactory,
        "staff": StaffFactory,
    }[role]()


@pytest.mark.parametrize(("route", "method", "setup", "role", "expected"), CELLS)
def test_permission_matrix(ticket, route, method, setup, role, expected):
    call = setup(ticket)
    assert (resolve(call.url).url_name, call.method) == (route, method)
    actor = _actor(call, role)
    api = APIClient()
    if actor is not None:
        api.force_authenticate(actor)
    data = call.data(actor) if callable(call.data) else call.data
    response = getattr(api, call.method)(call.url, data, format=call.format)
    assert response.status_code == expected, getattr(response, "data", response)
    if expected >= 400:
        assert set(response.json()["error"]) == {"code", "message", "details"}
    if expected == 401:
        assert response["WWW-Authenticate"] == "Token"


def test_lists_leave_out_other_engineers_submissions(ticket):
    _submission(ticket, EngineerFactory())
    for user in (ClientFactory(), EngineerFactory()):
        api = APIClient()
        api.force_authenticate(user)
        assert api.get("/api/v1/vetting/submissions/").json()["count"] == 0
    staff = APIClient()
    staff.force_authenticate(StaffFactory())
    assert staff.get("/api/v1/vetting/submissions/").json()["count"] == 1


def test_matrix_covers_every_vetting_api_route_and_method():
    """A new endpoint, or a new method on one, without its row in the matrix fails here."""
    answered = set()
    for pattern in vetting_api_urlpatterns:
        view_class = pattern.callback.view_class
        methods = {m for m in view_class.http_method_names if m not in ("head", "options")}
        answered |= {(pattern.name, m) for m in methods if hasattr(view_class, m)}
    assert answered == {(route, method) for route, method, _, _ in MATRIX}
