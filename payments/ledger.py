"""The double-entry escrow ledger: where every cent of every milestone is.

A posting moves money between accounts for one milestone; its entries sum to zero. Funding moves it
from `client_funding` into `escrow`; a release moves it from `escrow` to `engineer_transferred` and
`platform_revenue` (the fee); a refund from `escrow` to `client_refunds`. Postings are keyed by what
caused them (`funding:<id>`, `payout:<id>`, `refund:<id>`), so posting twice returns the first one. A
lost card chargeback (`chargeback:<Stripe dispute id>`) moves what escrow still holds, up to the
disputed amount, to `client_chargebacks`; any rest was released already, and the platform pays it
from `chargeback_losses`.

`ledger_post` refuses anything that breaks the rules before it inserts; `ledger_violations` checks
the whole ledger after the fact (the tests run it after every test; reconciliation runs it too).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, Sum

from core.errors import ValidationError
from core.money import format_money
from marketplace.models import Milestone
from payments.models import LedgerAccount, LedgerEntry, LedgerPosting

Line = tuple[str, int]


@dataclass(frozen=True)
class MilestoneMoney:
    """A milestone's money according to the ledger, in its currency's minor units."""

    funded: int = 0
    escrow: int = 0
    transferred: int = 0
    fees: int = 0
    refunded: int = 0
    charged_back: int = 0  # taken back by lost card chargebacks
    chargeback_losses: int = 0  # the part of those the platform paid (escrow no longer held it)

    @property
    def released(self) -> int:
        return self.transferred + self.fees

    @property
    def paid_out(self) -> int:
        """Everything that left escrow: released, refunded, or taken back by a chargeback."""
        return self.released + self.refunded + self.charged_back - self.chargeback_losses


def ledger_money(sums: dict[str, int]) -> MilestoneMoney:
    """Money by meaning from ledger sums by account (of one milestone or several)."""
    return MilestoneMoney(
        funded=-sums.get(LedgerAccount.CLIENT_FUNDING, 0),
        escrow=sums.get(LedgerAccount.ESCROW, 0),
        transferred=sums.get(LedgerAccount.ENGINEER_TRANSFERRED, 0),
        fees=sums.get(LedgerAccount.PLATFORM_REVENUE, 0),
        refunded=sums.get(LedgerAccount.CLIENT_REFUNDS, 0),
        charged_back=sums.get(LedgerAccount.CLIENT_CHARGEBACKS, 0),
        chargeback_losses=-sums.get(LedgerAccount.CHARGEBACK_LOSSES, 0),
    )


def _milestone_sums(milestone_id: int) -> dict[str, int]:
    return dict(
        LedgerEntry.objects.filter(milestone_id=milestone_id)
        .values("account")
        .annotate(total=Sum("amount"))
        .values_list("account", "total")
    )


def milestone_money(*, milestone_id: int) -> MilestoneMoney:
    return ledger_money(_milestone_sums(milestone_id))


def _validate_lines(key: str, lines: Sequence[Line]) -> list[Line]:
    if not key or len(key) > 100:
        raise ValidationError("key: a posting needs a key of 1 to 100 characters.", code="ledger_invalid")
    if len(lines) < 2:
        raise ValidationError(f"Posting {key} needs at least two entries.", code="ledger_invalid")
    accounts = set(LedgerAccount.values)
    for account, amount in lines:
        if account not in accounts:
            raise ValidationError(f"Posting {key}: unknown account {account!r}.", code="ledger_invalid")
        if type(amount) is not int or amount == 0:
            raise ValidationError(
                f"Posting {key}: each amount is a non-zero integer of minor units, not {amount!r}.",
                code="ledger_invalid",
            )
    total = sum(amount for _, amount in lines)
    if total != 0:
        raise ValidationError(
            f"Posting {key} does not balance: its entries sum to {total}, not 0.", code="ledger_unbalanced"
        )
    return sorted((str(account), amount) for account, amount in lines)


def _same_lines(posting: LedgerPosting, lines: list[Line]) -> bool:
    return sorted(posting.entries.values_list("account", "amount")) == lines


def _check_after(key: str, sums: dict[str, int], lines: list[Line], currency: str) -> None:
    after_sums = defaultdict(int, sums)
    for account, amount in lines:
        after_sums[account] += amount
    before, after = ledger_money(sums), ledger_money(after_sums)
    if after.escrow < 0:
        raise ValidationError(
            f"Posting {key} would take escrow below zero: it holds {format_money(before.escrow, currency)}.",
            code="ledger_escrow_negative",
        )
    if after.paid_out > after.funded:
        raise ValidationError(
            f"Posting {key} would release and refund more than the "
            f"{format_money(after.funded, currency)} funded.",
            code="ledger_overdrawn",
        )


def ledger_post(
    *,
    key: str,
    kind: str,
    milestone_id: int,
    currency: str,
    lines: Sequence[Line],
    memo: str = "",
) -> tuple[LedgerPosting, bool]:
    """Append one balanced posting; return it and whether it is new (a repeated key returns the first).

    Runs in the caller's transaction, with the milestone row locked, so that the balance it checks is
    the balance it changes.
    """
    lines = _validate_lines(key, lines)
    with transaction.atomic():
        milestone = (
            Milestone.objects.select_for_update(of=("self",)).only("id", "currency").get(pk=milestone_id)
        )
        if currency != milestone.currency:
            raise ValidationError(
                f"currency: posting {key} is in {currency.upper()} but the milestone is in "
                f"{milestone.currency.upper()}.",
                code="currency_mismatch",
            )
        existing = LedgerPosting.objects.filter(key=key).first()
        if existing is None:
            _check_after(key, _milestone_sums(milestone_id), lines, currency)
            try:
                with transaction.atomic():
                    posting = LedgerPosting.objects.create(
                        key=key, kind=kind, milestone_id=milestone_id, currency=currency, memo=memo[:200]
                    )
                    LedgerEntry.objects.bulk_create(
                        LedgerEntry(
                            posting=posting,
                            account=account,
                            milestone_id=milestone_id,
                            amount=amount,
                            currency=currency,
                        )
                        for account, amount in lines
                    )
                return posting, True
            except IntegrityError:
                existing = LedgerPosting.objects.get(key=key)  # posted concurrently (no row lock on SQLite)
        if existing.milestone_id != milestone_id or not _same_lines(existing, lines):
            raise ValidationError(
                f"Posting {key} already exists with other entries; a key names one movement of money.",
                code="ledger_key_reused",
            )
        return existing, False


def ledger_violations() -> list[str]:
    """Every way the ledger breaks its rules, as sentences; empty when it is sound."""
    problems = []
    unbalanced = (
        LedgerEntry.objects.values("posting_id", "posting__key")
        .annotate(total=Sum("amount"), count=Count("id"))
        .filter(~Q(total=0) | Q(count__lt=2))
    )
    for row in unbalanced:
        problems.append(
            f"posting {row['posting__key']} has {row['count']} entries summing to {row['total']}, not 0"
        )
    empty = LedgerPosting.objects.filter(entries__isnull=True).values_list("key", flat=True)
    problems.extend(f"posting {key} has no entries" for key in empty)
    mixed = LedgerEntry.objects.exclude(currency=F("posting__currency")).values_list(
        "posting__key", flat=True
    )
    problems.extend(f"posting {key} mixes currencies" for key in set(mixed))

    per_milestone: dict[int, dict[str, int]] = defaultdict(dict)
    for milestone_id, account, total in (
        LedgerEntry.objects.values("milestone_id", "account")
        .annotate(total=Sum("amount"))
        .values_list("milestone_id", "account", "total")
    ):
        per_milestone[milestone_id][account] = total
    for milestone_id, sums in sorted(per_milestone.items()):
        money = ledger_money(sums)
        if money.escrow < 0:
            problems.append(f"milestone {milestone_id}: escrow is negative ({money.escrow})")
        if money.paid_out > money.funded:
            problems.append(
                f"milestone {milestone_id}: released, refunded and charged back {money.paid_out} exceed "
                f"funded {money.funded}"
            )
    return problems


@dataclass(frozen=True)
class LedgerSummary:
    currency: str
    funded: int
    transferred: int
    fees: int
    refunded: int
    charged_back: int
    chargeback_losses: int
    held_change: int

    @property
    def released(self) -> int:
        return self.transferred + self.fees


def ledger_summary(*, since: datetime | None = None, until: datetime | None = None) -> list[LedgerSummary]:
    """Money in, out and held, per currency, for postings made in [since, until).

    Without `since`, `held_change` is what escrow holds at `until` (or now).
    """
    entries = LedgerEntry.objects.all()
    if since is not None:
        entries = entries.filter(posting__created_at__gte=since)
    if until is not None:
        entries = entries.filter(posting__created_at__lt=until)
    sums: dict[str, dict[str, int]] = defaultdict(dict)
    for currency, account, total in (
        entries.values("currency", "account")
        .annotate(total=Sum("amount"))
        .values_list("currency", "account", "total")
    ):
        sums[currency][account] = total
    return [
        LedgerSummary(
            currency=currency,
            funded=-by_account.get(LedgerAccount.CLIENT_FUNDING, 0),
            transferred=by_account.get(LedgerAccount.ENGINEER_TRANSFERRED, 0),
            fees=by_account.get(LedgerAccount.PLATFORM_REVENUE, 0),
            refunded=by_account.get(LedgerAccount.CLIENT_REFUNDS, 0),
            charged_back=by_account.get(LedgerAccount.CLIENT_CHARGEBACKS, 0),
            chargeback_losses=-by_account.get(LedgerAccount.CHARGEBACK_LOSSES, 0),
            held_change=by_account.get(LedgerAccount.ESCROW, 0),
        )
        for currency, by_account in sorted(sums.items())
    ]
