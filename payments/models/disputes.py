from django.db import models

from core.models import TimeStampedModel
from core.money import CURRENCY_CHOICES
from marketplace.models import Milestone
from payments.models.funding import Funding

CLOSED_STATUSES = ("won", "lost", "warning_closed")


class Chargeback(TimeStampedModel):
    """A card dispute (Stripe's Dispute object) against a milestone's funding charge."""

    stripe_dispute_id = models.CharField(max_length=64, unique=True)
    charge_id = models.CharField(max_length=64, db_index=True)
    funding = models.ForeignKey(
        Funding, null=True, blank=True, on_delete=models.PROTECT, related_name="chargebacks"
    )
    milestone = models.ForeignKey(
        Milestone, null=True, blank=True, on_delete=models.PROTECT, related_name="chargebacks"
    )
    amount = models.PositiveIntegerField(help_text="Minor units.")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    reason = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=32, help_text="Stripe's dispute status.")
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Chargeback {self.stripe_dispute_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED_STATUSES
