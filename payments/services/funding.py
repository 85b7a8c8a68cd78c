"""Funding: the client pays a milestone into escrow with a card (a PaymentIntent on the platform).

`funding_checkout` gives the funding page what Stripe.js needs; the `payment_intent.*` webhooks, and
the checkout itself when it finds a finished intent, call `funding_apply_intent`, which re-reads
nothing itself but only ever moves a Funding forward, so any order and any repetition end the same.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
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
from marketplace.models import Engagement, Milestone, User
from marketplace.services.engagements import milestone_mark_funded
from marketplace.services.notifications import notify
from payments import stripe_client
from payments.ledger import ledger_post
from payments.models import Funding, LedgerAccount, LedgerPosting, Refund
from payments.services.common import milestone_lock, milestone_url, staff_alert
from payments.services.refunds import refund_open, refund_send_on_commit
from payments.stripe_client import PaymentIntentInfo


@dataclass(frozen=True)
class FundingCheckout:
    funding: Funding
    status: str  # Stripe's PaymentIntent status
    client_secret: str | None  # for Stripe.js; None once there is nothing left to pay
    publishable_key: str
    js_url: str


def _funding_claim(*, actor: User, milestone_id: int) -> Funding:
    """The milestone's open Funding, or a new attempt; committed before Stripe is called."""
    with transaction.atomic():
        milestone = milestone_lock(milestone_id)
        engagement = milestone.engagement
        if actor.pk != engagement.client_id:
            if actor.is_staff or actor.pk == engagement.engineer_id:
                raise PermissionDeniedError("Only the client funds a milestone.")
            raise NotFoundError("Milestone not found.")
        if milestone.state != Milestone.State.PENDING_FUNDING:
            raise InvalidTransitionError(
                f"“{milestone.title}” is {milestone.get_state_display().lower()}: there is nothing to pay.",
                details={"state": milestone.state},
            )
        funding = milestone.fundings.filter(state__in=[Funding.State.CREATING, Funding.State.OPEN]).first()
        if funding is None:
            last = milestone.fundings.aggregate(last=Max("attempt"))["last"] or 0
            funding = Funding.objects.create(
                milestone=milestone,
                client=actor,
                attempt=last + 1,
                amount=milestone.amount,
                currency=milestone.currency,
            )
        return funding


def funding_checkout(*, actor: User, milestone_id: int) -> FundingCheckout:
    """Create, or reuse, the PaymentIntent through which the client pays the milestone."""
    for _ in range(2):  # a second pass only when Stripe says the open intent was cancelled
        funding = _funding_claim(actor=actor, milestone_id=milestone_id)
        if funding.payment_intent_id:
            intent = stripe_client.payment_intent_retrieve(funding.payment_intent_id)
        else:
            milestone = funding.milestone
            intent = stripe_client.payment_intent_create(
                amount=funding.amount,
                currency=funding.currency,
                transfer_group=f"engagement_{milestone.engagement_id}",
                description=f"Tunehire escrow: milestone {milestone.pk} of engagement {milestone.engagement_id}",
                metadata={
                    "milestone": str(milestone.pk),
                    "engagement": str(milestone.engagement_id),
                    "funding": str(funding.pk),
                },
                idempotency_key=funding.idempotency_key,
            )
        funding = funding_apply_intent(intent=intent)
        if funding.state != Funding.State.CANCELED:
            break
    return _checkout(funding, intent)


def funding_checkout_remaining(*, actor: User, engagement_id: int) -> list[FundingCheckout]:
    """Start (or resume) the payment of every milestone of the engagement still awaiting funding, for a
    client who funds up front: one PaymentIntent per milestone (each then funded, refunded and paid out
    as when funded alone), confirmed in turn with the same card. Calling again reuses them."""
    engagement = Engagement.objects.filter(pk=engagement_id).first()
    if engagement is None or not (
        actor.is_staff or actor.pk in (engagement.client_id, engagement.engineer_id)
    ):
        raise NotFoundError("Engagement not found.")
    if actor.pk != engagement.client_id:
        raise PermissionDeniedError("Only the client funds milestones.")
    pending = engagement.milestones.filter(state=Milestone.State.PENDING_FUNDING).order_by("position")
    if not pending:
        raise InvalidTransitionError(
            "Every milestone is funded or settled: nothing is waiting for a payment.", code="nothing_to_fund"
        )
    return [funding_checkout(actor=actor, milestone_id=milestone.pk) for milestone in pending]


def funding_cancel_open(*, milestone: Milestone) -> None:
    """Cancel the card payment a client started for the milestone and has not completed, so that it can
    change amount (a change order); the next checkout opens a new one at the new amount. Refused (409)
    while the payment is being made or has gone through: then the milestone is being funded as it is."""
    funding = milestone.fundings.filter(state__in=[Funding.State.CREATING, Funding.State.OPEN]).first()
    if funding is None:
        return
    refused = InvalidTransitionError(
        f"A card payment for “{milestone.title}” is under way; its amount can change once that payment "
        "has gone through or failed.",
        code="payment_in_progress",
    )
    if not funding.payment_intent_id:
        raise refused
    try:
        intent = stripe_client.payment_intent_cancel(funding.payment_intent_id)
    except PaymentProviderError:
        intent = stripe_client.payment_intent_retrieve(funding.payment_intent_id)
    funding_apply_intent(intent=intent)
    if intent.status != "canceled":
        raise refused


def funding_checkout_open(*, milestone_id: int) -> FundingCheckout | None:
    """The checkout already started for the milestone, read back from Stripe; None when there is none
    to continue. Creates nothing, at Stripe or here: for pages opened with GET (the caller has checked
    who may see the milestone)."""
    funding = Funding.objects.filter(
        milestone_id=milestone_id,
        state__in=[Funding.State.CREATING, Funding.State.OPEN],
        payment_intent_id__isnull=False,
    ).first()
    if funding is None:
        return None
    intent = stripe_client.payment_intent_retrieve(funding.payment_intent_id)
    funding = funding_apply_intent(intent=intent)
    if funding is None or funding.state == Funding.State.CANCELED:
        return None
    return _checkout(funding, intent)


def _checkout(funding: Funding, intent: PaymentIntentInfo) -> FundingCheckout:
    payable = intent.status in ("requires_payment_method", "requires_confirmation", "requires_action")
    return FundingCheckout(
        funding=funding,
        status=intent.status,
        client_secret=intent.client_secret if payable else None,
        publishable_key=settings.STRIPE_PUBLISHABLE_KEY,
        js_url=stripe_client.stripe_js_url(),
    )


def funding_sync(*, payment_intent_id: str) -> Funding | None:
    """Re-read the PaymentIntent from Stripe and move its Funding forward (webhook handlers call this)."""
    return funding_apply_intent(intent=stripe_client.payment_intent_retrieve(payment_intent_id))


def _funding_for_intent(intent: PaymentIntentInfo) -> Funding | None:
    found = Q(payment_intent_id=intent.id)
    funding_id = intent.metadata.get("funding", "")
    if funding_id.isdigit():
        # Before its id is recorded: our answer from Stripe was lost, or another request is recording it.
        found |= Q(pk=int(funding_id), payment_intent_id__isnull=True)
    return Funding.objects.filter(found).first()  # one query: sees the id recorded or not, never neither


def funding_apply_intent(*, intent: PaymentIntentInfo) -> Funding | None:
    """Record what Stripe says about the intent; None when it is not one of ours."""
    found = _funding_for_intent(intent)
    if found is None:
        return None
    if intent.status == "succeeded" and (intent.amount, intent.currency) != (found.amount, found.currency):
        message = (
            f"PaymentIntent {intent.id} succeeded for {format_money(intent.amount, intent.currency)} but "
            f"funding {found.pk} expects {format_money(found.amount, found.currency)}: not posted."
        )
        staff_alert(kind="payments_mismatch", message=message)
        raise ValidationError(
            message, code="currency_mismatch" if intent.currency != found.currency else "amount_mismatch"
        )
    with transaction.atomic():
        milestone = milestone_lock(found.milestone_id)
        funding = Funding.objects.select_for_update().get(pk=found.pk)
        if not funding.payment_intent_id:
            funding.payment_intent_id = intent.id
        if funding.state == Funding.State.CREATING:
            transition_apply(
                instance=funding, transition="open", actor=None, timeline_key=funding.timeline_key
            )
        if intent.status == "succeeded" and funding.state != Funding.State.SUCCEEDED:
            _funding_succeed(funding=funding, milestone=milestone, intent=intent)
        elif intent.status == "canceled" and funding.state == Funding.State.OPEN:
            transition_apply(
                instance=funding, transition="cancel", actor=None, timeline_key=funding.timeline_key
            )
        elif (
            intent.status == "requires_payment_method"
            and intent.failure_message
            and funding.state == Funding.State.OPEN
            and (funding.failure_code, funding.failure_message)
            != (intent.failure_code, intent.failure_message)
        ):
            funding.failure_code = intent.failure_code[:64]
            funding.failure_message = intent.failure_message[:300]
            funding.failed_at = timezone.now()
            notify(
                user=funding.client,
                kind="funding_failed",
                message=f"Your payment for “{milestone.title}” did not go through: {intent.failure_message}",
                url=milestone_url(milestone),
            )
        funding.save()
    return funding


def _funding_succeed(*, funding: Funding, milestone: Milestone, intent: PaymentIntentInfo) -> None:
    transition_apply(
        instance=funding, transition="succeed", actor=None, timeline_key=funding.timeline_key, note=intent.id
    )
    funding.charge_id = intent.latest_charge or ""
    funding.succeeded_at = timezone.now()
    funding.failure_code = funding.failure_message = ""
    funding.failed_at = None
    funding.save()
    ledger_post(
        key=f"funding:{funding.pk}",
        kind=LedgerPosting.Kind.FUNDING,
        milestone_id=milestone.pk,
        currency=funding.currency,
        lines=[(LedgerAccount.CLIENT_FUNDING, -funding.amount), (LedgerAccount.ESCROW, funding.amount)],
        memo=f"PaymentIntent {intent.id}, charge {funding.charge_id}",
    )
    if milestone.state == Milestone.State.PENDING_FUNDING:
        milestone_mark_funded(milestone_id=milestone.pk, note=f"Paid by card: payment {funding.reference}.")
        return
    # Paid after the milestone stopped waiting for it (cancelled meanwhile): the money goes back.
    reason = f"The milestone was {milestone.get_state_display().lower()} when payment {intent.id} completed."
    refund = refund_open(
        milestone=milestone, funding=funding, amount=funding.amount, kind=Refund.Kind.SURPLUS, reason=reason
    )
    refund_send_on_commit(refund)
    staff_alert(
        kind="payments_surplus_refund",
        message=f"“{milestone.title}”: {reason} Refunding {format_money(funding.amount, funding.currency)}.",
        url=milestone_url(milestone),
    )
