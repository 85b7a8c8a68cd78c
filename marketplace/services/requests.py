"""Requests, consultations and proposals: from a client's draft to an accepted proposal."""

from datetime import date

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from core.errors import (
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
    full_clean_or_raise,
)
from core.money import MAX_AMOUNT_MINOR, too_large_message
from core.transitions import transition_apply
from marketplace.models import (
    Consultation,
    Engagement,
    EngineerProfile,
    HiringRequest,
    InviteRequest,
    Message,
    Milestone,
    Proposal,
    ProposalMilestone,
    User,
)
from marketplace.services.notifications import notify
from marketplace.services.users import skills_resolve

REQUEST_FIELDS = (
    "title",
    "description",
    "currency",
    "budget_min",
    "budget_max",
    "deadline",
    "data_description",
    "tried_prompting",
    "has_enough_data",
    "has_success_metric",
    "lowers_long_term_cost",
    "deployment_ready",
)
MAX_MILESTONES = 20


def _require_client(actor: User) -> None:
    if not actor.is_client:
        raise PermissionDeniedError("Only clients can do this.")


def _own_request_locked(*, actor: User, request_id: int) -> HiringRequest:
    """The actor's request, row-locked.

    Users who can see the request without owning it (staff, invited engineers) get 403; for everyone
    else it does not exist (404), so its existence does not leak.
    """
    hiring_request = HiringRequest.objects.select_for_update().filter(pk=request_id).first()
    if hiring_request is not None and hiring_request.client_id == actor.pk:
        return hiring_request
    if hiring_request is not None and (
        actor.is_staff or Consultation.objects.filter(request=hiring_request, engineer=actor).exists()
    ):
        raise PermissionDeniedError("Only the client who raised the request can do this.")
    raise NotFoundError("Request not found.")


def _validate_request(hiring_request: HiringRequest) -> None:
    errors: dict[str, list[str]] = {}
    if hiring_request.budget_min > hiring_request.budget_max:
        errors["budget_max"] = ["The maximum budget must not be below the minimum."]
    if hiring_request.budget_max <= 0:
        errors["budget_max"] = ["The maximum budget must be more than zero."]
    if hiring_request.deadline and hiring_request.deadline < timezone.localdate():
        errors["deadline"] = ["The deadline is in the past."]
    if errors:
        field, messages = next(iter(errors.items()))
        raise ValidationError(f"{field}: {messages[0]}", details=errors)
    full_clean_or_raise(hiring_request, exclude=["client", "skills"])


@transaction.atomic
def request_create(*, actor: User, skills: list[str] | None = None, **fields) -> HiringRequest:
    _require_client(actor)
    unknown = set(fields) - set(REQUEST_FIELDS)
    if unknown:
        raise ValidationError(
            f"Unknown fields: {', '.join(sorted(unknown))}.",
            details={name: ["Unknown field."] for name in unknown},
        )
    hiring_request = HiringRequest(client=actor, **fields)
    _validate_request(hiring_request)
    hiring_request.save()
    hiring_request.skills.set(skills_resolve(names=skills or []))
    return hiring_request


@transaction.atomic
def request_update(
    *, actor: User, request_id: int, skills: list[str] | None = None, **fields
) -> HiringRequest:
    hiring_request = _own_request_locked(actor=actor, request_id=request_id)
    if hiring_request.state not in HiringRequest.EDITABLE_STATES:
        raise InvalidTransitionError(
            f"A {hiring_request.get_state_display().lower()} request can no longer be edited.",
            details={"state": hiring_request.state},
        )
    unknown = set(fields) - set(REQUEST_FIELDS)
    if unknown:
        raise ValidationError(
            f"Unknown fields: {', '.join(sorted(unknown))}.",
            details={name: ["Unknown field."] for name in unknown},
        )
    for name, value in fields.items():
        setattr(hiring_request, name, value)
    _validate_request(hiring_request)
    hiring_request.save()
    if skills is not None:
        hiring_request.skills.set(skills_resolve(names=skills))
    return hiring_request


@transaction.atomic
def request_publish(*, actor: User, request_id: int) -> HiringRequest:
    hiring_request = _own_request_locked(actor=actor, request_id=request_id)
    _validate_request(hiring_request)
    transition_apply(
        instance=hiring_request, transition="publish", actor=actor, timeline_key=hiring_request.timeline_key
    )
    hiring_request.published_at = timezone.now()
    hiring_request.save(update_fields=["published_at", "updated_at"])
    return hiring_request


@transaction.atomic
def request_withdraw(*, actor: User, request_id: int, reason: str = "") -> HiringRequest:
    hiring_request = _own_request_locked(actor=actor, request_id=request_id)
    transition_apply(
        instance=hiring_request,
        transition="withdraw",
        actor=actor,
        timeline_key=hiring_request.timeline_key,
        note=reason,
    )
    _close_other_consultations(
        hiring_request=hiring_request,
        keep_id=None,
        notice=f"The client withdrew the request “{hiring_request.title}”.",
    )
    return hiring_request


def _close_other_consultations(*, hiring_request: HiringRequest, keep_id: int | None, notice: str) -> None:
    """Close the request's other open consultations (their proposals declined) and its pending asks to
    be invited, telling each engineer `notice`."""
    asks = InviteRequest.objects.select_for_update().filter(
        request=hiring_request, state=InviteRequest.State.REQUESTED
    )
    for ask in asks.select_related("engineer").order_by("pk"):
        transition_apply(
            instance=ask,
            transition="decline",
            actor=None,
            timeline_key=hiring_request.timeline_key,
            note=notice,
        )
        ask.decided_at = timezone.now()
        ask.save(update_fields=["decided_at", "updated_at"])
        notify(user=ask.engineer, kind="invite_request_declined", message=notice, url=reverse("job-board"))
    others = (
        Consultation.objects.select_for_update()
        .filter(request=hiring_request, state=Consultation.State.OPEN)
        .exclude(pk=keep_id)
        .order_by("pk")
    )
    for consultation in others:
        transition_apply(
            instance=consultation,
            transition="close",
            actor=None,
            timeline_key=hiring_request.timeline_key,
            note=notice,
        )
        consultation.closed_reason = notice[:200]
        consultation.save(update_fields=["closed_reason", "updated_at"])
        for proposal in consultation.proposals.select_for_update().filter(state=Proposal.State.SUBMITTED):
            transition_apply(
                instance=proposal,
                transition="decline",
                actor=None,
                timeline_key=hiring_request.timeline_key,
                note=notice,
            )
        notify(
            user=consultation.engineer,
            kind="consultation_closed",
            message=notice,
            url=reverse("consultation-detail", args=[consultation.pk]),
        )


@transaction.atomic
def consultation_invite(*, actor: User, request_id: int, engineer_id: int, message: str = "") -> Consultation:
    hiring_request = _own_request_locked(actor=actor, request_id=request_id)
    if hiring_request.state not in (HiringRequest.State.OPEN, HiringRequest.State.CONSULTING):
        raise InvalidTransitionError(
            f"Engineers can be invited only to an open request; this one is "
            f"{hiring_request.get_state_display().lower()}.",
            details={"state": hiring_request.state},
        )
    engineer = User.objects.filter(
        pk=engineer_id, role=User.Role.ENGINEER, is_active=True, is_staff=False
    ).first()
    if engineer is None:
        raise ValidationError("engineer: No such engineer.", details={"engineer": ["No such engineer."]})
    if Consultation.objects.filter(request=hiring_request, engineer=engineer).exists():
        raise InvalidTransitionError(
            f"{engineer.display_name} is already invited to this request.", code="already_invited"
        )
    if EngineerProfile.objects.filter(
        user=engineer, availability=EngineerProfile.Availability.UNAVAILABLE
    ).exists():
        raise InvalidTransitionError(
            f"{engineer.display_name} is not taking work right now.", code="not_taking_work"
        )
    consultation = Consultation.objects.create(request=hiring_request, engineer=engineer)
    if hiring_request.state == HiringRequest.State.OPEN:
        transition_apply(
            instance=hiring_request,
            transition="start_consulting",
            actor=actor,
            timeline_key=hiring_request.timeline_key,
        )
    if message.strip():
        Message.objects.create(consultation=consultation, author=actor, body=message.strip())
    # An invitation answers the engineer's ask to be invited, however the client came to send it.
    for ask in InviteRequest.objects.select_for_update().filter(
        request=hiring_request, engineer=engineer, state=InviteRequest.State.REQUESTED
    ):
        transition_apply(
            instance=ask, transition="accept", actor=actor, timeline_key=hiring_request.timeline_key
        )
        ask.decided_at = timezone.now()
        ask.save(update_fields=["decided_at", "updated_at"])
    notify(
        user=engineer,
        kind="consultation_invited",
        message=f"{actor.display_name} invited you to consult on “{hiring_request.title}”.",
        url=reverse("consultation-detail", args=[consultation.pk]),
    )
    return consultation


def consultation_locked(*, actor: User, consultation_id: int) -> Consultation:
    """A consultation the actor takes part in, row-locked; anything else is 404."""
    consultation = (
        Consultation.objects.select_for_update(of=("self",))
        .select_related("request", "engineer", "request__client")
        .filter(pk=consultation_id)
        .first()
    )
    if consultation is None:
        raise NotFoundError("Consultation not found.")
    if actor.pk not in (consultation.engineer_id, consultation.request.client_id):
        if actor.is_staff:
            raise PermissionDeniedError("Only the client and the engineer take part in a consultation.")
        raise NotFoundError("Consultation not found.")
    return consultation


@transaction.atomic
def consultation_decline(*, actor: User, consultation_id: int, reason: str = "") -> Consultation:
    consultation = consultation_locked(actor=actor, consultation_id=consultation_id)
    transition_apply(
        instance=consultation,
        transition="decline",
        actor=actor,
        timeline_key=consultation.request.timeline_key,
        note=reason,
    )
    consultation.closed_reason = (reason or "Declined by the engineer.")[:200]
    consultation.save(update_fields=["closed_reason", "updated_at"])
    notify(
        user=consultation.request.client,
        kind="consultation_declined",
        message=f"{actor.display_name} declined to consult on “{consultation.request.title}”.",
        url=reverse("consultation-detail", args=[consultation.pk]),
    )
    return consultation


def milestone_terms_clean(item: dict, *, prefix: str, errors: dict[str, list[str]]) -> dict:
    """A milestone's title, amount (minor units) and due date, checked the one way proposals and
    change orders check them; problems go into `errors` under `<prefix>.<field>`."""
    title = str(item.get("title") or "").strip()
    amount = item.get("amount")
    due = item.get("due_date")
    if not title:
        errors[f"{prefix}.title"] = ["This field is required."]
    elif len(title) > 140:
        errors[f"{prefix}.title"] = ["Keep titles under 140 characters."]
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        errors[f"{prefix}.amount"] = ["Must be a positive amount."]
    elif amount > MAX_AMOUNT_MINOR:
        errors[f"{prefix}.amount"] = [too_large_message()]
    if not isinstance(due, date):
        errors[f"{prefix}.due_date"] = ["A date is required."]
    elif due < timezone.localdate():
        errors[f"{prefix}.due_date"] = ["The due date is in the past."]
    return {"title": title, "amount": amount, "due_date": due}


def _parse_milestones(*, milestones: list[dict], price: int) -> list[dict]:
    errors: dict[str, list[str]] = {}
    if not milestones:
        raise ValidationError(
            "milestones: Add at least one milestone.", details={"milestones": ["Add at least one milestone."]}
        )
    if len(milestones) > MAX_MILESTONES:
        raise ValidationError(
            f"milestones: At most {MAX_MILESTONES} milestones.",
            details={"milestones": [f"At most {MAX_MILESTONES} milestones."]},
        )
    cleaned = [
        milestone_terms_clean(item, prefix=f"milestones[{index}]", errors=errors)
        for index, item in enumerate(milestones)
    ]
    if not errors:
        total = sum(item["amount"] for item in cleaned)
        if total != price:
            errors["milestones"] = [
                f"Milestone amounts add up to {total}, but the price is {price} (minor units); they must be equal."
            ]
    if errors:
        field, messages = next(iter(errors.items()))
        raise ValidationError(f"{field}: {messages[0]}", details=errors)
    return cleaned


@transaction.atomic
def proposal_submit(
    *,
    actor: User,
    consultation_id: int,
    scope: str,
    price: int,
    milestones: list[dict],
    currency: str | None = None,
) -> Proposal:
    consultation = consultation_locked(actor=actor, consultation_id=consultation_id)
    if actor.pk != consultation.engineer_id:
        raise PermissionDeniedError("Only the invited engineer can send a proposal.")
    if consultation.state != Consultation.State.OPEN:
        raise InvalidTransitionError(
            f"This consultation is {consultation.get_state_display().lower()}; proposals are closed.",
            details={"state": consultation.state},
        )
    if consultation.request.state not in (HiringRequest.State.OPEN, HiringRequest.State.CONSULTING):
        raise InvalidTransitionError(
            "The request is no longer taking proposals.", details={"state": consultation.request.state}
        )
    scope = scope.strip()
    if not scope:
        raise ValidationError("scope: Describe the scope.", details={"scope": ["This field is required."]})
    if not isinstance(price, int) or isinstance(price, bool) or price <= 0:
        raise ValidationError(
            "price: Must be a positive amount.", details={"price": ["Must be a positive amount."]}
        )
    cleaned = _parse_milestones(milestones=milestones, price=price)
    currency = currency or consultation.request.currency
    if currency != consultation.request.currency:
        raise ValidationError(
            f"currency: The request is priced in {consultation.request.currency.upper()}.",
            details={"currency": [f"Must be {consultation.request.currency.upper()}."]},
        )
    # A new proposal supersedes the engineer's earlier one in this thread.
    for earlier in consultation.proposals.select_for_update().filter(state=Proposal.State.SUBMITTED):
        transition_apply(
            instance=earlier,
            transition="withdraw",
            actor=actor,
            timeline_key=consultation.request.timeline_key,
            note="Superseded by a new proposal.",
        )
    proposal = Proposal.objects.create(consultation=consultation, scope=scope, price=price, currency=currency)
    ProposalMilestone.objects.bulk_create(
        ProposalMilestone(proposal=proposal, position=index + 1, **item) for index, item in enumerate(cleaned)
    )
    notify(
        user=consultation.request.client,
        kind="proposal_received",
        message=f"{actor.display_name} sent a proposal for “{consultation.request.title}”.",
        url=reverse("consultation-detail", args=[consultation.pk]),
    )
    return proposal


def _proposal_for_actor(*, actor: User, proposal_id: int) -> Proposal:
    proposal = (
        Proposal.objects.select_related("consultation", "consultation__request")
        .filter(pk=proposal_id)
        .first()
    )
    if proposal is None:
        raise NotFoundError("Proposal not found.")
    if actor.pk not in (proposal.consultation.engineer_id, proposal.consultation.request.client_id):
        if actor.is_staff:
            raise PermissionDeniedError("Only the client and the engineer act on a proposal.")
        raise NotFoundError("Proposal not found.")
    return proposal


@transaction.atomic
def proposal_withdraw(*, actor: User, proposal_id: int) -> Proposal:
    proposal = _proposal_for_actor(actor=actor, proposal_id=proposal_id)
    if actor.pk != proposal.consultation.engineer_id:
        raise PermissionDeniedError("Only the engineer who sent a proposal can withdraw it.")
    proposal = Proposal.objects.select_for_update().get(pk=proposal.pk)
    transition_apply(
        instance=proposal,
        transition="withdraw",
        actor=actor,
        timeline_key=f"request:{proposal.consultation.request_id}",
    )
    return proposal


@transaction.atomic
def proposal_accept(*, actor: User, proposal_id: int) -> Engagement:
    """Hire: the request becomes hired, an engagement with its milestones is created, and every
    other consultation on the request is closed with a notice. Exactly one accept wins per request."""
    found = _proposal_for_actor(actor=actor, proposal_id=proposal_id)
    if actor.pk != found.consultation.request.client_id:
        raise PermissionDeniedError("Only the client can accept a proposal.")
    # Lock order everywhere: request, then consultation, then proposal.
    hiring_request = _own_request_locked(actor=actor, request_id=found.consultation.request_id)
    consultation = Consultation.objects.select_for_update().get(pk=found.consultation_id)
    proposal = Proposal.objects.select_for_update().get(pk=found.pk)
    if hiring_request.state not in (HiringRequest.State.OPEN, HiringRequest.State.CONSULTING):
        raise InvalidTransitionError(
            f"The request is {hiring_request.get_state_display().lower()}; it cannot hire again.",
            details={"state": hiring_request.state},
        )
    if consultation.state != Consultation.State.OPEN:
        raise InvalidTransitionError(
            f"This consultation is {consultation.get_state_display().lower()}.",
            details={"state": consultation.state},
        )
    key = hiring_request.timeline_key
    transition_apply(instance=proposal, transition="accept", actor=actor, timeline_key=key)
    transition_apply(instance=consultation, transition="hire", actor=actor, timeline_key=key)
    transition_apply(instance=hiring_request, transition="hire", actor=actor, timeline_key=key)
    engagement = Engagement.objects.create(
        request=hiring_request,
        proposal=proposal,
        consultation=consultation,
        client=actor,
        engineer_id=consultation.engineer_id,
        title=hiring_request.title,
        currency=proposal.currency,
        total=proposal.price,
    )
    Milestone.objects.bulk_create(
        Milestone(
            engagement=engagement,
            position=item.position,
            title=item.title,
            amount=item.amount,
            currency=proposal.currency,
            due_date=item.due_date,
        )
        for item in proposal.milestones.all()
    )
    _close_other_consultations(
        hiring_request=hiring_request,
        keep_id=consultation.pk,
        notice=f"The client hired another engineer for “{hiring_request.title}”. Thank you for your time.",
    )
    notify(
        user=consultation.engineer,
        kind="proposal_accepted",
        message=f"{actor.display_name} accepted your proposal for “{hiring_request.title}”.",
        url=reverse("engagement-detail", args=[engagement.pk]),
    )
    return engagement
