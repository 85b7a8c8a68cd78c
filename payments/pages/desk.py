"""The staff payout desk: payouts awaiting approval or a retry, failed refunds, disputes to settle."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.money import format_money
from core.pages import Failed, attempt, staff_required
from payments import selectors
from payments.services.payouts import payout_approve, payout_retry
from payments.services.refunds import refund_retry


@staff_required
def payout_desk(request):
    return render(request, "payments/payout_desk.html", {"desk": selectors.payout_desk(user=request.user)})


def _send(request, pk: int, service, verb: str):
    payout = attempt(request, service, actor=request.user, payout_id=pk)
    if not isinstance(payout, Failed):
        messages.success(
            request,
            f"Payout {payout.pk} {verb}: {format_money(payout.net, payout.currency)} transferred to "
            f"{payout.engineer.display_name} ({payout.transfer_id}).",
        )
    return redirect("payments:desk")


@staff_required
@require_POST
def payout_approve_view(request, pk: int):
    return _send(request, pk, payout_approve, "approved")


@staff_required
@require_POST
def payout_retry_view(request, pk: int):
    return _send(request, pk, payout_retry, "sent")


@staff_required
@require_POST
def refund_retry_view(request, pk: int):
    refund = attempt(request, refund_retry, actor=request.user, refund_id=pk)
    if not isinstance(refund, Failed):
        messages.success(
            request,
            f"Refund {refund.pk} sent: {format_money(refund.amount, refund.currency)} back to the client "
            f"({refund.stripe_refund_id}).",
        )
    return redirect("payments:desk")
