"""The whole money path over real HTTP: card payment, webhooks, work, approval, staff payout, transfer.

The local Stripe server's own signed deliveries are relayed to the app's webhook view, and the
ledger is checked at every step.
"""

import pytest
import requests
import stripe

from core.money import fee_for
from marketplace.models import Milestone
from marketplace.services import engagements as engagement_services
from payments.ledger import ledger_violations, milestone_money
from payments.models import ConnectedAccount, Funding, LedgerPosting, Payout, WebhookEvent
from payments.services.accounts import connected_account_onboarding_link, payout_eligibility
from payments.services.funding import funding_checkout
from payments.services.payouts import payout_approve
from tests.factories import engagement
from tests.payments.conftest import transfers_at_stripe

pytestmark = pytest.mark.django_db


def test_fund_work_approve_and_pay_out(
    relay, webhooks, staff_user, settings, django_capture_on_commit_callbacks
):
    eng = engagement(amounts=(100_000,))
    milestone = eng.milestones.get()
    client, engineer = eng.client, eng.engineer

    # The client funds by card; Stripe tells the app through a signed webhook.
    checkout = funding_checkout(actor=client, milestone_id=milestone.pk)
    assert checkout.status == "requires_payment_method" and checkout.client_secret
    intent = stripe.PaymentIntent.retrieve(checkout.funding.payment_intent_id)
    assert (intent.amount, intent.currency, intent.transfer_group) == (100_000, "usd", f"engagement_{eng.pk}")
    assert intent.metadata.to_dict() == {
        "milestone": str(milestone.pk),
        "engagement": str(eng.pk),
        "funding": str(checkout.funding.pk),
    }
    assert milestone_money(milestone_id=milestone.pk).escrow == 0

    stripe.PaymentIntent.confirm(intent.id, payment_method="pm_card_visa")
    payload, signature = relay.wait_for("payment_intent.succeeded", intent.id)
    response = webhooks.post(payload, signature=signature)
    assert response.status_code == 200

    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.FUNDED
    funding = Funding.objects.get(pk=checkout.funding.pk)
    assert funding.state == Funding.State.SUCCEEDED and funding.charge_id.startswith("ch_")
    money = milestone_money(milestone_id=milestone.pk)
    assert (money.funded, money.escrow, money.released, money.refunded) == (100_000, 100_000, 0, 0)
    assert ledger_violations() == []

    # The engineer onboards with Stripe; account.updated makes them eligible.
    assert not payout_eligibility(engineer=engineer).ready
    link = connected_account_onboarding_link(
        actor=engineer, return_url="http://127.0.0.1:9/done", refresh_url="http://127.0.0.1:9/again"
    )
    assert requests.get(link, allow_redirects=False, timeout=5).status_code == 302
    account = ConnectedAccount.objects.get(user=engineer)
    payload, signature = relay.wait_for("account.updated", account.stripe_account_id)
    assert webhooks.post(payload, signature=signature).status_code == 200
    assert payout_eligibility(engineer=engineer).ready

    # Work, delivery, approval: a payout now awaits staff.
    engagement_services.milestone_start(actor=engineer, milestone_id=milestone.pk)
    engagement_services.milestone_submit(
        actor=engineer, milestone_id=milestone.pk, message="Adapter + report."
    )
    with django_capture_on_commit_callbacks(execute=True):
        engagement_services.milestone_approve(actor=client, milestone_id=milestone.pk)
    payout = Payout.objects.get(milestone=milestone)
    fee = fee_for(100_000, settings.PLATFORM_FEE_BPS)
    assert (payout.state, payout.amount, payout.fee, payout.net) == (
        Payout.State.AWAITING_APPROVAL,
        100_000,
        fee,
        100_000 - fee,
    )
    assert milestone_money(milestone_id=milestone.pk).escrow == 100_000
    assert transfers_at_stripe() == []

    # Staff approve: one transfer of the amount less the fee, funded by the card charge.
    payout = payout_approve(actor=staff_user, payout_id=payout.pk)
    assert payout.state == Payout.State.PAID
    [transfer] = transfers_at_stripe()
    assert (transfer.id, transfer.amount, transfer.destination) == (
        payout.transfer_id,
        100_000 - fee,
        account.stripe_account_id,
    )
    assert transfer.source_transaction == funding.charge_id
    assert transfer.transfer_group == f"engagement_{eng.pk}"
    assert stripe.Balance.retrieve().available[0].amount == fee  # the platform kept its fee
    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.PAID
    money = milestone_money(milestone_id=milestone.pk)
    assert (money.funded, money.escrow, money.transferred, money.fees) == (100_000, 0, 100_000 - fee, fee)
    assert ledger_violations() == []

    # Stripe's transfer.created arrives afterwards: nothing moves again.
    payload, signature = relay.wait_for("transfer.created", transfer.id)
    assert webhooks.post(payload, signature=signature).status_code == 200
    assert WebhookEvent.objects.get(type="transfer.created").status == WebhookEvent.Status.PROCESSED
    assert LedgerPosting.objects.filter(milestone=milestone).count() == 2
    assert len(transfers_at_stripe()) == 1
