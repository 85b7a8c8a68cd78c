"""Onboarding, payout approval, failures and retries with the same idempotency key, injected faults."""

import pytest
import stripe

from core.errors import InvalidTransitionError, NotFoundError, PaymentProviderError, PermissionDeniedError
from core.models import TransitionLog
from core.money import fee_for
from marketplace.models import Milestone, Notification
from payments.ledger import milestone_money
from payments.models import ConnectedAccount, LedgerPosting, Payout
from payments.services.accounts import connected_account_onboarding_link, payout_eligibility
from payments.services.payouts import (
    payout_approve,
    payout_create_for_milestone,
    payout_retry,
    payouts_resume_stalled,
)
from tests.factories import ClientFactory, engagement, milestone_in_state
from tests.payments.conftest import onboard, pay, transfers_at_stripe, work_and_approve

pytestmark = pytest.mark.django_db

AMOUNT = 120_000


@pytest.fixture
def approved(webhooks, django_capture_on_commit_callbacks):
    """A Stripe-funded, delivered and approved milestone whose payout awaits staff."""
    milestone = engagement(amounts=(AMOUNT,)).milestones.get()
    pay(milestone, webhooks)
    payout = work_and_approve(milestone, django_capture_on_commit_callbacks)
    assert payout.state == Payout.State.AWAITING_APPROVAL
    return payout


def _nothing_moved(payout: Payout) -> None:
    payout.refresh_from_db()
    assert payout.transfer_id is None
    assert transfers_at_stripe() == []
    money = milestone_money(milestone_id=payout.milestone_id)
    assert (money.escrow, money.released) == (AMOUNT, 0)


def test_onboarding_keeps_eligibility_current_and_says_what_is_missing(webhooks):
    engineer = engagement().engineer
    assert payout_eligibility(engineer=engineer).reasons == (
        "Set up payouts: connect a Stripe account from your payout settings.",
    )

    account = onboard(engineer, webhooks, leave_due="external_account,individual.dob.day")

    assert account.details_submitted and not account.payouts_ready
    assert account.requirements_due == ["external_account", "individual.dob.day"]
    eligibility = payout_eligibility(engineer=engineer)
    assert not eligibility.ready
    assert eligibility.reasons == ("Stripe still needs a bank account for payouts, your date of birth.",)

    again = onboard(engineer, webhooks)  # a second link, the same Stripe account

    assert again.stripe_account_id == account.stripe_account_id
    assert again.payouts_ready and payout_eligibility(engineer=engineer).ready
    assert Notification.objects.filter(user=engineer, kind="payouts_enabled").count() == 1
    assert len(stripe.Account.list(limit=10).data) == 1


def test_only_engineers_onboard(stripe_app):
    with pytest.raises(PermissionDeniedError):
        connected_account_onboarding_link(
            actor=ClientFactory(), return_url="http://127.0.0.1:9/a", refresh_url="http://127.0.0.1:9/b"
        )
    assert not ConnectedAccount.objects.exists()


def test_approval_opens_one_payout_with_the_fee(approved, settings):
    fee = fee_for(AMOUNT, settings.PLATFORM_FEE_BPS)
    assert (approved.amount, approved.fee, approved.net, approved.fee_bps) == (
        AMOUNT,
        fee,
        AMOUNT - fee,
        settings.PLATFORM_FEE_BPS,
    )
    assert approved.milestone.state == Milestone.State.APPROVED
    assert payout_create_for_milestone(milestone_id=approved.milestone_id) == approved  # idempotent
    note = Notification.objects.get(user=approved.engineer, kind="payout_opened")
    assert "connect a Stripe account" in note.message  # the engineer sees why it will wait


def test_no_payout_for_a_milestone_funded_outside_stripe(stripe_app):
    milestone = milestone_in_state(Milestone.State.APPROVED)  # marked funded by hand: no ledger money
    assert payout_create_for_milestone(milestone_id=milestone.pk) is None
    assert not Payout.objects.exists()


def test_payout_to_an_engineer_without_onboarding_is_refused_and_nothing_moves(approved, staff_user):
    with pytest.raises(InvalidTransitionError, match="cannot receive payouts yet") as refused:
        payout_approve(actor=staff_user, payout_id=approved.pk)

    assert refused.value.code == "engineer_not_onboarded"
    assert refused.value.details["missing"] == [
        "Set up payouts: connect a Stripe account from your payout settings."
    ]
    assert approved.state == Payout.State.AWAITING_APPROVAL and approved.attempts == 0
    approved.milestone.refresh_from_db()
    assert approved.milestone.state == Milestone.State.APPROVED
    _nothing_moved(approved)


def test_half_onboarded_engineer_is_refused_with_what_stripe_needs(approved, staff_user, webhooks):
    onboard(approved.engineer, webhooks, leave_due="external_account")
    with pytest.raises(InvalidTransitionError, match="a bank account for payouts"):
        payout_approve(actor=staff_user, payout_id=approved.pk)
    _nothing_moved(approved)


def test_only_staff_approve_payouts(approved, webhooks):
    onboard(approved.engineer, webhooks)
    milestone = approved.milestone
    for actor in (milestone.engagement.client, milestone.engagement.engineer):
        with pytest.raises(PermissionDeniedError):
            payout_approve(actor=actor, payout_id=approved.pk)
    _nothing_moved(approved)


def test_an_unknown_payout_is_not_found(stripe_app, staff_user):
    with pytest.raises(NotFoundError):
        payout_approve(actor=staff_user, payout_id=987654)


def test_approving_twice_is_a_conflict_and_transfers_once(approved, staff_user, webhooks):
    onboard(approved.engineer, webhooks)
    payout_approve(actor=staff_user, payout_id=approved.pk)

    with pytest.raises(InvalidTransitionError, match="it is paid"):
        payout_approve(actor=staff_user, payout_id=approved.pk)
    with pytest.raises(InvalidTransitionError):
        payout_retry(actor=staff_user, payout_id=approved.pk)

    assert len(transfers_at_stripe()) == 1
    logs = TransitionLog.objects.filter(timeline_key=f"payout:{approved.pk}").values_list(
        "transition", flat=True
    )
    assert list(logs) == ["approve", "mark_paid"]


def test_a_transfer_refused_by_stripe_fails_with_its_reason_and_retries_with_the_same_key(
    approved, staff_user, webhooks, settings
):
    onboard(approved.engineer, webhooks)
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    webhooks.server.add_fault("/v1/transfers", "error_500")

    with pytest.raises(PaymentProviderError, match="Stripe could not send the transfer") as failed:
        payout_approve(actor=staff_user, payout_id=approved.pk)

    assert failed.value.status == 502
    approved.refresh_from_db()
    assert approved.state == Payout.State.FAILED
    assert "An unknown error occurred (injected fault)." in approved.failure_message
    approved.milestone.refresh_from_db()
    assert approved.milestone.state == Milestone.State.PAYOUT_PENDING
    _nothing_moved(approved)

    payout = payout_retry(actor=staff_user, payout_id=approved.pk)

    assert payout.state == Payout.State.PAID and payout.attempts == 2
    [transfer] = transfers_at_stripe()
    assert transfer.id == payout.transfer_id
    assert transfer.metadata.to_dict() == {"payout": str(payout.pk), "milestone": str(payout.milestone_id)}
    payout.milestone.refresh_from_db()
    assert payout.milestone.state == Milestone.State.PAID
    assert LedgerPosting.objects.filter(key=f"payout:{payout.pk}").count() == 1


def test_a_transfer_done_but_unanswered_is_replayed_on_retry(approved, staff_user, webhooks, settings):
    """Stripe made the transfer and the answer timed out: the retry gets the same transfer back."""
    onboard(approved.engineer, webhooks)
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.STRIPE_API_TIMEOUT = 1
    webhooks.server.add_fault("/v1/transfers", "timeout_after_commit", delay_s=1.5)

    with pytest.raises(PaymentProviderError) as failed:
        payout_approve(actor=staff_user, payout_id=approved.pk)

    assert failed.value.details["stripe_code"] == "no_answer"
    approved.refresh_from_db()
    assert approved.state == Payout.State.FAILED
    [done] = transfers_at_stripe()  # Stripe did the work
    assert milestone_money(milestone_id=approved.milestone_id).released == 0  # we do not know it yet

    payout = payout_retry(actor=staff_user, payout_id=approved.pk)

    assert payout.transfer_id == done.id
    assert len(transfers_at_stripe()) == 1
    money = milestone_money(milestone_id=payout.milestone_id)
    assert (money.escrow, money.released) == (0, AMOUNT)


@pytest.mark.parametrize("mode", ["error_500", "timeout_after_commit"])
def test_the_clients_own_retries_reuse_the_key(approved, staff_user, webhooks, settings, mode):
    """With the app's retry policy, one approval survives the fault and transfers once."""
    onboard(approved.engineer, webhooks)
    settings.STRIPE_API_TIMEOUT = 1
    webhooks.server.add_fault("/v1/transfers", mode, delay_s=1.5 if mode != "error_500" else 0)

    payout = payout_approve(actor=staff_user, payout_id=approved.pk)

    assert payout.state == Payout.State.PAID and payout.attempts == 1
    assert len(transfers_at_stripe()) == 1
    assert webhooks.server.control("GET", "/_test/faults")["injected"] == {mode: 1}


def test_a_transfer_webhook_confirms_a_payout_whose_answer_was_lost(approved, staff_user, webhooks, settings):
    onboard(approved.engineer, webhooks)
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.STRIPE_API_TIMEOUT = 1
    webhooks.server.add_fault("/v1/transfers", "timeout_after_commit", delay_s=1.5)
    with pytest.raises(PaymentProviderError):
        payout_approve(actor=staff_user, payout_id=approved.pk)
    [transfer] = transfers_at_stripe()

    webhooks.deliver("transfer.created", transfer.id, times=3)

    approved.refresh_from_db()
    assert (approved.state, approved.transfer_id) == (Payout.State.PAID, transfer.id)
    approved.milestone.refresh_from_db()
    assert approved.milestone.state == Milestone.State.PAID
    assert LedgerPosting.objects.filter(key=f"payout:{approved.pk}").count() == 1


def test_a_payout_left_processing_by_a_lost_worker_is_resumed(approved, staff_user, webhooks):
    from datetime import timedelta

    from payments.services.payouts import _payout_claim

    onboard(approved.engineer, webhooks)
    _payout_claim(actor=staff_user, payout_id=approved.pk, transition="approve")  # then the worker died
    assert payouts_resume_stalled(older_than=timedelta(minutes=10)) == 0  # not stale yet
    assert payouts_resume_stalled(older_than=timedelta(0)) == 1

    approved.refresh_from_db()
    assert approved.state == Payout.State.PAID
    assert len(transfers_at_stripe()) == 1


def test_a_retry_after_stripe_forgot_the_key_finds_the_transfer(approved, staff_user, webhooks, settings):
    """Stripe keeps idempotency keys for 24 hours; a later retry must still not transfer twice."""
    account = onboard(approved.engineer, webhooks)
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    webhooks.server.add_fault("/v1/transfers", "error_500")
    with pytest.raises(PaymentProviderError):
        payout_approve(actor=staff_user, payout_id=approved.pk)
    approved.refresh_from_db()
    # As if an earlier attempt had gone through under a key Stripe no longer remembers:
    done = stripe.Transfer.create(
        amount=approved.net,
        currency="usd",
        destination=account.stripe_account_id,
        source_transaction=approved.funding.charge_id,
        metadata={"payout": str(approved.pk), "milestone": str(approved.milestone_id)},
        idempotency_key="forgotten",
    )

    payout = payout_retry(actor=staff_user, payout_id=approved.pk)

    assert payout.transfer_id == done.id
    assert len(transfers_at_stripe()) == 1
