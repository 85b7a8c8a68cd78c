"""A client's requests: list, draft, edit, publish, withdraw, and the matching panel to invite from."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import ApplicationError, NotFoundError
from core.pages import attempt, fetch, paginate, report, role_required
from marketplace import selectors
from marketplace.forms import HiringRequestForm, InviteForm, WithdrawForm
from marketplace.matching import engineer_match
from marketplace.models import HiringRequest
from marketplace.services import requests as request_services

MATCHING_STATES = (HiringRequest.State.OPEN, HiringRequest.State.CONSULTING)


@role_required("client", "engineer")
def request_list(request):
    state = request.GET.get("state") or None
    if state not in HiringRequest.State.values:
        state = None
    counts = {value: 0 for value in HiringRequest.State.values}
    for value in selectors.request_list(user=request.user).values_list("state", flat=True):
        counts[value] += 1
    page = paginate(request, selectors.request_list(user=request.user, state=state))
    tabs = [(value, label, counts[value]) for value, label in HiringRequest.State.choices if counts[value]]
    return render(
        request,
        "marketplace/requests/list.html",
        {
            "page": page,
            "requests": page.object_list,
            "state": state,
            "tabs": tabs,
            "total": sum(counts.values()),
        },
    )


def _own_request(request, pk: int) -> HiringRequest:
    hiring_request = fetch(selectors.request_get, user=request.user, request_id=pk)
    if hiring_request.client_id != request.user.pk:
        raise Http404("Request not found.")
    return hiring_request


def _save_request(request, form: HiringRequestForm, hiring_request: HiringRequest | None):
    """Create or update through the services; returns (request or None, HTTP status)."""
    if not form.is_valid():
        messages.error(request, "Please correct the fields marked below.")
        return None, 400
    try:
        if hiring_request is None:
            saved = request_services.request_create(actor=request.user, **form.service_kwargs())
        else:
            saved = request_services.request_update(
                actor=request.user, request_id=hiring_request.pk, **form.service_kwargs()
            )
        if "publish" in request.POST and saved.state == HiringRequest.State.DRAFT:
            saved = request_services.request_publish(actor=request.user, request_id=saved.pk)
            messages.success(request, "Your request is published. Invite engineers from the matches below.")
        else:
            messages.success(request, "Request saved.")
    except ApplicationError as exc:
        return None, report(request, exc, form)
    return saved, 200


@role_required("client")
@require_http_methods(["GET", "POST"])
def request_create(request):
    form = HiringRequestForm(request.POST or None)
    status = 200
    if request.method == "POST":
        saved, status = _save_request(request, form, None)
        if saved is not None:
            return redirect("request-detail", pk=saved.pk)
    return render(request, "marketplace/requests/form.html", {"form": form}, status=status)


@role_required("client")
@require_http_methods(["GET", "POST"])
def request_edit(request, pk: int):
    hiring_request = _own_request(request, pk)
    if hiring_request.state not in HiringRequest.EDITABLE_STATES:
        messages.error(
            request, f"A {hiring_request.get_state_display().lower()} request can no longer be edited."
        )
        return redirect("request-detail", pk=pk)
    form = HiringRequestForm(request.POST or None, initial=HiringRequestForm.initial_from(hiring_request))
    status = 200
    if request.method == "POST":
        saved, status = _save_request(request, form, hiring_request)
        if saved is not None:
            return redirect("request-detail", pk=saved.pk)
    return render(
        request,
        "marketplace/requests/form.html",
        {"form": form, "hiring_request": hiring_request},
        status=status,
    )


@role_required("client", "engineer")
def request_detail(request, pk: int):
    hiring_request = fetch(selectors.request_get, user=request.user, request_id=pk)
    is_owner = hiring_request.client_id == request.user.pk
    consultations = list(hiring_request.consultations.all())
    context = {
        "hiring_request": hiring_request,
        "is_owner": is_owner,
        "consultations": consultations
        if is_owner
        else [c for c in consultations if c.engineer_id == request.user.pk],
        "withdraw_form": WithdrawForm(),
    }
    if is_owner:
        if hiring_request.state in MATCHING_STATES:
            invited = {c.engineer_id: c for c in consultations}
            matches = engineer_match(hiring_request=hiring_request)
            for match in matches:
                match.consultation = invited.get(match.profile.user_id)
            context["matches"] = matches
            context["invite_requests"] = selectors.invite_requests_pending(hiring_request=hiring_request)
        if hiring_request.state in (HiringRequest.State.HIRED, HiringRequest.State.CLOSED):
            context["engagement"] = (
                selectors.engagement_list(user=request.user).filter(request=hiring_request).first()
            )
        context["timeline"] = list(selectors.request_timeline(hiring_request=hiring_request))
    return render(request, "marketplace/requests/detail.html", context)


@role_required("client")
@require_POST
def request_publish(request, pk: int):
    attempt(
        request,
        request_services.request_publish,
        actor=request.user,
        request_id=pk,
        done="Your request is published. Invite engineers from the matches below.",
    )
    return redirect("request-detail", pk=pk)


@role_required("client")
@require_POST
def request_withdraw(request, pk: int):
    form = WithdrawForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    attempt(
        request,
        request_services.request_withdraw,
        actor=request.user,
        request_id=pk,
        reason=reason,
        done="The request is withdrawn. Invited engineers were told.",
    )
    return redirect("request-detail", pk=pk)


@role_required("client")
@require_POST
def request_invite(request, pk: int):
    form = InviteForm(request.POST)
    consultation, error = None, None
    if not form.is_valid():
        error = "Choose an engineer to invite."
    else:
        try:
            consultation = request_services.consultation_invite(
                actor=request.user,
                request_id=pk,
                engineer_id=form.cleaned_data["engineer"],
                message=form.cleaned_data["message"],
            )
        except NotFoundError as exc:
            raise Http404(exc.message) from exc
        except ApplicationError as exc:
            if not request.htmx:
                report(request, exc)
                return redirect("request-detail", pk=pk)
            error = exc.message
    if request.htmx:
        return render(
            request,
            "marketplace/requests/_invite_result.html",
            {"consultation": consultation, "error": error, "engineer_id": request.POST.get("engineer", "")},
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"{consultation.engineer.display_name} is invited to consult.")
    return redirect(reverse("request-detail", args=[pk]) + "#matches")
