"""The client's funding page: pay a milestone into escrow by card with Stripe.js, then wait (htmx
polling) until Stripe's webhook has marked it funded."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from core.errors import ApplicationError, InvalidTransitionError
from core.pages import fetch, report
from marketplace import selectors as marketplace_selectors
from marketplace.models import Milestone
from payments import selectors
from payments.pages.common import back_to_milestone
from payments.services.funding import (
    funding_checkout,
    funding_checkout_open,
    funding_checkout_remaining,
    funding_sync,
)

# Stripe PaymentIntent statuses after the card was accepted, while the webhook is on its way.
PAID_AT_STRIPE = ("processing", "succeeded", "requires_capture")
RESYNC_EVERY = 10


def _fee_percent() -> str:
    return f"{settings.PLATFORM_FEE_BPS / 100:g}"


@login_required
@require_http_methods(["GET", "POST"])
def funding_page(request, pk: int):
    """GET shows the milestone's payment and continues one already started; it creates nothing, at
    Stripe or here (a link preview or prefetch must not open payments). POST starts the payment (the
    PaymentIntent) and comes back here with GET."""
    status = fetch(selectors.funding_status_for_client, user=request.user, milestone_id=pk)
    context = {"status": status, "milestone": status.milestone, "fee_percent": _fee_percent()}
    http_status = 200
    if status.payable:
        try:
            if request.method == "POST":
                funding_checkout(actor=request.user, milestone_id=pk)
                return redirect("payments:fund", pk)
            checkout = funding_checkout_open(milestone_id=pk)
        except InvalidTransitionError as exc:
            messages.error(request, exc.message)
            return back_to_milestone(status.milestone)
        except ApplicationError as exc:
            report(request, exc)
            context["unavailable"] = True
            http_status = exc.status
        else:
            if checkout is not None:
                status = fetch(selectors.funding_status_for_client, user=request.user, milestone_id=pk)
                context.update(
                    status=status,
                    checkout=checkout,
                    processing=status.payable and checkout.status in PAID_AT_STRIPE,
                    test_mode=checkout.publishable_key.startswith("pk_test"),
                )
    return render(request, "payments/funding.html", context, status=http_status)


@login_required
def funding_status_partial(request, pk: int):
    """Polled each second once Stripe.js has confirmed the card, until the webhook marked it funded.

    Should the webhook be late, every `RESYNC_EVERY`th poll reads the PaymentIntent from Stripe
    itself, as the webhook's handler would (it only ever moves the funding forward).
    """
    status = fetch(selectors.funding_status_for_client, user=request.user, milestone_id=pk)
    try:
        poll = max(0, int(request.GET.get("poll", "0")))
    except ValueError:
        poll = 0
    funding = status.funding
    if status.payable and funding and funding.payment_intent_id and poll and poll % RESYNC_EVERY == 0:
        try:
            funding_sync(payment_intent_id=funding.payment_intent_id)
        except ApplicationError:
            pass  # the next poll tries again; the webhook may still come
        else:
            status = fetch(selectors.funding_status_for_client, user=request.user, milestone_id=pk)
    context = {
        "status": status,
        "milestone": status.milestone,
        "processing": True,
        "poll": poll + 1,
        "state_pill_oob": True,  # the heading's state follows the status (htmx out-of-band swap)
    }
    return render(request, "payments/_funding_status.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def funding_all_page(request, pk: int):
    """Fund every milestone still awaiting funding at once, for clients who fund up front: one card typed
    once, one payment per milestone (each its own PaymentIntent, so each is funded, refunded and paid
    out exactly as when funded alone). GET continues the payments already started and creates nothing;
    POST starts the rest and comes back here."""
    engagement = fetch(marketplace_selectors.engagement_get, user=request.user, engagement_id=pk)
    if engagement.client_id != request.user.pk:
        raise PermissionDenied("Only the client funds milestones.")
    engagement_url = reverse("engagement-detail", args=[engagement.pk])
    pending = [m for m in engagement.milestones.all() if m.state == Milestone.State.PENDING_FUNDING]
    if request.method == "POST":
        try:
            funding_checkout_remaining(actor=request.user, engagement_id=engagement.pk)
        except ApplicationError as exc:
            report(request, exc)
        return redirect("payments:fund-all", engagement.pk)
    rows, unavailable, checkout = [], False, None
    for milestone in pending:
        row = {"milestone": milestone, "checkout": None, "processing": False}
        try:
            row["checkout"] = funding_checkout_open(milestone_id=milestone.pk)
        except ApplicationError as exc:
            report(request, exc)
            unavailable = True
        if row["checkout"] is not None:
            checkout = row["checkout"]
            row["processing"] = checkout.status in PAID_AT_STRIPE
        rows.append(row)
    # A milestone paid while this page was being read (its webhook, or the read-back above) has no
    # open checkout any more and would show as not started: read the states again and leave it out.
    still_pending = set(
        Milestone.objects.filter(
            pk__in=[row["milestone"].pk for row in rows], state=Milestone.State.PENDING_FUNDING
        ).values_list("pk", flat=True)
    )
    rows = [row for row in rows if row["milestone"].pk in still_pending]
    if not rows:
        messages.info(request, "Every milestone is funded or settled: nothing is waiting for a payment.")
        return redirect(engagement_url)
    payable = [
        row for row in rows if row["checkout"] and row["checkout"].client_secret and not row["processing"]
    ]
    context = {
        "engagement": engagement,
        "rows": rows,
        "total": sum(row["milestone"].amount for row in rows),
        "payable_total": sum(row["milestone"].amount for row in payable),
        "payments": [
            {
                "milestone": row["milestone"].pk,
                "title": row["milestone"].title,
                "secret": row["checkout"].client_secret,
            }
            for row in payable
        ],
        "to_start": [row for row in rows if row["checkout"] is None],
        "checkout": checkout,
        "test_mode": checkout is not None and checkout.publishable_key.startswith("pk_test"),
        "unavailable": unavailable,
        "fee_percent": _fee_percent(),
    }
    return render(request, "payments/funding_all.html", context, status=503 if unavailable else 200)
