"""A milestone's acceptance test: the terms the client sets before funding, and the client's private
evaluation items behind them. The engineer sees the terms, the item count and the public sample,
never the other items (selectors.py decides who reads what)."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from acceptance.metrics import METRIC_CHOICES
from core.models import TimeStampedModel


class AcceptanceTest(TimeStampedModel):
    milestone = models.OneToOneField(
        "marketplace.Milestone", on_delete=models.CASCADE, related_name="acceptance_test"
    )
    metric = models.CharField(max_length=32, choices=METRIC_CHOICES)
    pass_mark = models.FloatField(
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="The delivered model's mean score on the private items must reach this.",
    )
    base_model = models.CharField(max_length=64)
    forgetting_floor = models.FloatField(
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="General score after tuning / before must stay at or above this.",
    )
    public_sample_size = models.PositiveSmallIntegerField()
    item_count = models.PositiveIntegerField(help_text="Items in the set, the public sample included.")
    eval_set_name = models.CharField(max_length=255)
    eval_set_sha256 = models.CharField(max_length=64)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = "acceptance test"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(pass_mark__gte=0, pass_mark__lte=1), name="acceptance_pass_mark_range"
            ),
            models.CheckConstraint(
                condition=models.Q(forgetting_floor__gte=0, forgetting_floor__lte=1),
                name="acceptance_forgetting_floor_range",
            ),
        ]

    def __str__(self) -> str:
        return f"Acceptance test of {self.milestone}"

    @property
    def private_count(self) -> int:
        """Items scored: the set less its public sample."""
        return self.item_count - self.public_sample_size


class AcceptanceItem(models.Model):
    test = models.ForeignKey(AcceptanceTest, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    line = models.PositiveIntegerField(help_text="Its line in the uploaded file.")
    # The turns the model is given (a user turn, or the chat's turns before the last assistant turn).
    messages = models.JSONField()
    target = models.JSONField()
    is_public = models.BooleanField(default=False, help_text="Part of the sample shown to the engineer.")

    class Meta:
        ordering = ["test", "position"]
        constraints = [
            models.UniqueConstraint(fields=["test", "position"], name="acceptance_item_unique_position")
        ]

    def __str__(self) -> str:
        return f"item {self.position}"
