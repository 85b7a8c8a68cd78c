"""Every vetting API endpoint x every kind of user: the exact status each one gets (tests/api_matrix.py).

"engineer" owns the submission (and the badge); "client" and "other client" own nothing here (vetting
has no client side: they read challenges and leaderboards, and may not submit); strangers to a
submission get 404 (its existence must not leak); the owner of a submission gets 403 where only staff
may act. Each cell is its own test on fresh objects built through the services.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from tests.api_matrix import Call, answer, assert_status, cells, routes_and_methods, rows
from tests.factories import ClientFactory, EngineerFactory, StaffFactory
from tests.vetting.conftest import task_dataset
from tests.vetting.test_api import pipeline  # noqa: F401 - fixtures
from vetting import services
from vetting.api.urls import urlpatterns as vetting_api_urlpatterns
from vetting.models import Badge, Challenge

pytestmark = pytest.mark.django_db


def _submission(challenge: Challenge, engineer):
    return services.submissions.submission_create(
        actor=engineer, challenge_id=challenge.pk, kind="dataset", dataset=task_dataset(challenge, 30)
    )


def challenge_list(challenge):
    return Call("get", "/api/v1/vetting/challenges/", engineer=EngineerFactory())


def challenge_detail(challenge):
    return Call("get", f"/api/v1/vetting/challenges/{challenge.slug}/", engineer=EngineerFactory())


def leaderboard(challenge):
    return Call(
        "get", f"/api/v1/vetting/challenges/{challenge.slug}/leaderboard/", engineer=EngineerFactory()
    )


def leaderboard_opt_in(challenge):
    return Call(
        "put",
        f"/api/v1/vetting/challenges/{challenge.slug}/leaderboard/opt-in/",
        engineer=EngineerFactory(),
        data={"opted_in": True},
    )


def submission_list(challenge):
    engineer = EngineerFactory()
    _submission(challenge, engineer)
    return Call("get", "/api/v1/vetting/submissions/", engineer=engineer)


def submission_create(challenge):
    return Call(
        "post",
        "/api/v1/vetting/submissions/",
        engineer=EngineerFactory(),
        data=lambda actor: {
            "challenge": challenge.slug,
            "dataset": SimpleUploadedFile("train.jsonl", task_dataset(challenge, 30)),
        },
        format="multipart",
    )


def submission_detail(challenge):
    engineer = EngineerFactory()
    submission = _submission(challenge, engineer)
    return Call("get", f"/api/v1/vetting/submissions/{submission.pk}/", engineer=engineer)


def submission_report(challenge):
    engineer = EngineerFactory()
    submission = _submission(challenge, engineer)
    return Call("get", f"/api/v1/vetting/submissions/{submission.pk}/report/", engineer=engineer)


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
        "post",
        f"/api/v1/vetting/badges/{badge.pk}/revoke/",
        engineer=engineer,
        data={"reason": "Copied dataset."},
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
CELLS = cells(MATRIX, prefix="api-vetting-")


@pytest.mark.parametrize(("route", "method", "setup", "role", "expected"), CELLS)
def test_permission_matrix(ticket, route, method, setup, role, expected):
    assert_status(answer(setup(ticket), route=route, method=method, role=role), expected)


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
    assert routes_and_methods(vetting_api_urlpatterns) == rows(MATRIX)
