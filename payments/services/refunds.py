"""Refunds: money back from a milestone's escrow to the client's card.

A funded milestone is cancelled with a full refund when both parties agree (one asks, the other
accepts) or when staff decide. Dispute settlements refund part of it (`payments.services.disputes`).
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from core.errors import (
    InvalidTransitionError,
    NotFoundError,
    PaymentProviderError,
    PermissionDeniedError,
    ValidationError,
)
from core.money import format_money
from core.transitions import transition_apply
from marketplace.models import Milestone, User
from marketplace.services.engagements import milestone_mark_refunded, milestone_request_refund
from marketplace.services.notifications import notify
from payments import stripe_client
from payments.ledger import ledger_post
from payments.models import CancellationRequest, Funding, LedgerAccount, LedgerPosting, Refund
from payments.services.common import (
    failure_code,
    funding_of,
    held_available,
    milestone_lock,
    milestone_url,
    require_no_chargeback,
    require_staff,
    staff_alert,
)
from payments.stripe_client import RefundInfo

CANCELLABLE_STATES = (Milestone.State.FUNDED, Milestone.State.IN_PROGRESS)


def validate_amount(field: str, amount: int, *, allow_zero: bool = False) -> None:
    if type(amount) is not int or amount < 0 or (amount == 0 and not allow_zero):
        floor = "zero or more" if allow_zero else "more than zero"
        raise ValidationError(
            f"{field}: an amount is a whole number of minor units (cents), {floor}; got {amount!r}.",
            code="invalid_amount",
            details={field: [f"Enter a whole number of minor units, {floor}."]},
        )


def refund_open(
    *,
    milestone: Milestone,
    funding: Funding,
    amount: int,
    kind: str,
    reason: str,
    requested_by: User | None = None,
) -> Refund:
    """A Refund, already claimed for sending, of money the milestone holds. Call with it locked."""
    validate_amount("amount", amount)
    require_no_chargeback(funding=funding, milestone=milestone, action="it cannot be refunded")
    available = held_available(milestone)
    if amount > available:
        message = (
            f"{format_money(amount, funding.currency)} is more than the "
            f"{format_money(available, funding.currency)} held for “{milestone.title}”."
        )
        raise ValidationError(f"amount: {message}", code="refund_exceeds_held", details={"amount": [message]})
    return Refund.objects.create(
        milestone=milestone,
        funding=funding,
        kind=kind,
        amount=amount,
        currency=funding.currency,
        reason=reason,
        requested_by=requested_by,
        processing_since=timezone.now(),
    )


def refund_send_on_commit(refund: Refund) -> None:
    from payments.tasks import refund_send as refund_send_task

    transaction.on_commit(lambda: refund_send_task.delay(refund.pk), robust=True)


def refund_send(*, refund_id: int, look_first: bool = False) -> Refund:
    """Call Stripe for a claimed refund and record the outcome. Safe to run again: same key.

    A retry (or `look_first`) first asks Stripe for a refund already made for this one: the
    idempotency key alone protects only for 24 hours.
    """
    refund = Refund.objects.select_related("funding").get(pk=refund_id)
    if refund.state != Refund.State.PROCESSING:
        return refund
    try:
        info = None
        if look_first or refund.attempts > 1:
            info = stripe_client.refund_find(
                payment_intent_id=refund.funding.payment_intent_id,
                metadata_key="refund",
                metadata_value=str(refund.pk),
            )
        info = info or stripe_client.refund_create(
            payment_intent_id=refund.funding.payment_intent_id,
            amount=refund.amount,
            metadata={"refund": str(refund.pk), "milestone": str(refund.milestone_id)},
            idempotency_key=refund.idempotency_key,
        )
    except PaymentProviderError as exc:
        return _refund_record_failure(refund_id=refund.pk, error=exc)
    if info.status in ("failed", "canceled"):
        return _refund_record_failure(
            refund_id=refund.pk,
            error=PaymentProviderError(
                f"Stripe could not send the refund: refund {info.id} is {info.status}.",
                details={"stripe_code": f"refund_{info.status}"},
            ),
        )
    return refund_record_success(refund_id=refund.pk, info=info)


def refund_record_success(*, refund_id: int, info: RefundInfo) -> Refund:
    with transaction.atomic():
        milestone_id = Refund.objects.values_list("milestone_id", flat=True).get(pk=refund_id)
        milestone = milestone_lock(milestone_id)
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.state == Refund.State.SUCCEEDED:
            return refund
        if (info.amount, info.currency) != (refund.amount, refund.currency):
            raise ValidationError(
                f"Stripe refund {info.id} is {format_money(info.amount, info.currency)}, refund {refund.pk} "
                f"is {format_money(refund.amount, refund.currency)}.",
                code="amount_mismatch",
            )
        transition_apply(
            instance=refund, transition="succeed", actor=None, timeline_key=refund.timeline_key, note=info.id
        )
        refund.stripe_refund_id = info.id
        refund.succeeded_at = timezone.now()
        refund.processing_since = None
        refund.failure_code = refund.failure_message = ""
        refund.save()
        money = format_money(refund.amount, refund.currency)
        ledger_post(
            key=f"refund:{refund.pk}",
            kind=LedgerPosting.Kind.REFUND,
            milestone_id=milestone.pk,
            currency=refund.currency,
            lines=[(LedgerAccount.ESCROW, -refund.amount), (LedgerAccount.CLIENT_REFUNDS, refund.amount)],
            memo=f"Refund {info.id}",
        )
        if (
            milestone.state == Milestone.State.REFUND_PENDING
            and not milestone.refunds.exclude(state=Refund.State.SUCCEEDED).exists()
        ):
            milestone_mark_refunded(
                milestone_id=milestone.pk, note=f"Refunded {money}: refund {refund.reference}."
            )
        notify(
            user=milestone.engagement.client,
            kind="refund_sent",
            message=f"{money} for “{milestone.title}” was refunded to your card.",
            url=milestone_url(milestone),
        )
    return refund


def _refund_record_failure(*, refund_id: int, error: PaymentProviderError) -> Refund:
    with transaction.atomic():
        milestone_id = Refund.objects.values_list("milestone_id", flat=True).get(pk=refund_id)
        milestone = milestone_lock(milestone_id)
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.state != Refund.State.PROCESSING:
            return refund
        transition_apply(
            instance=refund,
            transition="fail",
            actor=None,
            timeline_key=refund.timeline_key,
            note=error.message,
        )
        refund.failure_code = failure_code(error)
        refund.failure_message = error.message[:500]
        refund.processing_since = None
        refund.save()
        staff_alert(
            kind="refund_failed",
            message=f"Refund {refund.pk} for “{milestone.title}” failed: {error.message} Retry it from the desk.",
            url=milestone_url(milestone),
        )
    return refund


def refund_retry(*, actor: User, refund_id: int) -> Refund:
    """Staff send a failed refund again, with the same idempotency key; raises if it fails again."""
    require_staff(actor, "retry refunds")
    with transaction.atomic():
        refund = Refund.objects.filter(pk=refund_id).first()
        if refund is None:
            raise NotFoundError("Refund not found.")
        milestone_lock(refund.milestone_id)
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        transition_apply(instance=refund, transition="retry", actor=actor, timeline_key=refund.timeline_key)
        refund.attempts += 1
        refund.processing_since = timezone.now()
        refund.save()
    refund = refund_send(refund_id=refund_id)
    if refund.state == Refund.State.FAILED:
        raise PaymentProviderError(
            refund.failure_message, details={"refund": refund.pk, "state": refund.state}
        )
    return refund


# --- Cancelling a funded milestone ------------------------------------------------------------------


def _cancel_with_refund(
    *, milestone: Milestone, actor: User | None, reason: str, requested_by: User
) -> Refund:
    funding = funding_of(milestone)
    if funding is None or held_available(milestone) <= 0:
        raise InvalidTransitionError(
            f"Nothing is held for “{milestone.title}”, so there is nothing to refund.", code="nothing_held"
        )
    milestone_request_refund(actor=actor, milestone_id=milestone.pk, reason=reason)
    return refund_open(
        milestone=milestone,
        funding=funding,
        amount=held_available(milestone),
        kind=Refund.Kind.CANCELLATION,
        reason=reason,
        requested_by=requested_by,
    )


def _require_reason(reason: str, field: str, label: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(f"{field}: {label}", details={field: [label]})
    return reason


def _party_or_404(milestone: Milestone, actor: User) -> None:
    if actor.pk not in (milestone.engagement.client_id, milestone.engagement.engineer_id):
        if actor.is_staff:
            raise PermissionDeniedError("Staff cancel a funded milestone directly, with a refund.")
        raise NotFoundError("Milestone not found.")


def cancellation_request(*, actor: User, milestone_id: int, reason: str) -> CancellationRequest:
    """A party asks to cancel a funded milestone and refund the client; the other party answers."""
    reason = _require_reason(reason, "reason", "Say why you want to cancel.")
    with transaction.atomic():
        milestone = milestone_lock(milestone_id)
        _party_or_404(milestone, actor)
        if milestone.state not in CANCELLABLE_STATES:
            raise InvalidTransitionError(
                "Only a funded milestone whose work is not yet delivered can be cancelled with a refund; "
                f"“{milestone.title}” is {milestone.get_state_display().lower()}.",
                details={"state": milestone.state},
            )
        if milestone.cancellation_requests.filter(state=CancellationRequest.State.PENDING).exists():
            raise InvalidTransitionError(
                f"A cancellation of “{milestone.title}” is already waiting for an answer.",
                code="cancellation_pending",
            )
        request = CancellationRequest.objects.create(milestone=milestone, requested_by=actor, reason=reason)
        engagement = milestone.engagement
        other = engagement.engineer if actor.pk == engagement.client_id else engagement.client
        notify(
            user=other,
            kind="cancellation_requested",
            message=f"{actor.display_name} asks to cancel “{milestone.title}” and refund the client: {reason}",
            url=milestone_url(milestone),
        )
    return request


def _cancellation_locked(*, actor: User, cancellation_id: int) -> tuple[CancellationRequest, Milestone]:
    found = CancellationRequest.objects.filter(pk=cancellation_id).first()
    if found is None:
        raise NotFoundError("Cancellation request not found.")
    milestone = milestone_lock(found.milestone_id)
    _party_or_404(milestone, actor)
    request = CancellationRequest.objects.select_for_update().get(pk=cancellation_id)
    if actor.pk == request.requested_by_id:
        raise PermissionDeniedError("You asked for this cancellation; the other party answers it.")
    return request, milestone


def cancellation_accept(*, actor: User, cancellation_id: int) -> Refund:
    """The other party agrees: the milestone moves to refund pending and its escrow is refunded."""
    with transaction.atomic():
        request, milestone = _cancellation_locked(actor=actor, cancellation_id=cancellation_id)
        transition_apply(
            instance=request, transition="accept", actor=actor, timeline_key=request.timeline_key
        )
        request.responded_by, request.responded_at = actor, timezone.now()
        request.save()
        refund = _cancel_with_refund(
            milestone=milestone,
            actor=None,  # the platform acts on both parties' agreement
            reason=f"Cancelled by agreement of both parties: {request.reason}",
            requested_by=request.requested_by,
        )
    return refund_send(refund_id=refund.pk)


def cancellation_decline(*, actor: User, cancellation_id: int, note: str = "") -> CancellationRequest:
    with transaction.atomic():
        request, milestone = _cancellation_locked(actor=actor, cancellation_id=cancellation_id)
        transition_apply(
            instance=request, transition="decline", actor=actor, timeline_key=request.timeline_key, note=note
        )
        request.responded_by, request.responded_at = actor, timezone.now()
        request.response_note = note.strip()
        request.save()
        notify(
            user=request.requested_by,
            kind="cancellation_declined",
            message=f"{actor.display_name} declined to cancel “{milestone.title}”. Open a dispute if you "
            "cannot agree.",
            url=milestone_url(milestone),
        )
    return request


def cancellation_decide(*, actor: User, milestone_id: int, reason: str) -> Refund:
    """Staff cancel a funded milestone and refund the client in full."""
    require_staff(actor, "cancel a funded milestone")
    reason = _require_reason(reason, "reason", "Record why the milestone is cancelled.")
    with transaction.atomic():
        milestone = milestone_lock(milestone_id)
        for pending in milestone.cancellation_requests.select_for_update().filter(
            state=CancellationRequest.State.PENDING
        ):
            transition_apply(
                instance=pending,
                transition="accept",
                actor=actor,
                timeline_key=pending.timeline_key,
                note=reason,
            )
            pending.responded_by, pending.responded_at = actor, timezone.now()
            pending.save()
        refund = _cancel_with_refund(milestone=milestone, actor=actor, reason=reason, requested_by=actor)
    return refund_send(refund_id=refund.pk)


def refunds_resume_stalled(*, older_than: timedelta) -> int:
    """Send again the refunds left `processing` by a worker that died between claim and record."""
    stalled = list(
        Refund.objects.filter(
            state=Refund.State.PROCESSING, processing_since__lt=timezone.now() - older_than
        ).values_list("pk", flat=True)
    )
    for refund_id in stalled:
        refund_send(refund_id=refund_id, look_first=True)
    return len(stalled)
