"""Engineers asking to be invited to consult on an open request, and the client's answer.

Accepting goes through `consultation_invite`, so an accepted ask is an invitation like any other and
every rule of inviting applies to it (the request still open, the engineer taking work, not already
invited)."""

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from core.errors import InvalidTransitionError, NotFoundError, PermissionDeniedError, ValidationError
from core.transitions import transition_apply
from marketplace.models import Consultation, EngineerProfile, HiringRequest, InviteRequest, Message, User
from marketplace.models.invite_requests import MAX_NOTE
from marketplace.services.notifications import notify
from marketplace.services.requests import consultation_invite

OPEN_STATES = (HiringRequest.State.OPEN, HiringRequest.State.CONSULTING)


def _clean_note(note: str) -> str:
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationError(
            f"note: Keep the note under {MAX_NOTE:,} characters.",
            details={"note": [f"Keep the note under {MAX_NOTE:,} characters (it has {len(note):,})."]},
        )
    return note


def _require_askable_engineer(actor: User) -> EngineerProfile:
    if not actor.is_engineer:
        raise PermissionDeniedError("Only engineers can ask to be invited.")
    profile = EngineerProfile.objects.listed().filter(user=actor).first()
    if profile is None:
        missing = EngineerProfile.objects.filter(user=actor).first()
        lacking = missing.listing_missing() if missing else ["a profile"]
        raise InvalidTransitionError(
            "Complete your profile before asking to be invited: add " + ", ".join(lacking) + ".",
            code="profile_incomplete",
            details={"missing": lacking},
        )
    if profile.availability == EngineerProfile.Availability.UNAVAILABLE:
        raise InvalidTransitionError(
            "Your profile says you are not taking work; change your availability to ask.",
            code="not_taking_work",
        )
    return profile


@transaction.atomic
def invite_request_create(*, actor: User, request_id: int, note: str = "") -> InviteRequest:
    note = _clean_note(note)
    _require_askable_engineer(actor)
    # Drafts were never published: for engineers they do not exist.
    hiring_request = (
        HiringRequest.objects.select_for_update()
        .select_related("client")
        .filter(pk=request_id, published_at__isnull=False)
        .first()
    )
    if hiring_request is None:
        raise NotFoundError("Request not found.")
    if hiring_request.state not in OPEN_STATES:
        raise InvalidTransitionError(
            f"This request is {hiring_request.get_state_display().lower()}; it no longer takes engineers.",
            code="request_not_open",
            details={"state": hiring_request.state},
        )
    if Consultation.objects.filter(request=hiring_request, engineer=actor).exists():
        raise InvalidTransitionError("You are already invited to this request.", code="already_invited")
    if InviteRequest.objects.filter(
        request=hiring_request, engineer=actor, state=InviteRequest.State.REQUESTED
    ).exists():
        raise InvalidTransitionError(
            "You have already asked to be invited to this request.", code="already_asked"
        )
    invite_request = InviteRequest.objects.create(engineer=actor, request=hiring_request, note=note)
    notify(
        user=hiring_request.client,
        kind="invite_requested",
        message=f"{actor.display_name} asks to be invited to consult on “{hiring_request.title}”.",
        url=reverse("request-detail", args=[hiring_request.pk]) + "#invite-requests",
    )
    return invite_request


def _locked(*, actor: User, invite_request_id: int) -> InviteRequest:
    """The ask, row-locked, for its engineer or the request's client; staff may see it (403 to act);
    for everyone else it does not exist."""
    invite_request = (
        InviteRequest.objects.select_for_update(of=("self",))
        .select_related("request", "engineer", "request__client")
        .filter(pk=invite_request_id)
        .first()
    )
    if invite_request is None or (
        actor.pk not in (invite_request.engineer_id, invite_request.request.client_id) and not actor.is_staff
    ):
        raise NotFoundError("Ask to be invited not found.")
    return invite_request


def _require_requested(invite_request: InviteRequest) -> None:
    if invite_request.state != InviteRequest.State.REQUESTED:
        raise InvalidTransitionError(
            f"This ask is already {invite_request.get_state_display().lower()}.",
            code="already_answered",
            details={"state": invite_request.state},
        )


def _decide(*, actor: User, invite_request: InviteRequest, transition: str) -> None:
    transition_apply(
        instance=invite_request,
        transition=transition,
        actor=actor,
        timeline_key=invite_request.request.timeline_key,
    )
    invite_request.decided_at = timezone.now()
    invite_request.save(update_fields=["decided_at", "updated_at"])


@transaction.atomic
def invite_request_accept(*, actor: User, invite_request_id: int) -> Consultation:
    """Invite the engineer who asked (`consultation_invite`, which marks the ask accepted): the
    consultation opens with their note as its first message."""
    invite_request = _locked(actor=actor, invite_request_id=invite_request_id)
    if actor.pk != invite_request.request.client_id:
        raise PermissionDeniedError("Only the request's client answers an ask to be invited.")
    _require_requested(invite_request)
    consultation = consultation_invite(
        actor=actor, request_id=invite_request.request_id, engineer_id=invite_request.engineer_id
    )
    if invite_request.note:
        Message.objects.create(
            consultation=consultation, author=invite_request.engineer, body=invite_request.note
        )
    return consultation


@transaction.atomic
def invite_request_decline(*, actor: User, invite_request_id: int) -> InviteRequest:
    invite_request = _locked(actor=actor, invite_request_id=invite_request_id)
    if actor.pk != invite_request.request.client_id:
        raise PermissionDeniedError("Only the request's client answers an ask to be invited.")
    _require_requested(invite_request)
    _decide(actor=actor, invite_request=invite_request, transition="decline")
    notify(
        user=invite_request.engineer,
        kind="invite_request_declined",
        message=f"{actor.display_name} did not invite you to “{invite_request.request.title}” this time.",
        url=reverse("job-board"),
    )
    return invite_request


@transaction.atomic
def invite_request_withdraw(*, actor: User, invite_request_id: int) -> InviteRequest:
    invite_request = _locked(actor=actor, invite_request_id=invite_request_id)
    if actor.pk != invite_request.engineer_id:
        raise PermissionDeniedError("Only the engineer who asked can withdraw the ask.")
    _require_requested(invite_request)
    _decide(actor=actor, invite_request=invite_request, transition="withdraw")
    return invite_request
