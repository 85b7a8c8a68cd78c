"""Verified skills: what the marketplace reads of engineers' vetting badges.

Vetting sits above the marketplace (it imports users and skills), so the marketplace does not import
it: it reads badges through this narrow interface, which the vetting app provides and registers when it
loads (`vetting.apps`). Matching ranks by a badge's score server-side; nothing here puts the score in
front of anyone (pages and the API show the band).
"""

from __future__ import annotations

from typing import Protocol

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Prefetch, QuerySet

# The bands, weakest first (what a band filter "at least strong" and the directory's ranking read).
BANDS = ("pass", "strong", "exceptional")

# The reverse accessor from a user to their badges, and the attribute the prefetched active ones land on.
USER_BADGES = "badges"
ACTIVE_BADGES = "active_badges"


class VerifiedSkills(Protocol):
    def active(self) -> QuerySet:
        """Badges not revoked. Each has challenge_slug, title, band (get_band_display), awarded_at, score."""

    def active_with_relevance(self, skill_ids: list[int]) -> QuerySet:
        """`active()`, each annotated `relevant`: it proves one of `skill_ids`."""

    def best_proving(self, engineer_ref, skill_ids: list[int]) -> QuerySet:
        """The active badges of the engineer `engineer_ref` (an OuterRef to a user id) that prove one of
        `skill_ids`, best score first: a correlated subquery (take `.values("score")[:1]`)."""

    def held_by(self, engineer_ref) -> QuerySet:
        """The active badges of the engineer `engineer_ref` (an OuterRef to a user id), in no particular
        order: a correlated subquery for filters by band (`.filter(band__in=...)`) and the best band."""


_source: VerifiedSkills | None = None


def register(source: VerifiedSkills) -> None:
    global _source
    _source = source


def verified_skills() -> VerifiedSkills:
    if _source is None:
        raise ImproperlyConfigured("No verified-skills source is registered: the vetting app provides it.")
    return _source


def active_badges_prefetch(queryset: QuerySet | None = None) -> Prefetch:
    """Prefetch an engineer profile's user's active badges (or `queryset`) onto `user.active_badges`."""
    return Prefetch(
        f"user__{USER_BADGES}",
        queryset=verified_skills().active() if queryset is None else queryset,
        to_attr=ACTIVE_BADGES,
    )
