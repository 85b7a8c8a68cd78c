"""The request list pages in one query per page, and answers every page number as DRF's own paging does."""

import pytest
from rest_framework.pagination import PageNumberPagination
from rest_framework.test import APIClient

from marketplace.api.views.requests import RequestListApi
from tests.factories import ClientFactory, HiringRequestFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("rows", [0, 1, 20, 41])
def test_every_page_number_is_answered_as_drf_pages_a_list(rows, monkeypatch, django_assert_num_queries):
    client = ClientFactory()
    HiringRequestFactory.create_batch(rows, client=client)
    api = APIClient()
    api.force_authenticate(client)
    pages = ["", "1", "2", "3", "4", "0", "-1", "2.0", "2.5", "x", "last"]
    ours = {page: api.get("/api/v1/requests/", {"page": page} if page else {}) for page in pages}
    # One query for a page with rows, their count included; an empty list is counted apart.
    with django_assert_num_queries(1 if rows else 2):
        assert api.get("/api/v1/requests/").status_code == 200
    monkeypatch.setattr(RequestListApi, "pagination_class", PageNumberPagination)
    for page in pages:
        theirs = api.get("/api/v1/requests/", {"page": page} if page else {})
        assert (ours[page].status_code, ours[page].content) == (theirs.status_code, theirs.content), page
