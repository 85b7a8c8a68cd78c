"""Funding a milestone by card: the checkout, failures shown, payments that arrive too late."""

import pytest
import stripe

from core.errors import InvalidTransitionError, NotFoundError, PermissionDeniedError
from marketplace.models import Milestone, Notification
from marketplace.services import engagements as engagement_services
from marketplace.services.change_orders import change_order_accept, change_order_propose
from payments.ledger import milestone_money
from payments.models import Funding, LedgerPosting, Refund
from payments.services.funding import funding_checkout, funding_sync
from tests.factories import ClientFactory, engagement, milestone_in_state
from tests.payments.conftest import pay, refunds_at_stripe

pytestmark = pytest.mark.django_db


def _milestone(amount: int = 80_000) -> Milestone:
    return engagement(amounts=(amount,)).milestones.get()


def test_checkout_creates_one_payment_intent_and_reuses_it(stripe_app):
    milestone = _milestone()
    client = milestone.engagement.client

    first = funding_checkout(actor=client, milestone_id=milestone.pk)
    again = funding_checkout(actor=client, milestone_id=milestone.pk)

    assert first.funding.pk == again.funding.pk
    assert first.funding.payment_intent_id == again.funding.payment_intent_id
    assert first.client_secret == again.client_secret and first.client_secret.startswith(
        first.funding.payment_intent_id
    )
    assert first.funding.idempotency_key == f"funding:{milestone.pk}:1"
    assert first.publishable_key == "pk_test_local"
    assert first.js_url == f"{stripe_app.url}/js.stripe.com/v3/"
    assert len(stripe.PaymentIntent.list(limit=10).data) == 1
    assert milestone_money(milestone_id=milestone.pk).escrow == 0  # nothing paid yet


def test_only_the_client_funds(stripe_app, staff_user):
    milestone = _milestone()
    with pytest.raises(PermissionDeniedError):
        funding_checkout(actor=milestone.engagement.engineer, milestone_id=milestone.pk)
    with pytest.raises(PermissionDeniedError):
        funding_checkout(actor=staff_user, milestone_id=milestone.pk)
    with pytest.raises(NotFoundError):
        funding_checkout(actor=ClientFactory(), milestone_id=milestone.pk)
    assert not Funding.objects.exists()
    assert stripe.PaymentIntent.list().data == []


def test_a_milestone_not_awaiting_funding_cannot_be_paid(stripe_app):
    cancelled = milestone_in_state(Milestone.State.CANCELLED)
    with pytest.raises(InvalidTransitionError, match="nothing to pay"):
        funding_checkout(actor=cancelled.engagement.client, milestone_id=cancelled.pk)
    assert stripe.PaymentIntent.list().data == []


def test_a_declined_card_leaves_the_milestone_awaiting_funding_with_the_reason(webhooks):
    milestone = _milestone()
    client = milestone.engagement.client
    checkout = funding_checkout(actor=client, milestone_id=milestone.pk)
    with pytest.raises(stripe.error.CardError):
        stripe.PaymentIntent.confirm(
            checkout.funding.payment_intent_id, payment_method="pm_card_chargeCustomerFail"
        )

    webhooks.deliver("payment_intent.payment_failed", checkout.funding.payment_intent_id, times=2)

    milestone.refresh_from_db()
    funding = Funding.objects.get(pk=checkout.funding.pk)
    assert milestone.state == Milestone.State.PENDING_FUNDING
    assert funding.state == Funding.State.OPEN
    assert (funding.failure_code, funding.failure_message) == ("card_declined", "Your card was declined.")
    [note] = Notification.objects.filter(user=client, kind="funding_failed")  # once, though delivered twice
    assert "Your card was declined." in note.message
    assert not LedgerPosting.objects.exists()

    # The client tries again on the same intent with another card.
    retry = funding_checkout(actor=client, milestone_id=milestone.pk)
    assert retry.funding.pk == funding.pk and retry.status == "requires_payment_method"
    stripe.PaymentIntent.confirm(funding.payment_intent_id, payment_method="pm_card_visa")
    webhooks.deliver("payment_intent.succeeded", funding.payment_intent_id)
    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.FUNDED
    assert milestone_money(milestone_id=milestone.pk).escrow == 80_000


def test_a_lost_webhook_is_caught_up_by_the_checkout_page(webhooks):
    milestone = _milestone()
    checkout = pay(milestone, webhooks, deliver=False)
    assert milestone.state == Milestone.State.PENDING_FUNDING

    again = funding_checkout(actor=milestone.engagement.client, milestone_id=milestone.pk)

    assert again.status == "succeeded" and again.client_secret is None
    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.FUNDED
    webhooks.deliver("payment_intent.succeeded", checkout.funding.payment_intent_id)  # late: no-op
    assert LedgerPosting.objects.filter(milestone=milestone).count() == 1


def test_a_cancelled_intent_gets_a_new_attempt(stripe_app):
    milestone = _milestone()
    client = milestone.engagement.client
    first = funding_checkout(actor=client, milestone_id=milestone.pk)
    stripe.PaymentIntent.cancel(first.funding.payment_intent_id)

    second = funding_checkout(actor=client, milestone_id=milestone.pk)

    assert second.funding.attempt == 2 and second.funding.idempotency_key == f"funding:{milestone.pk}:2"
    assert second.funding.payment_intent_id != first.funding.payment_intent_id
    assert Funding.objects.get(pk=first.funding.pk).state == Funding.State.CANCELED


def test_a_payment_completed_after_the_milestone_was_cancelled_is_refunded(
    webhooks, staff_user, django_capture_on_commit_callbacks
):
    milestone = _milestone()
    client = milestone.engagement.client
    checkout = funding_checkout(actor=client, milestone_id=milestone.pk)
    engagement_services.milestone_cancel(actor=client, milestone_id=milestone.pk)
    stripe.PaymentIntent.confirm(checkout.funding.payment_intent_id, payment_method="pm_card_visa")

    with django_capture_on_commit_callbacks(execute=True):
        webhooks.deliver("payment_intent.succeeded", checkout.funding.payment_intent_id)

    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.CANCELLED
    refund = Refund.objects.get()
    assert (refund.kind, refund.amount, refund.state) == (Refund.Kind.SURPLUS, 80_000, Refund.State.SUCCEEDED)
    [at_stripe] = refunds_at_stripe()
    assert (at_stripe.id, at_stripe.amount) == (refund.stripe_refund_id, 80_000)
    money = milestone_money(milestone_id=milestone.pk)
    assert (money.funded, money.refunded, money.escrow) == (80_000, 80_000, 0)
    assert Notification.objects.filter(user=staff_user, kind="payments_surplus_refund").exists()


def test_a_payment_for_another_amount_is_not_posted(stripe_app, staff_user):
    milestone = _milestone()
    checkout = funding_checkout(actor=milestone.engagement.client, milestone_id=milestone.pk)
    Funding.objects.filter(pk=checkout.funding.pk).update(amount=1)  # our record and Stripe's now disagree
    stripe.PaymentIntent.confirm(checkout.funding.payment_intent_id, payment_method="pm_card_visa")

    with pytest.raises(Exception, match="not posted") as refused:
        funding_sync(payment_intent_id=checkout.funding.payment_intent_id)

    assert refused.value.code == "amount_mismatch"
    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.PENDING_FUNDING
    assert not LedgerPosting.objects.exists()
    assert Notification.objects.filter(user=staff_user, kind="payments_mismatch").exists()


def test_a_change_order_on_the_amount_cancels_the_payment_the_client_started(stripe_app):
    milestone = _milestone(80_000)
    eng = milestone.engagement
    started = funding_checkout(actor=eng.client, milestone_id=milestone.pk)
    renamed = change_order_propose(
        actor=eng.engineer,
        engagement_id=eng.pk,
        changes=[{"action": "edit", "milestone": milestone.pk, "title": "Same price, clearer name"}],
        note="Clearer.",
    )
    change_order_accept(actor=eng.client, change_order_id=renamed.pk)
    assert Funding.objects.get(pk=started.funding.pk).state == Funding.State.OPEN  # the amount is the same

    dearer = change_order_propose(
        actor=eng.engineer,
        engagement_id=eng.pk,
        changes=[{"action": "edit", "milestone": milestone.pk, "amount": 90_000}],
        note="More work.",
    )
    change_order_accept(actor=eng.client, change_order_id=dearer.pk)
    assert Funding.objects.get(pk=started.funding.pk).state == Funding.State.CANCELED
    assert stripe.PaymentIntent.retrieve(started.funding.payment_intent_id).status == "canceled"
    again = funding_checkout(actor=eng.client, milestone_id=milestone.pk)
    assert (again.funding.attempt, again.funding.amount) == (2, 90_000)
    assert stripe.PaymentIntent.retrieve(again.funding.payment_intent_id).amount == 90_000


def test_a_payment_being_created_holds_the_amount_until_it_is_done(stripe_app):
    milestone = _milestone(80_000)
    eng = milestone.engagement
    Funding.objects.create(milestone=milestone, client=eng.client, attempt=1, amount=80_000, currency="usd")
    proposal = change_order_propose(
        actor=eng.client,
        engagement_id=eng.pk,
        changes=[{"action": "edit", "milestone": milestone.pk, "amount": 60_000}],
        note="Less.",
    )
    with pytest.raises(InvalidTransitionError) as refused:
        change_order_accept(actor=eng.engineer, change_order_id=proposal.pk)
    assert refused.value.code == "payment_in_progress"
    assert Milestone.objects.get(pk=milestone.pk).amount == 80_000
