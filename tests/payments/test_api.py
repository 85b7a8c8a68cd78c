"""The payments API end to end against the local Stripe server, its errors in the one format, and its
OpenAPI description."""

import pytest
import requests
import stripe
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

from core.money import fee_for
from marketplace.models import Milestone
from marketplace.services import engagements as engagement_services
from payments.ledger import milestone_money
from payments.models import ConnectedAccount, Payout
from tests.factories import EngineerFactory, StaffFactory, engagement
from tests.payments.conftest import onboard, pay, refunds_at_stripe, transfers_at_stripe, work_and_approve
from tests.payments.test_api_permissions import payments_api  # noqa: F401 - autouse fixture

pytestmark = pytest.mark.django_db

AMOUNT = 100_000


def _api(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def _milestone() -> Milestone:
    return engagement(amounts=(AMOUNT,)).milestones.get()


def test_client_funds_through_the_api(webhooks):
    milestone = _milestone()
    api = _api(milestone.engagement.client)

    checkout = api.post(f"/api/v1/payments/milestones/{milestone.pk}/funding/checkout/").json()

    assert checkout["status"] == "requires_payment_method" and checkout["amount"] == AMOUNT
    assert checkout["client_secret"].startswith(checkout["payment_intent"])
    assert checkout["js_url"] == f"{webhooks.server.url}/js.stripe.com/v3/"
    status_url = f"/api/v1/payments/milestones/{milestone.pk}/funding/"
    assert api.get(status_url).json()["status"] == "awaiting_payment"

    # What Stripe.js does in the browser: confirm with the publishable key and the client secret.
    confirmed = requests.post(
        f"{webhooks.server.url}/v1/payment_intents/{checkout['payment_intent']}/confirm",
        json={
            "key": checkout["publishable_key"],
            "client_secret": checkout["client_secret"],
            "payment_method_data": {
                "type": "card",
                "card": {"number": "4242424242424242", "exp_month": "12", "exp_year": "2034", "cvc": "123"},
            },
        },
        timeout=5,
    )
    assert confirmed.json()["status"] == "succeeded"
    webhooks.deliver("payment_intent.succeeded", checkout["payment_intent"])

    body = api.get(status_url).json()
    assert (body["status"], body["milestone_state"], body["funding"]["state"]) == (
        "funded",
        "funded",
        "succeeded",
    )
    again = api.post(f"/api/v1/payments/milestones/{milestone.pk}/funding/checkout/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_state"


def test_declined_card_status_says_why(webhooks):
    milestone = _milestone()
    api = _api(milestone.engagement.client)
    checkout = api.post(f"/api/v1/payments/milestones/{milestone.pk}/funding/checkout/").json()
    with pytest.raises(stripe.error.CardError):
        stripe.PaymentIntent.confirm(checkout["payment_intent"], payment_method="pm_card_chargeCustomerFail")
    webhooks.deliver("payment_intent.payment_failed", checkout["payment_intent"])

    body = api.get(f"/api/v1/payments/milestones/{milestone.pk}/funding/").json()

    assert (body["status"], body["failure_message"]) == ("payment_failed", "Your card was declined.")
    assert body["funding"]["failure_code"] == "card_declined"


def test_engineer_onboards_and_staff_approve_the_payout(
    webhooks, settings, django_capture_on_commit_callbacks
):
    milestone = _milestone()
    pay(milestone, webhooks)
    payout = work_and_approve(milestone, django_capture_on_commit_callbacks)
    engineer_api = _api(milestone.engagement.engineer)
    staff_api = _api(StaffFactory())

    account = engineer_api.get("/api/v1/payments/account/").json()
    assert account["status"] == "not_started" and account["ready"] is False
    refused = staff_api.post(f"/api/v1/payments/payouts/{payout.pk}/approve/")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "engineer_not_onboarded"
    assert refused.json()["error"]["details"]["missing"]
    assert transfers_at_stripe() == []

    link = engineer_api.post("/api/v1/payments/account/onboarding-link/", {}, format="json").json()["url"]
    back = requests.get(link, allow_redirects=False, timeout=5)
    assert back.headers["Location"] == "http://testserver/payments/payouts/onboarding/return/"
    account_id = engineer_api.get("/api/v1/payments/account/").json()["stripe_account_id"]
    webhooks.deliver("account.updated", account_id)
    assert engineer_api.get("/api/v1/payments/account/").json()["status"] == "ready"

    body = staff_api.post(f"/api/v1/payments/payouts/{payout.pk}/approve/").json()

    fee = fee_for(AMOUNT, settings.PLATFORM_FEE_BPS)
    [transfer] = transfers_at_stripe()
    assert (body["state"], body["transfer_id"], body["net"], body["fee"]) == (
        "paid",
        transfer.id,
        AMOUNT - fee,
        fee,
    )
    assert body["engineer_eligibility"] == {"ready": True, "missing": []}
    mine = engineer_api.get(f"/api/v1/payments/payouts/{payout.pk}/").json()
    assert (mine["state"], mine["reference"], mine["transfer_id"]) == ("paid", payout.reference, None)
    assert body["reference"] == payout.reference
    again = staff_api.post(f"/api/v1/payments/payouts/{payout.pk}/retry/")
    assert again.status_code == 409 and len(transfers_at_stripe()) == 1


def test_failed_transfer_is_a_502_and_the_retry_sends_once(
    webhooks, settings, django_capture_on_commit_callbacks
):
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    milestone = _milestone()
    pay(milestone, webhooks)
    payout = work_and_approve(milestone, django_capture_on_commit_callbacks)
    onboard(payout.engineer, webhooks)
    staff_api = _api(StaffFactory())
    webhooks.server.add_fault("/v1/transfers", "timeout_after_commit")

    failed = staff_api.post(f"/api/v1/payments/payouts/{payout.pk}/approve/")

    assert failed.status_code == 502
    error = failed.json()["error"]
    assert error["code"] == "payment_provider_error" and error["details"]["stripe_code"] == "no_answer"
    payout.refresh_from_db()
    assert payout.state == Payout.State.FAILED
    assert staff_api.post(f"/api/v1/payments/payouts/{payout.pk}/retry/").json()["state"] == "paid"
    assert len(transfers_at_stripe()) == 1


def test_cancellation_by_consent_through_the_api(webhooks):
    milestone = _milestone()
    pay(milestone, webhooks)
    client_api, engineer_api = _api(milestone.engagement.client), _api(milestone.engagement.engineer)

    missing = client_api.post(f"/api/v1/payments/milestones/{milestone.pk}/cancellation/", {}, format="json")
    assert missing.status_code == 400 and missing.json()["error"]["details"] == {
        "reason": ["This field is required."]
    }
    request = client_api.post(
        f"/api/v1/payments/milestones/{milestone.pk}/cancellation/", {"reason": "Budget cut."}, format="json"
    ).json()
    assert (request["state"], request["requested_by"]["id"]) == ("pending", milestone.engagement.client_id)
    twice = engineer_api.post(
        f"/api/v1/payments/milestones/{milestone.pk}/cancellation/", {"reason": "Me too."}, format="json"
    )
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "cancellation_pending"

    refund = engineer_api.post(f"/api/v1/payments/cancellations/{request['id']}/accept/").json()

    assert (refund["state"], refund["amount"], refund["kind"]) == ("succeeded", AMOUNT, "cancellation")
    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.REFUNDED and len(refunds_at_stripe()) == 1


@pytest.mark.parametrize(
    ("data", "status", "code", "field"),
    [
        ({"release_amount": 60_000, "refund_amount": 30_000}, 400, "split_mismatch", "release_amount"),
        ({"release_amount": 0, "refund_amount": 0}, 400, "invalid_amount", "release_amount"),
        ({"release_amount": -1, "refund_amount": 100_001}, 400, "validation_error", "release_amount"),
        ({"release_amount": 0, "refund_amount": 100_001}, 400, "refund_exceeds_held", "refund_amount"),
        (
            {"release_amount": 60_000, "refund_amount": 40_000, "currency": "eur"},
            400,
            "currency_mismatch",
            "currency",
        ),
    ],
)
def test_dispute_split_is_checked_before_anything_moves(webhooks, data, status, code, field):
    milestone = _milestone()
    pay(milestone, webhooks)
    onboard(milestone.engagement.engineer, webhooks)
    engagement_services.milestone_open_dispute(
        actor=milestone.engagement.engineer,
        milestone_id=milestone.pk,
        category="scope_not_met",
        reason="Unpaid scope creep: the delivery does not match the agreed scope.",
    )
    body = {"currency": "usd", "note": "Mediated.", **data}

    response = _api(StaffFactory()).post(
        f"/api/v1/payments/milestones/{milestone.pk}/resolve-dispute/", body, format="json"
    )

    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and error["message"].startswith(f"{field}:")
    assert transfers_at_stripe() == [] and refunds_at_stripe() == []
    assert milestone_money(milestone_id=milestone.pk).escrow == AMOUNT


def test_dispute_settlement_through_the_api(webhooks, settings):
    milestone = _milestone()
    pay(milestone, webhooks)
    onboard(milestone.engagement.engineer, webhooks)
    engagement_services.milestone_open_dispute(
        actor=milestone.engagement.client,
        milestone_id=milestone.pk,
        category="scope_not_met",
        reason="Late: the delivery does not match the agreed scope.",
    )
    body = {"release_amount": 25_000, "refund_amount": 75_000, "currency": "USD", "note": "Mostly refunded."}

    settlement = _api(StaffFactory()).post(
        f"/api/v1/payments/milestones/{milestone.pk}/resolve-dispute/", body, format="json"
    )

    assert settlement.status_code == 200, settlement.json()
    data = settlement.json()
    assert data["milestone"]["state"] == "resolved"
    fee = fee_for(25_000, settings.PLATFORM_FEE_BPS)
    assert (data["payout"]["state"], data["payout"]["net"]) == ("paid", 25_000 - fee)
    assert (data["refund"]["state"], data["refund"]["amount"]) == ("succeeded", 75_000)


def test_ledger_summary(webhooks):
    pay(_milestone(), webhooks)
    staff_api = _api(StaffFactory())

    body = staff_api.get("/api/v1/payments/ledger/", {"period": "month"}).json()

    assert body["balanced"] is True and body["violations"] == []
    [total] = body["totals"]
    assert (total["currency"], total["funded"], total["held"]) == ("usd", AMOUNT, AMOUNT)
    bad = staff_api.get("/api/v1/payments/ledger/", {"start": "2026-05-02", "end": "2026-05-01"})
    assert (
        bad.status_code == 400 and bad.json()["error"]["message"] == "end: The range ends before it starts."
    )


def test_schema_documents_the_payments_api_without_warnings(tmp_path, settings):
    target = tmp_path / "schema.yml"
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--file",
        str(target),
        "--urlconf",
        settings.ROOT_URLCONF,
    )
    paths = yaml.safe_load(target.read_text())["paths"]
    approve = paths["/api/v1/payments/payouts/{id}/approve/"]["post"]
    assert set(approve["responses"]) == {"200", "401", "403", "404", "409", "502"}
    assert "/api/v1/payments/ledger/" in paths


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("return_url", "https://evil.example/payments/payouts/onboarding/return/"),
        ("refresh_url", "https://testserver.evil.example/"),
        ("return_url", "javascript:alert(1)"),
    ],
)
def test_the_onboarding_link_returns_only_to_this_site(webhooks, settings, field, url):
    engineer = EngineerFactory()
    engineer_api = _api(engineer)
    response = engineer_api.post("/api/v1/payments/account/onboarding-link/", {field: url}, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == [field]
    assert not ConnectedAccount.objects.filter(user=engineer).exists()  # refused before asking Stripe
    here = f"{settings.SITE_URL.rstrip('/')}/payments/payouts/onboarding/return/"
    ok = engineer_api.post("/api/v1/payments/account/onboarding-link/", {"return_url": here}, format="json")
    assert ok.status_code == 201, ok.json()
