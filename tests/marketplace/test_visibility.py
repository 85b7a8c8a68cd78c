"""Who sees what: clients see only their own; engineers only their threads and engagements."""

import pytest

from core.errors import NotFoundError
from marketplace import selectors
from tests.factories import (
    ClientFactory,
    EngineerFactory,
    StaffFactory,
    engagement,
    open_request,
    proposal_for,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    """Two clients, each with a request; engineer A consults on client A's request and is hired."""
    request_a = open_request()
    request_b = open_request()
    consultation_a, _ = proposal_for(hiring_request=request_a)
    consultation_b, _ = proposal_for(hiring_request=request_b)
    eng = engagement(client=request_a.client, engineer=consultation_a.engineer)
    return {
        "client_a": request_a.client,
        "client_b": request_b.client,
        "engineer_a": consultation_a.engineer,
        "engineer_b": consultation_b.engineer,
        "request_a": request_a,
        "request_b": request_b,
        "consultation_a": consultation_a,
        "consultation_b": consultation_b,
        "engagement": eng,
    }


def test_client_sees_only_own_requests_consultations_engagements(world):
    client_b = world["client_b"]
    assert set(selectors.request_list(user=client_b)) == {world["request_b"]}
    assert set(selectors.consultation_list(user=client_b)) == {world["consultation_b"]}
    assert list(selectors.engagement_list(user=client_b)) == []
    with pytest.raises(NotFoundError):
        selectors.request_get(user=client_b, request_id=world["request_a"].pk)
    with pytest.raises(NotFoundError):
        selectors.consultation_get(user=client_b, consultation_id=world["consultation_a"].pk)
    with pytest.raises(NotFoundError):
        selectors.engagement_get(user=client_b, engagement_id=world["engagement"].pk)
    with pytest.raises(NotFoundError):
        selectors.milestone_get(user=client_b, milestone_id=world["engagement"].milestones.first().pk)


def test_engineer_sees_only_own_threads_and_engagements(world):
    engineer_b = world["engineer_b"]
    assert set(selectors.consultation_list(user=engineer_b)) == {world["consultation_b"]}
    assert set(selectors.request_list(user=engineer_b)) == {world["request_b"]}
    assert list(selectors.engagement_list(user=engineer_b)) == []
    with pytest.raises(NotFoundError):
        selectors.consultation_get(user=engineer_b, consultation_id=world["consultation_a"].pk)
    with pytest.raises(NotFoundError):
        selectors.engagement_get(user=engineer_b, engagement_id=world["engagement"].pk)
    engineer_a = world["engineer_a"]
    assert world["engagement"] in selectors.engagement_list(user=engineer_a)


def test_stranger_sees_nothing_and_staff_sees_everything(world):
    stranger = EngineerFactory()
    assert not selectors.request_list(user=stranger).exists()
    assert not selectors.consultation_list(user=stranger).exists()
    assert not selectors.engagement_list(user=stranger).exists()
    new_client = ClientFactory()
    assert not selectors.request_list(user=new_client).exists()
    staff = StaffFactory()
    assert selectors.request_list(user=staff).count() == 3
    assert selectors.engagement_list(user=staff).count() == 1


def test_proposals_follow_their_consultation(world):
    proposal = world["consultation_a"].proposals.first()
    assert selectors.proposal_get(user=world["client_a"], proposal_id=proposal.pk) == proposal
    for outsider in (world["client_b"], world["engineer_b"]):
        with pytest.raises(NotFoundError):
            selectors.proposal_get(user=outsider, proposal_id=proposal.pk)
