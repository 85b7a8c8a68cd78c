"""The store-first webhook view and the handler table: signatures, duplicates, order, failures, replay."""

import json

import pytest
import stripe
from django.core.management import call_command

from marketplace.models import Milestone
from payments.ledger import milestone_money
from payments.models import ConnectedAccount, Funding, LedgerPosting, WebhookEvent
from payments.services.funding import funding_checkout
from payments.webhooks import HANDLERS
from tests.factories import engagement
from tests.payments.conftest import WEBHOOK_URL, onboard, pay, sign

pytestmark = pytest.mark.django_db


def _milestone(amount: int = 50_000) -> Milestone:
    return engagement(amounts=(amount,)).milestones.get()


def _an_event(type: str = "customer.created", **object_fields) -> dict:
    return {
        "id": "evt_test_123",
        "object": "event",
        "type": type,
        "created": 1_700_000_000,
        "data": {"object": {"id": "cus_123", "object": "customer", **object_fields}},
    }


@pytest.mark.parametrize(
    "signature",
    [
        "",  # no header at all
        "t=1700000000,v1=deadbeef",
        "garbage",
        "OTHER_SECRET",
    ],
    ids=["missing", "wrong-digest", "malformed", "other-secret"],
)
def test_a_bad_signature_is_refused_and_nothing_is_stored(webhooks, signature):
    payload = json.dumps(_an_event("payment_intent.succeeded")).encode()
    if signature == "OTHER_SECRET":
        signature = sign(payload, secret="whsec_someone_else")

    response = webhooks.post(payload, signature=signature)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not WebhookEvent.objects.exists()


def test_a_stale_signature_is_refused(webhooks):
    payload = json.dumps(_an_event()).encode()
    response = webhooks.post(payload, signature=sign(payload, timestamp=1_600_000_000))
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_a_signed_body_that_is_not_an_event_is_refused(webhooks):
    for payload in (b"not json", b"[1, 2]", json.dumps({"id": "evt_1", "type": "x"}).encode()):
        response = webhooks.post(payload)
        assert response.status_code == 400, payload
        assert response.json()["error"]["code"] == "invalid_event"
    assert not WebhookEvent.objects.exists()


def test_only_post_is_accepted(client, stripe_app):
    assert client.get(WEBHOOK_URL).status_code == 405


def test_an_unknown_event_type_is_stored_and_ignored(webhooks):
    assert "customer.created" not in HANDLERS

    response = webhooks.post(_an_event("customer.created"))

    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.stripe_id, event.type, event.status) == ("evt_test_123", "customer.created", "ignored")
    assert event.payload["data"]["object"]["id"] == "cus_123"


def test_the_same_event_delivered_ten_times_posts_once(webhooks):
    milestone = _milestone()
    checkout = pay(milestone, webhooks, deliver=False)
    intent_id = checkout.funding.payment_intent_id

    event = webhooks.deliver("payment_intent.succeeded", intent_id, times=10)

    assert WebhookEvent.objects.filter(stripe_id=event["id"]).count() == 1
    assert WebhookEvent.objects.get().attempts == 1
    assert LedgerPosting.objects.filter(milestone=milestone).count() == 1
    assert milestone_money(milestone_id=milestone.pk).escrow == 50_000
    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.FUNDED


def test_the_same_payment_in_other_events_and_checkout_reloads_posts_once(webhooks):
    """A Stripe retry has the same event id; a different event about the same payment must not double-post."""
    milestone = _milestone()
    checkout = pay(milestone, webhooks)
    event = webhooks.event("payment_intent.succeeded", checkout.funding.payment_intent_id)
    for n in range(3):
        assert webhooks.post({**event, "id": f"evt_resent_{n}"}).status_code == 200
    with pytest.raises(Exception, match="nothing to pay"):
        funding_checkout(actor=milestone.engagement.client, milestone_id=milestone.pk)

    assert WebhookEvent.objects.filter(status="processed").count() == 4
    assert LedgerPosting.objects.filter(milestone=milestone).count() == 1
    assert milestone_money(milestone_id=milestone.pk).funded == 50_000


def test_events_out_of_order_reach_the_same_end_state(webhooks):
    """A declined card then a good one; Stripe's events arrive reversed, the account's stale one last."""
    milestone = _milestone()
    client = milestone.engagement.client
    checkout = funding_checkout(actor=client, milestone_id=milestone.pk)
    intent_id = checkout.funding.payment_intent_id
    with pytest.raises(stripe.error.CardError):
        stripe.PaymentIntent.confirm(intent_id, payment_method="pm_card_chargeCustomerFail")
    stripe.PaymentIntent.confirm(intent_id, payment_method="pm_card_visa")
    engineer = milestone.engagement.engineer
    account = onboard(engineer, webhooks, leave_due="external_account")  # first: incomplete
    assert not account.payouts_ready
    failed = webhooks.event("payment_intent.payment_failed", intent_id)
    succeeded = webhooks.event("payment_intent.succeeded", intent_id)
    stale_account_event = webhooks.event("account.updated", account.stripe_account_id)

    for event in (succeeded, failed, stale_account_event):
        assert webhooks.post(event).status_code == 200

    milestone.refresh_from_db()
    funding = Funding.objects.get(pk=checkout.funding.pk)
    assert milestone.state == Milestone.State.FUNDED
    assert funding.state == Funding.State.SUCCEEDED and funding.failure_message == ""
    assert milestone_money(milestone_id=milestone.pk).escrow == 50_000
    assert not ConnectedAccount.objects.get(pk=account.pk).payouts_ready  # Stripe still says so


def test_the_same_events_in_order_end_the_same(webhooks):
    milestone = _milestone()
    checkout = funding_checkout(actor=milestone.engagement.client, milestone_id=milestone.pk)
    intent_id = checkout.funding.payment_intent_id
    with pytest.raises(stripe.error.CardError):
        stripe.PaymentIntent.confirm(intent_id, payment_method="pm_card_chargeCustomerFail")
    webhooks.deliver("payment_intent.payment_failed", intent_id)
    assert Funding.objects.get(pk=checkout.funding.pk).failure_message == "Your card was declined."
    stripe.PaymentIntent.confirm(intent_id, payment_method="pm_card_visa")
    webhooks.deliver("payment_intent.succeeded", intent_id)

    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.FUNDED
    assert Funding.objects.get(pk=checkout.funding.pk).failure_message == ""
    assert milestone_money(milestone_id=milestone.pk).escrow == 50_000


def test_a_failing_handler_is_recorded_and_replayed_by_the_command(webhooks, settings):
    milestone = _milestone()
    checkout = pay(milestone, webhooks, deliver=False)
    intent_id = checkout.funding.payment_intent_id
    settings.STRIPE_LOCAL_URL = "http://127.0.0.1:9"  # Stripe unreachable while the handler re-reads
    settings.STRIPE_MAX_NETWORK_RETRIES = 0

    event = webhooks.deliver("payment_intent.succeeded", intent_id)

    stored = WebhookEvent.objects.get(stripe_id=event["id"])
    assert stored.status == WebhookEvent.Status.FAILED
    assert stored.error.startswith("PaymentProviderError: Stripe could not read the payment")
    assert "Traceback" in stored.traceback and "funding_sync" in stored.traceback
    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.PENDING_FUNDING
    assert not LedgerPosting.objects.exists()

    settings.STRIPE_LOCAL_URL = webhooks.server.url
    call_command("stripe_replay_failed")

    stored.refresh_from_db()
    assert (stored.status, stored.attempts, stored.error) == (WebhookEvent.Status.PROCESSED, 2, "")
    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.FUNDED
    assert LedgerPosting.objects.filter(milestone=milestone).count() == 1
    call_command("stripe_replay_failed")  # nothing left to replay
    assert WebhookEvent.objects.get().attempts == 2


def test_events_about_objects_that_are_not_ours_are_processed_as_such(webhooks):
    intent = stripe.PaymentIntent.create(
        amount=700, currency="usd", payment_method="pm_card_visa", confirm=True
    )
    webhooks.deliver("payment_intent.succeeded", intent.id)
    event = WebhookEvent.objects.get()
    assert (event.status, event.result) == (WebhookEvent.Status.PROCESSED, "not one of our payments")
    assert not LedgerPosting.objects.exists()
