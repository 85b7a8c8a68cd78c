"""Concurrent writers on PostgreSQL, over real HTTP: row locks and claims make money move exactly once."""

import threading

import pytest
import stripe
from django.test import Client

from core.errors import InvalidTransitionError
from marketplace.models import Milestone
from payments.ledger import milestone_money
from payments.models import LedgerPosting, Payout, WebhookEvent
from payments.services.funding import funding_checkout
from payments.services.payouts import payout_approve
from tests.concurrency import run_together
from tests.factories import StaffFactory, engagement
from tests.payments.conftest import onboard, pay, transfers_at_stripe, work_and_approve

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

AMOUNT = 75_000


def race(call, times: int = 8) -> list:
    """Run `call` in `times` threads (separate connections) released at the same moment."""
    return run_together(*[call] * times)


def test_eight_concurrent_approvals_of_one_payout_make_one_transfer(
    webhooks, django_capture_on_commit_callbacks
):
    milestone = engagement(amounts=(AMOUNT,)).milestones.get()
    pay(milestone, webhooks)
    onboard(milestone.engagement.engineer, webhooks)
    payout = work_and_approve(milestone, django_capture_on_commit_callbacks)
    staff = [StaffFactory() for _ in range(8)]
    turn = iter(staff)
    lock = threading.Lock()

    def approve():
        with lock:
            actor = next(turn)
        return payout_approve(actor=actor, payout_id=payout.pk)

    results = race(approve)

    wins = [value for kind, value in results if kind == "ok"]
    losses = [value for kind, value in results if kind == "error"]
    assert len(wins) == 1 and len(losses) == 7, results
    assert all(isinstance(loss, InvalidTransitionError) and loss.status == 409 for loss in losses)
    assert len(transfers_at_stripe()) == 1
    payout.refresh_from_db()
    assert (payout.state, payout.attempts) == (Payout.State.PAID, 1)
    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.PAID
    assert LedgerPosting.objects.filter(key=f"payout:{payout.pk}").count() == 1
    assert milestone_money(milestone_id=milestone.pk).escrow == 0


def test_one_event_delivered_eight_times_at_once_posts_once(webhooks):
    milestone = engagement(amounts=(AMOUNT,)).milestones.get()
    checkout = pay(milestone, webhooks, deliver=False)
    event = webhooks.event("payment_intent.succeeded", checkout.funding.payment_intent_id)

    statuses = [value for _, value in race(lambda: webhooks.post(event, client=Client()).status_code)]

    assert statuses == [200] * 8
    assert WebhookEvent.objects.count() == 1
    assert LedgerPosting.objects.filter(milestone=milestone).count() == 1
    assert milestone_money(milestone_id=milestone.pk).escrow == AMOUNT


def test_different_events_about_one_payment_at_once_post_once(webhooks):
    milestone = engagement(amounts=(AMOUNT,)).milestones.get()
    checkout = pay(milestone, webhooks, deliver=False)
    event = webhooks.event("payment_intent.succeeded", checkout.funding.payment_intent_id)
    counter = iter(range(8))
    lock = threading.Lock()

    def deliver():
        with lock:
            n = next(counter)
        return webhooks.post({**event, "id": f"evt_concurrent_{n}"}, client=Client()).status_code

    assert [value for _, value in race(deliver)] == [200] * 8

    assert WebhookEvent.objects.filter(status="processed").count() == 8
    assert LedgerPosting.objects.filter(milestone=milestone).count() == 1
    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.FUNDED


def test_a_double_clicked_checkout_makes_one_payment_intent(stripe_app):
    milestone = engagement(amounts=(AMOUNT,)).milestones.get()
    client = milestone.engagement.client

    results = race(
        lambda: funding_checkout(actor=client, milestone_id=milestone.pk).funding.payment_intent_id
    )

    assert all(kind != "crash" for kind, _ in results), results
    intents = {value for kind, value in results if kind == "ok"}
    assert len(intents) == 1, results
    assert len(stripe.PaymentIntent.list(limit=20).data) == 1
