"""Payouts: money released from escrow to the engineer's connected account by a Stripe Transfer.

An approved milestone gets a Payout awaiting staff approval (`payout_create_for_milestone`, run on
commit of the approval). Staff approval claims it (row lock, state machine, commit: `processing`),
then calls Stripe with the payout's idempotency key outside any lock, then records the transfer,
the ledger posting and the milestone's `paid` under the lock again. Eight concurrent approvals
therefore make one claim and one transfer; a failed or unanswered transfer is retried with the same
key, so Stripe replays the first transfer instead of making a second.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed

from core.errors import (
    ApplicationError,
    InvalidTransitionError,
    NotFoundError,
    PaymentProviderError,
    ValidationError,
)
from core.money import fee_for, format_money
from core.transitions import transition_apply
from marketplace.models import Milestone, User
from marketplace.services.engagements import milestone_mark_paid, milestone_request_payout
from marketplace.services.notifications import notify
from payments import stripe_client
from payments.ledger import ledger_post, milestone_money
from payments.models import ConnectedAccount, Funding, LedgerAccount, LedgerPosting, Payout
from payments.services.accounts import payout_eligibility
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
from payments.stripe_client import TransferInfo

logger = logging.getLogger(__name__)

# A chargeback blocks payouts until Stripe closes it in the platform's favour.


@dataclass(frozen=True)
class PayoutAmounts:
    amount: int
    fee: int
    net: int
    fee_bps: int


def payout_amounts(*, amount: int, currency: str) -> PayoutAmounts:
    """What the engineer receives from `amount` released: the amount less the platform fee."""
    fee_bps = settings.PLATFORM_FEE_BPS
    fee = fee_for(amount, fee_bps)
    if amount - fee <= 0:
        raise ValidationError(
            f"amount: {format_money(amount, currency)} leaves nothing to transfer after the platform fee.",
            code="invalid_amount",
        )
    return PayoutAmounts(amount=amount, fee=fee, net=amount - fee, fee_bps=fee_bps)


def payout_create_for_milestone(*, milestone_id: int) -> Payout | None:
    """Open the Payout of an approved milestone, awaiting staff approval. Safe to run any number of times.

    None when there is nothing to pay out: the milestone is not approved, or nothing was paid into
    escrow for it (funded by hand, outside Stripe).
    """
    with transaction.atomic():
        milestone = milestone_lock(milestone_id)
        existing = Payout.objects.filter(milestone=milestone).first()
        if existing is not None or milestone.state != Milestone.State.APPROVED:
            return existing
        funding = funding_of(milestone)
        held = milestone_money(milestone_id=milestone.pk).escrow
        if funding is None or held != milestone.amount:
            logger.warning(
                "milestone %s approved with %s held for %s: no payout opened",
                milestone.pk,
                held,
                milestone.amount,
            )
            return None
        amounts = payout_amounts(amount=milestone.amount, currency=milestone.currency)
        payout = Payout.objects.create(
            milestone=milestone,
            funding=funding,
            engineer=milestone.engagement.engineer,
            kind=Payout.Kind.APPROVAL,
            amount=amounts.amount,
            fee=amounts.fee,
            net=amounts.net,
            fee_bps=amounts.fee_bps,
            currency=milestone.currency,
        )
        eligibility = payout_eligibility(engineer=milestone.engagement.engineer)
        waiting = "" if eligibility.ready else " It waits for you: " + " ".join(eligibility.reasons)
        notify(
            user=milestone.engagement.engineer,
            kind="payout_opened",
            message=f"A payout of {format_money(payout.net, payout.currency)} for “{milestone.title}” awaits "
            f"staff approval.{waiting}",
            url=milestone_url(milestone),
        )
    return payout


def _require_transition(payout: Payout, transition: str) -> None:
    if not can_proceed(getattr(payout, transition)):
        raise InvalidTransitionError(
            f"Cannot {transition} payout {payout.pk}: it is {payout.get_state_display().lower()}.",
            details={"state": payout.state},
        )


def payout_claim_locked(*, payout: Payout, milestone: Milestone, actor: User, transition: str) -> None:
    """Check that the payout may be sent now and move it to `processing`. Both rows locked by the caller.

    Nothing moves when a check fails: the engineer cannot receive transfers yet, a chargeback is
    open, escrow does not hold the amount, or the currencies differ.
    """
    _require_transition(payout, transition)
    funding = payout.funding
    require_no_chargeback(funding=funding, milestone=milestone, action="payouts are frozen")
    if not payout.currency == funding.currency == milestone.currency:
        raise ValidationError(
            f"currency: payout in {payout.currency.upper()}, payment in {funding.currency.upper()}, "
            f"milestone in {milestone.currency.upper()}.",
            code="currency_mismatch",
        )
    eligibility = payout_eligibility(engineer=payout.engineer)
    if not eligibility.ready:
        raise InvalidTransitionError(
            f"{payout.engineer.display_name} cannot receive payouts yet. "
            + " ".join(eligibility.staff_reasons)
            + " Their payouts page shows them what is missing; the payout stays waiting.",
            code="engineer_not_onboarded",
            details={"missing": list(eligibility.reasons)},
        )
    escrow = milestone_money(milestone_id=milestone.pk).escrow
    if escrow < payout.amount or held_available(milestone) < 0:
        raise InvalidTransitionError(
            f"Escrow holds {format_money(escrow, milestone.currency)} for “{milestone.title}”, less than the "
            f"{format_money(payout.amount, payout.currency)} to release.",
            code="insufficient_escrow",
        )
    account = ConnectedAccount.objects.get(user=payout.engineer)
    transition_apply(instance=payout, transition=transition, actor=actor, timeline_key=payout.timeline_key)
    payout.destination = payout.destination or account.stripe_account_id
    if transition == "approve":
        payout.approved_by, payout.approved_at = actor, timezone.now()
    payout.attempts += 1
    payout.processing_since = timezone.now()
    payout.save()


def _payout_claim(*, actor: User, payout_id: int, transition: str) -> None:
    require_staff(actor, "approve payouts")
    milestone_id = Payout.objects.filter(pk=payout_id).values_list("milestone_id", flat=True).first()
    if milestone_id is None:
        raise NotFoundError("Payout not found.")
    with transaction.atomic():
        milestone = milestone_lock(milestone_id)
        payout = Payout.objects.select_for_update().select_related("funding", "engineer").get(pk=payout_id)
        _require_transition(payout, transition)  # first: concurrent approvals lose here, with a 409
        if payout.kind == Payout.Kind.APPROVAL and milestone.state not in (
            Milestone.State.APPROVED,
            Milestone.State.PAYOUT_PENDING,
        ):
            raise InvalidTransitionError(
                f"“{milestone.title}” is {milestone.get_state_display().lower()}: its payout cannot be sent.",
                details={"state": milestone.state},
            )
        payout_claim_locked(payout=payout, milestone=milestone, actor=actor, transition=transition)
        if milestone.state == Milestone.State.APPROVED:
            milestone_request_payout(
                milestone_id=milestone.pk, actor=actor, note=f"Payout {payout.pk} approved."
            )


def payout_approve(*, actor: User, payout_id: int) -> Payout:
    """Staff approve a payout: the transfer is sent now. Raises PaymentProviderError if Stripe fails."""
    _payout_claim(actor=actor, payout_id=payout_id, transition="approve")
    return _payout_sent_or_raise(payout_send(payout_id=payout_id))


def payout_retry(*, actor: User, payout_id: int) -> Payout:
    """Staff send a failed payout again: same request, same idempotency key, never a second transfer."""
    _payout_claim(actor=actor, payout_id=payout_id, transition="retry")
    return _payout_sent_or_raise(payout_send(payout_id=payout_id))


def _payout_sent_or_raise(payout: Payout) -> Payout:
    if payout.state == Payout.State.FAILED:
        raise PaymentProviderError(
            payout.failure_message,
            details={"payout": payout.pk, "state": payout.state, "stripe_code": payout.failure_code},
        )
    return payout


def payout_send(*, payout_id: int, look_first: bool = False) -> Payout:
    """Call Stripe for a claimed payout and record the outcome. Safe to run again: same key, same request.

    A retry (or `look_first`) first asks Stripe for a transfer already made for this payout: the
    idempotency key alone protects only for 24 hours.
    """
    payout = Payout.objects.select_related("funding").get(pk=payout_id)
    if payout.state != Payout.State.PROCESSING:
        return payout
    try:
        transfer = None
        if look_first or payout.attempts > 1:
            transfer = stripe_client.transfer_find(
                destination=payout.destination, metadata_key="payout", metadata_value=str(payout.pk)
            )
        transfer = transfer or stripe_client.transfer_create(
            amount=payout.net,
            currency=payout.currency,
            destination=payout.destination,
            source_transaction=payout.funding.charge_id,
            description=f"Tunehire payout {payout.pk} for milestone {payout.milestone_id}",
            metadata={"payout": str(payout.pk), "milestone": str(payout.milestone_id)},
            idempotency_key=payout.idempotency_key,
        )
    except PaymentProviderError as exc:
        return _payout_record_failure(payout_id=payout.pk, error=exc)
    return payout_record_transfer(payout_id=payout.pk, transfer=transfer)


def payout_record_transfer(*, payout_id: int, transfer: TransferInfo) -> Payout:
    """The transfer exists at Stripe: the payout is paid, escrow released, the milestone paid."""
    with transaction.atomic():
        milestone_id = Payout.objects.values_list("milestone_id", flat=True).get(pk=payout_id)
        milestone = milestone_lock(milestone_id)
        payout = Payout.objects.select_for_update().get(pk=payout_id)
        if payout.state == Payout.State.PAID:
            return payout
        if (transfer.amount, transfer.currency, transfer.destination) != (
            payout.net,
            payout.currency,
            payout.destination,
        ):
            raise ValidationError(
                f"Transfer {transfer.id} ({format_money(transfer.amount, transfer.currency)} to "
                f"{transfer.destination}) does not match payout {payout.pk}.",
                code="amount_mismatch",
            )
        transition_apply(
            instance=payout,
            transition="mark_paid",
            actor=None,
            timeline_key=payout.timeline_key,
            note=transfer.id,
        )
        payout.transfer_id = transfer.id
        payout.paid_at = timezone.now()
        payout.processing_since = None
        payout.failure_code = payout.failure_message = ""
        payout.save()
        lines = [(LedgerAccount.ESCROW, -payout.amount), (LedgerAccount.ENGINEER_TRANSFERRED, payout.net)]
        if payout.fee:
            lines.append((LedgerAccount.PLATFORM_REVENUE, payout.fee))
        ledger_post(
            key=f"payout:{payout.pk}",
            kind=LedgerPosting.Kind.RELEASE,
            milestone_id=milestone.pk,
            currency=payout.currency,
            lines=lines,
            memo=f"Transfer {transfer.id}",
        )
        if milestone.state == Milestone.State.PAYOUT_PENDING:
            milestone_mark_paid(milestone_id=milestone.pk, note=f"Transferred: payout {payout.reference}.")
        elif payout.kind == Payout.Kind.DISPUTE_RELEASE:
            notify(
                user=payout.engineer,
                kind="payout_sent",
                message=f"{format_money(payout.net, payout.currency)} for “{milestone.title}” was sent to you.",
                url=milestone_url(milestone),
            )
    return payout


def _payout_record_failure(*, payout_id: int, error: PaymentProviderError) -> Payout:
    with transaction.atomic():
        milestone_id = Payout.objects.values_list("milestone_id", flat=True).get(pk=payout_id)
        milestone_lock(milestone_id)
        payout = Payout.objects.select_for_update().get(pk=payout_id)
        if payout.state != Payout.State.PROCESSING:
            return payout
        transition_apply(
            instance=payout,
            transition="fail",
            actor=None,
            timeline_key=payout.timeline_key,
            note=error.message,
        )
        payout.failure_code = failure_code(error)
        payout.failure_message = error.message[:500]
        payout.processing_since = None
        payout.save()
    return payout


def payouts_resume_stalled(*, older_than: timedelta) -> int:
    """Send again the payouts left `processing` by a worker that died between claim and record."""
    stalled = list(
        Payout.objects.filter(
            state=Payout.State.PROCESSING, processing_since__lt=timezone.now() - older_than
        ).values_list("pk", flat=True)
    )
    for payout_id in stalled:
        payout_send(payout_id=payout_id, look_first=True)
    return len(stalled)


def payouts_open_missing() -> int:
    """Open the payouts of approved, Stripe-funded milestones whose on-commit hook never ran."""
    milestone_ids = (
        Milestone.objects.filter(
            state=Milestone.State.APPROVED, payout__isnull=True, fundings__state=Funding.State.SUCCEEDED
        )
        .values_list("pk", flat=True)
        .distinct()
    )
    return sum(payout_create_for_milestone(milestone_id=pk) is not None for pk in milestone_ids)


def payouts_send_queued(*, engineer: User) -> list[Payout]:
    """Send the payouts staff approved while the engineer could not receive them (a dispute settled
    before their payout setup was complete), now that they can. Each is claimed as its approver, under
    the milestone's lock, so a second call finds it sent; a check that fails leaves it queued."""
    sent = []
    queued = Payout.objects.filter(
        engineer=engineer, state=Payout.State.AWAITING_APPROVAL, approved_at__isnull=False
    ).values_list("pk", "milestone_id")
    for payout_id, milestone_id in queued:
        try:
            with transaction.atomic():
                milestone = milestone_lock(milestone_id)
                payout = (
                    Payout.objects.select_for_update(of=("self",))
                    .select_related("funding", "engineer", "approved_by")
                    .get(pk=payout_id)
                )
                if payout.state != Payout.State.AWAITING_APPROVAL:
                    continue
                payout_claim_locked(
                    payout=payout, milestone=milestone, actor=payout.approved_by, transition="approve"
                )
        except ApplicationError as exc:
            staff_alert(
                kind="payments_queued_payout_held",
                message=f"Queued payout {payout_id} could not be sent yet: {exc.message}",
                url=milestone_url(Milestone.objects.get(pk=milestone_id)),
            )
            continue
        sent.append(payout_send(payout_id=payout_id))
    return sent
