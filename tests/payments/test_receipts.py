"""Receipts (a client's card payment and its refunds) and payout statements (an engineer's payouts with
the platform fee): their amounts are the ledger's, only their owner and staff see them, and the PDF
is the page laid out by WeasyPrint, with the platform's references and never a processor id."""

import re
from datetime import UTC, date, datetime

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from rest_framework.test import APIClient

from core.pdf import html_to_pdf
from marketplace.models import Milestone
from payments.ledger import ledger_post, milestone_money
from payments.models import Funding, LedgerAccount, LedgerPosting, Payout, Refund
from payments.receipts import funding_receipt, payout_statement, period_statement, statement_range
from payments.selectors import engagement_money, payments_history
from payments.services.payouts import payout_approve
from tests.factories import ClientFactory, EngineerFactory, StaffFactory, engagement
from tests.payments.conftest import onboard, pay, work_and_approve

pytestmark = pytest.mark.django_db

PROCESSOR_IDS = re.compile(r"\b(pi|ch|tr|re|acct)_[A-Za-z0-9]")


def _funded(milestone: Milestone, *, at: datetime) -> Funding:
    """A card payment that went through, posted to the ledger as the funding service posts it."""
    funding = Funding.objects.create(
        milestone=milestone, client=milestone.engagement.client, attempt=1, amount=milestone.amount,
        currency=milestone.currency, payment_intent_id=f"pi_hidden{milestone.pk}",
        charge_id=f"ch_hidden{milestone.pk}", state=Funding.State.SUCCEEDED, succeeded_at=at,
    )  # fmt: skip
    ledger_post(
        key=f"funding:{funding.pk}", kind=LedgerPosting.Kind.FUNDING, milestone_id=milestone.pk,
        currency=funding.currency,
        lines=[(LedgerAccount.CLIENT_FUNDING, -funding.amount), (LedgerAccount.ESCROW, funding.amount)],
    )  # fmt: skip
    return funding


def _refunded(funding: Funding, amount: int, *, sent: bool = True) -> Refund:
    refund = Refund.objects.create(
        milestone=funding.milestone, funding=funding, amount=amount, currency=funding.currency,
        kind=Refund.Kind.DISPUTE, stripe_refund_id=f"re_hidden{funding.pk}{int(sent)}" if sent else None,
        state=Refund.State.SUCCEEDED if sent else Refund.State.PROCESSING,
        succeeded_at=funding.succeeded_at if sent else None,
    )  # fmt: skip
    if sent:
        ledger_post(
            key=f"refund:{refund.pk}", kind=LedgerPosting.Kind.REFUND, milestone_id=funding.milestone_id,
            currency=funding.currency,
            lines=[(LedgerAccount.ESCROW, -amount), (LedgerAccount.CLIENT_REFUNDS, amount)],
        )  # fmt: skip
    return refund


def _paid_out(funding: Funding, amount: int, fee: int, *, at: datetime) -> Payout:
    milestone = funding.milestone
    payout = Payout.objects.create(
        milestone=milestone, funding=funding, engineer=milestone.engagement.engineer, amount=amount,
        fee=fee, net=amount - fee, fee_bps=1000, currency=funding.currency,
        transfer_id=f"tr_hidden{milestone.pk}", state=Payout.State.PAID, paid_at=at,
    )  # fmt: skip
    ledger_post(
        key=f"payout:{payout.pk}", kind=LedgerPosting.Kind.RELEASE, milestone_id=milestone.pk,
        currency=funding.currency,
        lines=[(LedgerAccount.ESCROW, -amount), (LedgerAccount.ENGINEER_TRANSFERRED, amount - fee),
               (LedgerAccount.PLATFORM_REVENUE, fee)],
    )  # fmt: skip
    return payout


DEC = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
NOV = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


# --- What the receipts and statements say ------------------------------------------------------------


def test_the_receipt_of_a_real_card_payment_is_what_the_ledger_holds(webhooks):
    milestone = engagement(amounts=(100_000,)).milestones.get()
    pay(milestone, webhooks)
    funding = milestone.fundings.get()

    receipt = funding_receipt(user=milestone.engagement.client, reference=funding.reference)

    money = milestone_money(milestone_id=milestone.pk)
    assert (receipt.paid, receipt.refunded, receipt.kept) == (money.funded, 0, 100_000)
    assert receipt.paid == engagement_money(milestones=[milestone]).funded
    assert receipt.status == "Paid" and receipt.refunds == []
    assert (receipt.engineer, receipt.milestone) == (milestone.engagement.engineer, milestone)


def test_a_partly_refunded_payment_counts_only_the_refunds_sent():
    milestone = engagement(amounts=(100_000,)).milestones.get()
    funding = _funded(milestone, at=DEC)
    sent = _refunded(funding, 30_000)
    _refunded(funding, 10_000, sent=False)  # still on its way: not yet on the ledger

    receipt = funding_receipt(user=StaffFactory(), reference=funding.reference)

    money = milestone_money(milestone_id=milestone.pk)
    assert (receipt.paid, receipt.refunded) == (money.funded, money.refunded) == (100_000, 30_000)
    assert receipt.kept == 70_000 and receipt.status == "Partly refunded"
    first = receipt.refunds[0]
    assert (first.reference, first.amount, first.sent) == (sent.reference, 30_000, True)
    assert [r.status for r in receipt.refunds] == ["Refunded", "Sending"]


def test_a_real_payout_statement_shows_the_fee_the_ledger_kept(
    webhooks, django_capture_on_commit_callbacks, settings
):
    milestone = engagement(amounts=(100_000,)).milestones.get()
    pay(milestone, webhooks)
    payout = work_and_approve(milestone, django_capture_on_commit_callbacks)
    engineer = milestone.engagement.engineer
    waiting = payout_statement(user=engineer, reference=payout.reference)
    assert waiting.lines[0].sent is False and waiting.totals == []  # nothing sent, nothing counted
    onboard(engineer, webhooks)
    payout_approve(actor=StaffFactory(), payout_id=payout.pk)

    statement = payout_statement(user=engineer, reference=payout.reference)

    money = milestone_money(milestone_id=milestone.pk)
    [line] = statement.lines
    assert (line.released, line.fee, line.net) == (money.released, money.fees, money.transferred)
    assert line.fee == 100_000 * settings.PLATFORM_FEE_BPS // 10_000 and line.net + line.fee == 100_000
    [total] = statement.totals
    assert (total.released, total.fee, total.net, total.count) == (100_000, line.fee, line.net, 1)
    history = [row for row in payments_history(user=engineer) if row.kind == "payout"]
    assert [(row.amount, row.fee, row.document) for row in history] == [
        (line.net, line.fee, payout.reference)
    ]


def test_a_period_statement_holds_only_the_payouts_sent_in_it():
    engineer = EngineerFactory()
    november, december, unpaid = engagement(
        amounts=(50_000, 80_000, 20_000), engineer=engineer
    ).milestones.order_by("position")
    _paid_out(_funded(november, at=NOV), 50_000, 5_000, at=NOV)
    december_payout = _paid_out(_funded(december, at=DEC), 80_000, 8_000, at=DEC)
    Payout.objects.create(
        milestone=unpaid,
        funding=_funded(unpaid, at=DEC),
        engineer=engineer,
        amount=20_000,
        fee=2_000,
        net=18_000,
        fee_bps=1000,
        currency="usd",
    )  # fmt: skip: awaiting approval, on no statement of a period

    start, end = statement_range(year=2026, month=12)
    statement = period_statement(user=engineer, start=start, end=end)

    assert (start, end, statement.period) == (date(2026, 12, 1), date(2026, 12, 31), "December 2026")
    assert [line.reference for line in statement.lines] == [december_payout.reference]
    [total] = statement.totals
    assert (total.released, total.fee, total.net) == (80_000, 8_000, 72_000)
    everything = period_statement(user=engineer)
    assert [line.net for line in everything.lines] == [45_000, 72_000]
    [total] = everything.totals
    money = engagement_money(milestones=[november, december, unpaid])
    assert (total.released, total.fee, total.net) == (money.released, money.fees, money.transferred)
    days = period_statement(user=engineer, start=date(2026, 11, 1), end=date(2026, 11, 20))
    assert [line.net for line in days.lines] == [45_000]  # the last day counts whole


def test_a_period_is_a_month_of_a_year_or_a_range_not_both():
    assert statement_range() == (None, None)
    assert statement_range(year=2026) == (date(2026, 1, 1), date(2026, 12, 31))
    assert statement_range(year=2024, month=2) == (date(2024, 2, 1), date(2024, 2, 29))
    for bad, field in [
        ({"month": 3}, "year"),
        ({"year": 2026, "start": date(2026, 1, 1)}, "start"),
        ({"start": date(2026, 2, 1), "end": date(2026, 1, 1)}, "end"),
    ]:
        with pytest.raises(Exception) as error:
            statement_range(**bad)
        assert field in error.value.details


# --- Who sees them ----------------------------------------------------------------------------------


@pytest.fixture
def documents():
    client, engineer = ClientFactory(username="payer"), EngineerFactory(username="payee")
    milestone = engagement(amounts=(100_000,), client=client, engineer=engineer).milestones.get()
    funding = _funded(milestone, at=DEC)
    refund = _refunded(funding, 40_000)
    payout = _paid_out(funding, 60_000, 6_000, at=DEC)
    return funding, refund, payout


def test_the_paying_client_and_staff_see_a_receipt_and_nobody_else(client, documents):
    funding, refund, _ = documents
    url = reverse("payments:receipt", args=[funding.reference])
    client.force_login(funding.client)
    page = client.get(url).content.decode()
    for text in (
        funding.reference,
        refund.reference,
        "1,000.00 USD",
        "\u2212400.00 USD",
        "600.00 USD",
        "Partly refunded",
    ):
        assert text in page
    assert reverse("payments:receipt-pdf", args=[funding.reference]) in page and "data-print" in page
    assert not PROCESSOR_IDS.search(page)
    for stranger in (ClientFactory(), EngineerFactory(), funding.milestone.engagement.engineer):
        client.force_login(stranger)
        assert client.get(url).status_code == 404
        assert client.get(reverse("payments:receipt-pdf", args=[funding.reference])).status_code == 404
    client.force_login(StaffFactory())
    assert client.get(url).status_code == 200
    for reference in ("PAY-1", "PAY-0000001", "OUT-000001", "pay-000001", funding.payment_intent_id):
        assert client.get(reverse("payments:receipt", args=[reference])).status_code == 404


def test_the_engineer_and_staff_see_a_statement_and_nobody_else(client, documents):
    _, _, payout = documents
    engineer = payout.engineer
    one = reverse("payments:payout-statement", args=[payout.reference])
    period = reverse("payments:statement") + "?year=2026&month=12"
    client.force_login(engineer)
    for url in (one, period):
        page = client.get(url).content.decode()
        for text in (payout.reference, "600.00 USD", "60.00 USD", "540.00 USD"):
            assert text in page
        assert not PROCESSOR_IDS.search(page)
    assert (
        "No payouts were sent in this period."
        in client.get(reverse("payments:statement") + "?year=2025").content.decode()
    )
    bad = client.get(reverse("payments:statement") + "?month=4")
    assert bad.status_code == 400 and "A month needs its year." in bad.content.decode()
    for stranger in (EngineerFactory(), payout.milestone.engagement.client):
        client.force_login(stranger)
        assert client.get(one).status_code == 404
        assert client.get(f"{period}&engineer={engineer.pk}").status_code == 404
    assert client.get(reverse("payments:statement")).status_code == 404  # a client has no statement
    client.force_login(StaffFactory())
    assert client.get(one).status_code == 200
    assert payout.reference in client.get(f"{period}&engineer={engineer.pk}").content.decode()


def test_the_history_links_each_row_to_its_receipt_or_statement(client, documents):
    funding, refund, payout = documents
    client.force_login(funding.client)
    page = client.get(reverse("payments:history")).content.decode()
    receipt = reverse("payments:receipt", args=[funding.reference])
    assert page.count(f'href="{receipt}"') == 2  # the payment and its refund
    assert f"(refund {refund.reference})" in page
    client.force_login(payout.engineer)
    page = client.get(reverse("payments:history")).content.decode()
    assert reverse("payments:payout-statement", args=[payout.reference]) in page
    assert f'href="{reverse("payments:statement")}"' in page


# --- The PDFs -------------------------------------------------------------------------------------------


def test_the_receipt_pdf_is_the_receipt_page_laid_out_for_print(client, documents):
    funding, refund, _ = documents
    client.force_login(funding.client)

    response = client.get(reverse("payments:receipt-pdf", args=[funding.reference]))

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="receipt-{funding.reference}.pdf"'
    assert response.content.startswith(b"%PDF")
    # What the PDF was laid out from: the receipt page itself.
    assert response.templates[0].name == "payments/receipt.html"
    html = render_to_string("payments/receipt.html", {"receipt": response.context["receipt"]})
    for text in (funding.reference, refund.reference, "1,000.00 USD", "400.00 USD", "600.00 USD"):
        assert text in html
    assert not PROCESSOR_IDS.search(html)


def test_the_pdf_renderer_reads_the_site_stylesheets_and_nothing_else(caplog):
    page = (
        '<link rel="stylesheet" href="/static/css/payments.css">'
        '<link rel="stylesheet" href="http://127.0.0.1:9/x.css"><link rel="stylesheet" href="file:///etc/passwd">'
        '<link rel="stylesheet" href="/static/../config/settings.py"><p>PAY-000001</p>'
    )
    with caplog.at_level("WARNING", logger="weasyprint"):
        assert html_to_pdf(page).startswith(b"%PDF")
    refused = " ".join(r.getMessage() for r in caplog.records)
    assert "127.0.0.1:9" in refused and "/etc/passwd" in refused and "settings.py" in refused
    assert "payments.css" not in refused


def test_the_statement_pdf_is_named_for_its_payout_or_period(client, documents):
    _, _, payout = documents
    client.force_login(payout.engineer)
    one = client.get(reverse("payments:payout-statement-pdf", args=[payout.reference]))
    assert one.content.startswith(b"%PDF")
    assert one["Content-Disposition"] == f'attachment; filename="statement-{payout.reference}.pdf"'
    period = client.get(reverse("payments:statement-pdf") + "?year=2026&month=12")
    assert period.content.startswith(b"%PDF") and period["Content-Type"] == "application/pdf"
    name = 'filename="payout-statement-payee-2026-12-01-to-2026-12-31.pdf"'
    assert period["Content-Disposition"] == f"attachment; {name}"


# --- The API ------------------------------------------------------------------------------------------


def test_the_receipt_api_answers_the_ledger_amounts_and_the_pdf(documents):
    funding, refund, _ = documents
    api = APIClient()
    api.force_authenticate(funding.client)
    url = f"/api/v1/payments/receipts/{funding.reference}/"

    body = api.get(url).json()

    assert (body["reference"], body["paid"], body["refunded"], body["kept"]) == (
        funding.reference,
        100_000,
        40_000,
        60_000,
    )
    assert body["payer"] == {"display_name": funding.client.display_name, "email": funding.client.email}
    assert [r["reference"] for r in body["refunds"]] == [refund.reference]
    assert not PROCESSOR_IDS.search(str(body))
    pdf = api.get(url + "pdf/", HTTP_ACCEPT="application/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf["Content-Disposition"] == f'attachment; filename="receipt-{funding.reference}.pdf"'
    api.force_authenticate(ClientFactory())
    for path, accept in ((url, "application/json"), (url + "pdf/", "application/pdf")):
        missing = api.get(path, HTTP_ACCEPT=accept)
        assert missing.status_code == 404 and missing["Content-Type"] == "application/json"
        assert missing.json()["error"]["code"] == "not_found"


def test_the_statement_api_takes_a_period(documents):
    _, _, payout = documents
    api = APIClient()
    api.force_authenticate(payout.engineer)
    body = api.get("/api/v1/payments/statements/", {"year": 2026, "month": 12}).json()
    assert [line["reference"] for line in body["lines"]] == [payout.reference]
    assert body["totals"] == [
        {"currency": "usd", "count": 1, "released": 60_000, "fee": 6_000, "net": 54_000}
    ]
    assert api.get("/api/v1/payments/statements/", {"year": 2026, "month": 11}).json()["lines"] == []
    bad = api.get("/api/v1/payments/statements/", {"month": 12})
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("year:")
