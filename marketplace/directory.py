"""Reads for the engineer directory (clients find engineers) and the job board (engineers find open
requests), shared by the pages and the API.

Directory relevance is computed in the database, like matching, from what the directory already shows:
  40 x how well the search words match (a skill 3, the headline or name 2, the bio 1, per word)
  25 x the best band among the engineer's active badges (BAND_WEIGHTS; the band, never the score)
  20 x rating, shrunk towards 3.5 stars by two phantom reviews
  15 x availability (available 1, limited 0.5, not taking work 0)
No figure in it depends on a badge's score, so neither does the order.
"""

import json
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from django.db.models import (
    Case,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce

from core.money import CURRENCY_EXPONENTS
from marketplace.matching import BAND_WEIGHTS, PRIOR_RATING, PRIOR_REVIEWS
from marketplace.models import Consultation, EngineerProfile, HiringRequest, InviteRequest, Skill, User
from marketplace.verified_skills import BANDS, active_badges_prefetch, verified_skills

WEIGHT_TEXT = 40.0
WEIGHT_BAND = 25.0
WEIGHT_RATING = 20.0
WEIGHT_AVAILABILITY = 15.0
# Per search word: where it is found and what that counts for.
TEXT_WEIGHTS = {"skill": 3, "headline": 2, "name": 2, "bio": 1}
MAX_WORDS = 8

ORDERINGS = {
    "relevance": "Most relevant",
    "rating": "Highest rated",
    "rate": "Lowest rate",
    "-rate": "Highest rate",
}
# IANA regions (the part of a time zone's name before the first slash) a client can narrow to.
REGIONS = {
    "Africa": "Africa",
    "America": "Americas",
    "Asia": "Asia",
    "Atlantic": "Atlantic",
    "Australia": "Australia",
    "Europe": "Europe",
    "Indian": "Indian Ocean",
    "Pacific": "Pacific",
}


@dataclass(frozen=True)
class EngineerFilters:
    """What a directory search asks for. Rates are in each engineer's own currency: minor units, or
    major units with `rates_in_major_units` (the page's "120" is 120.00 USD, 120 EUR or ¥120)."""

    q: str = ""
    skills: list[str] = field(default_factory=list)  # slugs; an engineer has any of them
    vetted: bool = False
    band: str = ""  # at least this band
    rate_min: Decimal | int | None = None
    rate_max: Decimal | int | None = None
    rates_in_major_units: bool = False
    availability: str = ""
    region: str = ""
    language: str = ""
    ordering: str = "relevance"


def search_words(q: str) -> list[str]:
    return q.split()[:MAX_WORDS]


def _name_matches(prefix: str, word: str) -> Q:
    return (
        Q(**{f"{prefix}first_name__icontains": word})
        | Q(**{f"{prefix}last_name__icontains": word})
        | Q(**{f"{prefix}username__icontains": word})
    )


def _rate_bound(value, exponent: int, *, major: bool, lower: bool) -> int:
    if not major:
        return int(value)
    scaled = Decimal(value).scaleb(exponent)
    return int(scaled.to_integral_value(rounding=ROUND_CEILING if lower else ROUND_FLOOR))


def _rate_filter(filters: EngineerFilters) -> Q:
    if filters.rate_min is None and filters.rate_max is None:
        return Q()
    by_exponent: dict[int, list[str]] = {}
    for currency, exponent in CURRENCY_EXPONENTS.items():
        by_exponent.setdefault(exponent, []).append(currency)
    major = filters.rates_in_major_units
    matches = Q()
    for exponent, currencies in by_exponent.items():
        condition = Q(currency__in=currencies)
        if filters.rate_min is not None:
            condition &= Q(rate_amount__gte=_rate_bound(filters.rate_min, exponent, major=major, lower=True))
        if filters.rate_max is not None:
            condition &= Q(rate_amount__lte=_rate_bound(filters.rate_max, exponent, major=major, lower=False))
        matches |= condition
    return matches


def _language_filter(language: str) -> Q:
    """Has the language among their languages (whole names, any case). JSON text is searched for the
    quoted name: escaped as SQLite stores it, and as is, as PostgreSQL prints it."""
    name = language.strip()
    escaped, plain = json.dumps(name), json.dumps(name, ensure_ascii=False)
    return Q(languages__icontains=escaped) | Q(languages__icontains=plain)


def _band_rank(badges: QuerySet) -> Subquery:
    """The engineer's best band as 1 (pass) to 3 (exceptional); null without an active badge."""
    rank = Case(
        *[When(band=band, then=Value(index + 1)) for index, band in enumerate(BANDS)],
        default=Value(0),
        output_field=IntegerField(),
    )
    return Subquery(
        badges.annotate(rank=rank).order_by("-rank").values("rank")[:1], output_field=IntegerField()
    )


def engineer_directory(*, filters: EngineerFilters) -> QuerySet[EngineerProfile]:
    """Listed engineers matching `filters`, in the order asked for, each with its badges (bands) and
    skills prefetched: the same few queries for a page of 1 or 50."""
    float_field = FloatField()
    badges = verified_skills()
    held = badges.held_by(OuterRef("user_id"))
    queryset = EngineerProfile.objects.listed()

    words = search_words(filters.q)
    text_score = Value(0.0, output_field=float_field)
    for word in words:
        skill_hit = Exists(
            EngineerProfile.skills.through.objects.filter(
                engineerprofile_id=OuterRef("pk"), skill__name__icontains=word
            )
        )
        name_hit = _name_matches("user__", word)
        hits = {
            "skill": Q(skill_hit),
            "headline": Q(headline__icontains=word),
            "name": name_hit,
            "bio": Q(bio__icontains=word),
        }
        queryset = queryset.filter(hits["skill"] | hits["headline"] | hits["name"] | hits["bio"])
        for where, condition in hits.items():
            text_score = text_score + Case(
                When(condition, then=Value(float(TEXT_WEIGHTS[where]))),
                default=Value(0.0),
                output_field=float_field,
            )
    most = float(sum(TEXT_WEIGHTS.values()) * max(len(words), 1))

    if filters.skills:
        queryset = queryset.filter(
            Exists(
                EngineerProfile.skills.through.objects.filter(
                    engineerprofile_id=OuterRef("pk"), skill__slug__in=filters.skills
                )
            )
        )
    if filters.vetted:
        queryset = queryset.filter(Exists(held))
    if filters.band:
        queryset = queryset.filter(Exists(held.filter(band__in=BANDS[BANDS.index(filters.band) :])))
    queryset = queryset.filter(_rate_filter(filters))
    if filters.availability:
        queryset = queryset.filter(availability=filters.availability)
    if filters.region:
        queryset = queryset.filter(time_zone__startswith=f"{filters.region}/")
    if filters.language.strip():
        queryset = queryset.filter(_language_filter(filters.language))

    band_weight = Case(
        *[When(band_rank=index + 1, then=Value(BAND_WEIGHTS[band])) for index, band in enumerate(BANDS)],
        default=Value(0.0),
        output_field=float_field,
    )
    rating = (Cast(F("rating_sum"), float_field) + Value(PRIOR_RATING * PRIOR_REVIEWS)) / (
        Cast(F("rating_count"), float_field) + Value(float(PRIOR_REVIEWS))
    )
    availability = Case(
        When(availability=EngineerProfile.Availability.AVAILABLE, then=Value(1.0)),
        When(availability=EngineerProfile.Availability.LIMITED, then=Value(0.5)),
        default=Value(0.0),
        output_field=float_field,
    )
    queryset = queryset.annotate(band_rank=_band_rank(held), shrunk_rating=rating).annotate(
        relevance=ExpressionWrapper(
            Value(WEIGHT_TEXT) * text_score / Value(most)
            + Value(WEIGHT_BAND) * band_weight
            + Value(WEIGHT_RATING) * F("shrunk_rating") / Value(5.0)
            + Value(WEIGHT_AVAILABILITY) * availability,
            output_field=float_field,
        )
    )
    order = {
        "relevance": ["-relevance", "user__username"],
        "rating": ["-shrunk_rating", "-rating_count", "user__username"],
        "rate": ["rate_amount", "user__username"],
        "-rate": ["-rate_amount", "user__username"],
    }[filters.ordering or "relevance"]
    return (
        queryset.select_related("user").prefetch_related("skills", active_badges_prefetch()).order_by(*order)
    )


def directory_skills() -> QuerySet[Skill]:
    """Skills at least one listed engineer has: the directory's skill filter offers only these."""
    listed = EngineerProfile.objects.listed().values("pk")
    return Skill.objects.filter(engineers__in=listed).distinct().order_by("name")


# --- Job board --------------------------------------------------------------------------------------


def job_board(*, engineer: User, q: str = "", skill: str = "") -> QuerySet[HiringRequest]:
    """Open requests an engineer could ask to consult on, those matching the engineer's skills first
    (by the share of the request's skills they have), then the newest; leaving out the requests they
    already consult on. Each row carries `skill_share` (0 to 1) and `my_ask` (the id of the engineer's
    pending ask to be invited, or None)."""
    float_field = FloatField()
    mine = EngineerProfile.skills.through.objects.filter(engineerprofile__user_id=engineer.pk).values(
        "skill_id"
    )
    links = HiringRequest.skills.through.objects.filter(hiringrequest_id=OuterRef("pk")).order_by()
    count = Func(Value(1), function="COUNT")
    matched = links.filter(skill_id__in=mine).annotate(count=count).values("count")
    wanted = links.annotate(count=count).values("count")
    queryset = HiringRequest.objects.filter(
        state__in=(HiringRequest.State.OPEN, HiringRequest.State.CONSULTING), published_at__isnull=False
    ).exclude(Exists(Consultation.objects.filter(request_id=OuterRef("pk"), engineer_id=engineer.pk)))
    for word in search_words(q):
        queryset = queryset.filter(
            Q(title__icontains=word)
            | Q(description__icontains=word)
            | Q(Exists(links.filter(skill__name__icontains=word)))
        )
    if skill:
        queryset = queryset.filter(Exists(links.filter(skill__slug=skill)))
    asked = InviteRequest.objects.filter(
        request_id=OuterRef("pk"), engineer_id=engineer.pk, state=InviteRequest.State.REQUESTED
    ).values("pk")[:1]
    return (
        queryset.annotate(
            matched_count=Coalesce(Subquery(matched, output_field=IntegerField()), Value(0)),
            wanted_count=Coalesce(Subquery(wanted, output_field=IntegerField()), Value(0)),
            my_ask=Subquery(asked, output_field=IntegerField()),
        )
        .annotate(
            skill_share=Case(
                When(wanted_count=0, then=Value(0.0)),
                default=Cast(F("matched_count"), float_field) / Cast(F("wanted_count"), float_field),
                output_field=float_field,
            )
        )
        .select_related("client")
        .prefetch_related("skills")
        .order_by("-skill_share", "-published_at", "-id")
    )


def engineer_skill_ids(*, engineer: User) -> set[int]:
    return set(
        EngineerProfile.skills.through.objects.filter(engineerprofile__user_id=engineer.pk).values_list(
            "skill_id", flat=True
        )
    )
