from django.db import models

from core.models import TimeStampedModel


class WebhookEvent(TimeStampedModel):
    """A Stripe event, stored before anything is done with it (unique on Stripe's id)."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSING = "processing", "Processing"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (no handler)"
        FAILED = "failed", "Failed"

    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    account = models.CharField(max_length=64, blank=True, help_text="Connected account, for Connect events.")
    stripe_created = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    processing_since = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_id} ({self.status})"

    @property
    def data_object(self) -> dict:
        return (self.payload.get("data") or {}).get("object") or {}


class ReconciliationRun(models.Model):
    """One comparison of the ledger with Stripe's objects over a window, and every difference found."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        CLEAN = "clean", "No differences"
        DIFFERENCES = "differences", "Differences found"
        ERROR = "error", "Could not finish"

    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    checked = models.JSONField(default=dict, blank=True, help_text="How many objects of each kind.")
    differences = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Reconciliation {self.pk} ({self.status})"
