from django.db import models

from core.models import TimeStampedModel
from marketplace.models import User


class ConnectedAccount(TimeStampedModel):
    """An engineer's Stripe Connect Express account, as Stripe last described it."""

    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="stripe_account")
    # Empty until Stripe created the account (the row is claimed first, then Stripe is called).
    stripe_account_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    details_submitted = models.BooleanField(default=False)
    charges_enabled = models.BooleanField(default=False)
    payouts_enabled = models.BooleanField(default=False)
    transfers_active = models.BooleanField(default=False)
    requirements_due = models.JSONField(default=list, blank=True, help_text="Stripe's currently_due.")
    disabled_reason = models.CharField(max_length=100, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user} ({self.stripe_account_id or 'not created'})"

    @property
    def payouts_ready(self) -> bool:
        return bool(self.stripe_account_id) and self.transfers_active and self.payouts_enabled
