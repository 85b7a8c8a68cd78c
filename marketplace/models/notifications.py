from django.db import models

from marketplace.models.users import User


class Notification(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=48)
    message = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return self.message


# What people choose to hear about, by topic: every notification kind belongs to one (the first whose
# prefixes it starts with; kinds are names, so the apps above the marketplace need no registration).
TOPICS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "messages": (
        "Messages",
        "Messages you have not read after a few minutes, several in one notification.",
        ("message",),
    ),
    "consultations": (
        "Consultations and proposals",
        "Invitations, engineers asking to be invited, proposals, hires and consultations closing.",
        ("consultation_", "invite_", "proposal_"),
    ),
    "milestones": (
        "Milestones and deliveries",
        "Work starting, deliveries, revisions, approvals, disputes, change orders and reminders.",
        ("milestone_", "engagement_", "cancellation_", "change_order_"),
    ),
    "acceptance": (
        "Acceptance tests",
        "Terms set on a milestone and the results of its runs.",
        ("acceptance_",),
    ),
    "payments": (
        "Payments and payouts",
        "Funding, payouts, refunds and chargebacks.",
        ("funding_", "payout", "refund_", "chargeback_", "payments_"),
    ),
    "reviews": ("Reviews", "Reviews of your work.", ("review_",)),
    "staff": (
        "Staff alerts",
        "Disputes to settle, reconciliation differences and escrow held too long.",
        ("reconciliation_", "escrow_", "dispute_"),
    ),
}
OTHER_TOPIC = "other"


def topic_of(kind: str) -> str:
    return next(
        (topic for topic, (_, _, prefixes) in TOPICS.items() if kind.startswith(prefixes)), OTHER_TOPIC
    )


class NotificationPreference(models.Model):
    """A user's choice for one topic; without a row, both channels are on."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notification_preferences")
    topic = models.CharField(max_length=32)
    in_app = models.BooleanField(default=True)
    email = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "topic"], name="notification_preference_topic")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.topic}: in-app {self.in_app}, e-mail {self.email}"
