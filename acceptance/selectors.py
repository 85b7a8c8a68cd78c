"""Reads of acceptance tests, and who sees what: both parties (and staff) see the terms, the item count
and the public sample; the private items are read only by the platform's own code (evaluation), never
for a page or an API response."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from acceptance.models import AcceptanceItem, AcceptanceTest
from core.errors import NotFoundError
from marketplace.models import Milestone, User
from marketplace.selectors import milestone_get


def acceptance_test_get(*, user: User, milestone_id: int) -> AcceptanceTest:
    milestone = milestone_get(user=user, milestone_id=milestone_id)
    test = AcceptanceTest.objects.filter(milestone=milestone).select_related("milestone__engagement").first()
    if test is None:
        raise NotFoundError("This milestone has no acceptance test.", code="no_acceptance_test")
    return test


def acceptance_tests_of(milestones: Iterable[Milestone]) -> dict[int, AcceptanceTest]:
    """The acceptance tests of milestones the caller already may see, by milestone id (one query)."""
    ids = [milestone.pk for milestone in milestones]
    return {test.milestone_id: test for test in AcceptanceTest.objects.filter(milestone_id__in=ids)}


def acceptance_public_sample(*, test: AcceptanceTest) -> QuerySet[AcceptanceItem]:
    return test.items.filter(is_public=True).only("position", "messages", "target", "test_id")
