"""The escrow ledger's rows: append-only, double-entry. The rules live in `payments.ledger`.

Rows refuse updates and deletes here (save, delete, queryset update/delete) and, on PostgreSQL, in
the database too (a trigger added by migration 0002), so a bug or a console session cannot rewrite
where money went.
"""

from django.db import models

from core.money import CURRENCY_CHOICES
from marketplace.models import Milestone


class LedgerImmutableError(Exception):
    """Ledger rows are written once; corrections are new postings."""


class LedgerAccount(models.TextChoices):
    # Signs: money the platform holds is positive, money that came in or went out is its counterpart.
    CLIENT_FUNDING = "client_funding", "Client funding (card payments in)"
    ESCROW = "escrow", "Escrow (held for the milestone)"
    PLATFORM_REVENUE = "platform_revenue", "Platform revenue (fees)"
    ENGINEER_TRANSFERRED = "engineer_transferred", "Transferred to the engineer"
    CLIENT_REFUNDS = "client_refunds", "Refunded to the client"
    # A lost card chargeback: what the card network took back for the client, and the part of it the
    # escrow no longer held (already released), which the platform paid from its own funds.
    CLIENT_CHARGEBACKS = "client_chargebacks", "Taken back for the client by a lost card chargeback"
    CHARGEBACK_LOSSES = "chargeback_losses", "Chargeback losses (paid by the platform)"


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise LedgerImmutableError("Ledger rows are append-only: post a correcting entry instead.")

    def delete(self):
        raise LedgerImmutableError("Ledger rows are append-only: they are never deleted.")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise LedgerImmutableError(f"{self._meta.verbose_name} {self.pk} is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LedgerImmutableError(f"{self._meta.verbose_name} {self.pk} is append-only.")


class LedgerPosting(AppendOnlyModel):
    """One balanced movement of money for one milestone; its entries sum to zero."""

    class Kind(models.TextChoices):
        FUNDING = "funding", "Funding"
        RELEASE = "release", "Release to the engineer"
        REFUND = "refund", "Refund to the client"
        CHARGEBACK = "chargeback", "Lost card chargeback"

    # Derived from the Stripe object or our row that caused it, so a repeated webhook posts once.
    key = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    milestone = models.ForeignKey(Milestone, on_delete=models.PROTECT, related_name="ledger_postings")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    memo = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.key


class LedgerEntry(AppendOnlyModel):
    posting = models.ForeignKey(LedgerPosting, on_delete=models.PROTECT, related_name="entries")
    account = models.CharField(max_length=24, choices=LedgerAccount.choices)
    # Denormalised from the posting: balances per milestone are the common query.
    milestone = models.ForeignKey(Milestone, on_delete=models.PROTECT, related_name="ledger_entries")
    amount = models.BigIntegerField(help_text="Signed minor units.")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)

    class Meta:
        ordering = ["posting_id", "id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["milestone", "account"])]
        constraints = [models.CheckConstraint(condition=~models.Q(amount=0), name="ledger_entry_nonzero")]

    def __str__(self) -> str:
        return f"{self.account} {self.amount:+d} {self.currency}"
