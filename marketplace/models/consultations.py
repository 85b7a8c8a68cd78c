from django.db import models
from django_fsm import FSMField, FSMModelMixin, transition

from core.models import TimeStampedModel
from core.money import CURRENCY_CHOICES
from marketplace.models.attachments import Attachment
from marketplace.models.requests import HiringRequest
from marketplace.models.users import User


def _is_engineer(instance, user) -> bool:
    return user.pk == instance.engineer_id


class Consultation(FSMModelMixin, TimeStampedModel):
    """A thread between a request's client and one invited engineer."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        DECLINED = "declined", "Declined by engineer"
        HIRED = "hired", "Hired"
        CLOSED = "closed", "Closed"

    request = models.ForeignKey(HiringRequest, on_delete=models.CASCADE, related_name="consultations")
    engineer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="consultations")
    state = FSMField(default=State.OPEN, choices=State.choices, protected=True, db_index=True)
    closed_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "engineer"], name="one_consultation_per_engineer")
        ]

    def __str__(self) -> str:
        return f"{self.request} with {self.engineer}"

    @property
    def client_id(self) -> int:
        return self.request.client_id

    @transition(field=state, source=State.OPEN, target=State.DECLINED, permission=_is_engineer)
    def decline(self):
        pass

    @transition(field=state, source=State.OPEN, target=State.HIRED)
    def hire(self):
        pass

    @transition(field=state, source=State.OPEN, target=State.CLOSED)
    def close(self):
        pass


class Message(models.Model):
    """One entry of a consultation's conversation, which carries on after the hire as the engagement's
    conversation: what the parties write (with attachments), and the engagement's events (a delivery,
    a revision request, a dispute and its settlement) in the order they happened."""

    class Kind(models.TextChoices):
        MESSAGE = "message", "Message"
        EVENT = "event", "Event"

    consultation = models.ForeignKey(Consultation, on_delete=models.CASCADE, related_name="messages")
    # None only for events without a person behind them (the auto-approval timer).
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.MESSAGE)
    body = models.TextField()
    link = models.CharField(max_length=300, blank=True, help_text="Where an event happened (a milestone).")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.author_id}: {self.body[:40]}"


class MessageAttachment(Attachment):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="messages/%Y/%m/")

    class Meta:
        ordering = ["id"]


class ConversationRead(models.Model):
    """How far one party has read a conversation, and how far the unread-messages e-mail has told
    them (message ids: ids only grow, so "after id N" is "newer than N")."""

    consultation = models.ForeignKey(Consultation, on_delete=models.CASCADE, related_name="reads")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    read_through = models.PositiveBigIntegerField(default=0)
    emailed_through = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["consultation", "user"], name="one_read_mark_per_party")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.consultation_id} through {self.read_through}"


class Proposal(FSMModelMixin, TimeStampedModel):
    class State(models.TextChoices):
        SUBMITTED = "submitted", "Submitted"
        WITHDRAWN = "withdrawn", "Withdrawn"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Not selected"

    consultation = models.ForeignKey(Consultation, on_delete=models.CASCADE, related_name="proposals")
    scope = models.TextField()
    price = models.PositiveIntegerField(help_text="Minor units; equals the sum of the milestones.")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="usd")
    state = FSMField(default=State.SUBMITTED, choices=State.choices, protected=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(price__gt=0), name="proposal_price_positive")
        ]

    def __str__(self) -> str:
        return f"Proposal {self.pk} on {self.consultation}"

    @transition(field=state, source=State.SUBMITTED, target=State.ACCEPTED)
    def accept(self):
        pass

    @transition(field=state, source=State.SUBMITTED, target=State.WITHDRAWN)
    def withdraw(self):
        pass

    @transition(field=state, source=State.SUBMITTED, target=State.DECLINED)
    def decline(self):
        pass


class ProposalMilestone(models.Model):
    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="milestones")
    position = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=140)
    amount = models.PositiveIntegerField(help_text="Minor units.")
    due_date = models.DateField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["proposal", "position"], name="proposal_milestone_position"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="proposal_milestone_positive"),
        ]

    def __str__(self) -> str:
        return self.title
