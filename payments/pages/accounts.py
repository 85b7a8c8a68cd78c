"""The engineer's payout settings: Stripe Connect onboarding through an Account Link, what Stripe
still needs, and the engineer's payouts."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.errors import ApplicationError
from payments import selectors
from payments.pages.common import engineer_required
from payments.services.accounts import connected_account_onboarding_link, connected_account_sync


def _onboarding_redirect(request):
    """To Stripe's hosted onboarding; back to the settings page with the reason if Stripe fails."""
    try:
        url = connected_account_onboarding_link(
            actor=request.user,
            return_url=request.build_absolute_uri(reverse("payments:payouts-return")),
            refresh_url=request.build_absolute_uri(reverse("payments:payouts-refresh")),
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("payments:payouts")
    return redirect(url)


@engineer_required
def payout_settings(request):
    account = selectors.payout_account(user=request.user)
    payouts = selectors.payout_list(user=request.user).order_by("-created_at", "-id")[:50]
    return render(request, "payments/payout_settings.html", {"account": account, "payouts": payouts})


@engineer_required
@require_POST
def payout_onboard(request):
    return _onboarding_redirect(request)


@engineer_required
def payout_onboarding_refresh(request):
    """Stripe sends the engineer here (a GET) when a link expired or was used. A GET creates nothing at
    Stripe, so this says what happened and the settings page's button (a POST) asks for a fresh link."""
    messages.info(
        request, "That set-up link has expired or was already used. Continue with Stripe for a fresh one."
    )
    return redirect("payments:payouts")


@engineer_required
def payout_onboarding_return(request):
    """Back from Stripe: read the account now rather than wait for `account.updated`."""
    account = selectors.payout_account(user=request.user).account
    if account is not None and account.stripe_account_id:
        try:
            connected_account_sync(stripe_account_id=account.stripe_account_id)
        except ApplicationError as exc:
            messages.warning(
                request, f"Back from Stripe, but your account could not be read yet: {exc.message}"
            )
            return redirect("payments:payouts")
    current = selectors.payout_account(user=request.user)
    if current.eligibility.ready:
        messages.success(request, "Your payout account is ready: approved payouts can now be sent to you.")
    else:
        messages.warning(
            request, "Stripe has not finished with your account: " + " ".join(current.eligibility.reasons)
        )
    return redirect("payments:payouts")
