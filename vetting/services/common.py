"""What the vetting services share: the staff check and reading a challenge."""

from __future__ import annotations

from core.errors import (
    NotFoundError,
    PermissionDeniedError,
)
from marketplace.models import User
from vetting.models import (
    Challenge,
)


def require_staff(actor: User | None) -> None:
    if actor is None or not actor.is_staff:
        raise PermissionDeniedError("Only staff may do this.")


def challenge_get(challenge_id: int, *, lock: bool = False) -> Challenge:
    queryset = Challenge.objects.select_for_update() if lock else Challenge.objects.all()
    challenge = queryset.filter(pk=challenge_id).first()
    if challenge is None:
        raise NotFoundError("Challenge not found.")
    return challenge
