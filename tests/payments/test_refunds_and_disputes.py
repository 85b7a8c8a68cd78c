"""Cancelling funded milestones with refunds, dispute settlements, chargebacks, bad amounts."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from core.errors import (
    InvalidTransitionError,
    NotFoundError,
    PaymentProviderError,
    PermissionDeniedError,
    ValidationError,
)
from core.money import fee_for
from marketplace.models import Milestone, Notification
from marketplace.services import engagements as engagement_services
from payments.ledger import milestone_money
from payments.models import CancellationRequest, Chargeback, Payout, Refund
from payments.selectors import funding_status
from payments.services.disputes import dispute_resolve
from payments.services.payouts import payout_approve
from payments.services.refunds import (
    cancellation_accept,
    cancellation_decide,
    cancellation_decline,
    cancellation_request,
    refund_retry,
)
from tests.factories import ClientFactory, StaffFactory, engagement
from tests.payments.conftest import (
    card_dispute,
    card_dispute_decide,
    onboard,
    pay,
    refunds_at_stripe,
    transfers_at_stripe,
    work_and_approve,
)

pytestmark = pytest.mark.django_db

HELD = 90_000


@pytest.fixture
def funded(webhooks) -> Milestone:
    milestone = engagement(amounts=(HELD,)).milestones.get()
    pay(milestone, webhooks)
    assert milestone.state == Milestone.State.FUNDED
    return milestone


@pytest.fixture
def disputed(funded) -> Milestone:
    engagement_services.milestone_open_dispute(
        actor=funded.engagement.client,
        milestone_id=funded.pk,
        category="scope_not_met",
        reason="The adapter does not load.",
    )
    funded.refresh_from_db()
    return funded


def _money(milestone):
    money = milestone_money(milestone_id=milestone.pk)
    return money.funded, money.escrow, money.released, money.refunded


# --- Cancellation by agreement, or by staff ------------------------------------------------------


def test_both_parties_agree_and_the_client_is_refunded(funded):
    client, engineer = funded.engagement.client, funded.engagement.engineer

    request = cancellation_request(actor=engineer, milestone_id=funded.pk, reason="I cannot take this on.")
    assert Notification.objects.filter(user=client, kind="cancellation_requested").exists()
    with pytest.raises(PermissionDeniedError):
        cancellation_accept(actor=engineer, cancellation_id=request.pk)  # not their own
    refund = cancellation_accept(actor=client, cancellation_id=request.pk)

    assert (refund.state, refund.amount, refund.kind) == (
        Refund.State.SUCCEEDED,
        HELD,
        Refund.Kind.CANCELLATION,
    )
    [at_stripe] = refunds_at_stripe()
    assert (at_stripe.id, at_stripe.amount) == (refund.stripe_refund_id, HELD)
    assert at_stripe.payment_intent == refund.funding.payment_intent_id
    funded.refresh_from_db()
    assert funded.state == Milestone.State.REFUNDED
    assert _money(funded) == (HELD, 0, 0, HELD)
    # The funding says so too (it said "funded" after the refund).
    assert funding_status(user=client, milestone_id=funded.pk).status == "refunded"
    page = Client()
    page.force_login(client)
    html = page.get(reverse("payments:fund-status", args=[funded.pk])).content.decode()
    assert "Refunded" in html and "held in escrow" not in html
    request.refresh_from_db()
    assert (request.state, request.responded_by) == (CancellationRequest.State.ACCEPTED, client)


def test_a_declined_cancellation_moves_nothing(funded):
    client, engineer = funded.engagement.client, funded.engagement.engineer
    request = cancellation_request(actor=client, milestone_id=funded.pk, reason="Changed plans.")
    with pytest.raises(InvalidTransitionError, match="already waiting"):
        cancellation_request(actor=engineer, milestone_id=funded.pk, reason="Me too.")

    cancellation_decline(actor=engineer, cancellation_id=request.pk, note="Work is half done.")

    request.refresh_from_db()
    assert request.state == CancellationRequest.State.DECLINED
    with pytest.raises(InvalidTransitionError):
        cancellation_accept(actor=engineer, cancellation_id=request.pk)
    funded.refresh_from_db()
    assert funded.state == Milestone.State.FUNDED
    assert _money(funded) == (HELD, HELD, 0, 0)
    assert refunds_at_stripe() == []


def test_cancellation_requests_are_checked(funded, staff_user):
    client = funded.engagement.client
    with pytest.raises(ValidationError, match="reason"):
        cancellation_request(actor=client, milestone_id=funded.pk, reason="  ")
    with pytest.raises(NotFoundError):
        cancellation_request(actor=ClientFactory(), milestone_id=funded.pk, reason="Not mine.")
    with pytest.raises(PermissionDeniedError):
        cancellation_request(actor=staff_user, milestone_id=funded.pk, reason="Staff decide instead.")
    engagement_services.milestone_start(actor=funded.engagement.engineer, milestone_id=funded.pk)
    engagement_services.milestone_submit(
        actor=funded.engagement.engineer, milestone_id=funded.pk, message="Done."
    )
    with pytest.raises(InvalidTransitionError, match="not yet delivered"):
        cancellation_request(actor=client, milestone_id=funded.pk, reason="Too late.")
    assert not CancellationRequest.objects.exists()


def test_staff_cancel_a_funded_milestone_with_a_full_refund(funded, staff_user):
    pending = cancellation_request(actor=funded.engagement.client, milestone_id=funded.pk, reason="Please.")
    with pytest.raises(PermissionDeniedError):
        cancellation_decide(actor=funded.engagement.client, milestone_id=funded.pk, reason="Mine.")

    refund = cancellation_decide(actor=staff_user, milestone_id=funded.pk, reason="Engineer unreachable.")

    assert refund.state == Refund.State.SUCCEEDED and refund.amount == HELD
    funded.refresh_from_db()
    assert funded.state == Milestone.State.REFUNDED
    pending.refresh_from_db()
    assert (pending.state, pending.responded_by) == (CancellationRequest.State.ACCEPTED, staff_user)
    with pytest.raises(InvalidTransitionError):
        cancellation_decide(actor=staff_user, milestone_id=funded.pk, reason="Again.")
    assert len(refunds_at_stripe()) == 1


@pytest.fixture
def stripe_server(webhooks):
    return webhooks.server


def test_a_refund_stripe_fails_is_retried_by_staff_with_the_same_key(
    funded, staff_user, settings, stripe_server
):
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    stripe_server.add_fault("/v1/refunds", "error_500")

    refund = cancellation_decide(actor=staff_user, milestone_id=funded.pk, reason="Cancelled by staff.")

    assert refund.state == Refund.State.FAILED and "injected fault" in refund.failure_message
    assert Notification.objects.filter(user=staff_user, kind="refund_failed").exists()
    funded.refresh_from_db()
    assert funded.state == Milestone.State.REFUND_PENDING
    assert refunds_at_stripe() == [] and _money(funded) == (HELD, HELD, 0, 0)

    stripe_server.add_fault("/v1/refunds", "error_500")
    with pytest.raises(PaymentProviderError):
        refund_retry(actor=staff_user, refund_id=refund.pk)
    refund = refund_retry(actor=staff_user, refund_id=refund.pk)

    assert (refund.state, refund.attempts) == (Refund.State.SUCCEEDED, 3)
    assert len(refunds_at_stripe()) == 1
    funded.refresh_from_db()
    assert funded.state == Milestone.State.REFUNDED


# --- Disputes ----------------------------------------------------------------------------------------


def test_a_dispute_freezes_payouts(funded, django_capture_on_commit_callbacks):
    engineer = funded.engagement.engineer
    engagement_services.milestone_start(actor=engineer, milestone_id=funded.pk)
    engagement_services.milestone_submit(actor=engineer, milestone_id=funded.pk, message="Done.")
    engagement_services.milestone_open_dispute(
        actor=engineer,
        milestone_id=funded.pk,
        category="scope_not_met",
        reason="No review: the delivery does not match the agreed scope.",
    )
    with pytest.raises(InvalidTransitionError):
        engagement_services.milestone_approve(actor=funded.engagement.client, milestone_id=funded.pk)
    assert not Payout.objects.exists()


def test_staff_settle_a_dispute_with_a_split(disputed, staff_user, webhooks, settings):
    onboard(disputed.engagement.engineer, webhooks)
    release, refund_amount = 60_000, 30_000

    settlement = dispute_resolve(
        actor=staff_user,
        milestone_id=disputed.pk,
        release_amount=release,
        refund_amount=refund_amount,
        currency="usd",
        note="Two of three deliverables accepted.",
    )

    fee = fee_for(release, settings.PLATFORM_FEE_BPS)
    assert settlement.milestone.state == Milestone.State.RESOLVED
    assert (settlement.payout.state, settlement.payout.net, settlement.payout.kind) == (
        Payout.State.PAID,
        release - fee,
        Payout.Kind.DISPUTE_RELEASE,
    )
    assert (settlement.refund.state, settlement.refund.amount) == (Refund.State.SUCCEEDED, refund_amount)
    [transfer] = transfers_at_stripe()
    assert transfer.amount == release - fee
    [refund] = refunds_at_stripe()
    assert refund.amount == refund_amount
    assert _money(disputed) == (HELD, 0, release, refund_amount)
    assert Notification.objects.filter(user=disputed.engagement.engineer, kind="payout_sent").exists()
    client = disputed.engagement.client
    assert funding_status(user=client, milestone_id=disputed.pk).status == "partly_refunded"


def test_a_full_refund_settlement_needs_no_onboarding(disputed, staff_user):
    settlement = dispute_resolve(
        actor=staff_user,
        milestone_id=disputed.pk,
        release_amount=0,
        refund_amount=HELD,
        currency="usd",
        note="Nothing delivered.",
    )
    assert settlement.payout is None and settlement.refund.amount == HELD
    assert _money(disputed) == (HELD, 0, 0, HELD)


def test_a_settlement_before_the_engineer_onboarded_queues_their_share_until_they_do(
    disputed, staff_user, webhooks, settings
):
    release, refund_amount = 60_000, 30_000
    settlement = dispute_resolve(
        actor=staff_user,
        milestone_id=disputed.pk,
        release_amount=release,
        refund_amount=refund_amount,
        currency="usd",
        note="Two of three deliverables accepted.",
    )
    assert settlement.milestone.state == Milestone.State.RESOLVED
    payout = settlement.payout
    assert (payout.state, payout.approved_by, payout.kind) == (
        Payout.State.AWAITING_APPROVAL,
        staff_user,
        Payout.Kind.DISPUTE_RELEASE,
    )
    assert transfers_at_stripe() == [] and settlement.refund.state == Refund.State.SUCCEEDED
    assert _money(disputed) == (HELD, release, 0, refund_amount)  # the share stays in escrow
    engineer = disputed.engagement.engineer
    queued = Notification.objects.get(user=engineer, kind="payout_queued")
    assert "waits for your payout account" in queued.message

    onboard(engineer, webhooks)  # the account becomes ready: the queued share goes out by itself
    payout.refresh_from_db()
    fee = fee_for(release, settings.PLATFORM_FEE_BPS)
    assert payout.state == Payout.State.PAID
    [transfer] = transfers_at_stripe()
    assert transfer.amount == release - fee
    assert _money(disputed) == (HELD, 0, release, refund_amount)
    webhooks.deliver("account.updated", engineer.stripe_account.stripe_account_id)  # again: nothing more
    assert len(transfers_at_stripe()) == 1


@pytest.mark.parametrize(
    ("release", "refund", "currency", "error", "code"),
    [
        (0, 0, "usd", ValidationError, "invalid_amount"),
        (-1, HELD + 1, "usd", ValidationError, "invalid_amount"),
        (HELD, -5, "usd", ValidationError, "invalid_amount"),
        (HELD / 2, HELD / 2, "usd", ValidationError, "invalid_amount"),  # floats are never money
        (0, HELD + 1, "usd", ValidationError, "refund_exceeds_held"),
        (10_000, 10_000, "usd", ValidationError, "split_mismatch"),
        (HELD - 1, 0, "usd", ValidationError, "split_mismatch"),
        (0, HELD, "eur", ValidationError, "currency_mismatch"),
    ],
)
def test_bad_settlements_are_refused_and_nothing_moves(
    disputed, staff_user, release, refund, currency, error, code
):
    with pytest.raises(error) as refused:
        dispute_resolve(
            actor=staff_user,
            milestone_id=disputed.pk,
            release_amount=release,
            refund_amount=refund,
            currency=currency,
            note="Split.",
        )
    assert refused.value.code == code
    disputed.refresh_from_db()
    assert disputed.state == Milestone.State.DISPUTED
    assert not Payout.objects.exists() and not Refund.objects.exists()
    assert transfers_at_stripe() == [] and refunds_at_stripe() == []
    assert _money(disputed) == (HELD, HELD, 0, 0)


def test_only_staff_settle_and_only_disputed_milestones(funded, staff_user):
    with pytest.raises(PermissionDeniedError):
        dispute_resolve(
            actor=funded.engagement.client,
            milestone_id=funded.pk,
            release_amount=0,
            refund_amount=HELD,
            currency="usd",
            note="Mine.",
        )
    with pytest.raises(InvalidTransitionError, match="not disputed"):
        dispute_resolve(
            actor=staff_user,
            milestone_id=funded.pk,
            release_amount=0,
            refund_amount=HELD,
            currency="usd",
            note="x",
        )
    assert refunds_at_stripe() == []


# --- Card chargebacks ------------------------------------------------------------------------------------


def _chargeback_event(
    funding, status="needs_response", event_id="evt_dispute_1", type="charge.dispute.created"
):
    return {
        "id": event_id,
        "object": "event",
        "type": type,
        "created": 1_700_000_000,
        "data": {
            "object": {
                "id": "dp_test_1",
                "object": "dispute",
                "charge": funding.charge_id,
                "payment_intent": funding.payment_intent_id,
                "amount": funding.amount,
                "currency": funding.currency,
                "reason": "fraudulent",
                "status": status,
            }
        },
    }


def test_a_chargeback_freezes_the_milestone_and_alerts_every_staff_member(funded, webhooks, staff_user):
    other_staff = StaffFactory()
    funding = funded.fundings.get()

    assert webhooks.post(_chargeback_event(funding)).status_code == 200
    assert webhooks.post(json.dumps(_chargeback_event(funding)).encode()).status_code == 200  # duplicate

    funded.refresh_from_db()
    assert funded.state == Milestone.State.DISPUTED
    chargeback = Chargeback.objects.get()
    assert (chargeback.milestone, chargeback.amount, chargeback.is_open) == (funded, HELD, True)
    for user in (staff_user, other_staff):
        assert Notification.objects.filter(user=user, kind="chargeback_opened").count() == 1

    closed = _chargeback_event(funding, status="won", event_id="evt_dispute_2", type="charge.dispute.closed")
    assert webhooks.post(closed).status_code == 200
    stale = _chargeback_event(
        funding, status="under_review", event_id="evt_dispute_3", type="charge.dispute.updated"
    )
    assert webhooks.post(stale).status_code == 200
    chargeback.refresh_from_db()
    assert (chargeback.status, chargeback.is_open) == ("won", False)  # closed stays closed


def test_a_chargeback_after_approval_blocks_the_payout(
    funded, webhooks, staff_user, django_capture_on_commit_callbacks
):
    funded.refresh_from_db()
    onboard(funded.engagement.engineer, webhooks)
    payout = work_and_approve(funded, django_capture_on_commit_callbacks)
    webhooks.post(_chargeback_event(funded.fundings.get()))

    with pytest.raises(InvalidTransitionError, match="chargeback") as refused:
        payout_approve(actor=staff_user, payout_id=payout.pk)

    assert refused.value.code == "chargeback_open"
    assert transfers_at_stripe() == []
    assert Notification.objects.filter(user=staff_user, kind="chargeback_opened").exists()

    funding = funded.fundings.get()
    webhooks.post(_chargeback_event(funding, status="won", event_id="evt_won", type="charge.dispute.closed"))
    assert payout_approve(actor=staff_user, payout_id=payout.pk).state == Payout.State.PAID


def test_a_lost_chargeback_keeps_the_payout_frozen(
    funded, webhooks, staff_user, django_capture_on_commit_callbacks
):
    onboard(funded.engagement.engineer, webhooks)
    payout = work_and_approve(funded, django_capture_on_commit_callbacks)
    funding = funded.fundings.get()
    webhooks.post(_chargeback_event(funding))
    webhooks.post(
        _chargeback_event(funding, status="lost", event_id="evt_lost", type="charge.dispute.closed")
    )

    with pytest.raises(InvalidTransitionError, match="was lost") as refused:
        payout_approve(actor=staff_user, payout_id=payout.pk)
    assert refused.value.code == "chargeback_lost"
    assert transfers_at_stripe() == []


def test_a_payment_under_a_chargeback_is_not_refunded_until_the_card_network_decides(
    funded, webhooks, staff_user
):
    funding = funded.fundings.get()
    webhooks.post(_chargeback_event(funding))  # freezes the milestone as disputed
    settle = dict(
        actor=staff_user,
        milestone_id=funded.pk,
        release_amount=0,
        refund_amount=HELD,
        currency="usd",
        note="x",
    )

    with pytest.raises(
        InvalidTransitionError, match=r"chargeback .* is open: nothing can be released or refunded"
    ) as refused:
        dispute_resolve(**settle)
    assert refused.value.code == "chargeback_open"
    assert refunds_at_stripe() == [] and not Refund.objects.exists()
    assert _money(funded) == (HELD, HELD, 0, 0)

    webhooks.post(
        _chargeback_event(funding, status="lost", event_id="evt_lost", type="charge.dispute.closed")
    )
    with pytest.raises(InvalidTransitionError, match="was lost") as refused:
        dispute_resolve(**settle)  # the money already went back: refunding it would pay the client twice
    assert refused.value.code == "chargeback_lost"
    assert refunds_at_stripe() == [] and not Refund.objects.exists()


def test_a_lost_chargeback_takes_what_escrow_holds_out_of_the_ledger(funded, webhooks, staff_user):
    funding = funded.fundings.get()
    dispute_id = card_dispute(webhooks, funding)
    assert milestone_money(milestone_id=funded.pk).charged_back == 0  # open: nothing moves yet

    card_dispute_decide(webhooks, dispute_id, "lost")
    webhooks.deliver("charge.dispute.closed", dispute_id)  # a repeated event posts nothing more

    money = milestone_money(milestone_id=funded.pk)
    assert (money.funded, money.escrow, money.charged_back, money.chargeback_losses) == (HELD, 0, HELD, 0)
    assert funded.ledger_postings.get(kind="chargeback").key == f"chargeback:{dispute_id}"
    assert funding_status(user=funded.engagement.client, milestone_id=funded.pk).status == "charged_back"
    assert Notification.objects.filter(user=staff_user, kind="chargeback_closed").count() == 1


def test_a_chargeback_lost_after_the_payout_is_paid_by_the_platform(
    funded, webhooks, staff_user, django_capture_on_commit_callbacks
):
    onboard(funded.engagement.engineer, webhooks)
    payout = work_and_approve(funded, django_capture_on_commit_callbacks)
    payout_approve(actor=staff_user, payout_id=payout.pk)
    funding = funded.fundings.get()
    partial = 30_000

    card_dispute_decide(webhooks, card_dispute(webhooks, funding, amount=partial), "lost")

    money = milestone_money(milestone_id=funded.pk)
    # Escrow was empty: the platform paid the card network from its own funds, and says so.
    assert (money.escrow, money.released, money.charged_back, money.chargeback_losses) == (
        0,
        HELD,
        partial,
        partial,
    )


def test_a_won_chargeback_lets_staff_settle_with_a_refund(funded, webhooks, staff_user):
    funding = funded.fundings.get()
    webhooks.post(_chargeback_event(funding))
    webhooks.post(_chargeback_event(funding, status="won", event_id="evt_won", type="charge.dispute.closed"))
    settlement = dispute_resolve(
        actor=staff_user,
        milestone_id=funded.pk,
        release_amount=0,
        refund_amount=HELD,
        currency="usd",
        note="x",
    )
    assert settlement.refund.state == Refund.State.SUCCEEDED
    assert _money(funded) == (HELD, 0, 0, HELD)
