"""The money actions of the engagement page: cancelling a funded milestone by consent (one party
asks, the other accepts or declines), and staff's decisions (cancel and refund, settle a dispute).
Each posts, calls one service, and returns to the milestone with a message."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.views.decorators.http import require_POST

from core.money import format_money
from core.pages import Failed, attempt, fetch, staff_required
from marketplace import selectors as marketplace_selectors
from payments import selectors
from payments.forms import (
    CancellationDecideForm,
    CancellationDeclineForm,
    CancellationRequestForm,
    DisputeResolveForm,
)
from payments.models import Refund
from payments.pages.common import back_to_milestone
from payments.services.disputes import dispute_resolve
from payments.services.refunds import (
    cancellation_accept,
    cancellation_decide,
    cancellation_decline,
    cancellation_request,
)


def _form_errors(request, form) -> None:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        for error in errors:
            messages.error(request, f"{label}: {error}" if label else error)


def _refund_message(request, refund: Refund, done: str) -> None:
    money = format_money(refund.amount, refund.currency)
    if refund.state == Refund.State.SUCCEEDED:
        messages.success(request, f"{done} {money} was refunded to the client's card.")
    elif refund.state == Refund.State.FAILED:
        messages.error(
            request,
            f"{done} The refund of {money} failed at Stripe ({refund.failure_message}); staff retry it.",
        )
    else:
        messages.info(request, f"{done} The refund of {money} is on its way.")


@login_required
@require_POST
def cancellation_request_view(request, pk: int):
    milestone = fetch(marketplace_selectors.milestone_get, user=request.user, milestone_id=pk)
    form = CancellationRequestForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return back_to_milestone(milestone)
    attempt(
        request,
        cancellation_request,
        actor=request.user,
        milestone_id=pk,
        reason=form.cleaned_data["reason"],
        done="Cancellation requested. The other party was asked to agree.",
    )
    return back_to_milestone(milestone)


@login_required
@require_POST
def cancellation_accept_view(request, pk: int):
    cancellation = fetch(selectors.cancellation_get, user=request.user, cancellation_id=pk)
    refund = attempt(request, cancellation_accept, actor=request.user, cancellation_id=pk)
    if not isinstance(refund, Failed):
        _refund_message(request, refund, "Cancelled by agreement.")
    return back_to_milestone(cancellation.milestone)


@login_required
@require_POST
def cancellation_decline_view(request, pk: int):
    cancellation = fetch(selectors.cancellation_get, user=request.user, cancellation_id=pk)
    form = CancellationDeclineForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return back_to_milestone(cancellation.milestone)
    attempt(
        request,
        cancellation_decline,
        actor=request.user,
        cancellation_id=pk,
        note=form.cleaned_data["note"],
        done="Cancellation declined. The milestone goes on.",
    )
    return back_to_milestone(cancellation.milestone)


@staff_required
@require_POST
def cancellation_decide_view(request, pk: int):
    milestone = fetch(marketplace_selectors.milestone_get, user=request.user, milestone_id=pk)
    form = CancellationDecideForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return back_to_milestone(milestone)
    refund = attempt(
        request, cancellation_decide, actor=request.user, milestone_id=pk, reason=form.cleaned_data["reason"]
    )
    if not isinstance(refund, Failed):
        _refund_message(request, refund, "Milestone cancelled.")
    return back_to_milestone(milestone)


@staff_required
@require_POST
def _keep_settlement_form(request, milestone_id: int, form: DisputeResolveForm) -> None:
    """A refused settlement: what was typed and each error by its field, for the page the redirect
    shows (the engagement page's settlement form reads them back once: `settlement_form_state`)."""
    request.session[f"settlement-{milestone_id}"] = {
        "values": {name: request.POST.get(name, "") for name in ("release_amount", "refund_amount", "note")},
        "errors": {field: [str(e) for e in errors] for field, errors in form.errors.items()},
    }


def dispute_resolve_view(request, pk: int):
    milestone = fetch(marketplace_selectors.milestone_get, user=request.user, milestone_id=pk)
    form = DisputeResolveForm(request.POST, currency=milestone.currency)
    if not form.is_valid():
        _form_errors(request, form)
        _keep_settlement_form(request, pk, form)
        return back_to_milestone(milestone)
    data = form.cleaned_data
    resolved = attempt(
        request,
        dispute_resolve,
        form=form,
        actor=request.user,
        milestone_id=pk,
        release_amount=data["release_amount"],
        refund_amount=data["refund_amount"],
        currency=milestone.currency,
        note=data["note"],
    )
    if isinstance(resolved, Failed) and resolved.status != 502:  # 502: recorded, a part to retry
        _keep_settlement_form(request, pk, form)
    if not isinstance(resolved, Failed):
        money = lambda amount: format_money(amount, milestone.currency)  # noqa: E731
        messages.success(
            request,
            f"Dispute resolved: {money(data['release_amount'])} released to the engineer, "
            f"{money(data['refund_amount'])} refunded to the client.",
        )
    return back_to_milestone(milestone)
