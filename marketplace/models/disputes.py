from django.db import models

from marketplace.models.attachments import Attachment
from marketplace.models.engagements import Milestone
from marketplace.models.users import User


class Dispute(models.Model):
    """Why a milestone was disputed, in the opener's words, and what each side said and showed until
    staff settled it (the settlement itself is the milestone's transition and the payments app's)."""

    class Category(models.TextChoices):
        NOT_DELIVERED = "not_delivered", "Nothing was delivered"
        SCOPE_NOT_MET = "scope_not_met", "The delivery does not meet the agreed scope"
        BELOW_TARGET = "below_target", "The results are below the agreed target"
        LATE = "late", "The work is late"
        UNRESPONSIVE = "unresponsive", "The other party stopped responding"
        OTHER = "other", "Something else"
        # Opened by the platform, not offered to people:
        CARD_CHARGEBACK = "card_chargeback", "A card chargeback"

    milestone = models.ForeignKey(Milestone, on_delete=models.CASCADE, related_name="disputes")
    opened_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    category = models.CharField(max_length=24, choices=Category.choices)
    description = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Dispute {self.pk} on milestone {self.milestone_id}"


# What a party may choose (a chargeback is the platform's to open).
PARTY_CATEGORIES = [(c.value, c.label) for c in Dispute.Category if c != Dispute.Category.CARD_CHARGEBACK]


class DisputeStatement(models.Model):
    """One side's word after the opening: a response, or more from the opener."""

    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, related_name="statements")
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Statement {self.pk} on dispute {self.dispute_id}"


class DisputeEvidence(Attachment):
    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, related_name="evidence")
    statement = models.ForeignKey(
        DisputeStatement, on_delete=models.CASCADE, related_name="evidence", null=True, blank=True
    )  # None: given with the opening
    uploaded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    file = models.FileField(upload_to="disputes/%Y/%m/")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "dispute evidence"
