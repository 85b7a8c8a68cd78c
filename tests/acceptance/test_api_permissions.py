"""Every acceptance API endpoint x every kind of user: the exact status each one gets (tests/api_matrix.py).

The client owns the milestone (or request); the engineer takes part in it (hired on the milestone,
invited to consult on the request). Strangers get 404 (its existence must not leak); a party, or
staff, who may see it but not set it gets 403. Each cell is its own test on fresh objects built
through the services.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from acceptance import baselines
from acceptance.api.urls import urlpatterns as acceptance_api_urlpatterns
from acceptance.services import acceptance_terms_set
from marketplace.services import requests as request_services
from tests.acceptance.sets import jsonl, ticket_items
from tests.api_matrix import Call, answer, assert_status, cells, routes_and_methods, rows
from tests.factories import EngineerFactory, engagement, open_request

pytestmark = pytest.mark.django_db

SET = jsonl(ticket_items(24))


def _upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("tickets.jsonl", SET)


def _milestone(*, with_terms: bool):
    milestone = engagement(amounts=(100_000,)).milestones.get()
    if with_terms:
        acceptance_terms_set(
            actor=milestone.engagement.client,
            milestone_id=milestone.pk,
            eval_set=_upload(),
            metric="label",
            pass_mark=0.8,
        )
    return milestone


def _call(method: str, path: str, milestone, **kwargs) -> Call:
    url = f"/api/v1/milestones/{milestone.pk}/{path}"
    return Call(method, url, milestone.engagement.client, milestone.engagement.engineer, **kwargs)


def terms_get():
    return _call("get", "acceptance/", _milestone(with_terms=True))


def terms_put():
    def data(actor):  # a fresh file for the one request it is sent with
        return {"eval_set": _upload(), "metric": "label", "pass_mark": "0.8"}

    return _call("put", "acceptance/", _milestone(with_terms=False), data=data, format="multipart")


def terms_delete():
    return _call("delete", "acceptance/", _milestone(with_terms=True))


def runs_list():
    return _call("get", "acceptance/runs/", _milestone(with_terms=True))


def _request_with_baseline(*, measured: bool):
    hiring_request = open_request()
    engineer = EngineerFactory()
    request_services.consultation_invite(
        actor=hiring_request.client, request_id=hiring_request.pk, engineer_id=engineer.pk
    )
    if measured:
        baselines.baseline_measure(
            actor=hiring_request.client, request_id=hiring_request.pk, eval_set=_upload(), metric="label"
        )
    return hiring_request, engineer


def baseline_get():
    hiring_request, engineer = _request_with_baseline(measured=True)
    return Call("get", f"/api/v1/requests/{hiring_request.pk}/baseline/", hiring_request.client, engineer)


def baseline_post():
    hiring_request, engineer = _request_with_baseline(measured=False)

    def data(actor):
        return {"eval_set": _upload(), "metric": "label"}

    url = f"/api/v1/requests/{hiring_request.pk}/baseline/"
    return Call("post", url, hiring_request.client, engineer, data=data, format="multipart")


# (route name, method, setup, expected status for each of ROLES:
#  anonymous, client, other client, engineer, other engineer, staff)
MATRIX = [
    ("api-milestone-acceptance", "get", terms_get, (401, 200, 404, 200, 404, 200)),
    ("api-milestone-acceptance", "put", terms_put, (401, 200, 404, 403, 404, 403)),
    ("api-milestone-acceptance", "delete", terms_delete, (401, 204, 404, 403, 404, 403)),
    ("api-milestone-acceptance-runs", "get", runs_list, (401, 200, 404, 200, 404, 200)),
    ("api-request-baseline", "get", baseline_get, (401, 200, 404, 200, 404, 200)),
    ("api-request-baseline", "post", baseline_post, (401, 202, 404, 403, 404, 403)),
]


@pytest.mark.parametrize(("route", "method", "setup", "role", "expected"), cells(MATRIX, prefix="api-"))
def test_permission_matrix(route, method, setup, role, expected):
    assert_status(answer(setup(), route=route, method=method, role=role), expected)


def test_matrix_covers_every_api_route_and_method():
    """A new endpoint, or a new method on one, without its row in the matrix fails here."""
    assert routes_and_methods(acceptance_api_urlpatterns) == rows(MATRIX)
