"""Ranking engineers for an open request, with the reasons shown to the client.

The score (0-100) is computed in the database so that ranking 10,000 engineers costs one query:
  45 x share of the request's skills the engineer has
  25 x the best active vetting badge on one of those skills
  20 x rating, shrunk towards 3.5 stars by two phantom reviews (one 5-star review is not a record)
  10 x availability (available 1, limited 0.5, not taking work 0)
The ranking orders by the badge's final-split score; the score shown counts the badge by its band only
(BAND_WEIGHTS), so no shown figure is a function of a final-split score (anyone can open a client
account and read their own match).

A ranking depends on the request only through its skills, and otherwise on the engineers' side alone, so
`cached_ranking` keeps rendered rankings per skill set under the matching version, a counter that database
triggers bump on every write to that side (migration 0003). Who is already invited is not part of it.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from django.apps import apps as global_apps
from django.core.cache import cache as django_cache
from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce

from core.money import CURRENCY_EXPONENTS, convert, format_money
from marketplace.models import Consultation, EngineerProfile, HiringRequest, Skill
from marketplace.verified_skills import active_badges_prefetch, verified_skills

WEIGHT_SKILLS = 45.0
WEIGHT_BADGE = 25.0
WEIGHT_RATING = 20.0
WEIGHT_AVAILABILITY = 10.0
BAND_WEIGHTS = {"pass": 0.8, "strong": 0.9, "exceptional": 1.0}
PRIOR_RATING = 3.5
PRIOR_REVIEWS = 2
# A cached ranking is dropped by the next write to the engineers' side; this bounds how long an unused
# one stays in memory (and how stale one could be, were a trigger ever missing).
CACHE_SECONDS = 300

# Skills that are near enough to name as a reason when the exact one is missing (by slug, both ways):
# a match shows them ("Near: Structured extraction ≈ JSON extraction"); the score counts exact skills.
NEAR_SKILLS = (
    ("json-extraction", "structured-extraction"),
    ("json-extraction", "information-extraction"),
    ("structured-extraction", "information-extraction"),
    ("lora", "qlora"),
    ("lora", "peft"),
    ("qlora", "peft"),
    ("evaluation", "evals"),
    ("evaluation", "llm-evaluation"),
    ("rag", "retrieval"),
    ("sft", "instruction-tuning"),
    ("sft", "supervised-fine-tuning"),
    ("dpo", "preference-tuning"),
    ("rlhf", "preference-tuning"),
    ("classification", "text-classification"),
)


@cache
def near_skills() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for one, other in NEAR_SKILLS:
        table.setdefault(one, set()).add(other)
        table.setdefault(other, set()).add(one)
    return {slug: frozenset(near) for slug, near in table.items()}


@dataclass
class Match:
    profile: EngineerProfile
    score: float
    matched_skills: list[str]
    reasons: list[str] = field(default_factory=list)
    invited: bool = False


BUMP = "UPDATE marketplace_matching_version SET value = value + 1 WHERE id = 1"
# Only these columns of a user matter to a ranking (login times, passwords and e-mails do not).
USER_COLUMNS = ("username", "first_name", "last_name", "is_active", "is_staff", "role")


def _version_sources(apps) -> list[tuple[str, tuple[str, ...]]]:
    """(table, the columns whose update bumps the version, or () for any) for each table a ranking is
    made of. Ratings come from the profile (reviews publication updates rating_count and rating_sum)."""
    profile, badge = apps.get_model("marketplace", "EngineerProfile"), apps.get_model("vetting", "Badge")
    return [
        (profile._meta.db_table, ()),
        (profile.skills.through._meta.db_table, ()),
        (apps.get_model("marketplace", "Skill")._meta.db_table, ()),
        (badge._meta.db_table, ()),
        (badge.skills.through._meta.db_table, ()),
        (apps.get_model("marketplace", "User")._meta.db_table, USER_COLUMNS),
    ]


def _triggers(vendor: str, apps) -> list[str]:
    if vendor == "sqlite":  # Row triggers only.
        statements = []
        for table, columns in _version_sources(apps):
            events = {"insert": "INSERT", "update": "UPDATE", "delete": "DELETE"}
            if columns:  # A new user has no profile yet: the profile's own insert bumps the version.
                events = {"update": f"UPDATE OF {', '.join(columns)}", "delete": "DELETE"}
            statements += [
                f"CREATE TRIGGER IF NOT EXISTS matching_version_{table}_{name} AFTER {event} ON {table} "
                f"BEGIN {BUMP}; END"
                for name, event in events.items()
            ]
        return statements
    statements = [
        "CREATE OR REPLACE FUNCTION marketplace_matching_version_bump() RETURNS trigger LANGUAGE plpgsql "
        f"AS $$ BEGIN {BUMP}; RETURN NULL; END $$"
    ]
    for table, columns in _version_sources(apps):
        events = f"UPDATE OF {', '.join(columns)} OR DELETE" if columns else "INSERT OR UPDATE OR DELETE"
        statements.append(
            f"CREATE OR REPLACE TRIGGER matching_version_{table} AFTER {events} OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION marketplace_matching_version_bump()"
        )
    return statements


def install_version_triggers(connection, apps=global_apps) -> None:
    """Create the triggers that bump the matching version (migration 0003, with its historical `apps`);
    idempotent."""
    with connection.cursor() as cursor:
        for sql in _triggers(connection.vendor, apps):
            cursor.execute(sql)


@cache
def _sqlite_trigger_count() -> int:
    return len(_triggers("sqlite", global_apps))


def matching_version() -> int | None:
    """The current matching version; None when it cannot be trusted, so that nothing is cached.

    SQLite drops a table's triggers when a migration rebuilds the table (any AlterField there): a
    missing trigger is put back here, and the version bumped past whatever it missed meanwhile.
    PostgreSQL alters tables in place and keeps them."""
    if connection.vendor != "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT value FROM marketplace_matching_version WHERE id = 1")
            return cursor.fetchone()[0]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT value, (SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE %s) "
            "FROM marketplace_matching_version WHERE id = 1",
            ["matching_version_%"],
        )
        value, present = cursor.fetchone()
        if present == _sqlite_trigger_count():
            return value
    install_version_triggers(connection)
    with connection.cursor() as cursor:
        cursor.execute(BUMP)
    return None


def cached_ranking(
    *, hiring_request: HiringRequest, limit: int, render: Callable[[list[Match]], list]
) -> list:
    """`render(engineer_match(...))`, from the cache when the engineers' side has not changed since it
    was rendered for a request with the same skills. `invited` in what comes back is as it was then:
    the caller sets it afresh. `hiring_request` carries `skill_ids` (selectors.request_for_matching)."""
    version = matching_version()  # Read first: what is rendered below is at least this recent.
    budget = f"{hiring_request.currency}:{hiring_request.budget_min}-{hiring_request.budget_max}"
    key = f"matches:{version}:{limit}:{budget}:{','.join(map(str, hiring_request.skill_ids))}"
    rows = django_cache.get(key) if version is not None else None
    if rows is None:
        rows = render(engineer_match(hiring_request=hiring_request, limit=limit))
        if version is not None:
            django_cache.set(key, rows, CACHE_SECONDS)
    return rows


def engineer_match(*, hiring_request: HiringRequest, limit: int = 20) -> list[Match]:
    """The `limit` best engineers for the request, best first, in the same few queries whatever the limit.
    Reads `hiring_request.skill_ids` where the caller has them (selectors.request_for_matching)."""
    skill_ids = getattr(hiring_request, "skill_ids", None)
    if skill_ids is None:
        skill_ids = [skill.pk for skill in hiring_request.skills.all()]
    wanted = max(len(skill_ids), 1)
    float_field = FloatField()
    # Correlated subqueries rather than a join with GROUP BY: each is an index lookup per engineer.
    overlap = (
        EngineerProfile.skills.through.objects.filter(
            engineerprofile_id=OuterRef("pk"), skill_id__in=skill_ids
        )
        .order_by()
        .annotate(count=Func(Value(1), function="COUNT"))
        .values("count")
    )
    badges = verified_skills()
    relevant_badges = badges.best_proving(OuterRef("user_id"), skill_ids)
    best_badge = relevant_badges.values("score")[:1]
    best_band = relevant_badges.values("band")[:1]
    profiles = (
        EngineerProfile.objects.listed()
        .annotate(
            overlap=Coalesce(Subquery(overlap, output_field=IntegerField()), Value(0)),
            badge_score=Coalesce(Subquery(best_badge, output_field=float_field), Value(0.0)),
            badge_band=Subquery(best_band, output_field=CharField()),
            availability_weight=Case(
                When(availability=EngineerProfile.Availability.AVAILABLE, then=Value(1.0)),
                When(availability=EngineerProfile.Availability.LIMITED, then=Value(0.5)),
                default=Value(0.0),
                output_field=float_field,
            ),
            invited=Exists(
                Consultation.objects.filter(request_id=hiring_request.pk, engineer_id=OuterRef("user_id"))
            ),
        )
        .annotate(
            badge_band_weight=Case(
                *[When(badge_band=band, then=Value(weight)) for band, weight in BAND_WEIGHTS.items()],
                default=Value(0.0),
                output_field=float_field,
            ),
            match_score=ExpressionWrapper(
                Value(WEIGHT_SKILLS) * Cast(F("overlap"), float_field) / Value(float(wanted))
                + Value(WEIGHT_BADGE) * F("badge_score")
                + Value(WEIGHT_RATING)
                * (Cast(F("rating_sum"), float_field) + Value(PRIOR_RATING * PRIOR_REVIEWS))
                / (Cast(F("rating_count"), float_field) + Value(float(PRIOR_REVIEWS)))
                / Value(5.0)
                + Value(WEIGHT_AVAILABILITY) * F("availability_weight"),
                output_field=float_field,
            ),
        )
        .annotate(
            shown_score=F("match_score") + Value(WEIGHT_BADGE) * (F("badge_band_weight") - F("badge_score"))
        )
        .select_related("user")
        .prefetch_related("skills", active_badges_prefetch(queryset=badges.active_with_relevance(skill_ids)))
        .order_by("-match_score", "user__username")[:limit]
    )
    wanted_ids = set(skill_ids)
    wanted_skills = list(Skill.objects.filter(pk__in=skill_ids)) if skill_ids else []
    matches = []
    for profile in profiles:
        matched = [skill.name for skill in profile.skills.all() if skill.pk in wanted_ids]
        matches.append(
            Match(
                profile=profile,
                score=round(profile.shown_score, 1),
                matched_skills=matched,
                reasons=_reasons(
                    profile, matched, len(skill_ids), _near(profile, wanted_skills), hiring_request
                ),
                invited=profile.invited,
            )
        )
    return matches


def _near(profile: EngineerProfile, wanted: list[Skill]) -> list[str]:
    """ "Structured extraction ≈ JSON extraction" for each requested skill the engineer lacks but has a
    near one of."""
    have = {skill.slug: skill.name for skill in profile.skills.all()}
    table = near_skills()
    pairs = []
    for skill in wanted:
        if skill.slug in have:
            continue
        for slug in sorted(table.get(skill.slug, ())):
            if slug in have:
                pairs.append(f"{have[slug]} ≈ {skill.name}")
    return pairs


def _reasons(
    profile: EngineerProfile, matched: list[str], wanted: int, near: list[str], hiring_request
) -> list[str]:
    reasons = []
    if wanted:
        if matched:
            reasons.append(f"Has {len(matched)} of {wanted} requested skills: {', '.join(matched)}")
        else:
            reasons.append("None of the requested skills")
    if near:
        reasons.append("Near skills: " + "; ".join(near))
    relevant = [badge for badge in profile.user.active_badges if badge.relevant]
    if relevant:
        best = max(relevant, key=lambda badge: badge.score)
        reasons.append(f"Vetted: {best.title} ({best.get_band_display().lower()})")
    elif profile.user.active_badges:
        reasons.append(f"Vetted in {len(profile.user.active_badges)} other challenge(s)")
    else:
        reasons.append("Not yet vetted")
    if profile.rating_count:
        reasons.append(f"Rated {profile.rating_average:.1f}/5 from {profile.rating_count} review(s)")
    else:
        reasons.append("No reviews yet")
    reasons.append(profile.get_availability_display())
    if profile.rate_amount:
        reasons.append(rate_vs_budget(profile, hiring_request))
    return reasons


def rate_vs_budget(profile: EngineerProfile, hiring_request) -> str:
    """The engineer's rate next to the request's budget, in the request's currency (an indicative
    conversion, marked ≈, when the two differ): "Rate 120.00 USD per hour (≈ 103.20 EUR): the maximum
    budget buys about 77 hours"; "Rate 4,000.00 USD for a typical project: within the budget"."""
    rate = format_money(profile.rate_amount, profile.currency)
    hourly = profile.rate_type == EngineerProfile.RateType.HOURLY
    text = f"Rate {rate} {'per hour' if hourly else 'for a typical project'}"
    currency = getattr(hiring_request, "currency", None)
    low, high = getattr(hiring_request, "budget_min", None), getattr(hiring_request, "budget_max", None)
    if currency not in CURRENCY_EXPONENTS or not high or profile.currency not in CURRENCY_EXPONENTS:
        return text
    in_budget_currency = convert(profile.rate_amount, profile.currency, currency)
    if currency != profile.currency:
        text += f" (≈ {format_money(in_budget_currency, currency)})"
    if hourly:
        hours = high // max(in_budget_currency, 1)
        return f"{text}: the maximum budget buys about {hours:,} hour{'s' if hours != 1 else ''}"
    if in_budget_currency > high:
        return f"{text}: above the maximum budget ({format_money(high, currency)})"
    if low and in_budget_currency < low:
        return f"{text}: below the budget's range"
    return f"{text}: within the budget"
