from django.db import models
from django_fsm import FSMField, FSMModelMixin, transition

from core.models import TimeStampedModel
from core.money import CURRENCY_CHOICES
from marketplace.models import Milestone, User
from payments.models.funding import Funding


def _is_staff(payout, user) -> bool:
    return user.is_staff


class Payout(FSMModelMixin, TimeStampedModel):
    """Money released from a milestone's escrow to the engineer: a Stripe Transfer of `net`.

    `processing` is a claim: the row is moved there (and committed) before Stripe is called, so
    concurrent approvals cannot both call Stripe; the transfer always carries `payout:<id>` as its
    idempotency key, so a retry after a failure or a lost answer cannot transfer twice.
    """

    class State(models.TextChoices):
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting staff approval"
        PROCESSING = "processing", "Sending"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"

    class Kind(models.TextChoices):
        APPROVAL = "approval", "Approved milestone"
        DISPUTE_RELEASE = "dispute_release", "Dispute settlement"

    milestone = models.OneToOneField(Milestone, on_delete=models.PROTECT, related_name="payout")
    funding = models.ForeignKey(Funding, on_delete=models.PROTECT, related_name="payouts")
    engineer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="payouts")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.APPROVAL)
    amount = models.PositiveIntegerField(help_text="Released from escrow, minor units.")
    fee = models.PositiveIntegerField(help_text="Kept by the platform, minor units.")
    net = models.PositiveIntegerField(help_text="Transferred to the engineer, minor units.")
    fee_bps = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    state = FSMField(default=State.AWAITING_APPROVAL, choices=State.choices, protected=True, db_index=True)
    # Fixed at the first claim, so every retry sends exactly the same request.
    destination = models.CharField(max_length=64, blank=True)
    transfer_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    approved_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    processing_since = models.DateTimeField(null=True, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(net__gt=0), name="payout_net_positive"),
            models.CheckConstraint(
                condition=models.Q(amount=models.F("fee") + models.F("net")),
                name="payout_amount_is_fee_plus_net",
            ),
        ]

    def __str__(self) -> str:
        return f"Payout {self.pk} for milestone {self.milestone_id} ({self.state})"

    @property
    def idempotency_key(self) -> str:
        return f"payout:{self.pk}"

    @property
    def reference(self) -> str:
        """The payout's reference for people (pages, e-mails, the timeline); Stripe's ids stay for staff."""
        return f"OUT-{self.pk:06d}"

    @property
    def timeline_key(self) -> str:
        return f"payout:{self.pk}"

    @transition(field=state, source=State.AWAITING_APPROVAL, target=State.PROCESSING, permission=_is_staff)
    def approve(self):
        pass

    @transition(field=state, source=State.FAILED, target=State.PROCESSING, permission=_is_staff)
    def retry(self):
        pass

    @transition(field=state, source=State.PROCESSING, target=State.FAILED)
    def fail(self):
        pass

    # From `failed` too: a transfer whose answer was lost is confirmed later (retry or webhook).
    @transition(field=state, source=[State.PROCESSING, State.FAILED], target=State.PAID)
    def mark_paid(self):
        pass
