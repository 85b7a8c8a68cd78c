"""Conversations: one per consultation, carried on after the hire as the engagement's conversation.

The parties write messages (with attachments); the engagement's events (a delivery, a revision
request, a dispute and its settlement) are written into the same conversation as they happen, so its
history is one scroll. Read marks are per party; messages a party has not read within
CONVERSATION_EMAIL_DELAY_MINUTES are told to them in one notification per sweep (in-app and e-mail,
as their "messages" preferences allow), never one mail per message.
"""

from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from core.errors import InvalidTransitionError, ValidationError
from marketplace.models import (
    Consultation,
    ConversationRead,
    Engagement,
    Message,
    MessageAttachment,
    User,
)
from marketplace.services.attachments import attachments_validate
from marketplace.services.notifications import notify
from marketplace.services.requests import consultation_locked

MAX_BODY = 10_000


def conversation_is_open(consultation: Consultation) -> bool:
    """Open while consulting, and after the hire for as long as the engagement is active."""
    if consultation.state == Consultation.State.OPEN:
        return True
    if consultation.state == Consultation.State.HIRED:
        return Engagement.objects.filter(consultation=consultation, state=Engagement.State.ACTIVE).exists()
    return False


def _mark_read(*, consultation_id: int, user_id: int, through: int) -> None:
    read, _ = ConversationRead.objects.get_or_create(consultation_id=consultation_id, user_id=user_id)
    if through > read.read_through:
        ConversationRead.objects.filter(pk=read.pk, read_through__lt=through).update(read_through=through)


@transaction.atomic
def message_post(
    *, actor: User, consultation_id: int, body: str, files: list[UploadedFile] | None = None
) -> Message:
    """A party writes in the conversation: text, files, or both (files alone need no text)."""
    consultation = consultation_locked(actor=actor, consultation_id=consultation_id)
    body = (body or "").strip()
    files = files or []
    if not body and not files:
        raise ValidationError(
            "body: A message cannot be empty.", details={"body": ["Write a message or attach a file."]}
        )
    if len(body) > MAX_BODY:
        raise ValidationError(
            "body: Keep messages under 10,000 characters.",
            details={"body": ["Keep messages under 10,000 characters."]},
        )
    attachments_validate(files)
    if not conversation_is_open(consultation):
        if consultation.state == Consultation.State.HIRED:
            raise InvalidTransitionError(
                "This engagement is finished; no new messages.", details={"state": "finished"}
            )
        raise InvalidTransitionError(
            f"This consultation is {consultation.get_state_display().lower()}; no new messages.",
            details={"state": consultation.state},
        )
    message = Message.objects.create(consultation=consultation, author=actor, body=body)
    for upload in files:
        MessageAttachment.store(upload, message=message)
    _mark_read(consultation_id=consultation.pk, user_id=actor.pk, through=message.pk)
    Consultation.objects.filter(pk=consultation.pk).update(updated_at=timezone.now())
    return message


def conversation_event(*, consultation_id: int, actor: User | None, body: str, link: str = "") -> Message:
    """Write an engagement event into its conversation (inside the caller's transaction). The
    parties were told of it by its own notification; the actor has read it."""
    message = Message.objects.create(
        consultation_id=consultation_id, author=actor, kind=Message.Kind.EVENT, body=body, link=link[:300]
    )
    if actor is not None:
        _mark_read(consultation_id=consultation_id, user_id=actor.pk, through=message.pk)
    return message


def conversation_mark_read(*, actor: User, consultation_id: int) -> int:
    """The actor has read the conversation to its newest message; returns that message's id."""
    with transaction.atomic():
        consultation = consultation_locked(actor=actor, consultation_id=consultation_id)
        newest = consultation.messages.aggregate(newest=Max("id"))["newest"] or 0
        _mark_read(consultation_id=consultation.pk, user_id=actor.pk, through=newest)
    return newest


def _parties(consultation: Consultation) -> tuple[int, int]:
    return consultation.engineer_id, consultation.request.client_id


def conversations_notify_unread(*, now: datetime | None = None) -> dict[str, int]:
    """Tell each party, in one notification, about the messages they have not read for
    CONVERSATION_EMAIL_DELAY_MINUTES and were not told about yet. Each party's marks are locked while
    their notification is written, so two sweeps never tell the same message twice."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.CONVERSATION_EMAIL_DELAY_MINUTES)
    # Messages older than a week unread are left to the inbox: the sweep looks back that far only.
    recent = Message.objects.filter(
        kind=Message.Kind.MESSAGE, created_at__lte=cutoff, created_at__gt=cutoff - timedelta(days=7)
    )
    consultations = Consultation.objects.filter(pk__in=recent.values("consultation_id")).select_related(
        "request", "engineer"
    )
    waiting: dict[int, list[Consultation]] = defaultdict(list)
    for consultation in consultations:
        for user_id in _parties(consultation):
            waiting[user_id].append(consultation)
    told = 0
    for user_id, candidates in waiting.items():
        told += _notify_one(user_id=user_id, candidates=candidates, recent=recent)
    return {"users_told": told}


@transaction.atomic
def _notify_one(*, user_id: int, candidates: list[Consultation], recent) -> int:
    """One user's notification; the same few queries however many conversations wait on them."""
    ConversationRead.objects.bulk_create(
        [ConversationRead(consultation=consultation, user_id=user_id) for consultation in candidates],
        ignore_conflicts=True,  # a mark that exists (or a concurrent sweep's) is kept as it is
    )
    marks = {
        read.consultation_id: read
        for read in ConversationRead.objects.select_for_update().filter(
            user_id=user_id, consultation__in=candidates
        )
    }
    told_through = {pk: max(mark.read_through, mark.emailed_through) for pk, mark in marks.items()}
    by_consultation: dict[int, list[Message]] = defaultdict(list)
    for message in (
        # Nothing at or below the lowest mark can be new: those rows are not read at all.
        recent.filter(consultation__in=candidates, pk__gt=min(told_through.values()))
        .exclude(author_id=user_id)
        .select_related("author")
        .order_by("id")
    ):
        if message.pk > told_through[message.consultation_id]:
            by_consultation[message.consultation_id].append(message)
    untold = [(c, by_consultation[c.pk]) for c in candidates if by_consultation[c.pk]]
    if not untold:
        return 0
    for consultation, messages in untold:
        marks[consultation.pk].emailed_through = messages[-1].pk
    ConversationRead.objects.bulk_update([marks[c.pk] for c, _ in untold], ["emailed_through"])
    user = User.objects.get(pk=user_id)
    count = sum(len(messages) for _, messages in untold)
    lines = []
    for consultation, messages in untold:
        authors = sorted({m.author.display_name for m in messages if m.author is not None})
        lines.append(f"{len(messages)} from {', '.join(authors)} on “{consultation.request.title}”")
    summary = f"{count} unread message{'s' if count != 1 else ''}: " + "; ".join(lines) + "."
    url = (
        reverse("consultation-detail", args=[untold[0][0].pk]) + "#thread"
        if len(untold) == 1
        else reverse("conversation-inbox")
    )
    notify(user=user, kind="messages_unread", message=summary, url=url)
    return 1
