from django.conf import settings
from django.db import models


class Badge(models.Model):
    """A passed vetting challenge, shown on the engineer's profile and used by matching.

    Awarded by the vetting pipeline; staff can revoke one (revoked badges are kept, not deleted).
    """

    class Band(models.TextChoices):
        PASS = "pass", "Pass"
        STRONG = "strong", "Strong"
        EXCEPTIONAL = "exceptional", "Exceptional"

    engineer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="badges")
    challenge_slug = models.SlugField(max_length=64)
    title = models.CharField(max_length=140)
    skills = models.ManyToManyField("marketplace.Skill", blank=True, related_name="badges")
    band = models.CharField(max_length=16, choices=Band.choices)
    score = models.FloatField(help_text="Final-split score in [0, 1].")
    awarded_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-awarded_at", "-id"]

    def __str__(self) -> str:
        return f"{self.title} ({self.get_band_display()})"

    @property
    def active(self) -> bool:
        return self.revoked_at is None
