"""Reads of the payments app and who may see them.

A milestone's money is visible to its two parties and to staff (the marketplace's visibility rule);
the payout desk, the ledger report and the list of every payout are staff's alone. Each selector
runs a fixed number of queries, however many rows it returns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Avg, Count, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek

from core.errors import NotFoundError, PermissionDeniedError, ValidationError
from marketplace import selectors as marketplace_selectors
from marketplace.models import ClientReview, Dispute, Engagement, Milestone, User
from payments.ledger import ledger_money
from payments.models import (
    CancellationRequest,
    Chargeback,
    ConnectedAccount,
    Funding,
    LedgerAccount,
    LedgerEntry,
    Payout,
    ReconciliationRun,
    Refund,
)
from payments.models.disputes import CLOSED_STATUSES
from payments.services.accounts import PayoutEligibility, payout_eligibility

# --- One milestone's payment, for the funding page and the funding API ----------------------------


@dataclass(frozen=True)
class FundingStatus:
    """Where the client's payment for a milestone stands.

    `status`: `awaiting_payment` (nothing paid yet), `payment_failed` (the last card was declined;
    another may be tried), `funded` (paid into escrow), `partly_refunded` / `refunded`,
    `charged_back` (the card network took the payment back: a lost chargeback), or `closed` (the
    milestone no longer takes a payment: cancelled, or funded outside Stripe).
    """

    milestone: Milestone
    funding: Funding | None
    status: str

    @property
    def failure_message(self) -> str:
        return self.funding.failure_message if self.status == "payment_failed" else ""

    @property
    def payable(self) -> bool:
        return self.status in ("awaiting_payment", "payment_failed")


def funding_status(*, user: User, milestone_id: int) -> FundingStatus:
    milestone = marketplace_selectors.milestone_get(user=user, milestone_id=milestone_id)
    fundings = list(milestone.fundings.order_by("-attempt"))
    paid = next((f for f in fundings if f.state == Funding.State.SUCCEEDED), None)
    latest = fundings[0] if fundings else None
    if paid is not None:
        if any(chargeback.status == "lost" for chargeback in paid.chargebacks.all()):
            return FundingStatus(milestone=milestone, funding=paid, status="charged_back")
        refunded = sum(r.amount for r in paid.refunds.all() if r.state == Refund.State.SUCCEEDED)
        if refunded >= paid.amount:
            return FundingStatus(milestone=milestone, funding=paid, status="refunded")
        if refunded:
            return FundingStatus(milestone=milestone, funding=paid, status="partly_refunded")
        return FundingStatus(milestone=milestone, funding=paid, status="funded")
    if milestone.state != Milestone.State.PENDING_FUNDING:
        return FundingStatus(milestone=milestone, funding=latest, status="closed")
    if latest is not None and latest.state == Funding.State.OPEN and latest.failure_message:
        return FundingStatus(milestone=milestone, funding=latest, status="payment_failed")
    return FundingStatus(milestone=milestone, funding=latest, status="awaiting_payment")


def funding_status_for_client(*, user: User, milestone_id: int) -> FundingStatus:
    """The funding page's reading: the client's alone (the parties and staff see it, only the client pays)."""
    status = funding_status(user=user, milestone_id=milestone_id)
    if status.milestone.engagement.client_id != user.pk:
        raise PermissionDeniedError("Only the client funds a milestone.")
    return status


# --- Every milestone of an engagement, for the engagement page ------------------------------------


@dataclass
class MilestonePayments:
    """What the engagement page shows about one milestone's money."""

    milestone: Milestone
    held: int = 0
    funding: Funding | None = None  # the latest attempt
    payout: Payout | None = None
    refunds: list[Refund] = field(default_factory=list)
    cancellation: CancellationRequest | None = None  # the pending one, else the latest answered
    chargebacks: list[Chargeback] = field(default_factory=list)

    @property
    def funding_failed(self) -> bool:
        f = self.funding
        return bool(f and f.state == Funding.State.OPEN and f.failure_message)

    @property
    def cancellation_pending(self) -> CancellationRequest | None:
        c = self.cancellation
        return c if c is not None and c.state == CancellationRequest.State.PENDING else None

    @property
    def open_chargebacks(self) -> list[Chargeback]:
        return [c for c in self.chargebacks if c.is_open]


@dataclass
class EngagementPayments:
    by_milestone: dict[int, MilestonePayments]
    eligibility: PayoutEligibility  # the engineer's


def engagement_payments(*, engagement: Engagement, milestones: list[Milestone]) -> EngagementPayments:
    """The payments of an engagement's milestones, in seven queries however many milestones there are.

    The caller has already checked that the user may see the engagement.
    """
    ids = [m.pk for m in milestones]
    result = {m.pk: MilestonePayments(milestone=m) for m in milestones}
    held = (
        LedgerEntry.objects.filter(milestone_id__in=ids, account=LedgerAccount.ESCROW)
        .values("milestone_id")
        .annotate(total=Sum("amount"))
        .values_list("milestone_id", "total")
    )
    for milestone_id, total in held:
        result[milestone_id].held = total
    for funding in Funding.objects.filter(milestone_id__in=ids).order_by("milestone_id", "attempt"):
        result[funding.milestone_id].funding = funding  # the last attempt wins
    for payout in Payout.objects.filter(milestone_id__in=ids):
        result[payout.milestone_id].payout = payout
    for refund in Refund.objects.filter(milestone_id__in=ids).order_by("created_at", "id"):
        result[refund.milestone_id].refunds.append(refund)
    requests = CancellationRequest.objects.filter(milestone_id__in=ids).select_related("requested_by")
    for request in requests.order_by("created_at", "id"):
        current = result[request.milestone_id].cancellation
        if current is None or current.state != CancellationRequest.State.PENDING:
            result[request.milestone_id].cancellation = request
    for chargeback in Chargeback.objects.filter(milestone_id__in=ids).order_by("created_at", "id"):
        result[chargeback.milestone_id].chargebacks.append(chargeback)
    return EngagementPayments(
        by_milestone=result, eligibility=payout_eligibility(engineer=engagement.engineer)
    )


@dataclass(frozen=True)
class EngagementMoney:
    """An engagement's money as the ledger has it (minor units of its currency): what the page's
    summary, its bar and its legend show, so that they always agree with the milestones' panels."""

    total: int  # the contract: every milestone's amount
    funded: int  # paid in by the client
    escrow: int  # held now
    released: int  # out of escrow to the engineer, the platform fee included (approvals and dispute releases)
    transferred: int  # of which the engineer received
    fees: int  # of which the platform fee
    refunded: int  # back to the client (refunds and dispute refunds)
    charged_back: int  # taken back by lost card chargebacks
    not_funded: int  # milestones still awaiting funding

    def percent(self, amount: int) -> int:
        return round(100 * amount / self.total) if self.total else 0

    @property
    def released_percent(self) -> int:
        return self.percent(self.released)

    @property
    def escrow_percent(self) -> int:
        return self.percent(self.escrow)

    @property
    def refunded_percent(self) -> int:
        return self.percent(self.refunded + self.charged_back)


def engagement_money(*, milestones: list[Milestone]) -> EngagementMoney:
    """Sums of the milestones' ledger entries, in one query (the caller has checked who may see them)."""
    sums = dict(
        LedgerEntry.objects.filter(milestone_id__in=[m.pk for m in milestones])
        .values("account")
        .annotate(total=Sum("amount"))
        .values_list("account", "total")
    )
    money = ledger_money(sums)
    return EngagementMoney(
        total=sum(m.amount for m in milestones),
        funded=money.funded,
        escrow=money.escrow,
        released=money.released,
        transferred=money.transferred,
        fees=money.fees,
        refunded=money.refunded,
        charged_back=money.charged_back,
        not_funded=sum(m.amount for m in milestones if m.state == Milestone.State.PENDING_FUNDING),
    )


@dataclass(frozen=True)
class HistoryRow:
    """One movement of the user's money: a card payment, a refund to it, or a payout."""

    kind: str  # "payment" | "refund" | "payout"
    reference: str  # PAY-…, REF-…, OUT-…: never a processor id
    at: datetime
    milestone: Milestone
    amount: int  # minor units, what the user paid, got back, or received (net of the fee)
    fee: int  # the platform fee kept from a payout
    currency: str
    status: str
    document: str  # the receipt (PAY-…, for a payment and its refunds) or statement (OUT-…) showing it


def payments_history(*, user: User) -> list[HistoryRow]:
    """The user's payments, newest first: a client's card payments and refunds, an engineer's payouts
    (only what has happened: paid payments, refunds sent or on their way, payouts sent or waiting)."""
    rows: list[HistoryRow] = []
    fundings = Funding.objects.filter(client=user, state=Funding.State.SUCCEEDED).select_related(
        "milestone", "milestone__engagement"
    )
    for f in fundings:
        rows.append(
            HistoryRow(
                "payment",
                f.reference,
                f.succeeded_at,
                f.milestone,
                f.amount,
                0,
                f.currency,
                "Paid",
                f.reference,
            )
        )
    refunds = Refund.objects.filter(milestone__engagement__client=user).select_related(
        "milestone", "milestone__engagement", "funding"
    )
    for r in refunds:
        rows.append(
            HistoryRow(
                "refund",
                r.reference,
                r.succeeded_at or r.created_at,
                r.milestone,
                r.amount,
                0,
                r.currency,
                r.get_state_display(),
                r.funding.reference,
            )
        )
    payouts = Payout.objects.filter(engineer=user).select_related("milestone", "milestone__engagement")
    for o in payouts:
        rows.append(
            HistoryRow(
                "payout",
                o.reference,
                o.paid_at or o.created_at,
                o.milestone,
                o.net,
                o.fee,
                o.currency,
                o.get_state_display(),
                o.reference,
            )
        )
    return sorted(rows, key=lambda row: row.at, reverse=True)


@dataclass(frozen=True)
class ClientTrust:
    payment_verified: bool  # a card payment of theirs succeeded on the platform
    hires: int  # engagements they started
    completed: int  # of which completed
    member_since: datetime
    rating_average: float | None = None  # engineers' published reviews of them
    rating_count: int = 0


def client_trust(*, client: User) -> ClientTrust:
    return clients_trust(clients=[client])[client.pk]


def clients_trust(*, clients: Iterable[User]) -> dict[int, ClientTrust]:
    """`client_trust` for several clients at once (a list of requests), in three queries whatever their
    number: keyed by user id."""
    clients = {client.pk: client for client in clients}
    ids = list(clients)
    hires = {
        row["client_id"]: row
        for row in Engagement.objects.filter(client_id__in=ids)
        .values("client_id")
        .annotate(hires=Count("id"), completed=Count("id", filter=Q(state=Engagement.State.COMPLETED)))
    }
    verified = set(
        Funding.objects.filter(milestone__engagement__client_id__in=ids, state=Funding.State.SUCCEEDED)
        .values_list("milestone__engagement__client_id", flat=True)
        .distinct()
    )
    rated = {
        row["client_id"]: row
        for row in ClientReview.objects.filter(client_id__in=ids, published_at__isnull=False)
        .values("client_id")
        .annotate(average=Avg("rating"), count=Count("id"))
    }
    trust = {}
    for pk, client in clients.items():
        engaged, rating = hires.get(pk, {}), rated.get(pk, {})
        trust[pk] = ClientTrust(
            payment_verified=pk in verified,
            hires=engaged.get("hires", 0),
            completed=engaged.get("completed", 0),
            member_since=client.date_joined,
            rating_average=round(rating["average"], 1) if rating else None,
            rating_count=rating.get("count", 0),
        )
    return trust


def cancellation_get(*, user: User, cancellation_id: int) -> CancellationRequest:
    """A cancellation request, for the milestone's parties and staff."""
    visible = marketplace_selectors.engagement_list(user=user).values("pk")
    found = (
        CancellationRequest.objects.filter(pk=cancellation_id, milestone__engagement__in=visible)
        .select_related("milestone", "milestone__engagement", "requested_by", "responded_by")
        .first()
    )
    if found is None:
        raise NotFoundError("Cancellation request not found.")
    return found


# --- The engineer's payout account -------------------------------------------------------------------


@dataclass(frozen=True)
class PayoutAccount:
    account: ConnectedAccount | None
    eligibility: PayoutEligibility

    @property
    def status(self) -> str:
        """`not_started`, `incomplete` (onboarding begun, Stripe needs more) or `ready`."""
        if self.eligibility.ready:
            return "ready"
        if self.account is None or not self.account.stripe_account_id:
            return "not_started"
        return "incomplete"


def payout_account(*, user: User) -> PayoutAccount:
    if not user.is_engineer:
        raise PermissionDeniedError("Only engineers receive payouts.")
    return PayoutAccount(
        account=ConnectedAccount.objects.filter(user=user).first(),
        eligibility=payout_eligibility(engineer=user),
    )


# --- Payouts: the engineer's own, and the staff desk ----------------------------------------------


def _payouts() -> QuerySet[Payout]:
    return Payout.objects.select_related(
        "milestone", "milestone__engagement", "engineer", "funding", "approved_by"
    ).order_by("created_at", "id")


def payout_list(*, user: User, state: str | None = None) -> QuerySet[Payout]:
    """Staff see every payout; an engineer their own; a client none."""
    payouts = _payouts()
    if not user.is_staff:
        payouts = payouts.filter(engineer=user)
    if state:
        payouts = payouts.filter(state=state)
    return payouts


def payout_get(*, user: User, payout_id: int) -> Payout:
    payout = payout_list(user=user).filter(pk=payout_id).first()
    if payout is None:
        raise NotFoundError("Payout not found.")
    return payout


@dataclass(frozen=True)
class DeskPayout:
    payout: Payout
    eligibility: PayoutEligibility
    chargebacks: tuple[Chargeback, ...]

    @property
    def chargeback_open(self) -> bool:
        return any(c.is_open for c in self.chargebacks)


@dataclass(frozen=True)
class PayoutDesk:
    awaiting: list[DeskPayout]
    failed: list[DeskPayout]
    processing: list[DeskPayout]
    failed_refunds: list[Refund]
    disputed: list[Milestone]
    open_chargebacks: list[Chargeback]
    recently_paid: list[Payout]

    @property
    def failed_count(self) -> int:
        return len(self.failed) + len(self.failed_refunds)


def _require_staff(user: User) -> None:
    if not user.is_staff:
        raise NotFoundError("Page not found.")


def payout_desk(*, user: User, recent: int = 10) -> PayoutDesk:
    """What waits for staff: payouts to approve or retry, failed refunds, disputes to settle."""
    _require_staff(user)
    open_states = [Payout.State.AWAITING_APPROVAL, Payout.State.FAILED, Payout.State.PROCESSING]
    payouts = list(_payouts().filter(state__in=open_states))
    chargebacks: dict[int, list[Chargeback]] = defaultdict(list)
    for chargeback in Chargeback.objects.filter(funding_id__in={p.funding_id for p in payouts}):
        chargebacks[chargeback.funding_id].append(chargeback)
    eligibility: dict[int, PayoutEligibility] = {}
    rows: dict[str, list[DeskPayout]] = defaultdict(list)
    for payout in payouts:
        if payout.engineer_id not in eligibility:
            eligibility[payout.engineer_id] = payout_eligibility(engineer=payout.engineer)
        rows[payout.state].append(
            DeskPayout(
                payout=payout,
                eligibility=eligibility[payout.engineer_id],
                chargebacks=tuple(chargebacks[payout.funding_id]),
            )
        )
    return PayoutDesk(
        awaiting=rows[Payout.State.AWAITING_APPROVAL],
        failed=rows[Payout.State.FAILED],
        processing=rows[Payout.State.PROCESSING],
        failed_refunds=list(
            Refund.objects.filter(state=Refund.State.FAILED)
            .select_related("milestone", "milestone__engagement")
            .order_by("created_at", "id")
        ),
        disputed=list(
            Milestone.objects.filter(state=Milestone.State.DISPUTED)
            .select_related("engagement", "engagement__client", "engagement__engineer")
            .prefetch_related(
                Prefetch(
                    "disputes",
                    queryset=Dispute.objects.filter(settled_at=None)
                    .select_related("opened_by")
                    .annotate(
                        statement_count=Count("statements", distinct=True),
                        file_count=Count("evidence", distinct=True),
                    ),
                )
            )
            .order_by("updated_at", "id")
        ),
        open_chargebacks=list(
            Chargeback.objects.exclude(status__in=CLOSED_STATUSES)
            .select_related("milestone", "milestone__engagement")
            .order_by("created_at", "id")
        ),
        recently_paid=list(_payouts().filter(state=Payout.State.PAID).order_by("-paid_at", "-id")[:recent]),
    )


# --- The ledger report --------------------------------------------------------------------------------

PERIODS = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}
MAX_PERIODS = 400


@dataclass
class LedgerFigures:
    funded: int = 0
    transferred: int = 0
    fees: int = 0
    refunded: int = 0
    charged_back: int = 0  # taken back by lost card chargebacks
    chargeback_losses: int = 0  # the part of those the platform paid from its own funds
    held_change: int = 0

    @property
    def released(self) -> int:
        return self.transferred + self.fees

    def add(self, account: str, total: int) -> None:
        if account == LedgerAccount.CLIENT_FUNDING:
            self.funded -= total
        elif account == LedgerAccount.ENGINEER_TRANSFERRED:
            self.transferred += total
        elif account == LedgerAccount.PLATFORM_REVENUE:
            self.fees += total
        elif account == LedgerAccount.CLIENT_REFUNDS:
            self.refunded += total
        elif account == LedgerAccount.CLIENT_CHARGEBACKS:
            self.charged_back += total
        elif account == LedgerAccount.CHARGEBACK_LOSSES:
            self.chargeback_losses -= total
        elif account == LedgerAccount.ESCROW:
            self.held_change += total


@dataclass
class LedgerRow(LedgerFigures):
    start: date = date.min
    end: date = date.min  # inclusive
    currency: str = ""
    held: int = 0  # in escrow at the end of the period


@dataclass
class LedgerReport:
    period: str
    start: date
    end: date  # inclusive: the range widened to whole periods
    rows: list[LedgerRow]
    totals: list[LedgerRow]  # per currency, over the whole range; `held` at its end
    opening: dict[str, int]  # held per currency when the range begins
    violations: list[str]
    last_reconciliation: ReconciliationRun | None

    @property
    def moving_rows(self) -> list[LedgerRow]:
        """The periods in which money moved (the page leaves the others out; the CSV keeps them)."""
        return [row for row in self.rows if row.funded or row.released or row.refunded or row.charged_back]


def _period_start(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def _next_period(day: date, period: str) -> date:
    if period == "day":
        return day + timedelta(days=1)
    if period == "week":
        return day + timedelta(days=7)
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _period_starts(start: date, end: date, period: str) -> list[date]:
    if period not in PERIODS:
        message = f"Choose one of {', '.join(PERIODS)}."
        raise ValidationError(f"period: {message}", details={"period": [message]})
    if end < start:
        message = "The range ends before it starts."
        raise ValidationError(f"end: {message}", details={"end": [message]})
    starts, day = [], _period_start(start, period)
    while day <= end:
        starts.append(day)
        if len(starts) > MAX_PERIODS:
            message = f"At most {MAX_PERIODS} periods: choose a longer period or a shorter range."
            raise ValidationError(f"end: {message}", details={"end": [message]})
        day = _next_period(day, period)
    return starts


def ledger_report(*, user: User, period: str, start: date, end: date) -> LedgerReport:
    """Funded, released (transferred + fees), refunded, charged back and held per period and currency.

    Periods are whole UTC days, ISO weeks (from Monday) or months covering [start, end]; `held` is
    what escrow holds at the end of each period, counting everything posted before the range too.
    """
    from payments.ledger import ledger_violations

    _require_staff(user)
    starts = _period_starts(start, end, period)
    since = datetime.combine(starts[0], time.min, tzinfo=UTC)
    until = datetime.combine(_next_period(starts[-1], period), time.min, tzinfo=UTC)
    buckets: dict[tuple[date, str], LedgerFigures] = defaultdict(LedgerFigures)
    grouped = (
        LedgerEntry.objects.filter(posting__created_at__gte=since, posting__created_at__lt=until)
        .annotate(bucket=PERIODS[period]("posting__created_at", tzinfo=UTC))
        .values("bucket", "currency", "account")
        .annotate(total=Sum("amount"))
        .values_list("bucket", "currency", "account", "total")
    )
    for bucket, currency, account, total in grouped:
        day = bucket.date() if isinstance(bucket, datetime) else bucket
        buckets[(day, currency)].add(account, total)
    opening = dict(
        LedgerEntry.objects.filter(account=LedgerAccount.ESCROW, posting__created_at__lt=since)
        .values("currency")
        .annotate(total=Sum("amount"))
        .values_list("currency", "total")
    )
    currencies = sorted({currency for _, currency in buckets} | {c for c, held in opening.items() if held})
    rows, totals = [], []
    for currency in currencies:
        held = opening.get(currency, 0)
        total = LedgerRow(start=starts[0], end=until.date() - timedelta(days=1), currency=currency)
        for day in starts:
            figures = buckets.get((day, currency), LedgerFigures())
            held += figures.held_change
            end_day = _next_period(day, period) - timedelta(days=1)
            rows.append(LedgerRow(**vars(figures), start=day, end=end_day, currency=currency, held=held))
            for name, value in vars(figures).items():
                setattr(total, name, getattr(total, name) + value)
        total.held = held
        totals.append(total)
    rows.sort(key=lambda row: (row.start, row.currency))
    return LedgerReport(
        period=period,
        start=starts[0],
        end=until.date() - timedelta(days=1),
        rows=rows,
        totals=totals,
        opening={currency: opening.get(currency, 0) for currency in currencies},
        violations=ledger_violations(),
        last_reconciliation=ReconciliationRun.objects.order_by("-started_at", "-id").first(),
    )
