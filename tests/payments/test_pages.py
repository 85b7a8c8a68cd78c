"""The payments pages against the local Stripe server: funding, payout settings, the payout desk,
the ledger report, and the money actions of the engagement page."""

import csv
import io
import re
from datetime import timedelta

import pytest
import requests
import stripe
from django.urls import reverse
from django.utils import timezone

from core.money import fee_for
from marketplace.models import Milestone
from marketplace.services import engagements as engagement_services
from payments.ledger import milestone_money
from payments.models import CancellationRequest, ConnectedAccount, Funding, Payout, Refund
from tests.factories import ClientFactory, EngineerFactory, StaffFactory, engagement
from tests.payments.conftest import onboard, pay, refunds_at_stripe, transfers_at_stripe, work_and_approve

pytestmark = pytest.mark.django_db

AMOUNT = 100_000
S = Milestone.State


def _milestone(amount: int = AMOUNT) -> Milestone:
    return engagement(amounts=(amount,)).milestones.get()


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def _follow(client, method: str, url: str, data=None):
    response = getattr(client, method)(url, data or {}, follow=True)
    assert response.status_code == 200, response.content[:500]
    return response


@pytest.fixture
def approved(webhooks, django_capture_on_commit_callbacks):
    milestone = _milestone()
    pay(milestone, webhooks)
    payout = work_and_approve(milestone, django_capture_on_commit_callbacks)
    assert payout.state == Payout.State.AWAITING_APPROVAL
    return payout


# --- Funding ---------------------------------------------------------------------------------------


def test_opening_the_funding_page_creates_nothing_until_the_client_continues(client, stripe_app):
    milestone = _milestone()
    client.force_login(milestone.engagement.client)
    url = reverse("payments:fund", args=[milestone.pk])

    opened = client.get(url)  # a link preview or prefetch must not open a payment

    assert opened.status_code == 200
    assert "Continue to card payment" in opened.content.decode()
    assert "data-client-secret" not in opened.content.decode()
    assert not Funding.objects.exists()
    assert stripe.PaymentIntent.list(limit=10).data == []
    assert client.post(url).url == url
    assert Funding.objects.filter(milestone=milestone).count() == 1


def test_funding_page_gives_stripe_js_what_it_needs(client, stripe_app, settings):
    milestone = _milestone()
    client.force_login(milestone.engagement.client)

    response = client.post(reverse("payments:fund", args=[milestone.pk]), follow=True)

    assert response.status_code == 200
    html = response.content.decode()
    funding = Funding.objects.get(milestone=milestone)
    intent = stripe.PaymentIntent.retrieve(funding.payment_intent_id)
    assert f'data-client-secret="{intent.client_secret}"' in html
    assert 'data-publishable-key="pk_test_local"' in html
    assert f'<script src="{stripe_app.url}/js.stripe.com/v3/"></script>' in html
    assert "1,000.00 USD" in html
    assert "10% platform fee comes out of the engineer" in html
    # Reloading, or starting again, reuses the same payment.
    assert (
        f'data-client-secret="{intent.client_secret}"'
        in client.get(reverse("payments:fund", args=[milestone.pk])).content.decode()
    )
    client.post(reverse("payments:fund", args=[milestone.pk]))
    assert Funding.objects.filter(milestone=milestone).count() == 1
    assert len(stripe.PaymentIntent.list(limit=10).data) == 1


def test_only_the_client_reaches_the_funding_page(client, stripe_app):
    milestone = _milestone()
    url = reverse("payments:fund", args=[milestone.pk])
    assert client.get(url).status_code == 302  # anonymous: log in first
    for user, status in [
        (milestone.engagement.engineer, 403),
        (StaffFactory(), 403),
        (ClientFactory(), 404),
        (EngineerFactory(), 404),
    ]:
        client.force_login(user)
        assert client.get(url).status_code == status
        assert client.post(url).status_code == status
        assert client.get(reverse("payments:fund-status", args=[milestone.pk])).status_code == status
    assert not Funding.objects.exists()


def test_paid_milestone_shows_funded_and_polling_stops(client, webhooks):
    milestone = _milestone()
    client.force_login(milestone.engagement.client)
    client.post(reverse("payments:fund", args=[milestone.pk]))
    funding = Funding.objects.get(milestone=milestone)
    stripe.PaymentIntent.confirm(funding.payment_intent_id, payment_method="pm_card_visa")

    # Before the webhook: the status partial keeps polling.
    status_url = reverse("payments:fund-status", args=[milestone.pk])
    waiting = client.get(status_url, {"poll": "1"}).content.decode()
    assert "Processing your payment" in waiting and 'hx-trigger="load delay:1s"' in waiting
    assert f"{status_url}?poll=2" in waiting

    webhooks.deliver("payment_intent.succeeded", funding.payment_intent_id)
    done = client.get(status_url, {"poll": "2"}).content.decode()
    assert "Payment received" in done and "hx-trigger" not in done
    page = client.get(reverse("payments:fund", args=[milestone.pk])).content.decode()
    assert "Payment received" in page and "data-client-secret" not in page and "js.stripe.com" not in page
    # The engagement's timeline names the payment by its reference, not by Stripe's ids.
    timeline = client.get(reverse("engagement-detail", args=[milestone.engagement_id])).content.decode()
    assert (
        f"Paid by card: payment {funding.reference}." in timeline
        and funding.reference == f"PAY-{funding.pk:06d}"
    )
    assert funding.payment_intent_id not in timeline and "pi_" not in timeline


def test_late_webhook_the_poll_reads_stripe_itself(client, stripe_app):
    milestone = _milestone()
    client.force_login(milestone.engagement.client)
    client.post(reverse("payments:fund", args=[milestone.pk]))
    funding = Funding.objects.get(milestone=milestone)
    stripe.PaymentIntent.confirm(funding.payment_intent_id, payment_method="pm_card_visa")

    done = client.get(reverse("payments:fund-status", args=[milestone.pk]), {"poll": "10"}).content.decode()

    assert "Payment received" in done
    milestone.refresh_from_db()
    assert milestone.state == S.FUNDED
    assert milestone_money(milestone_id=milestone.pk).escrow == AMOUNT


def test_declined_card_shows_the_reason(client, webhooks):
    milestone = _milestone()
    client.force_login(milestone.engagement.client)
    client.post(reverse("payments:fund", args=[milestone.pk]))
    funding = Funding.objects.get(milestone=milestone)
    with pytest.raises(stripe.error.CardError):
        stripe.PaymentIntent.confirm(funding.payment_intent_id, payment_method="pm_card_chargeCustomerFail")
    webhooks.deliver("payment_intent.payment_failed", funding.payment_intent_id)

    page = client.get(reverse("payments:fund", args=[milestone.pk])).content.decode()
    assert "Your last payment did not go through" in page and "Your card was declined." in page
    assert "data-client-secret" in page  # another card may be tried
    engagement_page = client.get(
        reverse("engagement-detail", args=[milestone.engagement_id])
    ).content.decode()
    assert "Your last payment did not go through: Your card was declined." in engagement_page


def test_funding_page_when_stripe_is_down(client, stripe_app, settings):
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    milestone = _milestone()
    client.force_login(milestone.engagement.client)
    stripe_app.add_fault("/v1/payment_intents", "error_500")

    response = client.post(reverse("payments:fund", args=[milestone.pk]))

    assert response.status_code == 502
    assert any("Stripe could not create the payment" in m for m in _messages(response))
    assert "Try again" in response.content.decode()
    assert client.post(reverse("payments:fund", args=[milestone.pk])).status_code == 302


def test_funding_a_milestone_not_awaiting_funding_goes_back_with_the_reason(client, webhooks):
    milestone = _milestone()
    engagement_services.milestone_cancel(actor=milestone.engagement.client, milestone_id=milestone.pk)
    client.force_login(milestone.engagement.client)
    response = client.get(reverse("payments:fund", args=[milestone.pk]))
    assert response.status_code == 200
    assert "takes no payment" in response.content.decode()


# --- Payout settings -------------------------------------------------------------------------------


def test_engineer_sets_up_payouts_through_stripe(client, webhooks):
    engineer = engagement().engineer
    client.force_login(engineer)
    page = client.get(reverse("payments:payouts")).content.decode()
    assert "Not set up" in page and "Set up payouts" in page
    assert "connect a Stripe account from your payout settings" in page

    response = client.post(reverse("payments:payouts-onboard"))
    assert response.status_code == 302
    link = response["Location"]
    assert link.startswith(webhooks.server.url + "/_test/connect/onboarding/")

    # Stripe's hosted onboarding, leaving the bank account due; it returns to our return URL.
    back = requests.get(link + "?leave_due=external_account", allow_redirects=False, timeout=5)
    assert back.headers["Location"] == "http://testserver" + reverse("payments:payouts-return")
    response = _follow(client, "get", reverse("payments:payouts-return"))
    assert any("Stripe still needs a bank account for payouts" in m for m in _messages(response))
    assert "Onboarding incomplete" in response.content.decode()

    # A used link sends the engineer to the refresh URL: back to the settings, saying why, with nothing
    # created at Stripe by that GET; the button there (a POST) makes a new link.
    assert (
        requests.get(link, allow_redirects=False, timeout=5)
        .headers["Location"]
        .endswith(reverse("payments:payouts-refresh"))
    )
    refreshed = _follow(client, "get", reverse("payments:payouts-refresh"))
    assert refreshed.redirect_chain == [(reverse("payments:payouts"), 302)]  # not to Stripe
    assert any("expired or was already used" in m for m in _messages(refreshed))
    assert "Continue with Stripe" in refreshed.content.decode()
    fresh = client.post(reverse("payments:payouts-onboard"))
    assert fresh.status_code == 302 and fresh["Location"] != link
    requests.get(fresh["Location"], allow_redirects=False, timeout=5)
    response = _follow(client, "get", reverse("payments:payouts-return"))
    assert any("ready" in m for m in _messages(response))
    assert "Ready for payouts" in response.content.decode()
    assert ConnectedAccount.objects.get(user=engineer).payouts_ready


def test_payout_settings_are_for_engineers(client):
    assert client.get(reverse("payments:payouts")).status_code == 302
    for user in (ClientFactory(), StaffFactory()):
        client.force_login(user)
        assert client.get(reverse("payments:payouts")).status_code == 403
        assert client.post(reverse("payments:payouts-onboard")).status_code == 403
    assert not ConnectedAccount.objects.exists()


def test_engineer_sees_why_the_payout_waits(client, approved):
    client.force_login(approved.engineer)
    page = client.get(reverse("payments:payouts")).content.decode()
    assert "900.00 USD" in page and "Waits for your Stripe account" in page
    engagement_page = client.get(
        reverse("engagement-detail", args=[approved.milestone.engagement_id])
    ).content.decode()
    assert "Your payout waits: Set up payouts" in engagement_page
    assert "Awaiting staff approval" in engagement_page


# --- Staff: payout desk ----------------------------------------------------------------------------

STAFF_PAGES = ["payments:desk", "payments:ledger", "payments:ledger-csv"]


@pytest.mark.parametrize("name", STAFF_PAGES)
def test_staff_pages_do_not_exist_for_others(client, name):
    url = reverse(name)
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    for user in (ClientFactory(), EngineerFactory()):
        client.force_login(user)
        assert client.get(url).status_code == 404


def test_staff_actions_do_not_exist_for_others(client, approved):
    milestone = approved.milestone
    for user in (approved.engineer, milestone.engagement.client, ClientFactory()):
        client.force_login(user)
        for url in (
            reverse("payments:payout-approve", args=[approved.pk]),
            reverse("payments:payout-retry", args=[approved.pk]),
            reverse("payments:refund-retry", args=[1]),
            reverse("payments:cancellation-decide", args=[milestone.pk]),
            reverse("payments:dispute-resolve", args=[milestone.pk]),
        ):
            assert client.post(url, {"reason": "x", "note": "x"}).status_code == 404
    approved.refresh_from_db()
    assert approved.state == Payout.State.AWAITING_APPROVAL and transfers_at_stripe() == []


def test_desk_lists_the_payout_and_staff_approve_it(client, approved, webhooks, settings):
    account = onboard(approved.engineer, webhooks)
    staff = StaffFactory()
    client.force_login(staff)
    fee = fee_for(AMOUNT, settings.PLATFORM_FEE_BPS)

    page = client.get(reverse("payments:desk")).content.decode()
    row = re.search(rf'<tr id="payout-{approved.pk}">.*?</tr>', page, re.S).group(0)
    for text in (approved.milestone.title, "1,000.00 USD", f"{fee / 100:,.2f} USD", "900.00 USD"):
        assert text in row
    assert "Payouts enabled" in row and "Approve payout" in row

    response = _follow(client, "post", reverse("payments:payout-approve", args=[approved.pk]))

    [transfer] = transfers_at_stripe()
    assert (transfer.amount, transfer.destination) == (AMOUNT - fee, account.stripe_account_id)
    assert any(f"Payout {approved.pk} approved" in m and transfer.id in m for m in _messages(response))
    approved.refresh_from_db()
    approved.milestone.refresh_from_db()
    assert approved.state == Payout.State.PAID and approved.milestone.state == S.PAID
    assert approved.approved_by == staff
    client.force_login(approved.engineer)
    timeline = client.get(
        reverse("engagement-detail", args=[approved.milestone.engagement_id])
    ).content.decode()
    assert f"Transferred: payout {approved.reference}." in timeline and transfer.id not in timeline
    client.force_login(staff)
    response = client.get(reverse("payments:desk"))
    assert "No payouts waiting" in response.content.decode()
    assert transfer.id in response.content.decode()  # recently paid

    # Approving again moves nothing and says why.
    response = _follow(client, "post", reverse("payments:payout-approve", args=[approved.pk]))
    assert any("Cannot approve payout" in m for m in _messages(response))
    assert len(transfers_at_stripe()) == 1


def test_desk_says_why_a_payout_cannot_go(client, approved):
    client.force_login(StaffFactory())
    page = client.get(reverse("payments:desk")).content.decode()
    row = re.search(rf'<tr id="payout-{approved.pk}">.*?</tr>', page, re.S).group(0)
    assert "connect a Stripe account" in row and "Blocked" in row

    response = _follow(client, "post", reverse("payments:payout-approve", args=[approved.pk]))
    assert any("cannot receive payouts yet" in m for m in _messages(response))
    approved.refresh_from_db()
    assert approved.state == Payout.State.AWAITING_APPROVAL and transfers_at_stripe() == []


def test_failed_transfer_is_shown_and_retried_once(client, approved, webhooks, settings):
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    onboard(approved.engineer, webhooks)
    client.force_login(StaffFactory())
    webhooks.server.add_fault("/v1/transfers", "timeout_after_commit")

    response = _follow(client, "post", reverse("payments:payout-approve", args=[approved.pk]))

    assert any("Stripe could not send the transfer" in m for m in _messages(response))
    approved.refresh_from_db()
    assert approved.state == Payout.State.FAILED
    page = response.content.decode()
    assert "Failed transfers" in page and "Retry transfer" in page
    assert len(transfers_at_stripe()) == 1  # Stripe did the work; the answer was lost

    response = _follow(client, "post", reverse("payments:payout-retry", args=[approved.pk]))

    assert any(f"Payout {approved.pk} sent" in m for m in _messages(response))
    approved.refresh_from_db()
    assert approved.state == Payout.State.PAID
    assert [t.id for t in transfers_at_stripe()] == [approved.transfer_id]


def test_failed_refund_is_retried_from_the_desk(client, webhooks, settings):
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    milestone = _milestone()
    pay(milestone, webhooks)
    staff = StaffFactory()
    client.force_login(staff)
    webhooks.server.add_fault("/v1/refunds", "error_500")
    _follow(client, "post", reverse("payments:cancellation-decide", args=[milestone.pk]), {"reason": "Gone."})
    refund = Refund.objects.get(milestone=milestone)
    assert refund.state == Refund.State.FAILED

    page = client.get(reverse("payments:desk")).content.decode()
    assert f'id="refund-{refund.pk}"' in page and "Retry refund" in page
    response = _follow(client, "post", reverse("payments:refund-retry", args=[refund.pk]))

    assert any(f"Refund {refund.pk} sent" in m for m in _messages(response))
    refund.refresh_from_db()
    milestone.refresh_from_db()
    assert refund.state == Refund.State.SUCCEEDED and milestone.state == S.REFUNDED
    assert len(refunds_at_stripe()) == 1


# --- Staff: ledger report --------------------------------------------------------------------------


@pytest.fixture
def money_moved(approved, webhooks):
    onboard(approved.engineer, webhooks)
    from payments.services.payouts import payout_approve

    payout_approve(actor=StaffFactory(), payout_id=approved.pk)
    refunded = _milestone(40_000)
    pay(refunded, webhooks)
    from payments.services.refunds import cancellation_decide

    cancellation_decide(actor=StaffFactory(), milestone_id=refunded.pk, reason="Stopped.")
    held = _milestone(25_000)
    pay(held, webhooks)
    return approved


def test_ledger_report_by_day_with_totals(client, money_moved, settings):
    client.force_login(StaffFactory())
    fee = fee_for(AMOUNT, settings.PLATFORM_FEE_BPS)

    response = client.get(reverse("payments:ledger"))

    assert response.status_code == 200
    report = response.context["report"]
    assert report.period == "day" and (report.end - report.start).days == 29
    [total] = report.totals
    assert (total.funded, total.transferred, total.fees, total.refunded, total.held) == (
        165_000,
        AMOUNT - fee,
        fee,
        40_000,
        25_000,
    )
    today = report.rows[-1]
    assert today.start == timezone.now().date() and today.held == 25_000 and today.funded == 165_000
    assert all(row.funded == 0 for row in report.rows[:-1])
    html = response.content.decode()
    assert "1,650.00 USD" in html and "Balanced" in html


def test_ledger_report_by_week_and_month(client, money_moved):
    client.force_login(StaffFactory())
    today = timezone.now().date()
    for period, start in (("week", today - timedelta(days=today.weekday())), ("month", today.replace(day=1))):
        report = client.get(
            reverse("payments:ledger"), {"period": period, "start": today, "end": today}
        ).context["report"]
        [row] = report.rows
        assert (row.start, row.funded, row.held) == (start, 165_000, 25_000)


def test_ledger_report_exports_csv(client, money_moved, settings):
    client.force_login(StaffFactory())
    today = timezone.now().date()
    response = client.get(reverse("payments:ledger-csv"), {"period": "month", "start": today, "end": today})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    fee = fee_for(AMOUNT, settings.PLATFORM_FEE_BPS)
    assert rows == [
        {
            "period_start": today.replace(day=1).isoformat(),
            "period_end": rows[0]["period_end"],
            "currency": "USD",
            "funded": "1650.00",
            "released": "1000.00",
            "transferred_to_engineers": f"{(AMOUNT - fee) / 100:.2f}",
            "fees": f"{fee / 100:.2f}",
            "refunded": "400.00",
            "charged_back": "0.00",
            "chargeback_losses": "0.00",
            "held_change": "250.00",
            "held_at_end": "250.00",
        }
    ]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"period": "year"}, "Select a valid choice"),
        ({"start": "2026-02-30"}, "Enter a valid date"),
        ({"start": "2026-05-02", "end": "2026-05-01"}, "The range ends before it starts"),
        ({"period": "day", "start": "2020-01-01", "end": "2026-01-01"}, "At most 400 periods"),
    ],
)
def test_ledger_report_rejects_bad_ranges(client, params, error):
    client.force_login(StaffFactory())
    response = client.get(reverse("payments:ledger"), params)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert client.get(reverse("payments:ledger-csv"), params).status_code == 400


# --- The engagement page ---------------------------------------------------------------------------


def test_engagement_page_offers_funding_to_the_client_only(client, stripe_app):
    milestone = _milestone()
    url = reverse("engagement-detail", args=[milestone.engagement_id])
    fund = reverse("payments:fund", args=[milestone.pk])
    client.force_login(milestone.engagement.client)
    assert fund in client.get(url).content.decode()
    client.force_login(milestone.engagement.engineer)
    assert fund not in client.get(url).content.decode()


def test_parties_cancel_a_funded_milestone_by_consent(client, webhooks):
    milestone = _milestone()
    pay(milestone, webhooks)
    client_user, engineer = milestone.engagement.client, milestone.engagement.engineer
    url = reverse("engagement-detail", args=[milestone.engagement_id])

    client.force_login(engineer)
    response = _follow(
        client,
        "post",
        reverse("payments:cancellation-request", args=[milestone.pk]),
        {"reason": "Data never came."},
    )
    assert any("Cancellation requested" in m for m in _messages(response))
    assert "Waiting for the client to answer." in response.content.decode()
    request = CancellationRequest.objects.get(milestone=milestone)

    # The requester cannot answer their own request.
    response = _follow(client, "post", reverse("payments:cancellation-accept", args=[request.pk]))
    assert any("the other party answers it" in m for m in _messages(response))

    client.force_login(client_user)
    page = client.get(url).content.decode()
    assert "asks to cancel this milestone" in page and "Data never came." in page
    response = _follow(client, "post", reverse("payments:cancellation-accept", args=[request.pk]))

    assert any("1,000.00 USD was refunded to the client's card" in m for m in _messages(response))
    milestone.refresh_from_db()
    assert milestone.state == S.REFUNDED
    [refund] = refunds_at_stripe()
    assert refund.amount == AMOUNT
    assert milestone_money(milestone_id=milestone.pk).refunded == AMOUNT


def test_a_declined_cancellation_lets_the_work_go_on(client, webhooks):
    milestone = _milestone()
    pay(milestone, webhooks)
    client.force_login(milestone.engagement.client)
    _follow(
        client,
        "post",
        reverse("payments:cancellation-request", args=[milestone.pk]),
        {"reason": "Changed plans."},
    )
    request = CancellationRequest.objects.get(milestone=milestone)

    client.force_login(milestone.engagement.engineer)
    response = _follow(
        client, "post", reverse("payments:cancellation-decline", args=[request.pk]), {"note": "Half done."}
    )

    assert any("Cancellation declined" in m for m in _messages(response))
    assert "A cancellation was declined: “Half done.”" in response.content.decode()
    milestone.refresh_from_db()
    assert milestone.state == S.FUNDED and refunds_at_stripe() == []


def test_strangers_cannot_touch_a_cancellation(client, webhooks):
    milestone = _milestone()
    pay(milestone, webhooks)
    client.force_login(milestone.engagement.client)
    _follow(
        client, "post", reverse("payments:cancellation-request", args=[milestone.pk]), {"reason": "Stop."}
    )
    request = CancellationRequest.objects.get(milestone=milestone)
    client.force_login(ClientFactory())
    assert client.post(reverse("payments:cancellation-accept", args=[request.pk])).status_code == 404
    assert (
        client.post(
            reverse("payments:cancellation-request", args=[milestone.pk]), {"reason": "x"}
        ).status_code
        == 404
    )
    request.refresh_from_db()
    assert request.state == CancellationRequest.State.PENDING


def test_cancellation_needs_a_reason(client, webhooks):
    milestone = _milestone()
    pay(milestone, webhooks)
    client.force_login(milestone.engagement.client)
    response = _follow(
        client, "post", reverse("payments:cancellation-request", args=[milestone.pk]), {"reason": ""}
    )
    assert any("Why cancel?: This field is required." in m for m in _messages(response))
    assert not CancellationRequest.objects.exists()


def test_staff_see_the_engagement_and_settle_a_dispute(client, webhooks, settings):
    milestone = _milestone()
    pay(milestone, webhooks)
    onboard(milestone.engagement.engineer, webhooks)
    engagement_services.milestone_open_dispute(
        actor=milestone.engagement.client,
        milestone_id=milestone.pk,
        category="scope_not_met",
        reason="Half the scope: the delivery does not match the agreed scope.",
    )
    client.force_login(StaffFactory())
    url = reverse("engagement-detail", args=[milestone.engagement_id])
    page = client.get(url).content.decode()
    assert "Settle the dispute" in page and 'data-held="100000"' in page

    resolve = reverse("payments:dispute-resolve", args=[milestone.pk])
    response = _follow(
        client, "post", resolve, {"release_amount": "600", "refund_amount": "300", "note": "Split."}
    )
    assert any("must add up to the 1,000.00 USD held" in m for m in _messages(response))
    # What was typed comes back in the form, the error next to its field (once).
    page = response.content.decode()
    assert (
        'name="release_amount" inputmode="decimal" autocomplete="off" data-split="release" value="600"'
        in page
    )
    assert 'value="300"' in page and ">Split.</textarea>" in page
    release_field = page[page.index('<label for="release-') : page.index('<label for="refund-')]
    assert "must add up to the 1,000.00 USD held" in release_field and "field-error" in release_field
    assert 'value="600"' not in client.get(url).content.decode()
    response = _follow(
        client, "post", resolve, {"release_amount": "six", "refund_amount": "400", "note": "Split."}
    )
    assert any("Release to the engineer: Enter an amount" in m for m in _messages(response))
    assert 'value="six"' in response.content.decode()
    assert transfers_at_stripe() == [] and refunds_at_stripe() == []

    response = _follow(
        client, "post", resolve, {"release_amount": "600", "refund_amount": "400.00", "note": "Split."}
    )

    assert any("600.00 USD released" in m and "400.00 USD refunded" in m for m in _messages(response))
    milestone.refresh_from_db()
    assert milestone.state == S.RESOLVED
    fee = fee_for(60_000, settings.PLATFORM_FEE_BPS)
    [transfer] = transfers_at_stripe()
    [refund] = refunds_at_stripe()
    assert (transfer.amount, refund.amount) == (60_000 - fee, 40_000)
    money = milestone_money(milestone_id=milestone.pk)
    assert (money.escrow, money.released, money.refunded) == (0, 60_000, 40_000)


def test_staff_cancel_a_funded_milestone_with_a_refund(client, webhooks):
    milestone = _milestone()
    pay(milestone, webhooks)
    client.force_login(StaffFactory())
    page = client.get(reverse("engagement-detail", args=[milestone.engagement_id])).content.decode()
    assert "Cancel and refund (staff)" in page

    response = _follow(
        client, "post", reverse("payments:cancellation-decide", args=[milestone.pk]), {"reason": "Fraud."}
    )

    assert any("Milestone cancelled. 1,000.00 USD was refunded" in m for m in _messages(response))
    milestone.refresh_from_db()
    assert milestone.state == S.REFUNDED and len(refunds_at_stripe()) == 1


def test_engagement_page_shows_payout_status(client, approved, webhooks):
    onboard(approved.engineer, webhooks)
    from payments.services.payouts import payout_approve

    payout_approve(actor=StaffFactory(), payout_id=approved.pk)
    client.force_login(approved.engineer)
    page = client.get(reverse("engagement-detail", args=[approved.milestone.engagement_id])).content.decode()
    status = re.search(rf'id="payout-status-{approved.milestone_id}".*?</div>', page, re.S).group(0)
    assert "Paid" in status and "900.00 USD to you" in status and "100.00 USD platform fee" in status


def test_the_payments_history_is_each_users_own(client):
    from tests.factories import ClientFactory as Client

    client.force_login(Client())
    page = client.get(reverse("payments:history")).content.decode()
    assert "No payments yet. They appear here once you fund a milestone." in page
    client.logout()
    assert client.get(reverse("payments:history")).status_code == 302  # to the login page
