"""Disputes: settling a disputed milestone, and card chargebacks.

A party opens a dispute with `marketplace.services.engagements.milestone_open_dispute` (funded, in
progress or submitted milestones); from then on nothing can be paid out. Staff settle it here with a
split: X released to the engineer and Y refunded to the client, X + Y = what escrow holds. A card
chargeback (`charge.dispute.created`) freezes the milestone the same way and alerts staff; a lost
one is posted to the ledger (`payments.ledger`: from what escrow holds, the rest at the platform's cost).
"""

from dataclasses import dataclass

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from core.errors import InvalidTransitionError, PaymentProviderError, ValidationError
from core.money import format_money
from marketplace.models import Milestone, User
from marketplace.services.engagements import milestone_open_dispute, milestone_resolve_dispute
from marketplace.services.notifications import notify
from payments.ledger import ledger_post, milestone_money
from payments.models import Chargeback, Funding, LedgerAccount, LedgerPosting, Payout, Refund
from payments.models.disputes import CLOSED_STATUSES
from payments.services.accounts import payout_eligibility
from payments.services.common import (
    funding_of,
    held_available,
    milestone_lock,
    milestone_url,
    require_no_chargeback,
    require_staff,
    staff_alert,
)
from payments.services.payouts import payout_amounts, payout_claim_locked, payout_send
from payments.services.refunds import refund_open, refund_send, validate_amount
from payments.stripe_client import DisputeInfo

FREEZABLE_STATES = (Milestone.State.FUNDED, Milestone.State.IN_PROGRESS, Milestone.State.SUBMITTED)


@dataclass(frozen=True)
class DisputeSettlement:
    milestone: Milestone
    payout: Payout | None
    refund: Refund | None


def dispute_resolve(
    *,
    actor: User,
    milestone_id: int,
    release_amount: int,
    refund_amount: int,
    currency: str,
    note: str,
) -> DisputeSettlement:
    """Staff settle a dispute: release X to the engineer and refund Y to the client, X + Y = held.

    Checked before anything moves: amounts, currency, that the split is exactly what escrow holds,
    and that the engineer can receive a transfer when X > 0. The transfer and the refund are then
    sent; if Stripe fails either, the settlement stands, the failed part waits for a retry from the
    desk, and PaymentProviderError says which.
    """
    require_staff(actor, "resolve disputes")
    validate_amount("release_amount", release_amount, allow_zero=True)
    validate_amount("refund_amount", refund_amount, allow_zero=True)
    if release_amount + refund_amount == 0:
        raise ValidationError(
            "release_amount: release or refund something; both are zero.", code="invalid_amount"
        )
    note = (note or "").strip()
    if not note:
        raise ValidationError("note: Record how the dispute was resolved.", details={"note": ["Required."]})
    with transaction.atomic():
        milestone = milestone_lock(milestone_id)
        if milestone.state != Milestone.State.DISPUTED:
            raise InvalidTransitionError(
                f"“{milestone.title}” is {milestone.get_state_display().lower()}, not disputed.",
                details={"state": milestone.state},
            )
        if currency != milestone.currency:
            raise ValidationError(
                f"currency: the milestone is in {milestone.currency.upper()}, not {str(currency).upper()}.",
                code="currency_mismatch",
                details={"currency": [f"Use {milestone.currency.upper()}."]},
            )
        funding = funding_of(milestone)
        if funding is not None:
            # Open: the card network decides first. Lost: it took the money back (off the ledger's escrow).
            require_no_chargeback(
                funding=funding, milestone=milestone, action="nothing can be released or refunded"
            )
        held = held_available(milestone) if funding else 0
        if held <= 0:
            raise InvalidTransitionError(
                f"Nothing is held for “{milestone.title}”: there is nothing to split.", code="nothing_held"
            )
        money = lambda amount: format_money(amount, currency)  # noqa: E731
        if refund_amount > held:
            raise ValidationError(
                f"refund_amount: {money(refund_amount)} is more than the {money(held)} held.",
                code="refund_exceeds_held",
            )
        if release_amount + refund_amount != held:
            raise ValidationError(
                f"release_amount: the release ({money(release_amount)}) and the refund ({money(refund_amount)}) "
                f"must add up to the {money(held)} held.",
                code="split_mismatch",
            )
        payout = refund = None
        if release_amount:
            payout = _dispute_payout(milestone=milestone, funding=funding, amount=release_amount, actor=actor)
        if refund_amount:
            refund = refund_open(
                milestone=milestone,
                funding=funding,
                amount=refund_amount,
                kind=Refund.Kind.DISPUTE,
                reason=note,
                requested_by=actor,
            )
        milestone = milestone_resolve_dispute(
            actor=actor,
            milestone_id=milestone.pk,
            note=f"{note} (released {money(release_amount)}, refunded {money(refund_amount)})",
        )
    failures = []
    if payout is not None and payout.state == Payout.State.AWAITING_APPROVAL:
        notify(
            user=payout.engineer,
            kind="payout_queued",
            message=f"Your share of the dispute on “{milestone.title}”, {format_money(payout.net, payout.currency)}, "
            "is approved and waits for your payout account: it is sent as soon as your payout setup is complete.",
            url=reverse("payments:payouts"),
        )
    elif payout is not None:
        payout = payout_send(payout_id=payout.pk)
        if payout.state == Payout.State.FAILED:
            failures.append(f"the transfer failed: {payout.failure_message}")
    if refund is not None:
        refund = refund_send(refund_id=refund.pk)
        if refund.state == Refund.State.FAILED:
            failures.append(f"the refund failed: {refund.failure_message}")
    if failures:
        raise PaymentProviderError(
            "The settlement is recorded, but " + "; ".join(failures) + " Retry it from the payout desk.",
            details={"payout": payout.pk if payout else None, "refund": refund.pk if refund else None},
        )
    return DisputeSettlement(milestone=milestone, payout=payout, refund=refund)


def _dispute_payout(*, milestone: Milestone, funding: Funding, amount: int, actor: User) -> Payout:
    amounts = payout_amounts(amount=amount, currency=milestone.currency)
    payout = Payout.objects.create(
        milestone=milestone,
        funding=funding,
        engineer=milestone.engagement.engineer,
        kind=Payout.Kind.DISPUTE_RELEASE,
        amount=amounts.amount,
        fee=amounts.fee,
        net=amounts.net,
        fee_bps=amounts.fee_bps,
        currency=milestone.currency,
    )
    if not payout_eligibility(engineer=payout.engineer).ready:
        # The settlement does not wait for the engineer's payout account: their share is approved now,
        # kept in escrow, and sent when the account is ready (payouts_send_queued).
        payout.approved_by, payout.approved_at = actor, timezone.now()
        payout.save(update_fields=["approved_by", "approved_at", "updated_at"])
        return payout
    payout_claim_locked(payout=payout, milestone=milestone, actor=actor, transition="approve")
    return payout


def _chargeback_post_lost(chargeback: Chargeback, milestone: Milestone) -> None:
    """The card network took the disputed amount back for the client: out of what escrow still
    holds for the milestone, and the rest (released already) out of the platform's own funds."""
    if chargeback.amount <= 0:
        return
    money = format_money(chargeback.amount, chargeback.currency)
    if chargeback.currency != milestone.currency:
        staff_alert(
            kind="chargeback_unposted",
            message=f"Lost chargeback {chargeback.stripe_dispute_id} ({money}) is not in the milestone's "
            f"currency ({milestone.currency.upper()}); post it to the ledger by hand.",
            url=milestone_url(milestone),
        )
        return
    from_escrow = min(milestone_money(milestone_id=milestone.pk).escrow, chargeback.amount)
    lines = [(LedgerAccount.CLIENT_CHARGEBACKS, chargeback.amount)]
    if from_escrow:
        lines.append((LedgerAccount.ESCROW, -from_escrow))
    if chargeback.amount > from_escrow:
        lines.append((LedgerAccount.CHARGEBACK_LOSSES, -(chargeback.amount - from_escrow)))
    ledger_post(
        key=f"chargeback:{chargeback.stripe_dispute_id}",
        kind=LedgerPosting.Kind.CHARGEBACK,
        milestone_id=milestone.pk,
        currency=milestone.currency,
        lines=lines,
        memo=f"Lost card chargeback {chargeback.stripe_dispute_id} ({chargeback.reason or 'no reason'})",
    )


def chargeback_record(*, dispute: DisputeInfo) -> Chargeback:
    """A card dispute was opened or moved on: record it; a new one freezes the milestone and alerts staff."""
    funding = (
        Funding.objects.filter(charge_id=dispute.charge).first()
        if dispute.charge
        else Funding.objects.filter(payment_intent_id=dispute.payment_intent).first()
    )
    with transaction.atomic():
        milestone = milestone_lock(funding.milestone_id) if funding else None
        chargeback, created = Chargeback.objects.select_for_update().get_or_create(
            stripe_dispute_id=dispute.id,
            defaults={
                "charge_id": dispute.charge,
                "funding": funding,
                "milestone": milestone,
                "amount": dispute.amount,
                "currency": dispute.currency,
                "reason": dispute.reason[:64],
                "status": dispute.status[:32],
            },
        )
        if not created:
            if chargeback.is_open and dispute.status != chargeback.status:  # closed statuses are final
                chargeback.status = dispute.status[:32]
                if not chargeback.is_open:
                    chargeback.closed_at = timezone.now()
                    if chargeback.status == "lost" and milestone is not None:
                        _chargeback_post_lost(chargeback, milestone)
                    staff_alert(
                        kind="chargeback_closed",
                        message=f"Chargeback {dispute.id} closed: {dispute.status}.",
                        url=milestone_url(milestone) if milestone else "",
                    )
                chargeback.save()
            return chargeback
        if dispute.status in CLOSED_STATUSES:
            chargeback.closed_at = timezone.now()
            chargeback.save()
            if chargeback.status == "lost" and milestone is not None:
                _chargeback_post_lost(chargeback, milestone)
        money = format_money(dispute.amount, dispute.currency)
        if milestone is None:
            staff_alert(
                kind="chargeback_opened",
                message=f"Card chargeback {dispute.id} on charge {dispute.charge} ({money}, {dispute.reason}) "
                "matches no milestone.",
            )
            return chargeback
        if milestone.state in FREEZABLE_STATES:
            milestone_open_dispute(
                actor=None,
                milestone_id=milestone.pk,
                reason=f"Card chargeback {dispute.id}: {dispute.reason or 'no reason given'}.",
            )
            frozen = "The milestone is frozen as disputed."
        else:
            frozen = f"The milestone is {milestone.get_state_display().lower()}; its payouts are frozen."
        staff_alert(
            kind="chargeback_opened",
            message=f"Card chargeback on “{milestone.title}” ({money}, {dispute.reason or 'no reason'}). {frozen}",
            url=milestone_url(milestone),
        )
    return chargeback
