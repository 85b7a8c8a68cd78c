from django.contrib.auth.models import AbstractUser
from django.core.validators import MinValueValidator
from django.db import models

from core.models import TimeStampedModel
from core.money import CURRENCY_CHOICES


class User(AbstractUser):
    class Role(models.TextChoices):
        CLIENT = "client", "Client"
        ENGINEER = "engineer", "Engineer"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CLIENT)
    email = models.EmailField("email address", unique=True)

    @property
    def is_client(self) -> bool:
        return self.role == self.Role.CLIENT and not self.is_staff

    @property
    def is_engineer(self) -> bool:
        return self.role == self.Role.ENGINEER and not self.is_staff

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    def save(self, *args, **kwargs):
        # `set_password` keeps the new raw password here until the save. Every way a password changes
        # (the change and reset pages, the admin, `changepassword`) ends in this save, and every API token
        # dies with the password it was obtained with, as sessions already do.
        password_changed = self._password is not None and self.pk is not None
        super().save(*args, **kwargs)
        if password_changed:
            self.auth_token_set.all().delete()


class Skill(models.Model):
    name = models.CharField(max_length=64, unique=True)
    slug = models.SlugField(max_length=64, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EngineerProfile(TimeStampedModel):
    class RateType(models.TextChoices):
        HOURLY = "hourly", "per hour"
        PROJECT = "project", "typical project"

    class Availability(models.TextChoices):
        AVAILABLE = "available", "Available now"
        LIMITED = "limited", "Limited availability"
        UNAVAILABLE = "unavailable", "Not taking work"

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="engineer_profile")
    headline = models.CharField(max_length=140, blank=True)
    bio = models.TextField(blank=True)
    skills = models.ManyToManyField(Skill, blank=True, related_name="engineers")
    rate_type = models.CharField(max_length=16, choices=RateType.choices, default=RateType.HOURLY)
    rate_amount = models.PositiveIntegerField(default=0, help_text="Minor units, e.g. cents.")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="usd")
    availability = models.CharField(
        max_length=16, choices=Availability.choices, default=Availability.AVAILABLE, db_index=True
    )
    # Kept by review_create; read by matching without an aggregate per row.
    rating_count = models.PositiveIntegerField(default=0)
    rating_sum = models.PositiveIntegerField(default=0, validators=[MinValueValidator(0)])

    def __str__(self) -> str:
        return f"{self.user.username}: {self.headline}"

    @property
    def rating_average(self) -> float | None:
        return round(self.rating_sum / self.rating_count, 2) if self.rating_count else None
