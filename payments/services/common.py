from django.db.models import Sum
from django.urls import reverse

from core.errors import InvalidTransitionError, NotFoundError, PaymentProviderError, PermissionDeniedError
from marketplace.models import Milestone, User
from marketplace.services.notifications import notify_staff
from payments.ledger import milestone_money
from payments.models import Funding, Payout, Refund


def milestone_lock(milestone_id: int) -> Milestone:
    milestone = (
        Milestone.objects.select_for_update(of=("self",))
        .select_related("engagement", "engagement__client", "engagement__engineer")
        .filter(pk=milestone_id)
        .first()
    )
    if milestone is None:
        raise NotFoundError("Milestone not found.")
    return milestone


def milestone_url(milestone: Milestone) -> str:
    return reverse("engagement-detail", args=[milestone.engagement_id]) + f"#milestone-{milestone.pk}"


def require_staff(actor: User, action: str) -> None:
    if not actor.is_staff:
        raise PermissionDeniedError(f"Only staff may {action}.")


def staff_alert(*, kind: str, message: str, url: str = "") -> None:
    """Tell every active staff member (in the app, and by e-mail after commit)."""
    notify_staff(kind=kind, message=message, url=url)


def funding_of(milestone: Milestone) -> Funding | None:
    """The payment that funded the milestone's escrow."""
    return milestone.fundings.filter(state=Funding.State.SUCCEEDED).order_by("succeeded_at", "id").first()


def held_available(milestone: Milestone) -> int:
    """Escrow not yet promised to a payout or a refund in flight. Call with the milestone locked."""
    escrow = milestone_money(milestone_id=milestone.pk).escrow
    pending_payouts = Payout.objects.filter(milestone=milestone).exclude(state=Payout.State.PAID)
    pending_refunds = Refund.objects.filter(milestone=milestone).exclude(state=Refund.State.SUCCEEDED)
    reserved = (pending_payouts.aggregate(total=Sum("amount"))["total"] or 0) + (
        pending_refunds.aggregate(total=Sum("amount"))["total"] or 0
    )
    return escrow - reserved


def failure_code(error: PaymentProviderError) -> str:
    """Stripe's code, or `no_answer` when Stripe may have done the work (retrying with the key is safe)."""
    if error.details.get("outcome_unknown"):
        return "no_answer"
    return str(error.details.get("stripe_code") or error.code)[:64]


# A chargeback that ended in the platform's favour (or as a warning) leaves the money where it was.
CHARGEBACK_CLEARED = ("won", "warning_closed")


def require_no_chargeback(*, funding: Funding, milestone: Milestone, action: str) -> None:
    """Money of a card payment under an open chargeback waits for the card network's decision, and a
    lost one already went back to the client: neither may be paid out or refunded (409, saying which)."""
    chargeback = funding.chargebacks.exclude(status__in=CHARGEBACK_CLEARED).first()
    if chargeback is None:
        return
    state = "is open" if chargeback.is_open else "was lost (the card payment went back to the client)"
    raise InvalidTransitionError(
        f"A card chargeback on the payment for “{milestone.title}” {state}: {action}.",
        code="chargeback_open" if chargeback.is_open else "chargeback_lost",
    )
