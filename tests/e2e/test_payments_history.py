"""Each user's payments history in a real browser: the client's card payment and refund, the engineer's
payouts after the fee, with the platform's references and never a processor id."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from payments.models import Funding, Payout, Refund
from tests.e2e.test_hiring_flow import log_in
from tests.factories import ClientFactory, EngineerFactory, engagement

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_client_and_the_engineer_read_their_payments(new_page, screenshot):
    client = ClientFactory(username="clara")
    engineer = EngineerFactory(username="maya")
    eng = engagement(amounts=(600_000, 400_000), client=client, engineer=engineer)
    first, second = eng.milestones.order_by("position")
    now = timezone.now()
    paid = [
        Funding.objects.create(
            milestone=m, client=client, attempt=1, amount=m.amount, currency="usd",
            payment_intent_id=f"pi_secret{m.pk}", charge_id=f"ch_secret{m.pk}",
            state=Funding.State.SUCCEEDED, succeeded_at=now,
        )
        for m in (first, second)
    ]  # fmt: skip
    Refund.objects.create(
        milestone=second, funding=paid[1], amount=400_000, currency="usd", kind=Refund.Kind.CANCELLATION,
        stripe_refund_id="re_secret", state=Refund.State.SUCCEEDED, succeeded_at=now,
    )  # fmt: skip
    Payout.objects.create(
        milestone=first, funding=paid[0], engineer=engineer, kind=Payout.Kind.APPROVAL, amount=600_000,
        fee=60_000, net=540_000, fee_bps=1000, currency="usd", transfer_id="tr_secret",
        state=Payout.State.PAID, paid_at=now,
    )  # fmt: skip

    page = new_page()
    log_in(page, "clara")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Payments").click()
    table = page.locator("#history")
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table).to_contain_text(paid[0].reference)
    expect(table).to_contain_text("Refund to your card")
    expect(table).to_contain_text("+4,000.00 USD")
    for processor_id in ("pi_secret", "ch_secret", "re_secret", "tr_secret"):
        expect(page.locator("main")).not_to_contain_text(processor_id)
    screenshot(page, "payments-history-client")

    page = new_page()
    log_in(page, "maya")
    page.goto("/payments/payouts/")
    page.get_by_role("link", name="Payouts history").click()
    rows = page.locator("#history tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Payout to you")
    expect(rows.first).to_contain_text("5,400.00 USD")
    expect(rows.first).to_contain_text("600.00 USD")
    expect(page.locator("main")).not_to_contain_text("tr_secret")
    screenshot(page, "payments-history-engineer")
