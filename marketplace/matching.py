"""Ranking engineers for an open request, with the reasons shown to the client.

The score (0-100) is computed in the database so that ranking 10,000 engineers costs one query:
  45 x share of the request's skills the engineer has
  25 x best score of an active vetting badge on one of those skills
  20 x rating, shrunk towards 3.5 stars by two phantom reviews (one 5-star review is not a record)
  10 x availability (available 1, limited 0.5, not taking work 0)
"""

from dataclasses import dataclass, field

from django.db.models import (
    Case,
    Count,
    ExpressionWrapper,
    F,
    FloatField,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce

from marketplace.models import EngineerProfile, HiringRequest, User
from vetting.models import Badge

WEIGHT_SKILLS = 45.0
WEIGHT_BADGE = 25.0
WEIGHT_RATING = 20.0
WEIGHT_AVAILABILITY = 10.0
PRIOR_RATING = 3.5
PRIOR_REVIEWS = 2


@dataclass
class Match:
    profile: EngineerProfile
    score: float
    matched_skills: list[str]
    reasons: list[str] = field(default_factory=list)
    invited: bool = False


def engineer_match(*, hiring_request: HiringRequest, limit: int = 20) -> list[Match]:
    skill_ids = list(hiring_request.skills.values_list("pk", flat=True))
    wanted = max(len(skill_ids), 1)
    best_badge = (
        Badge.objects.filter(engineer=OuterRef("user_id"), revoked_at__isnull=True, skills__in=skill_ids)
        .order_by("-score")
        .values("score")[:1]
    )
    float_field = FloatField()
    profiles = (
        EngineerProfile.objects.filter(
            user__is_active=True, user__role=User.Role.ENGINEER, user__is_staff=False
        )
        .annotate(
            overlap=Count("skills", filter=Q(skills__in=skill_ids), distinct=True),
            badge_score=Coalesce(Subquery(best_badge, output_field=float_field), Value(0.0)),
            availability_weight=Case(
                When(availability=EngineerProfile.Availability.AVAILABLE, then=Value(1.0)),
                When(availability=EngineerProfile.Availability.LIMITED, then=Value(0.5)),
                default=Value(0.0),
                output_field=float_field,
            ),
        )
        .annotate(
            match_score=ExpressionWrapper(
                Value(WEIGHT_SKILLS) * Cast(F("overlap"), float_field) / Value(float(wanted))
                + Value(WEIGHT_BADGE) * F("badge_score")
                + Value(WEIGHT_RATING)
                * (Cast(F("rating_sum"), float_field) + Value(PRIOR_RATING * PRIOR_REVIEWS))
                / (Cast(F("rating_count"), float_field) + Value(float(PRIOR_REVIEWS)))
                / Value(5.0)
                + Value(WEIGHT_AVAILABILITY) * F("availability_weight"),
                output_field=float_field,
            )
        )
        .select_related("user")
        .prefetch_related(
            "skills",
            Prefetch(
                "user__badges",
                queryset=Badge.objects.filter(revoked_at__isnull=True).prefetch_related("skills"),
                to_attr="active_badges",
            ),
        )
        .order_by("-match_score", "user__username")[:limit]
    )
    invited = set(hiring_request.consultations.values_list("engineer_id", flat=True))
    wanted_ids = set(skill_ids)
    matches = []
    for profile in profiles:
        matched = [skill.name for skill in profile.skills.all() if skill.pk in wanted_ids]
        matches.append(
            Match(
                profile=profile,
                score=round(profile.match_score, 1),
                matched_skills=matched,
                reasons=_reasons(profile, matched, len(skill_ids), wanted_ids),
                invited=profile.user_id in invited,
            )
        )
    return matches


def _reasons(profile: EngineerProfile, matched: list[str], wanted: int, wanted_ids: set[int]) -> list[str]:
    reasons = []
    if wanted:
        if matched:
            reasons.append(f"Has {len(matched)} of {wanted} requested skills: {', '.join(matched)}")
        else:
            reasons.append("None of the requested skills")
    relevant = [
        badge
        for badge in profile.user.active_badges
        if any(skill.pk in wanted_ids for skill in badge.skills.all())
    ]
    if relevant:
        best = max(relevant, key=lambda badge: badge.score)
        reasons.append(f"Vetted: {best.title} ({best.get_band_display().lower()}, score {best.score:.2f})")
    elif profile.user.active_badges:
        reasons.append(f"Vetted in {len(profile.user.active_badges)} other challenge(s)")
    else:
        reasons.append("Not yet vetted")
    if profile.rating_count:
        reasons.append(f"Rated {profile.rating_average:.1f}/5 from {profile.rating_count} review(s)")
    else:
        reasons.append("No reviews yet")
    reasons.append(profile.get_availability_display())
    return reasons
