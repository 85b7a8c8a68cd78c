"""Receipts and payout statements in a real browser: the client opens a receipt from the payments
history, the engineer a payout and a month's statement; each offers its PDF and a Print button, and
shows the platform's references, never a processor id."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from payments.ledger import ledger_post
from payments.models import Funding, LedgerAccount, LedgerPosting, Payout, Refund
from tests.e2e.test_hiring_flow import log_in
from tests.factories import ClientFactory, EngineerFactory, engagement

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PROCESSOR_IDS = ("pi_secret", "ch_secret", "re_secret", "tr_secret", "acct_")


def _post(key: str, kind: str, milestone, *lines) -> None:
    ledger_post(key=key, kind=kind, milestone_id=milestone.pk, currency="usd", lines=list(lines))


def test_the_client_opens_a_receipt_and_the_engineer_a_statement(new_page, screenshot):
    client = ClientFactory(username="clara", first_name="Clara", last_name="Oswald")
    engineer = EngineerFactory(username="maya", first_name="Maya", last_name="Lin")
    eng = engagement(amounts=(600_000, 400_000), client=client, engineer=engineer)
    first, second = eng.milestones.order_by("position")
    now = timezone.now()
    paid = []
    for m in (first, second):
        funding = Funding.objects.create(
            milestone=m, client=client, attempt=1, amount=m.amount, currency="usd",
            payment_intent_id=f"pi_secret{m.pk}", charge_id=f"ch_secret{m.pk}",
            state=Funding.State.SUCCEEDED, succeeded_at=now,
        )  # fmt: skip
        _post(f"funding:{funding.pk}", LedgerPosting.Kind.FUNDING, m,
              (LedgerAccount.CLIENT_FUNDING, -m.amount), (LedgerAccount.ESCROW, m.amount))  # fmt: skip
        paid.append(funding)
    refund = Refund.objects.create(
        milestone=second, funding=paid[1], amount=150_000, currency="usd", kind=Refund.Kind.DISPUTE,
        stripe_refund_id="re_secret", state=Refund.State.SUCCEEDED, succeeded_at=now,
    )  # fmt: skip
    _post(f"refund:{refund.pk}", LedgerPosting.Kind.REFUND, second,
          (LedgerAccount.ESCROW, -150_000), (LedgerAccount.CLIENT_REFUNDS, 150_000))  # fmt: skip
    payout = Payout.objects.create(
        milestone=first, funding=paid[0], engineer=engineer, kind=Payout.Kind.APPROVAL, amount=600_000,
        fee=60_000, net=540_000, fee_bps=1000, currency="usd", transfer_id="tr_secret",
        state=Payout.State.PAID, paid_at=now,
    )  # fmt: skip
    _post(f"payout:{payout.pk}", LedgerPosting.Kind.RELEASE, first, (LedgerAccount.ESCROW, -600_000),
          (LedgerAccount.ENGINEER_TRANSFERRED, 540_000), (LedgerAccount.PLATFORM_REVENUE, 60_000))  # fmt: skip

    page = new_page()
    log_in(page, "clara")
    page.goto("/payments/history/")
    page.get_by_role("link", name=f"Receipt {paid[1].reference} (refund {refund.reference})").click()
    receipt = page.locator("#receipt")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Receipt {paid[1].reference}")
    expect(receipt).to_contain_text("Clara Oswald")
    expect(receipt).to_contain_text("Maya Lin")
    expect(receipt).to_contain_text(refund.reference)
    expect(receipt).to_contain_text("Partly refunded")
    expect(receipt.locator("tfoot")).to_contain_text("2,500.00 USD")
    expect(page.get_by_role("button", name="Print")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    assert download.value.suggested_filename == f"receipt-{paid[1].reference}.pdf"
    assert download.value.path().read_bytes().startswith(b"%PDF-")
    for processor_id in PROCESSOR_IDS:
        expect(page.locator("body")).not_to_contain_text(processor_id)
    screenshot(page, "receipt-client")
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.get_by_role("link", name="Download PDF")).to_be_hidden()
    screenshot(page, "receipt-client-print")
    page.emulate_media(media="screen")

    page = new_page()
    log_in(page, "maya")
    page.goto("/payments/history/")
    page.get_by_role("link", name=f"Statement {payout.reference}").click()
    statement = page.locator("#statement")
    expect(statement).to_contain_text("Maya Lin")
    expect(statement.locator("tbody tr")).to_have_count(1)
    for amount in ("6,000.00 USD", "600.00 USD", "5,400.00 USD"):
        expect(statement.locator("tfoot")).to_contain_text(amount)
    screenshot(page, "statement-payout")

    page.goto("/payments/history/")
    page.get_by_role("link", name="Payout statement").click()
    page.get_by_label("Year").fill(str(now.year))
    page.get_by_label("Month").select_option(str(now.month))
    page.get_by_role("button", name="Show").click()
    statement = page.locator("#statement")
    expect(statement).to_contain_text(now.strftime("%B %Y"))
    expect(statement.locator("tbody tr")).to_have_count(1)
    expect(statement.locator("tfoot")).to_contain_text("5,400.00 USD")
    for processor_id in PROCESSOR_IDS:
        expect(page.locator("body")).not_to_contain_text(processor_id)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    assert download.value.suggested_filename.startswith("payout-statement-maya-")
    screenshot(page, "statement-period")
