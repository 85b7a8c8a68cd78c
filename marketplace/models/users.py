import zoneinfo
from functools import cache

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, URLValidator
from django.db import models
from django.db.models import Exists, OuterRef
from django.db.models.functions import Length

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


@cache
def time_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def time_zone_label(name: str) -> str:
    """ "America/Sao_Paulo" -> "America/Sao Paulo"."""
    return name.replace("_", " ")


def validate_time_zone(value: str) -> None:
    if value and value not in time_zone_names():
        raise ValidationError(
            "Choose a time zone from the list, such as Europe/Berlin.", code="invalid_time_zone"
        )


MAX_LANGUAGES = 8
MAX_PORTFOLIO_LINKS = 5


def validate_languages(value) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ValidationError("Languages are a list of names, such as English.", code="invalid_languages")
    if len(value) > MAX_LANGUAGES:
        raise ValidationError(f"At most {MAX_LANGUAGES} languages.", code="too_many_languages")
    if any(len(item) > 40 for item in value):
        raise ValidationError("A language name is at most 40 characters.", code="invalid_languages")


def validate_portfolio_links(value) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("Portfolio links are a list of web addresses.", code="invalid_links")
    if len(value) > MAX_PORTFOLIO_LINKS:
        raise ValidationError(f"At most {MAX_PORTFOLIO_LINKS} portfolio links.", code="too_many_links")
    check = URLValidator(schemes=["https", "http"])
    for item in value:
        try:
            check(item)
        except ValidationError:
            raise ValidationError(
                f"{item[:80]!r} is not a web address (https://…).", code="invalid_link"
            ) from None


# What a profile needs before matching and the directory list it; clients judge an engineer by these.
# `EngineerProfile.listing_missing` and `EngineerProfileQuerySet.listed` read the same rules.
MIN_BIO = 40


class EngineerProfileQuerySet(models.QuerySet):
    def listed(self) -> "EngineerProfileQuerySet":
        """Active engineers whose profile is complete enough to be shown to clients."""
        return (
            self.filter(user__is_active=True, user__role=User.Role.ENGINEER, user__is_staff=False)
            .exclude(headline="")
            .exclude(time_zone="")
            .filter(rate_amount__gt=0)
            .filter(Exists(EngineerProfile.skills.through.objects.filter(engineerprofile_id=OuterRef("pk"))))
            .alias(bio_length=Length("bio"))
            .filter(bio_length__gte=MIN_BIO)
        )


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
    time_zone = models.CharField(
        max_length=64, blank=True, validators=[validate_time_zone], help_text="IANA name, e.g. Europe/Berlin."
    )
    languages = models.JSONField(default=list, blank=True, validators=[validate_languages])
    portfolio_links = models.JSONField(default=list, blank=True, validators=[validate_portfolio_links])
    # Kept by marketplace.services.reviews as reviews publish; read by matching without an aggregate per row.
    rating_count = models.PositiveIntegerField(default=0)
    rating_sum = models.PositiveIntegerField(default=0, validators=[MinValueValidator(0)])

    objects = EngineerProfileQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.user.username}: {self.headline}"

    def listing_missing(self) -> list[str]:
        """What the profile lacks before clients can find it (the rules of `objects.listed()`)."""
        checks = [
            (bool(self.headline), "a headline"),
            (len(self.bio) >= MIN_BIO, "a bio of a few sentences"),
            (bool(self.skills.all()), "your skills"),
            (self.rate_amount > 0, "your rate"),
            (bool(self.time_zone), "your time zone"),
        ]
        return [label for ok, label in checks if not ok]

    @property
    def rating_average(self) -> float | None:
        return round(self.rating_sum / self.rating_count, 2) if self.rating_count else None
