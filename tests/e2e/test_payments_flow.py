"""The money path in a real browser: the client funds a milestone by card on the funding page (typed
into the card field the test Stripe.js draws), the local Stripe server's signed webhook marks it
funded, the engineer works and onboards with Stripe, the client approves, and staff approve the
payout on the payout desk: one transfer at the server, the milestone paid, the ledger balanced."""

import re

import pytest
import requests
import stripe
from django.urls import reverse
from playwright.sync_api import expect

from core.money import fee_for
from marketplace.models import Milestone
from payments.ledger import ledger_violations, milestone_money
from payments.models import ConnectedAccount, Funding, Payout, WebhookEvent
from payments.services.accounts import connected_account_onboarding_link
from payments.services.funding import funding_checkout
from tests.celery_worker import wait_for
from tests.e2e.test_hiring_flow import log_in
from tests.factories import ClientFactory, EngineerFactory, StaffFactory, engagement
from tests.payments.stripe_server import API_KEY, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AMOUNT = 100_000


@pytest.fixture
def stripe_server(live_server, settings, tmp_path):
    """A local Stripe server delivering its signed events to the live server's webhook endpoint."""
    webhook = f"{live_server.url}{reverse('payments:stripe-webhook')}"
    secret = settings.STRIPE_WEBHOOK_SECRET
    with running_server(tmp_path, "--webhook", webhook, "--webhook-secret", secret) as server:
        settings.STRIPE_USES_LOCAL_SERVER = True
        settings.STRIPE_LOCAL_URL = server.url
        settings.STRIPE_SECRET_KEY = API_KEY
        saved = (stripe.api_base, stripe.api_key)
        stripe.api_base, stripe.api_key = server.url, API_KEY  # for the test's own look at the server
        try:
            yield server
        finally:
            stripe.api_base, stripe.api_key = saved


def _type_card(page, number: str) -> None:
    card = page.locator("#card-element")
    card.get_by_placeholder("Card number").fill("")
    card.get_by_placeholder("Card number").press_sequentially(number)
    card.get_by_placeholder("MM").fill("12")
    card.get_by_placeholder("YY").fill("34")
    card.get_by_placeholder("CVC").fill("123")
    card.get_by_placeholder("ZIP").fill("94107")


def test_client_funds_by_card_and_staff_pay_out_on_the_desk(stripe_server, new_page, screenshot, settings):
    client = ClientFactory(username="clara", first_name="Clara", last_name="Client")
    engineer = EngineerFactory(username="ada", first_name="Ada", last_name="Lovelace")
    StaffFactory(username="sam", first_name="Sam", last_name="Staff")
    eng = engagement(amounts=(AMOUNT,), client=client, engineer=engineer)
    milestone = eng.milestones.get()
    engagement_url = reverse("engagement-detail", args=[eng.pk])

    # The client opens the funding page from the engagement.
    client_page = new_page()
    log_in(client_page, "clara")
    # Opening the funding page by its address starts nothing: the client continues with a button.
    client_page.goto(reverse("payments:fund", args=[milestone.pk]))
    expect(client_page.get_by_role("button", name="Continue to card payment")).to_be_visible()
    screenshot(client_page, "payments_funding_start")
    client_page.goto(engagement_url)
    screenshot(client_page, "payments_engagement_unfunded")
    client_page.locator(f"#milestone-{milestone.pk}").get_by_role("button", name="Fund milestone").click()
    expect(client_page).to_have_url(re.compile(rf"/payments/milestones/{milestone.pk}/fund/$"))
    expect(client_page.locator("[data-amount]")).to_have_text("1,000.00 USD")
    expect(client_page.get_by_placeholder("Card number")).to_be_visible()

    # A declined card: Stripe's reason is shown and the form stays.
    _type_card(client_page, "4000000000000341")
    client_page.get_by_role("button", name="Pay 1,000.00 USD").click()
    expect(client_page.locator("#card-error")).to_have_text("Your card was declined.")
    assert Milestone.objects.get(pk=milestone.pk).state == Milestone.State.PENDING_FUNDING

    # The test card pays; the page waits for the webhook, then says the milestone is funded.
    _type_card(client_page, "4242424242424242")
    screenshot(client_page, "payments_funding")
    client_page.get_by_role("button", name="Pay 1,000.00 USD").click()
    expect(client_page.locator("#funding-status")).to_contain_text("Payment received", timeout=20_000)
    expect(client_page.locator("#funding-state-pill")).to_contain_text("Funded")  # the heading follows
    funding = Funding.objects.get(milestone=milestone, state=Funding.State.SUCCEEDED)
    succeeded = WebhookEvent.objects.get(type="payment_intent.succeeded")
    assert succeeded.status == WebhookEvent.Status.PROCESSED
    assert succeeded.data_object["id"] == funding.payment_intent_id
    assert funding.charge_id.startswith("ch_")
    screenshot(client_page, "payments_funded")
    money = milestone_money(milestone_id=milestone.pk)
    assert (money.funded, money.escrow) == (AMOUNT, AMOUNT)

    # The engineer works and delivers.
    engineer_page = new_page()
    log_in(engineer_page, "ada")
    engineer_page.goto(engagement_url)
    card = engineer_page.locator(f"#milestone-{milestone.pk}")
    expect(card.locator(".milestone-head .pill")).to_have_text("Funded")
    card.get_by_role("button", name="Start work").click()
    expect(engineer_page.get_by_text("Work started.")).to_be_visible()
    card = engineer_page.locator(f"#milestone-{milestone.pk}")
    card.get_by_label("Message").fill("Adapter and evaluation report attached.")
    card.get_by_role("button", name="Submit delivery").click()
    expect(engineer_page.get_by_text("Delivery submitted")).to_be_visible()

    # The client approves: a payout now awaits staff.
    client_page.goto(engagement_url)
    card = client_page.locator(f"#milestone-{milestone.pk}")
    card.locator("summary", has_text="Approve delivery").click()
    card.get_by_role("button", name=re.compile(r"^Release ")).click()
    expect(client_page.get_by_text("Milestone approved.")).to_be_visible()
    payout = Payout.objects.get(milestone=milestone)
    assert payout.state == Payout.State.AWAITING_APPROVAL

    # The engineer sees why the payout waits, and onboards with Stripe (the account link's page).
    engineer_page.goto(engagement_url)
    expect(engineer_page.locator(f"#milestone-{milestone.pk}")).to_contain_text("Your payout waits")
    engineer_page.get_by_role("link", name="Payouts", exact=True).click()
    expect(engineer_page.locator("#payout-account")).to_contain_text("Not set up")
    engineer_page.get_by_role("button", name="Set up payouts").click()
    expect(engineer_page).to_have_url(re.compile(r"/payments/payouts/$"))
    expect(engineer_page.locator("#payout-account")).to_contain_text("Ready for payouts")
    expect(engineer_page.get_by_text("Your payout account is ready")).to_be_visible()
    screenshot(engineer_page, "payments_payout_settings")
    account = ConnectedAccount.objects.get(user=engineer)
    assert account.payouts_ready

    # Staff approve the payout on the desk.
    staff_page = new_page()
    log_in(staff_page, "sam")
    staff_page.get_by_role("link", name="Payout desk", exact=True).click()
    row = staff_page.locator(f"#payout-{payout.pk}")
    fee = fee_for(AMOUNT, settings.PLATFORM_FEE_BPS)
    expect(row).to_contain_text(milestone.title)
    expect(row).to_contain_text("1,000.00 USD")
    expect(row).to_contain_text(f"{(AMOUNT - fee) / 100:,.2f} USD")
    expect(row).to_contain_text("Payouts enabled")
    screenshot(staff_page, "payments_payout_desk")
    row.get_by_role("button", name="Approve payout").click()
    expect(staff_page.get_by_text(f"Payout {payout.pk} approved")).to_be_visible()
    expect(staff_page.locator("#awaiting")).to_contain_text("No payouts waiting")

    # One transfer at the server, of the amount less the fee, from the card charge.
    [transfer] = stripe.Transfer.list(limit=100).data
    assert (transfer.amount, transfer.destination, transfer.source_transaction) == (
        AMOUNT - fee,
        account.stripe_account_id,
        funding.charge_id,
    )
    payout.refresh_from_db()
    milestone.refresh_from_db()
    assert (payout.state, payout.transfer_id) == (Payout.State.PAID, transfer.id)
    assert milestone.state == Milestone.State.PAID
    money = milestone_money(milestone_id=milestone.pk)
    assert (money.funded, money.escrow, money.transferred, money.fees) == (AMOUNT, 0, AMOUNT - fee, fee)
    assert ledger_violations() == []

    # The ledger report shows the money, balanced.
    staff_page.get_by_role("link", name="Ledger", exact=True).click()
    figures = staff_page.locator(".figures")
    expect(figures).to_contain_text("1,000.00 USD")
    expect(figures).to_contain_text(f"{fee / 100:,.2f} USD fees")
    expect(staff_page.locator("#ledger-health")).to_contain_text("Balanced")
    screenshot(staff_page, "payments_ledger_report")

    # The engineer sees it paid.
    engineer_page.goto(engagement_url)
    expect(engineer_page.locator(f"#payout-status-{milestone.pk}")).to_contain_text("Paid")
    screenshot(engineer_page, "payments_engagement_paid")


def test_staff_settle_a_dispute_with_a_split_on_the_engagement_page(
    stripe_server, new_page, screenshot, settings, tmp_path
):
    StaffFactory(username="sam")
    eng = engagement(amounts=(AMOUNT,))
    milestone = eng.milestones.get()
    checkout = funding_checkout(actor=eng.client, milestone_id=milestone.pk)
    stripe.PaymentIntent.confirm(checkout.funding.payment_intent_id, payment_method="pm_card_visa")
    link = connected_account_onboarding_link(
        actor=eng.engineer, return_url="http://127.0.0.1:9/done", refresh_url="http://127.0.0.1:9/again"
    )
    assert requests.get(link, allow_redirects=False, timeout=5).status_code == 302  # onboarding completed
    # Both webhooks (the payment, the account) come from the server to the live server.
    wait_for(
        lambda: (
            Milestone.objects.filter(pk=milestone.pk, state=Milestone.State.FUNDED).exists()
            and ConnectedAccount.objects.filter(user=eng.engineer, payouts_enabled=True).exists()
        ),
        timeout=20,
        what="the payment and onboarding webhooks",
    )
    # The client opens the dispute from the engagement page, with a reason, a sentence and evidence.
    client_page = new_page()
    log_in(client_page, eng.client.username)
    client_page.goto(f"/engagements/{eng.pk}/")
    panel = client_page.locator(f"#milestone-{milestone.pk}")
    panel.locator("summary", has_text="Open dispute").click()
    form = panel.locator("form[action$='/dispute/']")
    form.get_by_label("What is the dispute about?").select_option(
        label="The results are below the agreed target"
    )
    form.get_by_label("What went wrong?").fill("Half done.")
    scores = tmp_path / "eval-scores.csv"
    scores.write_text("split,f1\nheld_out,0.61\n")
    form.get_by_label("Evidence (optional)").set_input_files(scores)
    form.get_by_role("button", name="Open dispute").click()
    expect(client_page.get_by_text("at least a sentence").first).to_be_visible()  # refused, kept as typed
    form = client_page.locator(f"#milestone-{milestone.pk} form[action$='/dispute/']")
    expect(form.get_by_label("What went wrong?")).to_have_value("Half done.")
    expect(form.get_by_label("What went wrong?")).to_be_focused()  # scrolled to and focused
    form.get_by_label("What went wrong?").fill("Half done: F1 on the held-out tickets is 0.61, not 0.85.")
    form.get_by_label("Evidence (optional)").set_input_files(scores)
    form.get_by_role("button", name="Open dispute").click()
    expect(client_page.get_by_text("Dispute opened.")).to_be_visible()
    dispute = client_page.locator(f"#dispute-{milestone.pk}")
    expect(dispute).to_contain_text("the results are below the agreed target")
    expect(dispute.get_by_role("link", name="eval-scores.csv")).to_be_visible()

    # The engineer answers with their own evidence.
    engineer_page = new_page()
    log_in(engineer_page, eng.engineer.username)
    engineer_page.goto(f"/engagements/{eng.pk}/")
    engineer_page.get_by_text("Respond to the dispute").click()
    answer = engineer_page.locator(f"#dispute-{milestone.pk} form")
    answer.get_by_label("Your side").fill("0.85 was on the validation split we agreed on.")
    report = tmp_path / "validation.md"
    report.write_text("# F1 0.86 on validation\n")
    answer.get_by_label("Evidence (optional)").set_input_files(report)
    answer.get_by_role("button", name="Send to staff and the other party").click()
    expect(engineer_page.get_by_text("Added to the dispute.")).to_be_visible()

    staff_page = new_page()
    log_in(staff_page, "sam")
    staff_page.get_by_role("link", name="Payout desk", exact=True).click()
    staff_page.locator("#disputes").get_by_role("link", name="Settle").click()
    sides = staff_page.locator(f"#dispute-{milestone.pk}")  # both sides and the evidence, next to the split
    expect(sides).to_contain_text("F1 on the held-out tickets is 0.61")
    expect(sides).to_contain_text("0.85 was on the validation split we agreed on.")
    expect(sides.get_by_role("link", name="eval-scores.csv")).to_be_visible()
    expect(sides.get_by_role("link", name="validation.md")).to_be_visible()
    form = staff_page.locator(f"#resolve-{milestone.pk}")
    form.get_by_role("button", name="50 / 50").click()
    expect(form.get_by_label("Release to the engineer")).to_have_value("500.00")
    expect(form.get_by_label("Refund to the client")).to_have_value("500.00")
    form.get_by_role("button", name="All to the client").click()
    expect(form.get_by_label("Release to the engineer")).to_have_value("0.00")
    expect(form.get_by_label("Refund to the client")).to_have_value("1000.00")
    form.get_by_label("Refund to the client").fill("")
    form.get_by_label("Release to the engineer").fill("600")
    expect(form.get_by_label("Refund to the client")).to_have_value("400.00")
    expect(form.locator("[data-split-sum]")).to_contain_text("Adds up to the 1,000.00 USD held")
    form.get_by_label("How was it resolved?").fill("Agreed split after mediation.")
    screenshot(staff_page, "payments_dispute_settlement")
    form.get_by_role("button", name="Settle dispute").click()
    expect(staff_page.get_by_text("Dispute resolved: 600.00 USD released")).to_be_visible()

    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.RESOLVED
    fee = fee_for(60_000, settings.PLATFORM_FEE_BPS)
    [transfer] = stripe.Transfer.list(limit=10).data
    [refund] = stripe.Refund.list(limit=10).data
    assert (transfer.amount, refund.amount) == (60_000 - fee, 40_000)
    money = milestone_money(milestone_id=milestone.pk)
    assert (money.escrow, money.released, money.refunded) == (0, 60_000, 40_000)
    assert ledger_violations() == []

    # The engagement's summary agrees with the ledger: the dispute's release counts as released.
    staff_page.goto(f"/engagements/{eng.pk}/")
    figures = staff_page.locator("#money-summary .summary-figures > div")
    for label, amount in (("Released", "600.00 USD"), ("Refunded", "400.00 USD"), ("In escrow", "0.00 USD")):
        expect(figures.filter(has_text=label)).to_contain_text(amount)
    screenshot(staff_page, "payments_engagement_after_dispute")
    client_page.goto("/engagements/")
    expect(client_page.locator(".list-row").first).to_contain_text("1 milestone: 1 settled by dispute")


def test_the_client_funds_every_remaining_milestone_with_one_card(stripe_server, new_page, screenshot):
    client = ClientFactory(username="clara", first_name="Clara", last_name="Client")
    eng = engagement(amounts=(100_000, 250_000, 150_000), client=client)
    page = new_page()
    log_in(page, "clara")
    page.goto(reverse("engagement-detail", args=[eng.pk]))
    page.get_by_role("link", name="Fund all remaining (5,000.00 USD)").click()
    page.get_by_role("button", name="Continue to card payment").click()
    expect(page.locator("#fund-all-rows tbody tr")).to_have_count(3)
    _type_card(page, "4000000000000341")  # declined: the first payment is refused, nothing paid
    page.get_by_role("button", name="Pay 5,000.00 USD (3 payments)").click()
    expect(page.locator("#card-error")).to_contain_text("Your card was declined.")
    assert not Milestone.objects.filter(engagement=eng, state=Milestone.State.FUNDED).exists()
    _type_card(page, "4242424242424242")
    screenshot(page, "payments_fund_all")
    page.get_by_role("button", name="Pay 5,000.00 USD (3 payments)").click()
    wait_for(
        lambda: Milestone.objects.filter(engagement=eng, state=Milestone.State.FUNDED).count() == 3,
        timeout=30,
        what="the three milestones funded by their webhooks",
    )
    expect(page).to_have_url(re.compile(rf"/engagements/{eng.pk}/$"), timeout=20_000)
    expect(page.locator("#money-summary")).to_contain_text("In escrow5,000.00 USD")
    fundings = Funding.objects.filter(milestone__engagement=eng, state=Funding.State.SUCCEEDED)
    assert sorted(f.amount for f in fundings) == [100_000, 150_000, 250_000]
    assert len({f.payment_intent_id for f in fundings}) == 3
    assert ledger_violations() == []
