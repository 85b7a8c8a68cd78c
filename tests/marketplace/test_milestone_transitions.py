"""Every milestone transition, allowed and refused, per role."""

import pytest

from core.errors import InvalidTransitionError, NotFoundError, PermissionDeniedError, ValidationError
from core.models import TransitionLog
from marketplace.models import Engagement, HiringRequest, Milestone
from marketplace.services import engagements as services
from tests.factories import ClientFactory, EngineerFactory, StaffFactory, milestone_in_state

pytestmark = pytest.mark.django_db
S = Milestone.State


@pytest.mark.parametrize("state", list(S))
def test_every_state_is_reachable_through_services(state):
    milestone = milestone_in_state(state)
    assert milestone.state == state


def _actor(milestone, role):
    return {
        "client": milestone.engagement.client,
        "engineer": milestone.engagement.engineer,
        "staff": StaffFactory(),
        "system": None,
    }[role]


# (service call, source state, target state, roles allowed, roles refused with 403)
TRANSITIONS = [
    ("fund", S.PENDING_FUNDING, S.FUNDED, ["staff", "system"], ["client", "engineer"]),
    ("start", S.FUNDED, S.IN_PROGRESS, ["engineer"], ["client", "staff"]),
    ("submit", S.IN_PROGRESS, S.SUBMITTED, ["engineer"], ["client", "staff"]),
    ("revise", S.SUBMITTED, S.IN_PROGRESS, ["client"], ["engineer", "staff"]),
    ("approve", S.SUBMITTED, S.APPROVED, ["client", "staff", "system"], ["engineer"]),
    ("payout", S.APPROVED, S.PAYOUT_PENDING, ["staff", "system"], ["client", "engineer"]),
    ("paid", S.PAYOUT_PENDING, S.PAID, ["staff", "system"], ["client", "engineer"]),
    ("dispute", S.FUNDED, S.DISPUTED, ["client", "engineer"], ["staff"]),
    ("dispute", S.IN_PROGRESS, S.DISPUTED, ["client", "engineer"], ["staff"]),
    ("dispute", S.SUBMITTED, S.DISPUTED, ["client", "engineer"], ["staff"]),
    ("resolve", S.DISPUTED, S.RESOLVED, ["staff", "system"], ["client", "engineer"]),
    ("cancel", S.PENDING_FUNDING, S.CANCELLED, ["client", "staff"], ["engineer"]),
    ("refund", S.FUNDED, S.REFUND_PENDING, ["staff", "system"], ["client", "engineer"]),
    ("refund", S.IN_PROGRESS, S.REFUND_PENDING, ["staff", "system"], ["client", "engineer"]),
    ("refunded", S.REFUND_PENDING, S.REFUNDED, ["staff", "system"], ["client", "engineer"]),
]


def _call(action, milestone, actor):
    pk = milestone.pk
    return {
        "fund": lambda: services.milestone_mark_funded(milestone_id=pk, actor=actor),
        "start": lambda: services.milestone_start(actor=actor, milestone_id=pk),
        "submit": lambda: services.milestone_submit(actor=actor, milestone_id=pk, message="Done."),
        "revise": lambda: services.milestone_request_revision(
            actor=actor, milestone_id=pk, comment="Add the eval report."
        ),
        "approve": lambda: services.milestone_approve(actor=actor, milestone_id=pk),
        "payout": lambda: services.milestone_request_payout(milestone_id=pk, actor=actor),
        "paid": lambda: services.milestone_mark_paid(milestone_id=pk, actor=actor),
        "dispute": lambda: services.milestone_open_dispute(
            actor=actor,
            milestone_id=pk,
            category="scope_not_met",
            reason="Late: the delivery does not match the agreed scope.",
        ),
        "resolve": lambda: services.milestone_resolve_dispute(actor=actor, milestone_id=pk, note="Split."),
        "cancel": lambda: services.milestone_cancel(actor=actor, milestone_id=pk),
        "refund": lambda: services.milestone_request_refund(actor=actor, milestone_id=pk, reason="Stop."),
        "refunded": lambda: services.milestone_mark_refunded(milestone_id=pk, actor=actor),
    }[action]()


ALLOWED = [(a, src, dst, role) for a, src, dst, roles, _ in TRANSITIONS for role in roles]
REFUSED = [(a, src, role) for a, src, _, _, roles in TRANSITIONS for role in roles]


@pytest.mark.parametrize(("action", "source", "target", "role"), ALLOWED)
def test_transition_allowed(action, source, target, role):
    milestone = milestone_in_state(source)
    actor = _actor(milestone, role)
    _call(action, milestone, actor)
    milestone.refresh_from_db()
    assert milestone.state == target
    log = TransitionLog.objects.filter(object_id=milestone.pk, content_type__model="milestone").last()
    assert (log.from_state, log.to_state) == (source, target)
    assert log.actor == actor
    assert log.timeline_key == f"engagement:{milestone.engagement_id}"


@pytest.mark.parametrize(("action", "source", "role"), REFUSED)
def test_transition_refused_for_role(action, source, role):
    milestone = milestone_in_state(source)
    with pytest.raises(PermissionDeniedError):
        _call(action, milestone, _actor(milestone, role))
    milestone.refresh_from_db()
    assert milestone.state == source


@pytest.mark.parametrize(("action", "source", "target", "roles", "_refused"), TRANSITIONS)
def test_transition_refused_from_every_other_state(action, source, target, roles, _refused):
    sources = {s for a, s, *_ in TRANSITIONS if a == action}
    role = roles[0]
    for state in S:
        if state in sources:
            continue
        milestone = milestone_in_state(state)
        with pytest.raises(InvalidTransitionError) as excinfo:
            _call(action, milestone, _actor(milestone, role))
        assert excinfo.value.status == 409
        milestone.refresh_from_db()
        assert milestone.state == state


@pytest.mark.parametrize("outsider", ["other_client", "other_engineer"])
def test_outsiders_get_not_found(outsider):
    milestone = milestone_in_state(S.SUBMITTED)
    actor = ClientFactory() if outsider == "other_client" else EngineerFactory()
    with pytest.raises(NotFoundError):
        services.milestone_approve(actor=actor, milestone_id=milestone.pk)
    milestone.refresh_from_db()
    assert milestone.state == S.SUBMITTED


def test_revision_needs_a_comment_and_keeps_state():
    milestone = milestone_in_state(S.SUBMITTED)
    with pytest.raises(ValidationError) as excinfo:
        services.milestone_request_revision(
            actor=milestone.engagement.client, milestone_id=milestone.pk, comment=" "
        )
    assert "comment" in excinfo.value.details
    milestone.refresh_from_db()
    assert milestone.state == S.SUBMITTED


def test_approving_the_last_milestone_completes_engagement_and_closes_request():
    milestone = milestone_in_state(S.APPROVED)
    engagement = Engagement.objects.get(pk=milestone.engagement_id)
    assert engagement.state == Engagement.State.COMPLETED
    assert engagement.completed_at is not None
    assert engagement.request.state == HiringRequest.State.CLOSED
