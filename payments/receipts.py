"""Receipts and payout statements: reads of what was paid, for the payer, the payee and staff.

A client's receipt is one card payment (PAY-…) with the refunds sent back from it (REF-…); an
engineer's statement lists payouts (OUT-…), one of them or every one paid in a period, each with the
amount released from escrow, the platform fee and the net sent. The amounts are the ledger's postings
of those records (`funding:<id>`, `refund:<id>`, `payout:<id>`, `chargeback:<…>`) read through the
same `ledger_money` as the engagement page's summary, so a receipt can never disagree with the ledger;
only a payout not sent yet, which the ledger does not hold, shows the amounts it will post.

Only the paying client sees a receipt and only the engineer paid sees a statement (staff see all);
for anybody else it does not exist (NotFoundError), so a reference cannot be probed. Processor ids
are never part of what these return.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db.models import Sum

from core.errors import NotFoundError, ValidationError
from marketplace.models import Engagement, Milestone, User
from payments.ledger import MilestoneMoney, ledger_money
from payments.models import Chargeback, Funding, LedgerEntry, Payout

_REFERENCE = re.compile(r"(?P<prefix>PAY|OUT)-(?P<number>\d{6,})")


def _pk_of(reference: str, prefix: str, what: str) -> int:
    """The id in a platform reference written as the platform writes it (`PAY-000042`), else 404."""
    match = _REFERENCE.fullmatch(reference or "")
    if match is None or match["prefix"] != prefix or f"{prefix}-{int(match['number']):06d}" != reference:
        raise NotFoundError(f"{what} not found.")
    return int(match["number"])


def _posting_money(keys: list[str]) -> dict[str, MilestoneMoney]:
    """Each posting's money by meaning (an absent key: nothing posted yet), in one query."""
    sums: dict[str, dict[str, int]] = defaultdict(dict)
    rows = (
        LedgerEntry.objects.filter(posting__key__in=keys)
        .values("posting__key", "account")
        .annotate(total=Sum("amount"))
        .values_list("posting__key", "account", "total")
    )
    for key, account, total in rows:
        sums[key][account] = total
    return {key: ledger_money(sums[key]) for key in keys if key in sums}


def issuer_lines() -> list[str]:
    """Who issues receipts and statements: the RECEIPT_ISSUER setting, its lines separated by ";"."""
    return [line.strip() for line in settings.RECEIPT_ISSUER.split(";") if line.strip()]


# --- The client's receipt ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiptRefund:
    reference: str  # REF-…
    at: datetime
    amount: int
    kind: str  # why it was refunded, in words
    status: str  # Refunded, Sending, Failed
    sent: bool  # posted to the ledger: counted in the receipt's refunded total


@dataclass(frozen=True)
class Receipt:
    """One card payment into escrow and what came back of it, in minor units of `currency`."""

    reference: str  # PAY-…
    paid_at: datetime
    client: User
    engineer: User
    engagement: Engagement
    milestone: Milestone
    currency: str
    paid: int  # from the ledger
    refunded: int  # from the ledger: refunds sent
    charged_back: int  # from the ledger: taken back by a lost card chargeback
    refunds: list[ReceiptRefund]
    issuer: tuple[str, ...]
    payment_method: str = "Card, through Stripe"

    @property
    def kept(self) -> int:
        """What the payment comes to after refunds and chargebacks."""
        return self.paid - self.refunded - self.charged_back

    @property
    def status(self) -> str:
        if self.charged_back:
            return "Charged back"
        if self.refunded >= self.paid:
            return "Refunded"
        if self.refunded:
            return "Partly refunded"
        return "Paid"

    @property
    def status_pill(self) -> str:
        """The colour of the status badge: the state it reads like."""
        return {"Charged back": "disputed", "Refunded": "refunded", "Partly refunded": "refund_pending"}.get(
            self.status, "paid"
        )


def funding_receipt(*, user: User, reference: str) -> Receipt:
    """The receipt of a paid card payment (`PAY-…`), for the client who paid it and staff."""
    pk = _pk_of(reference, "PAY", "Receipt")
    fundings = Funding.objects.filter(pk=pk, state=Funding.State.SUCCEEDED).select_related(
        "client", "milestone", "milestone__engagement", "milestone__engagement__engineer"
    )
    if not user.is_staff:
        fundings = fundings.filter(client=user)
    funding = fundings.first()
    if funding is None:
        raise NotFoundError("Receipt not found.")
    refunds = list(funding.refunds.order_by("created_at", "id"))
    lost = Chargeback.objects.filter(funding=funding, status="lost").values_list(
        "stripe_dispute_id", flat=True
    )
    chargeback_keys = [f"chargeback:{dispute}" for dispute in lost]
    refund_keys = [f"refund:{r.pk}" for r in refunds]
    money = _posting_money([f"funding:{funding.pk}", *refund_keys, *chargeback_keys])
    empty = MilestoneMoney()
    milestone = funding.milestone
    return Receipt(
        reference=funding.reference,
        paid_at=funding.succeeded_at,
        client=funding.client,
        engineer=milestone.engagement.engineer,
        engagement=milestone.engagement,
        milestone=milestone,
        currency=funding.currency,
        paid=money.get(f"funding:{funding.pk}", empty).funded,
        refunded=sum(money.get(key, empty).refunded for key in refund_keys),
        charged_back=sum(money.get(key, empty).charged_back for key in chargeback_keys),
        refunds=[
            ReceiptRefund(
                reference=r.reference,
                at=r.succeeded_at or r.created_at,
                amount=r.amount,
                kind=r.get_kind_display(),
                status=r.get_state_display(),
                sent=f"refund:{r.pk}" in money,
            )
            for r in refunds
        ],
        issuer=tuple(issuer_lines()),
    )


# --- The engineer's payout statement -------------------------------------------------------------------


@dataclass(frozen=True)
class StatementLine:
    reference: str  # OUT-…
    at: datetime  # when it was sent (or created, while it waits)
    milestone: Milestone
    engagement: Engagement
    client: User
    currency: str
    released: int  # out of escrow for the engineer, the fee included
    fee: int  # kept by the platform
    net: int  # sent to the engineer
    fee_bps: int
    state: str  # the payout's: awaiting_approval, processing, paid, failed
    status: str  # the same in words
    sent: bool  # posted to the ledger: counted in the statement's totals


@dataclass(frozen=True)
class StatementTotal:
    currency: str
    count: int
    released: int
    fee: int
    net: int


@dataclass(frozen=True)
class Statement:
    engineer: User
    lines: list[StatementLine]
    totals: list[StatementTotal]  # of the payouts sent, per currency
    start: date | None  # inclusive; None: from the first payout
    end: date | None  # inclusive; None: up to now
    reference: str = ""  # set for one payout's statement (OUT-…)
    issuer: tuple[str, ...] = ()

    @property
    def period(self) -> str:
        """The period in words: "All payouts", "December 2026", "Dec 1, 2026 to Dec 15, 2026"."""
        if self.start is None and self.end is None:
            return "All payouts"
        if self.start and self.end and self.start.day == 1 and self.end == _month_end(self.start):
            return self.start.strftime("%B %Y")
        start = self.start.strftime("%b %-d, %Y") if self.start else "the first payout"
        end = self.end.strftime("%b %-d, %Y") if self.end else "today"
        return f"{start} to {end}"


def _month_end(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def statement_range(
    *, year: int | None = None, month: int | None = None, start: date | None = None, end: date | None = None
) -> tuple[date | None, date | None]:
    """A statement's period from a year (and month) or from a range of days, both ends inclusive;
    nothing given: every payout."""
    if month is not None and year is None:
        raise ValidationError("year: a month needs its year.", details={"year": ["A month needs its year."]})
    if year is not None and (start is not None or end is not None):
        message = "Give a year (and month) or a range of days, not both."
        raise ValidationError(f"start: {message}", details={"start": [message]})
    if year is not None:
        first = date(year, month or 1, 1)
        return first, _month_end(first) if month else date(year, 12, 31)
    if start is not None and end is not None and end < start:
        message = "The range ends before it starts."
        raise ValidationError(f"end: {message}", details={"end": [message]})
    return start, end


def _statement_line(payout: Payout, money: dict[str, MilestoneMoney]) -> StatementLine:
    posted = money.get(f"payout:{payout.pk}")
    milestone = payout.milestone
    return StatementLine(
        reference=payout.reference,
        at=payout.paid_at or payout.created_at,
        milestone=milestone,
        engagement=milestone.engagement,
        client=milestone.engagement.client,
        currency=payout.currency,
        released=posted.released if posted else payout.amount,
        fee=posted.fees if posted else payout.fee,
        net=posted.transferred if posted else payout.net,
        fee_bps=payout.fee_bps,
        state=payout.state,
        status=payout.get_state_display(),
        sent=posted is not None,
    )


def _totals(lines: list[StatementLine]) -> list[StatementTotal]:
    by_currency: dict[str, list[StatementLine]] = defaultdict(list)
    for line in lines:
        if line.sent:
            by_currency[line.currency].append(line)
    return [
        StatementTotal(
            currency=currency,
            count=len(sent),
            released=sum(line.released for line in sent),
            fee=sum(line.fee for line in sent),
            net=sum(line.net for line in sent),
        )
        for currency, sent in sorted(by_currency.items())
    ]


def _payouts():
    return Payout.objects.select_related(
        "engineer", "milestone", "milestone__engagement", "milestone__engagement__client"
    )


def payout_statement(*, user: User, reference: str) -> Statement:
    """One payout's statement (`OUT-…`, in any state), for the engineer paid and staff."""
    payouts = _payouts().filter(pk=_pk_of(reference, "OUT", "Statement"))
    if not user.is_staff:
        payouts = payouts.filter(engineer=user)
    payout = payouts.first()
    if payout is None:
        raise NotFoundError("Statement not found.")
    lines = [_statement_line(payout, _posting_money([f"payout:{payout.pk}"]))]
    day = lines[0].at.astimezone(UTC).date()
    return Statement(
        engineer=payout.engineer,
        lines=lines,
        totals=_totals(lines),
        start=day,
        end=day,
        reference=payout.reference,
        issuer=tuple(issuer_lines()),
    )


def period_statement(
    *, user: User, engineer_id: int | None = None, start: date | None = None, end: date | None = None
) -> Statement:
    """The payouts sent to an engineer in a period (UTC days, both ends inclusive; None: open),
    oldest first. An engineer reads their own; staff anyone's (`engineer_id`); for others no
    statement exists."""
    engineer_id = user.pk if engineer_id is None else engineer_id
    engineer = User.objects.filter(pk=engineer_id, role=User.Role.ENGINEER).first()
    if engineer is None or (engineer.pk != user.pk and not user.is_staff):
        raise NotFoundError("Statement not found.")
    payouts = _payouts().filter(engineer=engineer, state=Payout.State.PAID)
    if start is not None:
        payouts = payouts.filter(paid_at__gte=datetime.combine(start, time.min, tzinfo=UTC))
    if end is not None:
        payouts = payouts.filter(paid_at__lt=datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC))
    payouts = list(payouts.order_by("paid_at", "id"))
    money = _posting_money([f"payout:{p.pk}" for p in payouts])
    lines = [_statement_line(p, money) for p in payouts]
    return Statement(
        engineer=engineer,
        lines=lines,
        totals=_totals(lines),
        start=start,
        end=end,
        issuer=tuple(issuer_lines()),
    )
