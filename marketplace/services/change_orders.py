"""Change orders: after the hire, either party proposes adding, editing or removing milestones that are
not funded yet; the other party accepts (the plan changes at once, in one transaction) or declines; the
proposer may withdraw. Funded work never changes here: that is what disputes and cancellations are for.

Each step is recorded on the engagement's timeline, written into its conversation and told to the
other party. The apps above the marketplace may refuse a change to a milestone through the
`milestone_changing` signal (payments: a card payment for it is under way).
"""

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from core.errors import InvalidTransitionError, NotFoundError, PermissionDeniedError, ValidationError
from core.money import format_money, format_signed_money
from core.transitions import timeline_record, transition_apply
from marketplace.models import ChangeOrder, ChangeOrderItem, Engagement, Milestone, User
from marketplace.services.conversations import conversation_event
from marketplace.services.notifications import notify
from marketplace.services.requests import MAX_MILESTONES, milestone_terms_clean
from marketplace.signals import milestone_changing

Action = ChangeOrderItem.Action
MAX_CHANGES = MAX_MILESTONES
MAX_NOTE = 2_000


def _engagement_locked(*, actor: User, engagement_id: int) -> Engagement:
    engagement = (
        Engagement.objects.select_for_update(of=("self",))
        .select_related("client", "engineer")
        .filter(pk=engagement_id)
        .first()
    )
    if engagement is not None and actor.is_staff:
        raise PermissionDeniedError("Only the client and the engineer change their plan.")
    if engagement is None or actor.pk not in (engagement.client_id, engagement.engineer_id):
        raise NotFoundError("Engagement not found.")
    return engagement


def _change_order_locked(*, actor: User, change_order_id: int) -> ChangeOrder:
    change_order = (
        ChangeOrder.objects.select_for_update(of=("self",))
        .select_related("engagement", "engagement__client", "engagement__engineer", "proposed_by")
        .filter(pk=change_order_id)
        .first()
    )
    if change_order is not None and actor.is_staff:
        raise PermissionDeniedError("Only the client and the engineer change their plan.")
    if change_order is None or actor.pk not in (
        change_order.engagement.client_id,
        change_order.engagement.engineer_id,
    ):
        raise NotFoundError("Change order not found.")
    return change_order


def _url(engagement: Engagement) -> str:
    return reverse("engagement-detail", args=[engagement.pk]) + "#change-orders"


def _other_party(engagement: Engagement, user: User) -> User:
    return engagement.engineer if user.pk == engagement.client_id else engagement.client


def _describe(item: ChangeOrderItem, currency: str) -> str:
    if item.action == Action.ADD:
        return f"add “{item.title}” ({format_money(item.amount, currency)}, due {item.due_date:%b %-d, %Y})"
    if item.action == Action.REMOVE:
        return f"remove “{item.was_title}” ({format_money(item.was_amount, currency)})"
    changes = []
    if item.title != item.was_title:
        changes.append(f"renamed “{item.title}”")
    if item.amount != item.was_amount:
        changes.append(f"{format_money(item.was_amount, currency)} → {format_money(item.amount, currency)}")
    if item.due_date != item.was_due_date:
        changes.append(f"due {item.was_due_date:%b %-d} → {item.due_date:%b %-d, %Y}")
    return f"change “{item.was_title}”: {', '.join(changes)}"


def change_order_summary(change_order: ChangeOrder) -> str:
    """One line naming every change and what it does to the total."""
    currency = change_order.engagement.currency
    items = list(change_order.items.all())
    delta = sum(item.delta for item in items)
    changes = "; ".join(_describe(item, currency) for item in items)
    return f"{changes[:1].upper()}{changes[1:]}. Total {format_signed_money(delta, currency)}."


def _clean_changes(engagement: Engagement, changes: list[dict]) -> list[dict]:
    """Each change checked against the plan as it is now; every problem at once, by `changes[i].field`."""
    if not changes:
        raise ValidationError(
            "changes: Propose at least one change.", details={"changes": ["Propose at least one change."]}
        )
    if len(changes) > MAX_CHANGES:
        raise ValidationError(
            f"changes: At most {MAX_CHANGES} changes at once.",
            details={"changes": [f"At most {MAX_CHANGES} changes at once."]},
        )
    milestones = {m.pk: m for m in engagement.milestones.all()}
    errors: dict[str, list[str]] = {}
    cleaned, touched = [], set()
    for index, change in enumerate(changes):
        prefix = f"changes[{index}]"
        action = change.get("action")
        if action not in Action.values:
            errors[f"{prefix}.action"] = [f"Choose one of: {', '.join(Action.values)}."]
            continue
        if action == Action.ADD:
            cleaned.append({"action": action, **milestone_terms_clean(change, prefix=prefix, errors=errors)})
            continue
        milestone = milestones.get(change.get("milestone"))
        if milestone is None:
            errors[f"{prefix}.milestone"] = ["Choose a milestone of this engagement."]
            continue
        if milestone.pk in touched:
            errors[f"{prefix}.milestone"] = [f"“{milestone.title}” is already changed above."]
            continue
        touched.add(milestone.pk)
        if milestone.state != Milestone.State.PENDING_FUNDING:
            errors[f"{prefix}.milestone"] = [
                f"“{milestone.title}” is {milestone.get_state_display().lower()}: only milestones not "
                "funded yet can change."
            ]
            continue
        was = {
            "was_title": milestone.title,
            "was_amount": milestone.amount,
            "was_due_date": milestone.due_date,
        }
        if action == Action.REMOVE:
            cleaned.append({"action": action, "milestone": milestone, **was})
            continue
        terms = {
            "title": change.get("title", milestone.title),
            "amount": change.get("amount", milestone.amount),
            "due_date": change.get("due_date", milestone.due_date),
        }
        terms = milestone_terms_clean(terms, prefix=prefix, errors=errors)
        if (terms["title"], terms["amount"], terms["due_date"]) == (
            milestone.title,
            milestone.amount,
            milestone.due_date,
        ):
            errors.setdefault(f"{prefix}.milestone", [f"Nothing about “{milestone.title}” changes."])
        cleaned.append({"action": action, "milestone": milestone, **terms, **was})
    open_left = sum(1 for m in milestones.values() if m.state in Milestone.OPEN_STATES) - sum(
        1 for item in cleaned if item["action"] == Action.REMOVE
    )
    if not errors and open_left + sum(1 for item in cleaned if item["action"] == Action.ADD) < 1:
        errors["changes"] = [
            "This would leave no milestone to work on; cancel the remaining milestones instead."
        ]
    if errors:
        field, messages = next(iter(errors.items()))
        raise ValidationError(f"{field}: {messages[0]}", details=errors)
    return cleaned


@transaction.atomic
def change_order_propose(*, actor: User, engagement_id: int, changes: list[dict], note: str) -> ChangeOrder:
    """`changes`: [{"action": "add", "title", "amount", "due_date"}, {"action": "edit", "milestone": id,
    and any of "title", "amount", "due_date"}, {"action": "remove", "milestone": id}]."""
    engagement = _engagement_locked(actor=actor, engagement_id=engagement_id)
    note = str(note or "").strip()
    if not note:
        raise ValidationError(
            "note: Say why the plan changes.", details={"note": ["Say why the plan changes."]}
        )
    if len(note) > MAX_NOTE:
        raise ValidationError(
            f"note: Keep it under {MAX_NOTE:,} characters.",
            details={"note": [f"Keep it under {MAX_NOTE:,} characters."]},
        )
    if engagement.state != Engagement.State.ACTIVE:
        raise InvalidTransitionError(
            "This engagement is finished; its plan no longer changes.", code="engagement_finished"
        )
    if engagement.change_orders.filter(state=ChangeOrder.State.PROPOSED).exists():
        raise InvalidTransitionError(
            "A change order is already awaiting an answer; withdraw it or wait for the answer.",
            code="change_order_open",
        )
    cleaned = _clean_changes(engagement, changes)
    try:
        with transaction.atomic():
            change_order = ChangeOrder.objects.create(engagement=engagement, proposed_by=actor, note=note)
    except IntegrityError:  # a concurrent proposal won the one open slot
        raise InvalidTransitionError(
            "A change order is already awaiting an answer.", code="change_order_open"
        ) from None
    ChangeOrderItem.objects.bulk_create(
        ChangeOrderItem(change_order=change_order, position=position, **item)
        for position, item in enumerate(cleaned)
    )
    timeline_record(
        instance=change_order,
        transition="propose",
        actor=actor,
        timeline_key=engagement.timeline_key,
        from_state="",
        note=note,
    )
    summary = change_order_summary(change_order)
    conversation_event(
        consultation_id=engagement.consultation_id,
        actor=actor,
        body=f"{actor.display_name} proposed a change order ({change_order.reference}): {summary}\n\n{note}",
        link=_url(engagement),
    )
    notify(
        user=_other_party(engagement, actor),
        kind="change_order_proposed",
        message=f"{actor.display_name} proposed a change to “{engagement.title}”: {summary}",
        url=_url(engagement),
        actor=actor,
    )
    return change_order


def _apply(change_order: ChangeOrder, actor: User) -> None:
    """Carry the accepted items out on the milestones, as they were proposed, or refuse (409) if one of
    them has moved on since (funded, cancelled) or changed under it, or a receiver of
    `milestone_changing` refuses."""
    engagement = change_order.engagement
    items = list(change_order.items.all())
    ids = [item.milestone_id for item in items if item.milestone_id]
    locked = {m.pk: m for m in Milestone.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
    for item in items:
        if item.action == Action.ADD:
            continue
        milestone = locked[item.milestone_id]
        if milestone.state != Milestone.State.PENDING_FUNDING or (
            milestone.title,
            milestone.amount,
            milestone.due_date,
        ) != (item.was_title, item.was_amount, item.was_due_date):
            raise InvalidTransitionError(
                f"“{milestone.title}” changed since this was proposed "
                f"(it is {milestone.get_state_display().lower()}); decline it and propose again.",
                code="change_order_stale",
            )
        milestone_changing.send(
            sender=Milestone, milestone=milestone, action=item.action, amount=item.amount, actor=actor
        )
    position = engagement.milestones.aggregate(top=Max("position"))["top"] or 0
    for item in items:
        if item.action == Action.ADD:
            position += 1
            item.milestone = Milestone.objects.create(
                engagement=engagement,
                position=position,
                title=item.title,
                amount=item.amount,
                currency=engagement.currency,
                due_date=item.due_date,
            )
            item.save(update_fields=["milestone"])
        elif item.action == Action.EDIT:
            milestone = locked[item.milestone_id]
            milestone.title, milestone.amount, milestone.due_date = item.title, item.amount, item.due_date
            milestone.save(update_fields=["title", "amount", "due_date", "updated_at"])
        else:
            transition_apply(
                instance=locked[item.milestone_id],
                transition="cancel",
                actor=None,  # agreed by both parties through the change order, not by one role
                timeline_key=engagement.timeline_key,
                note=f"Removed by change order {change_order.reference}.",
            )
    Engagement.objects.filter(pk=engagement.pk).update(
        total=engagement.total + sum(item.delta for item in items), updated_at=timezone.now()
    )


def _answer(*, actor: User, change_order_id: int, transition: str, note: str = "") -> ChangeOrder:
    change_order = _change_order_locked(actor=actor, change_order_id=change_order_id)
    engagement = Engagement.objects.select_for_update().get(pk=change_order.engagement_id)
    change_order.engagement = engagement
    note = str(note or "").strip()[:MAX_NOTE]
    if transition == "accept":
        if engagement.state != Engagement.State.ACTIVE:
            raise InvalidTransitionError(
                "This engagement is finished; its plan no longer changes.", code="engagement_finished"
            )
        _apply(change_order, actor)
    transition_apply(
        instance=change_order,
        transition=transition,
        actor=actor,
        timeline_key=engagement.timeline_key,
        note=note,
    )
    change_order.answered_by, change_order.answered_at, change_order.answer_note = actor, timezone.now(), note
    change_order.save(update_fields=["answered_by", "answered_at", "answer_note", "updated_at"])
    verb = {"accept": "accepted", "decline": "declined", "withdraw": "withdrew"}[transition]
    said = f"\n\n{note}" if note else ""
    conversation_event(
        consultation_id=engagement.consultation_id,
        actor=actor,
        body=f"{actor.display_name} {verb} change order {change_order.reference}.{said}",
        link=_url(engagement),
    )
    notify(
        user=_other_party(engagement, actor),
        kind=f"change_order_{transition}ed" if transition != "withdraw" else "change_order_withdrawn",
        message=f"{actor.display_name} {verb} change order {change_order.reference} on “{engagement.title}”.",
        url=_url(engagement),
        actor=actor,
    )
    return change_order


@transaction.atomic
def change_order_accept(*, actor: User, change_order_id: int, note: str = "") -> ChangeOrder:
    return _answer(actor=actor, change_order_id=change_order_id, transition="accept", note=note)


@transaction.atomic
def change_order_decline(*, actor: User, change_order_id: int, note: str = "") -> ChangeOrder:
    return _answer(actor=actor, change_order_id=change_order_id, transition="decline", note=note)


@transaction.atomic
def change_order_withdraw(*, actor: User, change_order_id: int) -> ChangeOrder:
    return _answer(actor=actor, change_order_id=change_order_id, transition="withdraw")
