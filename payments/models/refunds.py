from django.db import models
from django_fsm import FSMField, FSMModelMixin, transition

from core.models import TimeStampedModel
from core.money import CURRENCY_CHOICES
from marketplace.models import Milestone, User
from payments.models.funding import Funding


def _is_staff(refund, user) -> bool:
    return user.is_staff


class Refund(FSMModelMixin, TimeStampedModel):
    """Money returned from a milestone's escrow to the client's card: a Stripe Refund.

    Created already claimed (`processing`); Stripe is called after the commit with `refund:<id>` as
    the idempotency key, the same on every retry.
    """

    class State(models.TextChoices):
        PROCESSING = "processing", "Sending"
        SUCCEEDED = "succeeded", "Refunded"
        FAILED = "failed", "Failed"

    class Kind(models.TextChoices):
        CANCELLATION = "cancellation", "Cancelled milestone"
        DISPUTE = "dispute", "Dispute settlement"
        SURPLUS = "surplus", "Payment for a milestone that no longer needed it"

    milestone = models.ForeignKey(Milestone, on_delete=models.PROTECT, related_name="refunds")
    funding = models.ForeignKey(Funding, on_delete=models.PROTECT, related_name="refunds")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.PositiveIntegerField(help_text="Minor units.")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    reason = models.TextField(blank=True)
    requested_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    state = FSMField(default=State.PROCESSING, choices=State.choices, protected=True, db_index=True)
    stripe_refund_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=1)
    processing_since = models.DateTimeField(null=True, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="refund_amount_positive")
        ]

    def __str__(self) -> str:
        return f"Refund {self.pk} for milestone {self.milestone_id} ({self.state})"

    @property
    def idempotency_key(self) -> str:
        return f"refund:{self.pk}"

    @property
    def reference(self) -> str:
        """The refund's reference for people (pages, e-mails, the timeline); Stripe's ids stay for staff."""
        return f"REF-{self.pk:06d}"

    @property
    def timeline_key(self) -> str:
        return f"refund:{self.pk}"

    @transition(field=state, source=State.PROCESSING, target=State.FAILED)
    def fail(self):
        pass

    @transition(field=state, source=State.FAILED, target=State.PROCESSING, permission=_is_staff)
    def retry(self):
        pass

    @transition(field=state, source=[State.PROCESSING, State.FAILED], target=State.SUCCEEDED)
    def succeed(self):
        pass


class CancellationRequest(FSMModelMixin, TimeStampedModel):
    """One party asks to cancel a funded milestone with a full refund; the other party answers."""

    class State(models.TextChoices):
        PENDING = "pending", "Awaiting the other party"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"

    milestone = models.ForeignKey(Milestone, on_delete=models.PROTECT, related_name="cancellation_requests")
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    state = FSMField(default=State.PENDING, choices=State.choices, protected=True, db_index=True)
    responded_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    responded_at = models.DateTimeField(null=True, blank=True)
    response_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["milestone"], condition=models.Q(state="pending"), name="cancellation_one_pending"
            )
        ]

    def __str__(self) -> str:
        return f"Cancellation of milestone {self.milestone_id} ({self.state})"

    @property
    def timeline_key(self) -> str:
        return f"cancellation:{self.pk}"

    @transition(field=state, source=State.PENDING, target=State.ACCEPTED)
    def accept(self):
        pass

    @transition(field=state, source=State.PENDING, target=State.DECLINED)
    def decline(self):
        pass
