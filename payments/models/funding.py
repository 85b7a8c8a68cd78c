from django.db import models
from django_fsm import FSMField, FSMModelMixin, transition

from core.models import TimeStampedModel
from core.money import CURRENCY_CHOICES
from marketplace.models import Milestone, User


class Funding(FSMModelMixin, TimeStampedModel):
    """One PaymentIntent through which the client pays a milestone into escrow.

    A failed card leaves the intent open for another card (Stripe's model); a new attempt, and a new
    intent, only follows a cancelled one.
    """

    class State(models.TextChoices):
        CREATING = "creating", "Creating the payment"
        OPEN = "open", "Awaiting payment"
        SUCCEEDED = "succeeded", "Paid"
        CANCELED = "canceled", "Cancelled"

    milestone = models.ForeignKey(Milestone, on_delete=models.PROTECT, related_name="fundings")
    client = models.ForeignKey(User, on_delete=models.PROTECT, related_name="fundings")
    attempt = models.PositiveSmallIntegerField()
    payment_intent_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    charge_id = models.CharField(max_length=64, blank=True, db_index=True)
    amount = models.PositiveIntegerField(help_text="Minor units.")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    state = FSMField(default=State.CREATING, choices=State.choices, protected=True, db_index=True)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True, db_index=True)
    hold_alerted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["milestone", "attempt"], name="funding_attempt"),
            models.UniqueConstraint(
                fields=["milestone"],
                condition=models.Q(state__in=["creating", "open"]),
                name="funding_one_open_per_milestone",
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="funding_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"Funding {self.pk} of milestone {self.milestone_id} ({self.state})"

    @property
    def idempotency_key(self) -> str:
        return f"funding:{self.milestone_id}:{self.attempt}"

    @property
    def reference(self) -> str:
        """The payment's reference for people (pages, e-mails, the timeline); Stripe's ids stay for staff."""
        return f"PAY-{self.pk:06d}"

    @property
    def timeline_key(self) -> str:
        return f"funding:{self.pk}"

    @transition(field=state, source=State.CREATING, target=State.OPEN)
    def open(self):
        pass

    @transition(field=state, source=[State.CREATING, State.OPEN], target=State.SUCCEEDED)
    def succeed(self):
        pass

    @transition(field=state, source=[State.CREATING, State.OPEN], target=State.CANCELED)
    def cancel(self):
        pass
