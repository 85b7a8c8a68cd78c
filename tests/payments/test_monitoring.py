"""Hold-ceiling alerts, reconciliation with Stripe, and the periodic tasks and commands around them."""

import io
import threading
from datetime import timedelta

import pytest
import stripe
from django.core.management import CommandError, call_command
from django.utils import timezone

from marketplace.models import Milestone, Notification
from payments import stripe_client
from payments.management.commands.stripe_local_setup import ENDPOINT_NAME
from payments.models import Funding, ReconciliationRun, WebhookEvent
from payments.services.monitoring import holds_alert, reconciliation_run
from payments.services.payouts import payout_approve
from payments.services.refunds import cancellation_decide
from payments.tasks import payments_resume_stalled
from tests.factories import engagement
from tests.payments.conftest import (
    WEBHOOK_URL,
    Relay,
    card_dispute,
    card_dispute_decide,
    onboard,
    pay,
    work_and_approve,
)

pytestmark = pytest.mark.django_db


def _funded(webhooks, amount=40_000) -> Milestone:
    milestone = engagement(amounts=(amount,)).milestones.get()
    pay(milestone, webhooks)
    return milestone


def test_funds_held_past_the_ceiling_alert_staff_once(webhooks, staff_user, settings):
    settings.HOLD_ALERT_DAYS = 75
    held = _funded(webhooks)
    released = _funded(webhooks)
    cancellation_decide(actor=staff_user, milestone_id=released.pk, reason="Stopped.")
    assert holds_alert() == 0  # nothing is old yet

    later = timezone.now() + timedelta(days=76)
    assert holds_alert(now=later) == 1
    assert holds_alert(now=later) == 0

    [alert] = Notification.objects.filter(user=staff_user, kind="escrow_hold_alert")
    assert f"“{held.title}” has held 400.00 USD in escrow for 76 days (alert after 75)" in alert.message
    assert Funding.objects.get(milestone=held).hold_alerted_at is not None


def test_reconciliation_of_a_consistent_ledger_is_clean(
    webhooks, staff_user, django_capture_on_commit_callbacks
):
    milestone = _funded(webhooks)
    onboard(milestone.engagement.engineer, webhooks)
    payout = work_and_approve(milestone, django_capture_on_commit_callbacks)
    payout_approve(actor=staff_user, payout_id=payout.pk)
    cancellation_decide(actor=staff_user, milestone_id=_funded(webhooks).pk, reason="Stopped.")

    run = reconciliation_run()

    assert run.status == ReconciliationRun.Status.CLEAN, run.differences
    assert run.checked == {
        "fundings": 2,
        "stripe_payment_intents": 2,
        "stripe_transfers": 1,
        "payouts": 1,
        "stripe_refunds": 1,
        "refunds": 1,
    }
    assert not Notification.objects.filter(kind__startswith="reconciliation").exists()


def test_reconciliation_reports_money_moved_outside_the_ledger(webhooks, staff_user):
    milestone = _funded(webhooks)
    funding = milestone.fundings.get()
    account = onboard(milestone.engagement.engineer, webhooks)
    # Someone moves money in Stripe's dashboard, and a payment arrives whose webhook was lost.
    stripe.Transfer.create(
        amount=1_000,
        currency="usd",
        destination=account.stripe_account_id,
        source_transaction=funding.charge_id,
    )
    stripe.Refund.create(payment_intent=funding.payment_intent_id, amount=500)
    other = engagement(amounts=(25_000,)).milestones.get()
    pay(other, webhooks, deliver=False)

    run = reconciliation_run()

    assert run.status == ReconciliationRun.Status.DIFFERENCES
    kinds = sorted(d["kind"] for d in run.differences)
    assert kinds == ["stripe_payment_unrecorded", "stripe_refund_unrecorded", "stripe_transfer_unrecorded"]
    [alert] = Notification.objects.filter(user=staff_user, kind="reconciliation_differences")
    assert alert.message.startswith("Reconciliation found 3 difference(s) with Stripe")


def test_reconciliation_checks_card_disputes_against_the_ledger(webhooks, staff_user):
    recorded = _funded(webhooks).fundings.get()
    unrecorded = _funded(webhooks).fundings.get()
    # A lost chargeback whose decision never reached us, and a dispute whose opening never did.
    lost = card_dispute(webhooks, recorded)
    card_dispute_decide(webhooks, lost, "lost", deliver=False)
    unknown = card_dispute(webhooks, unrecorded, deliver=False)

    run = reconciliation_run()

    assert run.status == ReconciliationRun.Status.DIFFERENCES
    found = sorted((d["kind"], d["object"]) for d in run.differences)
    assert found == [
        ("chargeback_not_posted", lost),
        ("chargeback_status_differs", lost),
        ("stripe_dispute_unrecorded", unknown),
    ]
    assert run.checked["stripe_disputes"] == 2 and run.checked["chargebacks"] == 1

    webhooks.deliver("charge.dispute.closed", lost)
    webhooks.deliver("charge.dispute.created", unknown)
    again = reconciliation_run()
    assert again.status == ReconciliationRun.Status.CLEAN, again.differences


def test_reconciliation_that_cannot_reach_stripe_says_so(webhooks, staff_user, settings):
    _funded(webhooks)
    settings.STRIPE_LOCAL_URL = "http://127.0.0.1:9"
    settings.STRIPE_MAX_NETWORK_RETRIES = 0

    run = reconciliation_run()

    assert run.status == ReconciliationRun.Status.ERROR and "Stripe could not" in run.error
    assert Notification.objects.filter(user=staff_user, kind="reconciliation_error").exists()


def test_the_sweep_processes_events_stored_while_the_broker_was_down(webhooks):
    milestone = engagement(amounts=(30_000,)).milestones.get()
    checkout = pay(milestone, webhooks, deliver=False)
    event = webhooks.event("payment_intent.succeeded", checkout.funding.payment_intent_id)
    WebhookEvent.objects.create(
        stripe_id=event["id"], type=event["type"], payload=event, status=WebhookEvent.Status.RECEIVED
    )
    WebhookEvent.objects.update(created_at=timezone.now() - timedelta(hours=1))

    assert payments_resume_stalled.delay().get()["webhook_events"] == 1

    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.FUNDED


def test_local_setup_registers_the_webhook_endpoint(stripe_app, settings):
    app = Relay()  # stands in for the running app at SITE_URL
    threading.Thread(target=app.serve_forever, daemon=True).start()
    settings.SITE_URL = app.url.removesuffix(WEBHOOK_URL)
    out = io.StringIO()
    try:
        call_command("stripe_local_setup", "--wait", "2", stdout=out)
        customer = stripe.Customer.create(email="someone@example.com")

        payload, signature = app.wait_for("customer.created", customer.id)
    finally:
        stripe_app.remove_webhook(ENDPOINT_NAME)
        app.shutdown()
        app.server_close()
    assert (
        stripe_client.webhook_event_verify(payload=payload, signature=signature)["type"] == "customer.created"
    )
    assert f"delivers webhooks to {app.url}" in out.getvalue()


def test_local_setup_says_when_the_server_is_not_there(stripe_app, settings):
    settings.STRIPE_LOCAL_URL = "http://127.0.0.1:9"
    with pytest.raises(CommandError, match="did not answer"):
        call_command("stripe_local_setup", "--wait", "0")
