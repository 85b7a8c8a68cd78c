"""Attempts: staff grant extra ones; the limit error an engineer meets when they are used up."""

from __future__ import annotations

from django.db import transaction

from core.errors import (
    LimitReachedError,
    NotFoundError,
    ValidationError,
)
from marketplace.models import User
from vetting.models import (
    AttemptGrant,
)
from vetting.services.common import challenge_get, require_staff


@transaction.atomic
def attempt_grant(
    *, actor: User, engineer_id: int, challenge_id: int, attempts: int, reason: str
) -> AttemptGrant:
    require_staff(actor)
    engineer = User.objects.filter(pk=engineer_id).first()
    if engineer is None:
        raise NotFoundError("Engineer not found.")
    challenge = challenge_get(challenge_id)
    if not isinstance(attempts, int) or not 1 <= attempts <= 20:
        raise ValidationError("Grant from 1 to 20 attempts.", details={"attempts": ["From 1 to 20."]})
    if not reason.strip():
        raise ValidationError("Say why the attempts are granted.", details={"reason": ["Required."]})
    return AttemptGrant.objects.create(
        engineer=engineer,
        challenge=challenge,
        attempts=attempts,
        reason=reason.strip()[:200],
        granted_by=actor,
    )


def attempt_limit_error(status) -> LimitReachedError:
    """The challenge's attempts for the rolling window are used up: 429 `attempt_limit`, retry at the
    time the oldest attempt in the window leaves it."""
    when = status.next_available_at.strftime("%Y-%m-%d %H:%M UTC") if status.next_available_at else "later"
    return LimitReachedError(
        f"You have used your {status.limit} attempts of the last {status.window_days} days on this "
        f"challenge; the next one is available from {when}.",
        code="attempt_limit",
        retry_at=status.next_available_at,
        details={
            "next_available_at": status.next_available_at.isoformat() if status.next_available_at else None
        },
    )
