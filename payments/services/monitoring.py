"""Watching the money: funds held too long, and reconciliation of the ledger with Stripe.

Both run periodically (Celery beat) and report to every staff member.
"""

from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, Sum
from django.urls import reverse
from django.utils import timezone

from core.errors import PaymentProviderError
from core.money import format_money
from payments import stripe_client
from payments.ledger import ledger_violations
from payments.models import Chargeback, Funding, LedgerAccount, LedgerEntry, Payout, ReconciliationRun, Refund
from payments.services.common import milestone_url, staff_alert


def holds_alert(*, now: datetime | None = None) -> int:
    """Alert staff, once per payment, about escrow held longer than HOLD_ALERT_DAYS; returns how many."""
    now = now or timezone.now()
    days = settings.HOLD_ALERT_DAYS
    held = dict(
        LedgerEntry.objects.filter(account=LedgerAccount.ESCROW)
        .values("milestone_id")
        .annotate(total=Sum("amount"))
        .filter(total__gt=0)
        .values_list("milestone_id", "total")
    )
    overdue = Funding.objects.filter(
        state=Funding.State.SUCCEEDED,
        succeeded_at__lte=now - timedelta(days=days),
        hold_alerted_at__isnull=True,
        milestone_id__in=held,
    ).select_related("milestone")
    alerted = 0
    for funding in overdue:
        # A claim, so two overlapping runs alert once.
        if not Funding.objects.filter(pk=funding.pk, hold_alerted_at__isnull=True).update(
            hold_alerted_at=now
        ):
            continue
        milestone = funding.milestone
        age = (now - funding.succeeded_at).days
        staff_alert(
            kind="escrow_hold_alert",
            message=f"“{milestone.title}” has held {format_money(held[milestone.pk], funding.currency)} in "
            f"escrow for {age} days (alert after {days}). Pay it out, refund it or resolve its dispute.",
            url=milestone_url(milestone),
        )
        alerted += 1
    return alerted


class _Reconciliation:
    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.end = start, end
        self.differences: list[dict] = []
        self.checked: Counter[str] = Counter()

    def differ(self, kind: str, obj: str, message: str) -> None:
        self.differences.append({"kind": kind, "object": obj, "message": message})

    def posted(self, key: str, account: str) -> int | None:
        total = LedgerEntry.objects.filter(posting__key=key, account=account).aggregate(total=Sum("amount"))
        return total["total"]

    def fundings(self) -> None:
        ours = Funding.objects.filter(succeeded_at__range=(self.start, self.end))
        for funding in ours:
            self.checked["fundings"] += 1
            intent = stripe_client.payment_intent_retrieve(funding.payment_intent_id)
            if intent.status != "succeeded" or (intent.amount, intent.currency) != (
                funding.amount,
                funding.currency,
            ):
                self.differ(
                    "payment_differs",
                    funding.payment_intent_id,
                    f"Funding {funding.pk} is paid ({format_money(funding.amount, funding.currency)}) but "
                    f"Stripe says {intent.status}, {format_money(intent.amount, intent.currency)}.",
                )
            if self.posted(f"funding:{funding.pk}", LedgerAccount.ESCROW) != funding.amount:
                self.differ(
                    "payment_not_posted",
                    funding.payment_intent_id,
                    f"Funding {funding.pk} is not in the ledger.",
                )
        known = set(
            Funding.objects.filter(state=Funding.State.SUCCEEDED).values_list("payment_intent_id", flat=True)
        )
        for intent in stripe_client.payment_intents_list(created_gte=self.start, created_lte=self.end):
            self.checked["stripe_payment_intents"] += 1
            if intent.status == "succeeded" and "milestone" in intent.metadata and intent.id not in known:
                self.differ(
                    "stripe_payment_unrecorded",
                    intent.id,
                    f"Stripe took {format_money(intent.amount, intent.currency)} for milestone "
                    f"{intent.metadata['milestone']} ({intent.id}); the ledger has no such funding.",
                )

    def transfers(self) -> None:
        seen = set()
        for transfer in stripe_client.transfers_list(created_gte=self.start, created_lte=self.end):
            self.checked["stripe_transfers"] += 1
            seen.add(transfer.id)
            payout = Payout.objects.filter(transfer_id=transfer.id).first()
            if payout is None:
                self.differ(
                    "stripe_transfer_unrecorded",
                    transfer.id,
                    f"Stripe transferred {format_money(transfer.amount, transfer.currency)} to "
                    f"{transfer.destination} ({transfer.id}); no paid payout records it.",
                )
                continue
            self._compare_transfer(payout, transfer)
        for payout in Payout.objects.filter(state=Payout.State.PAID, paid_at__range=(self.start, self.end)):
            self.checked["payouts"] += 1
            if payout.transfer_id not in seen:
                self._compare_transfer(payout, stripe_client.transfer_retrieve(payout.transfer_id))
            if self.posted(f"payout:{payout.pk}", LedgerAccount.ENGINEER_TRANSFERRED) != payout.net:
                self.differ(
                    "payout_not_posted", payout.transfer_id, f"Payout {payout.pk} is not in the ledger."
                )

    def _compare_transfer(self, payout: Payout, transfer: stripe_client.TransferInfo) -> None:
        if (transfer.amount, transfer.currency, transfer.destination) != (
            payout.net,
            payout.currency,
            payout.destination,
        ):
            self.differ(
                "transfer_differs",
                transfer.id,
                f"Payout {payout.pk} sent {format_money(payout.net, payout.currency)} to {payout.destination}; "
                f"Stripe's transfer is {format_money(transfer.amount, transfer.currency)} to {transfer.destination}.",
            )
        if transfer.amount_reversed:
            self.differ(
                "transfer_reversed",
                transfer.id,
                f"{format_money(transfer.amount_reversed, transfer.currency)} of payout {payout.pk} was reversed "
                "at Stripe; the ledger still counts it as transferred.",
            )

    def refunds(self) -> None:
        seen = set()
        for info in stripe_client.refunds_list(created_gte=self.start, created_lte=self.end):
            self.checked["stripe_refunds"] += 1
            seen.add(info.id)
            refund = Refund.objects.filter(stripe_refund_id=info.id).first()
            if refund is None:
                self.differ(
                    "stripe_refund_unrecorded",
                    info.id,
                    f"Stripe refunded {format_money(info.amount, info.currency)} of charge {info.charge} "
                    f"({info.id}); no refund records it.",
                )
            elif (info.amount, info.currency) != (refund.amount, refund.currency):
                self.differ(
                    "refund_differs",
                    info.id,
                    f"Refund {refund.pk} is {format_money(refund.amount, refund.currency)}; Stripe's is "
                    f"{format_money(info.amount, info.currency)}.",
                )
        for refund in Refund.objects.filter(
            state=Refund.State.SUCCEEDED, succeeded_at__range=(self.start, self.end)
        ):
            self.checked["refunds"] += 1
            if refund.stripe_refund_id not in seen:
                info = stripe_client.refund_retrieve(refund.stripe_refund_id)
                if (info.amount, info.currency) != (refund.amount, refund.currency):
                    self.differ(
                        "refund_differs", info.id, f"Refund {refund.pk} differs from Stripe's {info.id}."
                    )
            if self.posted(f"refund:{refund.pk}", LedgerAccount.CLIENT_REFUNDS) != refund.amount:
                self.differ(
                    "refund_not_posted", refund.stripe_refund_id, f"Refund {refund.pk} is not in the ledger."
                )

    def disputes(self) -> None:
        """Every card dispute Stripe has is recorded, in the same status, and every lost one is in the
        ledger for its amount."""
        seen = set()
        for info in stripe_client.disputes_list(created_gte=self.start, created_lte=self.end):
            self.checked["stripe_disputes"] += 1
            seen.add(info.id)
            chargeback = Chargeback.objects.filter(stripe_dispute_id=info.id).first()
            if chargeback is None:
                self.differ(
                    "stripe_dispute_unrecorded",
                    info.id,
                    f"Stripe has a {info.status} card dispute of {format_money(info.amount, info.currency)} on "
                    f"charge {info.charge} ({info.id}); no chargeback records it.",
                )
                continue
            self._compare_dispute(chargeback, info)
        ours = Chargeback.objects.filter(
            Q(created_at__range=(self.start, self.end)) | Q(closed_at__range=(self.start, self.end))
        )
        for chargeback in ours:
            self.checked["chargebacks"] += 1
            if chargeback.stripe_dispute_id not in seen:
                self._compare_dispute(
                    chargeback, stripe_client.dispute_retrieve(chargeback.stripe_dispute_id)
                )

    def _compare_dispute(self, chargeback: Chargeback, info: stripe_client.DisputeInfo) -> None:
        if info.status != chargeback.status:
            self.differ(
                "chargeback_status_differs",
                info.id,
                f"Chargeback {info.id} is {chargeback.status} here but {info.status} at Stripe.",
            )
        lost = info.status == "lost" and chargeback.milestone_id is not None
        if lost and self.posted(f"chargeback:{info.id}", LedgerAccount.CLIENT_CHARGEBACKS) != info.amount:
            self.differ(
                "chargeback_not_posted",
                info.id,
                f"Stripe took back {format_money(info.amount, info.currency)} for lost chargeback "
                f"{info.id}; the ledger does not have it.",
            )

    def ledger(self) -> None:
        for problem in ledger_violations():
            self.differ("ledger_invariant", "", problem)


def reconciliation_run(*, since: datetime | None = None, until: datetime | None = None) -> ReconciliationRun:
    """Compare the ledger with Stripe's payment intents, transfers, refunds and card disputes in
    [since, until]."""
    until = until or timezone.now()
    days = settings.RECONCILIATION_WINDOW_DAYS
    since = since or until - timedelta(days=days)
    run = ReconciliationRun.objects.create(window_start=since, window_end=until)
    url = reverse("admin:payments_reconciliationrun_change", args=[run.pk])
    check = _Reconciliation(since, until)
    try:
        check.fundings()
        check.transfers()
        check.refunds()
        check.disputes()
        check.ledger()
    except PaymentProviderError as exc:
        run.status, run.error = ReconciliationRun.Status.ERROR, exc.message
        staff_alert(
            kind="reconciliation_error", message=f"Reconciliation could not finish: {exc.message}", url=url
        )
    else:
        run.status = (
            ReconciliationRun.Status.DIFFERENCES if check.differences else ReconciliationRun.Status.CLEAN
        )
        if check.differences:
            listed = "; ".join(d["message"] for d in check.differences)
            staff_alert(
                kind="reconciliation_differences",
                message=f"Reconciliation found {len(check.differences)} difference(s) with Stripe: {listed}",
                url=url,
            )
    run.differences, run.checked = check.differences, dict(check.checked)
    run.finished_at = timezone.now()
    run.save()
    return run
