"""Reads of acceptance tests, and who sees what: both parties (and staff) see the terms, the item count
and the public sample; the private items are read only by the platform's own code (evaluation), never
for a page or an API response."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import QuerySet

from acceptance.models import AcceptanceItem, AcceptanceRun, AcceptanceTest
from core.errors import NotFoundError, PermissionDeniedError
from marketplace.models import Milestone, User
from marketplace.selectors import milestone_get


def acceptance_test_get(*, user: User, milestone_id: int) -> AcceptanceTest:
    milestone = milestone_get(user=user, milestone_id=milestone_id)
    test = AcceptanceTest.objects.filter(milestone=milestone).select_related("milestone__engagement").first()
    if test is None:
        raise NotFoundError("This milestone has no acceptance test.", code="no_acceptance_test")
    return test


@dataclass(frozen=True)
class MilestoneAcceptance:
    test: AcceptanceTest
    latest_run: AcceptanceRun | None


def acceptance_of_milestones(milestones: Iterable[Milestone]) -> dict[int, MilestoneAcceptance]:
    """The acceptance tests of milestones the caller already may see, with each one's latest run, by
    milestone id (two queries)."""
    ids = [milestone.pk for milestone in milestones]
    tests = AcceptanceTest.objects.filter(milestone_id__in=ids)
    latest: dict[int, AcceptanceRun] = {}
    for run in AcceptanceRun.objects.filter(test__milestone_id__in=ids).select_related("test"):
        latest.setdefault(run.test.milestone_id, run)  # newest first
    return {test.milestone_id: MilestoneAcceptance(test, latest.get(test.milestone_id)) for test in tests}


def acceptance_public_sample(*, test: AcceptanceTest) -> QuerySet[AcceptanceItem]:
    return test.items.filter(is_public=True).only("position", "messages", "target", "test_id")


def acceptance_runs(*, user: User, milestone_id: int) -> QuerySet[AcceptanceRun]:
    """The runs of the milestone's acceptance test, newest first (both parties and staff)."""
    test = acceptance_test_get(user=user, milestone_id=milestone_id)
    return test.runs.select_related("test", "delivery").prefetch_related("job_links__job")


def acceptance_run_get(*, user: User, run_id: int) -> AcceptanceRun:
    run = (
        AcceptanceRun.objects.select_related("test", "delivery__milestone__engagement")
        .filter(pk=run_id)
        .first()
    )
    if run is None:
        raise NotFoundError("Acceptance run not found.")
    milestone_get(user=user, milestone_id=run.delivery.milestone_id)  # 404 for whoever may not see it
    return run


def run_progress(run: AcceptanceRun) -> float:
    """How far the run is, 0-1: its evaluations count alike (after training, where the platform
    trains); none started yet is 0."""
    if run.is_finished:
        return 1.0

    def share(job) -> float:
        return (
            1.0
            if job.is_finished
            else (job.progress_step / job.progress_total if job.progress_total else 0.0)
        )

    links = list(run.job_links.all())
    shares = [share(link.job) for link in links if link.role != "train"]
    evaluations = sum(shares) / len(shares) if shares else 0.0
    train = [share(link.job) for link in links if link.role == "train"]
    # A training delivery: training is the first half of the way.
    return round((train[0] + evaluations) / 2 if train else evaluations, 3)


def run_item_outcomes(*, user: User, run: AcceptanceRun) -> list[dict]:
    """The delivered model's output and scores on each private item, failed items first: for the
    client (whose items they are) and staff only."""
    engagement = run.delivery.milestone.engagement
    if not (user.is_staff or user.pk == engagement.client_id):
        raise PermissionDeniedError("Only the client sees the outputs on their private items.")
    items = {item.position: item for item in run.test.items.filter(is_public=False)}
    rows = []
    for outcome in run.outcomes:
        item = items.get(outcome["position"])
        if item is not None:
            rows.append(
                {**outcome, "input": item.messages[-1]["content"], "target": item.target, "line": item.line}
            )
    return sorted(rows, key=lambda row: (row["delivered"], row["position"]))
