from django.db import models
from django_fsm import FSMField, FSMModelMixin, transition

from core.models import TimeStampedModel
from core.money import CURRENCY_CHOICES
from marketplace.models.attachments import Attachment
from marketplace.models.consultations import Consultation, Proposal
from marketplace.models.requests import HiringRequest
from marketplace.models.users import User


class Engagement(FSMModelMixin, TimeStampedModel):
    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"

    request = models.OneToOneField(HiringRequest, on_delete=models.PROTECT, related_name="engagement")
    proposal = models.OneToOneField(Proposal, on_delete=models.PROTECT, related_name="engagement")
    consultation = models.ForeignKey(Consultation, on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey(User, on_delete=models.PROTECT, related_name="client_engagements")
    engineer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="engineer_engagements")
    title = models.CharField(max_length=140)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="usd")
    total = models.PositiveIntegerField(help_text="Minor units.")
    state = FSMField(default=State.ACTIVE, choices=State.choices, protected=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title

    @property
    def timeline_key(self) -> str:
        return f"engagement:{self.pk}"

    @transition(field=state, source=State.ACTIVE, target=State.COMPLETED)
    def complete(self):
        pass


def _is_client(milestone, user) -> bool:
    return user.pk == milestone.engagement.client_id


def _is_engineer(milestone, user) -> bool:
    return user.pk == milestone.engagement.engineer_id


def _is_party(milestone, user) -> bool:
    return _is_client(milestone, user) or _is_engineer(milestone, user)


def _is_staff(milestone, user) -> bool:
    return user.is_staff


def _is_client_or_staff(milestone, user) -> bool:
    return user.is_staff or _is_client(milestone, user)


class Milestone(FSMModelMixin, TimeStampedModel):
    class State(models.TextChoices):
        PENDING_FUNDING = "pending_funding", "Awaiting funding"
        FUNDED = "funded", "Funded"
        IN_PROGRESS = "in_progress", "In progress"
        SUBMITTED = "submitted", "Submitted for review"
        APPROVED = "approved", "Approved"
        PAYOUT_PENDING = "payout_pending", "Payout pending"
        PAID = "paid", "Paid"
        DISPUTED = "disputed", "Disputed"
        RESOLVED = "resolved", "Resolved"
        CANCELLED = "cancelled", "Cancelled"
        REFUND_PENDING = "refund_pending", "Refund pending"
        REFUNDED = "refunded", "Refunded"

    # States in which the work is not yet accepted or ended; the engagement completes when none is.
    OPEN_STATES = (
        State.PENDING_FUNDING,
        State.FUNDED,
        State.IN_PROGRESS,
        State.SUBMITTED,
        State.DISPUTED,
        State.REFUND_PENDING,
    )

    engagement = models.ForeignKey(Engagement, on_delete=models.CASCADE, related_name="milestones")
    position = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=140)
    amount = models.PositiveIntegerField(help_text="Minor units.")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="usd")
    due_date = models.DateField()
    state = FSMField(default=State.PENDING_FUNDING, choices=State.choices, protected=True, db_index=True)
    funded_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    auto_approve_at = models.DateTimeField(null=True, blank=True, db_index=True)
    auto_approve_reminded_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    revision_count = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["engagement_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["engagement", "position"], name="milestone_position"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="milestone_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.engagement}: {self.title}"

    # Money-moving transitions are driven by the payments app (actor None) or by staff.
    @transition(field=state, source=State.PENDING_FUNDING, target=State.FUNDED, permission=_is_staff)
    def mark_funded(self):
        pass

    @transition(field=state, source=State.FUNDED, target=State.IN_PROGRESS, permission=_is_engineer)
    def start_work(self):
        pass

    @transition(field=state, source=State.IN_PROGRESS, target=State.SUBMITTED, permission=_is_engineer)
    def submit(self):
        pass

    @transition(field=state, source=State.SUBMITTED, target=State.IN_PROGRESS, permission=_is_client)
    def request_revision(self):
        pass

    @transition(field=state, source=State.SUBMITTED, target=State.APPROVED, permission=_is_client_or_staff)
    def approve(self):
        pass

    @transition(field=state, source=State.APPROVED, target=State.PAYOUT_PENDING, permission=_is_staff)
    def request_payout(self):
        pass

    @transition(field=state, source=State.PAYOUT_PENDING, target=State.PAID, permission=_is_staff)
    def mark_paid(self):
        pass

    @transition(
        field=state,
        source=[State.FUNDED, State.IN_PROGRESS, State.SUBMITTED],
        target=State.DISPUTED,
        permission=_is_party,
    )
    def open_dispute(self):
        pass

    @transition(field=state, source=State.DISPUTED, target=State.RESOLVED, permission=_is_staff)
    def resolve_dispute(self):
        pass

    @transition(
        field=state, source=State.PENDING_FUNDING, target=State.CANCELLED, permission=_is_client_or_staff
    )
    def cancel(self):
        pass

    @transition(
        field=state,
        source=[State.FUNDED, State.IN_PROGRESS],
        target=State.REFUND_PENDING,
        permission=_is_staff,
    )
    def request_refund(self):
        pass

    @transition(field=state, source=State.REFUND_PENDING, target=State.REFUNDED, permission=_is_staff)
    def mark_refunded(self):
        pass


class Delivery(models.Model):
    class Review(models.TextChoices):
        PENDING = "pending", "Awaiting review"
        APPROVED = "approved", "Approved"
        REVISION_REQUESTED = "revision_requested", "Revision requested"

    milestone = models.ForeignKey(Milestone, on_delete=models.CASCADE, related_name="deliveries")
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    message = models.TextField()
    links = models.JSONField(default=list, blank=True)
    review = models.CharField(max_length=24, choices=Review.choices, default=Review.PENDING)
    review_comment = models.TextField(blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"Delivery {self.pk} of milestone {self.milestone_id}"


class DeliveryAttachment(Attachment):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="deliveries/%Y/%m/")


class Rating(models.Model):
    """What both directions of a review share: a 1-5 rating and words, editable for a while after they
    are written, published (shown to others, counted in averages) once both parties have rated or the
    review window has closed, so that neither rating answers the other."""

    rating = models.PositiveSmallIntegerField()
    text = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


class Review(Rating):
    """The client's review of the engineer."""

    engagement = models.OneToOneField(Engagement, on_delete=models.CASCADE, related_name="review")
    client = models.ForeignKey(User, on_delete=models.PROTECT, related_name="reviews_given")
    engineer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="reviews_received")

    class Meta(Rating.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rating__gte=1, rating__lte=5), name="review_rating_range"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rating}/5 for engagement {self.engagement_id}"


class ClientReview(Rating):
    """The engineer's review of the client."""

    engagement = models.OneToOneField(Engagement, on_delete=models.CASCADE, related_name="client_review")
    engineer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="client_reviews_given")
    client = models.ForeignKey(User, on_delete=models.PROTECT, related_name="client_reviews_received")

    class Meta(Rating.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rating__gte=1, rating__lte=5), name="client_review_rating_range"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rating}/5 for the client of engagement {self.engagement_id}"
