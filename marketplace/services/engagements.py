"""Engagements and milestones: work, delivery, review, and the transitions the payments app drives.

Every milestone transition goes through `_milestone_transition`: lock the row, check the actor,
apply the django-fsm transition, record it on the engagement's timeline, notify on commit, and write
the events the parties talk about (deliveries, revisions, disputes) into the engagement's
conversation.
"""

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import URLValidator
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from core.errors import InvalidTransitionError, NotFoundError, PermissionDeniedError, ValidationError
from core.transitions import transition_apply
from marketplace.models import (
    Delivery,
    DeliveryAttachment,
    Dispute,
    DisputeEvidence,
    DisputeStatement,
    Engagement,
    Milestone,
    User,
)
from marketplace.models.disputes import PARTY_CATEGORIES
from marketplace.services.attachments import attachments_validate
from marketplace.services.conversations import conversation_event
from marketplace.services.notifications import notify, notify_staff
from marketplace.signals import delivery_submitted, milestone_approving

MAX_LINKS = 20


def _milestone_locked(*, milestone_id: int, actor: User | None) -> Milestone:
    """The milestone, row-locked; for a user who is neither a party nor staff it does not exist."""
    milestone = (
        Milestone.objects.select_for_update(of=("self",))
        .select_related("engagement", "engagement__client", "engagement__engineer")
        .filter(pk=milestone_id)
        .first()
    )
    if milestone is None:
        raise NotFoundError("Milestone not found.")
    if (
        actor is not None
        and not actor.is_staff
        and actor.pk not in (milestone.engagement.client_id, milestone.engagement.engineer_id)
    ):
        raise NotFoundError("Milestone not found.")
    return milestone


def _milestone_url(milestone: Milestone) -> str:
    return reverse("engagement-detail", args=[milestone.engagement_id]) + f"#milestone-{milestone.pk}"


def _milestone_transition(
    *,
    milestone_id: int,
    transition: str,
    actor: User | None,
    note: str = "",
    before: Callable[[Milestone], None] | None = None,
    after: Callable[[Milestone], None] | None = None,
    notify_users: Callable[[Milestone], Iterable[User]] = lambda m: (),
    message: str = "",
    event: Callable[[Milestone], str] | None = None,
) -> Milestone:
    with transaction.atomic():
        milestone = _milestone_locked(milestone_id=milestone_id, actor=actor)
        if before is not None:
            before(milestone)
        transition_apply(
            instance=milestone,
            transition=transition,
            actor=actor,
            timeline_key=milestone.engagement.timeline_key,
            note=note,
        )
        if after is not None:
            after(milestone)
            milestone.save()
        for user in notify_users(milestone):
            notify(
                user=user,
                kind=f"milestone_{transition}",
                message=message.format(m=milestone, actor=actor.display_name if actor else "Tunehire"),
                url=_milestone_url(milestone),
                actor=actor,
            )
        if event is not None:  # written into the engagement's conversation, in order with the messages
            conversation_event(
                consultation_id=milestone.engagement.consultation_id,
                actor=actor,
                body=event(milestone),
                link=_milestone_url(milestone),
            )
        _engagement_sync_completion(engagement=milestone.engagement)
    return milestone


def _engagement_sync_completion(*, engagement: Engagement) -> None:
    """An engagement completes, and its request closes, once no milestone is still open."""
    if engagement.state != Engagement.State.ACTIVE:
        return
    if engagement.milestones.filter(state__in=Milestone.OPEN_STATES).exists():
        return
    engagement = Engagement.objects.select_for_update().select_related("request").get(pk=engagement.pk)
    transition_apply(
        instance=engagement, transition="complete", actor=None, timeline_key=engagement.timeline_key
    )
    engagement.completed_at = timezone.now()
    engagement.save(update_fields=["completed_at", "updated_at"])
    hiring_request = engagement.request
    if hiring_request.state == hiring_request.State.HIRED:
        hiring_request = type(hiring_request).objects.select_for_update().get(pk=hiring_request.pk)
        transition_apply(
            instance=hiring_request, transition="close", actor=None, timeline_key=hiring_request.timeline_key
        )
    notify(
        user=engagement.client,
        kind="engagement_completed",
        message=f"“{engagement.title}” is complete. Rate your engineer to help others hire well.",
        url=reverse("engagement-detail", args=[engagement.pk]),
    )


def _client(m: Milestone) -> tuple[User, ...]:
    return (m.engagement.client,)


def _engineer(m: Milestone) -> tuple[User, ...]:
    return (m.engagement.engineer,)


def _parties(m: Milestone) -> tuple[User, ...]:
    return (m.engagement.client, m.engagement.engineer)


def _require_note(value: str, field: str, label: str) -> str:
    value = value.strip()
    if not value:
        raise ValidationError(f"{field}: {label}", details={field: [label]})
    return value


# --- Work -------------------------------------------------------------------------------------


def milestone_start(*, actor: User, milestone_id: int) -> Milestone:
    return _milestone_transition(
        milestone_id=milestone_id,
        transition="start_work",
        actor=actor,
        notify_users=_client,
        message="{actor} started work on “{m.title}”.",
        event=lambda m: f"Started work on “{m.title}”.",
    )


def _validate_links(links: list[str]) -> list[str]:
    if len(links) > MAX_LINKS:
        raise ValidationError(
            f"links: At most {MAX_LINKS} links.", details={"links": [f"At most {MAX_LINKS}."]}
        )
    validate = URLValidator(schemes=["http", "https"])
    cleaned = []
    for index, link in enumerate(links):
        link = str(link).strip()
        if not link:
            continue
        try:
            validate(link)
        except DjangoValidationError:
            raise ValidationError(
                f"links[{index}]: {link[:80]!r} is not an http(s) URL.",
                details={f"links[{index}]": ["Enter an http or https URL."]},
            ) from None
        cleaned.append(link)
    return cleaned


def milestone_submit(
    *,
    actor: User,
    milestone_id: int,
    message: str,
    links: list[str] | None = None,
    files: list[UploadedFile] | None = None,
    adapter: Mapping[str, UploadedFile] | None = None,
    training: Mapping[str, Any] | None = None,
) -> Delivery:
    """The engineer delivers. `adapter` ({"adapter_config": ..., "adapter_model": ...}, a LoRA
    adapter's two files), or `training` ({"dataset": ..., "hyperparameters": ...}, for the platform to
    train where the test allows it), goes to the `delivery_submitted` receivers: a milestone with an
    acceptance test requires them, and its test refuses an adapter that does not fit before anything
    is kept."""
    message = _require_note(message, "message", "Describe what you are delivering.")
    links = _validate_links(links or [])
    files = files or []
    attachments_validate(files)
    delivered: list[Delivery] = []

    def record(milestone: Milestone) -> None:
        now = timezone.now()
        milestone.submitted_at = now
        milestone.auto_approve_at = now + timedelta(days=settings.AUTO_APPROVE_DAYS)
        milestone.auto_approve_reminded_at = None
        delivery = Delivery.objects.create(milestone=milestone, author=actor, message=message, links=links)
        for upload in files:
            DeliveryAttachment.store(upload, delivery=delivery)
        delivery_submitted.send(
            sender=Delivery, delivery=delivery, adapter=dict(adapter or {}), training=dict(training or {})
        )
        delivered.append(delivery)

    _milestone_transition(
        milestone_id=milestone_id,
        transition="submit",
        actor=actor,
        after=record,
        notify_users=_client,
        message=(
            f"{{actor}} delivered “{{m.title}}”. Review it within {settings.AUTO_APPROVE_DAYS} days, "
            "or it is approved automatically."
        ),
        event=lambda m: f"Delivered “{m.title}”.\n\n{message}",
    )
    return delivered[0]


def _latest_delivery(milestone: Milestone) -> Delivery | None:
    return milestone.deliveries.select_for_update().order_by("-created_at", "-id").first()


def milestone_request_revision(*, actor: User, milestone_id: int, comment: str) -> Milestone:
    comment = _require_note(comment, "comment", "Say what needs to change.")

    def record(milestone: Milestone) -> None:
        milestone.revision_count += 1
        milestone.auto_approve_at = None
        delivery = _latest_delivery(milestone)
        if delivery is not None:
            delivery.review = Delivery.Review.REVISION_REQUESTED
            delivery.review_comment = comment
            delivery.reviewed_at = timezone.now()
            delivery.save(update_fields=["review", "review_comment", "reviewed_at"])

    return _milestone_transition(
        milestone_id=milestone_id,
        transition="request_revision",
        actor=actor,
        note=comment,
        after=record,
        notify_users=_engineer,
        message="{actor} asked for a revision of “{m.title}”.",
        event=lambda m: f"Asked for a revision of “{m.title}”.\n\n{comment}",
    )


def milestone_approve(
    *, actor: User | None, milestone_id: int, note: str = "", approve_anyway: bool = False
) -> Milestone:
    """The client (or staff, or the auto-approval timer with actor None) accepts the delivery.

    The `milestone_approving` receivers may refuse it (an acceptance test not passed): then only
    `approve_anyway` with a note, the reason kept on the timeline, approves it."""

    def check(milestone: Milestone) -> None:
        milestone_approving.send(
            sender=Milestone,
            milestone=milestone,
            actor=actor,
            note=note.strip(),
            approve_anyway=approve_anyway,
        )

    def record(milestone: Milestone) -> None:
        milestone.approved_at = timezone.now()
        milestone.auto_approve_at = None
        delivery = _latest_delivery(milestone)
        if delivery is not None:
            delivery.review = Delivery.Review.APPROVED
            delivery.review_comment = note
            delivery.reviewed_at = milestone.approved_at
            delivery.save(update_fields=["review", "review_comment", "reviewed_at"])
        # The payments app hears the transition and opens the payout awaiting staff approval.

    return _milestone_transition(
        milestone_id=milestone_id,
        transition="approve",
        actor=actor,
        note=note,
        before=check,
        after=record,
        notify_users=_parties,
        message="“{m.title}” was approved by {actor}.",
        event=lambda m: f"Approved “{m.title}”." + (f"\n\n{note.strip()}" if note.strip() else ""),
    )


# --- Money: driven by the payments app (actor None) or staff ----------------------------------------


def milestone_mark_funded(*, milestone_id: int, actor: User | None = None, note: str = "") -> Milestone:
    def record(milestone: Milestone) -> None:
        milestone.funded_at = timezone.now()

    return _milestone_transition(
        milestone_id=milestone_id,
        transition="mark_funded",
        actor=actor,
        note=note,
        after=record,
        notify_users=_parties,
        message="“{m.title}” is funded and held in escrow. Work can start.",
    )


def milestone_request_payout(*, milestone_id: int, actor: User | None = None, note: str = "") -> Milestone:
    return _milestone_transition(
        milestone_id=milestone_id, transition="request_payout", actor=actor, note=note
    )


def milestone_mark_paid(*, milestone_id: int, actor: User | None = None, note: str = "") -> Milestone:
    return _milestone_transition(
        milestone_id=milestone_id,
        transition="mark_paid",
        actor=actor,
        note=note,
        notify_users=_engineer,
        message="The payout for “{m.title}” was sent.",
    )


# "At least a sentence": a few words that say what went wrong.
DISPUTE_MIN_CHARACTERS = 20


def _dispute_description(reason: str) -> str:
    reason = _require_note(reason, "reason", "Describe what went wrong.")
    if len(reason) < DISPUTE_MIN_CHARACTERS or len(reason.split()) < 3:
        message = (
            f"Describe what went wrong in at least a sentence ({DISPUTE_MIN_CHARACTERS} characters or more)."
        )
        raise ValidationError(f"reason: {message}", details={"reason": [message]})
    if len(reason) > 5000:
        raise ValidationError(
            "reason: Keep it under 5,000 characters.", details={"reason": ["Keep it under 5,000 characters."]}
        )
    return reason


def milestone_open_dispute(
    *,
    actor: User | None,
    milestone_id: int,
    reason: str,
    category: str | None = None,
    files: list[UploadedFile] | None = None,
) -> Milestone:
    """A party disputes a funded milestone: a reason from the fixed list (`Dispute.Category`), a
    description of at least a sentence and evidence files. Payouts freeze, staff are told at once, and
    the other party can respond. The platform (actor None) opens one for a card chargeback."""
    files = files or []
    if actor is None:
        reason, category = reason.strip(), category or Dispute.Category.CARD_CHARGEBACK
    else:
        if category not in dict(PARTY_CATEGORIES):
            message = (
                "Choose what the dispute is about: " + "; ".join(label for _, label in PARTY_CATEGORIES) + "."
            )
            raise ValidationError(f"category: {message}", details={"category": [message]})
        reason = _dispute_description(reason)
    attachments_validate(files, field="evidence")
    opened: list[Dispute] = []

    def record(milestone: Milestone) -> None:
        dispute = Dispute.objects.create(
            milestone=milestone, opened_by=actor, category=category, description=reason
        )
        for upload in files:
            DisputeEvidence.store(upload, dispute=dispute, uploaded_by=actor)
        opened.append(dispute)

    milestone = _milestone_transition(
        milestone_id=milestone_id,
        transition="open_dispute",
        actor=actor,
        note=reason,
        after=record,
        notify_users=_parties,
        message="{actor} opened a dispute on “{m.title}”. Payouts are frozen.",
        event=lambda m: (
            f"Opened a dispute on “{m.title}”: {Dispute.Category(category).label.lower()}. Payouts on it are "
            f"frozen while staff mediate.\n\n{reason}"
        ),
    )
    notify_staff(
        kind="dispute_opened",
        message=f"A dispute to settle on “{milestone.title}” ({Dispute.Category(category).label.lower()}).",
        url=_milestone_url(milestone),
    )
    return milestone


@transaction.atomic
def dispute_respond(
    *, actor: User, milestone_id: int, body: str, files: list[UploadedFile] | None = None
) -> DisputeStatement:
    """A party adds their side (a response, or more from the opener) with evidence, while the
    dispute is open; the other party and staff are told."""
    files = files or []
    body = _require_note(body, "body", "Say what you want staff to know.")
    if len(body) > 5000:
        raise ValidationError(
            "body: Keep it under 5,000 characters.", details={"body": ["Keep it under 5,000 characters."]}
        )
    attachments_validate(files, field="evidence")
    milestone = _milestone_locked(milestone_id=milestone_id, actor=actor)
    engagement = milestone.engagement
    if actor.pk not in (engagement.client_id, engagement.engineer_id):
        raise PermissionDeniedError(
            "Only the client and the engineer take part in a dispute; staff settle it."
        )
    dispute = milestone.disputes.filter(settled_at=None).first()
    if milestone.state != Milestone.State.DISPUTED or dispute is None:
        raise InvalidTransitionError(
            f"“{milestone.title}” has no open dispute.", details={"state": milestone.state}
        )
    statement = DisputeStatement.objects.create(dispute=dispute, author=actor, body=body)
    for upload in files:
        DisputeEvidence.store(upload, dispute=dispute, statement=statement, uploaded_by=actor)
    other = engagement.engineer if actor.pk == engagement.client_id else engagement.client
    url = _milestone_url(milestone)
    notify(
        user=other,
        kind="milestone_dispute_statement",
        message=f"{actor.display_name} added to the dispute on “{milestone.title}”.",
        url=url,
    )
    notify_staff(
        kind="dispute_statement",
        message=f"{actor.display_name} added to the dispute on “{milestone.title}”.",
        url=url,
    )
    conversation_event(
        consultation_id=engagement.consultation_id,
        actor=actor,
        body=f"Added to the dispute on “{milestone.title}”.\n\n{body}",
        link=url,
    )
    return statement


def milestone_resolve_dispute(*, actor: User | None, milestone_id: int, note: str) -> Milestone:
    note = _require_note(note, "note", "Record how the dispute was resolved.")

    def record(milestone: Milestone) -> None:
        milestone.disputes.filter(settled_at=None).update(settled_at=timezone.now())

    return _milestone_transition(
        milestone_id=milestone_id,
        transition="resolve_dispute",
        actor=actor,
        note=note,
        after=record,
        notify_users=_parties,
        message="The dispute on “{m.title}” was resolved.",
        event=lambda m: f"The dispute on “{m.title}” was settled.\n\n{note}",
    )


def milestone_cancel(*, actor: User, milestone_id: int, reason: str = "") -> Milestone:
    return _milestone_transition(
        milestone_id=milestone_id,
        transition="cancel",
        actor=actor,
        note=reason,
        notify_users=_parties,
        message="“{m.title}” was cancelled before funding.",
    )


def milestone_request_refund(*, actor: User | None, milestone_id: int, reason: str) -> Milestone:
    reason = _require_note(reason, "reason", "Say why the milestone is refunded.")
    return _milestone_transition(
        milestone_id=milestone_id,
        transition="request_refund",
        actor=actor,
        note=reason,
        notify_users=_parties,
        message="A refund of “{m.title}” was started.",
    )


def milestone_mark_refunded(*, milestone_id: int, actor: User | None = None, note: str = "") -> Milestone:
    return _milestone_transition(
        milestone_id=milestone_id,
        transition="mark_refunded",
        actor=actor,
        note=note,
        notify_users=_parties,
        message="“{m.title}” was refunded to the client.",
    )


# --- Timers --------------------------------------------------------------------------------------


def milestones_auto_approve(*, now: datetime | None = None) -> dict[str, int]:
    """Approve submitted milestones whose review window passed; remind clients before it does.

    Safe to run any number of times: each milestone is re-checked under its row lock.
    """
    now = now or timezone.now()
    reminder_at = now + timedelta(days=settings.AUTO_APPROVE_REMINDER_DAYS)
    approved = reminded = 0
    due = Milestone.objects.filter(state=Milestone.State.SUBMITTED, auto_approve_at__lte=now)
    for milestone_id in due.values_list("pk", flat=True):
        try:
            milestone_approve(
                actor=None,
                milestone_id=milestone_id,
                note=f"Approved automatically after {settings.AUTO_APPROVE_DAYS} days without a review.",
            )
            approved += 1
        except InvalidTransitionError:
            continue  # Reviewed meanwhile.
    to_remind = Milestone.objects.filter(
        state=Milestone.State.SUBMITTED,
        auto_approve_at__gt=now,
        auto_approve_at__lte=reminder_at,
        auto_approve_reminded_at__isnull=True,
    )
    for milestone_id in to_remind.values_list("pk", flat=True):
        with transaction.atomic():
            milestone = _milestone_locked(milestone_id=milestone_id, actor=None)
            if milestone.state != Milestone.State.SUBMITTED or milestone.auto_approve_reminded_at:
                continue
            milestone.auto_approve_reminded_at = now
            milestone.save(update_fields=["auto_approve_reminded_at", "updated_at"])
            notify(
                user=milestone.engagement.client,
                kind="milestone_auto_approve_reminder",
                message=(
                    f"“{milestone.title}” will be approved automatically on "
                    f"{milestone.auto_approve_at:%Y-%m-%d %H:%M} UTC unless you review it."
                ),
                url=_milestone_url(milestone),
            )
            reminded += 1
    return {"approved": approved, "reminded": reminded}


def milestone_set_auto_approval(*, milestone_id: int, at: datetime | None) -> Milestone:
    """Bring a submitted milestone's automatic approval forward to `at` (never later than it was), or
    cancel it (`at` None): an acceptance test that passed needs less of the client's review, one that
    did not pass needs the client's decision."""
    with transaction.atomic():
        milestone = _milestone_locked(milestone_id=milestone_id, actor=None)
        if milestone.state != Milestone.State.SUBMITTED:
            return milestone
        current = milestone.auto_approve_at
        new = None if at is None else min(at, current) if current is not None else at
        if new != current:
            milestone.auto_approve_at = new
            milestone.auto_approve_reminded_at = None
            milestone.save(update_fields=["auto_approve_at", "auto_approve_reminded_at", "updated_at"])
    return milestone


# --- Reviews --------------------------------------------------------------------------------------
