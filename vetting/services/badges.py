"""Badges (revoked by staff) and leaderboard opt-ins."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from core.errors import (
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from marketplace.models import User
from vetting.models import (
    Badge,
    LeaderboardOptIn,
    Submission,
)
from vetting.services.common import challenge_get, require_staff


def badge_award(submission: Submission) -> Badge:
    """A pass shows on the profile: a new badge, or the active one raised to a better score."""
    challenge = submission.challenge
    badge = (
        Badge.objects.select_for_update()
        .filter(engineer=submission.engineer, challenge=challenge, revoked_at__isnull=True)
        .first()
    )
    if badge is not None and badge.score >= submission.fine_tuned_score:
        return badge
    if badge is None:
        badge = Badge(engineer=submission.engineer, challenge=challenge)
    badge.submission = submission
    badge.challenge_slug = challenge.slug
    badge.title = challenge.title
    badge.band = submission.band
    badge.score = submission.fine_tuned_score
    badge.awarded_at = timezone.now()
    badge.save()
    badge.skills.set(challenge.skills.all())
    return badge


@transaction.atomic
def badge_revoke(*, actor: User, badge_id: int, reason: str) -> Badge:
    require_staff(actor)
    badge = Badge.objects.select_for_update().filter(pk=badge_id).first()
    if badge is None:
        raise NotFoundError("Badge not found.")
    if badge.revoked_at is not None:
        raise InvalidTransitionError("The badge is already revoked.")
    reason = reason.strip()
    if not reason:
        raise ValidationError("Say why the badge is revoked.", details={"reason": ["Required."]})
    badge.revoked_at = timezone.now()
    badge.revoked_reason = reason[:200]
    badge.revoked_by = actor
    badge.save(update_fields=["revoked_at", "revoked_reason", "revoked_by"])
    return badge


# --- leaderboard ----------------------------------------------------------------------------------


@transaction.atomic
def leaderboard_set_opt_in(*, actor: User, challenge_id: int, opted_in: bool) -> bool:
    if not actor.is_engineer:
        raise PermissionDeniedError("Only engineers appear on leaderboards.")
    challenge = challenge_get(challenge_id)
    if opted_in:
        LeaderboardOptIn.objects.get_or_create(engineer=actor, challenge=challenge)
    else:
        LeaderboardOptIn.objects.filter(engineer=actor, challenge=challenge).delete()
    return opted_in
