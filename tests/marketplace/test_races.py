"""Concurrent writers on PostgreSQL: exactly one wins, the other gets 409, nothing is half-written."""

import pytest

from core.models import TransitionLog
from marketplace.models import Consultation, Delivery, Engagement, HiringRequest, Milestone, Proposal
from marketplace.services import engagements as engagement_services
from marketplace.services import requests as request_services
from tests.concurrency import run_together
from tests.factories import milestone_in_state, open_request, proposal_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _outcome(results):
    wins = [value for kind, value in results if kind == "ok"]
    losses = [value for kind, value in results if kind == "error"]
    return wins, losses


@pytest.mark.parametrize("attempt", range(3))
def test_two_concurrent_accepts_on_one_request(attempt):
    hiring_request = open_request()
    _, proposal_a = proposal_for(hiring_request=hiring_request, amounts=(100_000,))
    _, proposal_b = proposal_for(hiring_request=hiring_request, amounts=(50_000, 70_000))
    client = hiring_request.client

    results = run_together(
        lambda: request_services.proposal_accept(actor=client, proposal_id=proposal_a.pk),
        lambda: request_services.proposal_accept(actor=client, proposal_id=proposal_b.pk),
    )
    wins, losses = _outcome(results)
    assert len(wins) == 1 and len(losses) == 1, results
    assert losses[0].status == 409
    engagement = Engagement.objects.get()
    assert engagement == wins[0]
    winner = engagement.proposal
    loser = Proposal.objects.exclude(pk=winner.pk).get()
    assert Milestone.objects.filter(engagement=engagement).count() == winner.milestones.count()
    assert Milestone.objects.count() == winner.milestones.count()
    assert HiringRequest.objects.get(pk=hiring_request.pk).state == HiringRequest.State.HIRED
    assert winner.state == Proposal.State.ACCEPTED and loser.state == Proposal.State.DECLINED
    assert loser.consultation.state == Consultation.State.CLOSED


@pytest.mark.parametrize("attempt", range(3))
def test_two_concurrent_approvals_of_one_milestone(attempt):
    milestone = milestone_in_state(Milestone.State.SUBMITTED)
    client = milestone.engagement.client
    results = run_together(
        lambda: engagement_services.milestone_approve(actor=client, milestone_id=milestone.pk),
        lambda: engagement_services.milestone_approve(actor=client, milestone_id=milestone.pk),
    )
    wins, losses = _outcome(results)
    assert len(wins) == 1 and len(losses) == 1, results
    assert losses[0].status == 409
    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.APPROVED
    assert TransitionLog.objects.filter(object_id=milestone.pk, to_state="approved").count() == 1
    assert Delivery.objects.get(milestone=milestone).review == Delivery.Review.APPROVED
