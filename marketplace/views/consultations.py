"""Consultations (both parties): the conversation (which carries on after the hire), the inbox of
all a user's conversations, decline, proposals and accepting one."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.errors import ApplicationError, NotFoundError, ValidationError
from core.pages import Failed, apply_service_errors, attempt, download, fetch, paginate, report, role_required
from core.uploads import upload_caps
from marketplace import selectors
from marketplace.forms import (
    DeclineForm,
    MessageForm,
    proposal_apply_service_errors,
    proposal_forms,
    proposal_validate,
)
from marketplace.models import Consultation, HiringRequest, Proposal
from marketplace.services import conversations as conversation_services
from marketplace.services import requests as request_services

PROPOSING_STATES = (HiringRequest.State.OPEN, HiringRequest.State.CONSULTING)


@role_required("client", "engineer")
def consultation_list(request):
    state = request.GET.get("state") or None
    queryset = selectors.consultation_list(user=request.user)
    if state in Consultation.State.values:
        queryset = queryset.filter(state=state)
    else:
        state = None
    page = paginate(request, queryset)
    return render(
        request,
        "marketplace/consultations/list.html",
        {
            "page": page,
            "consultations": page.object_list,
            "state": state,
            "states": Consultation.State.choices,
        },
    )


@role_required("client", "engineer")
def conversation_inbox(request):
    """All the user's conversations, the latest activity first, with unread counts."""
    page = paginate(request, selectors.conversation_inbox(user=request.user))
    return render(
        request, "marketplace/consultations/inbox.html", {"page": page, "conversations": page.object_list}
    )


def _thread_context(request, consultation: Consultation, form: MessageForm | None = None) -> dict:
    return {
        "consultation": consultation,
        "thread": list(consultation.messages.all()),
        "message_form": form or MessageForm(),
        "can_write": conversation_services.conversation_is_open(consultation),
    }


def _render_detail(request, consultation: Consultation, *, status: int = 200, **forms):
    user = request.user
    is_engineer = consultation.engineer_id == user.pk
    is_client = consultation.request.client_id == user.pk
    is_open = consultation.state == Consultation.State.OPEN
    can_propose = is_engineer and is_open and consultation.request.state in PROPOSING_STATES
    proposals = list(consultation.proposals.all())
    if "proposal_form" not in forms and can_propose:
        forms["proposal_form"], forms["milestone_formset"] = proposal_forms(
            currency=consultation.request.currency
        )
    engagement = None
    if consultation.state == Consultation.State.HIRED:
        engagement = selectors.engagement_list(user=user).filter(consultation=consultation).first()
    context = {
        "hiring_request": consultation.request,
        "proposals": proposals,
        "is_engineer": is_engineer,
        "is_client": is_client,
        "is_open": is_open,
        "can_propose": can_propose,
        "can_accept": is_client and is_open and consultation.request.state in PROPOSING_STATES,
        "engagement": engagement,
        **_thread_context(request, consultation, forms.pop("message_form", None)),
        "decline_form": DeclineForm(),
        "other_party": consultation.request.client if is_engineer else consultation.engineer,
        **forms,
    }
    return render(request, "marketplace/consultations/detail.html", context, status=status)


def _consultation(request, pk: int) -> Consultation:
    return fetch(selectors.consultation_get, user=request.user, consultation_id=pk)


@role_required("client", "engineer")
def consultation_detail(request, pk: int):
    consultation = _consultation(request, pk)
    # Seeing the conversation is reading it.
    conversation_services.conversation_mark_read(actor=request.user, consultation_id=consultation.pk)
    return _render_detail(request, consultation)


@upload_caps(attachments=lambda: settings.ATTACHMENT_MAX_BYTES)
@role_required("client", "engineer")
@require_POST
def consultation_message(request, pk: int):
    form = MessageForm(request.POST, request.FILES)
    status = 400
    if form.is_valid():
        try:
            conversation_services.message_post(
                actor=request.user,
                consultation_id=pk,
                body=form.cleaned_data["body"],
                files=form.cleaned_data["attachments"],
            )
        except NotFoundError as exc:
            raise Http404(exc.message) from exc
        except ApplicationError as exc:
            if not request.htmx:
                status = report(request, exc, form)
            elif isinstance(exc, ValidationError):
                apply_service_errors(form, exc)
            else:
                form.add_error(None, exc.message)
        else:
            if not request.htmx:
                return redirect(reverse("consultation-detail", args=[pk]) + "#thread")
            form = MessageForm()
    consultation = _consultation(request, pk)
    if request.htmx:
        # htmx swaps only 2xx answers; the errors travel inside the fragment.
        return render(
            request, "marketplace/consultations/_thread.html", _thread_context(request, consultation, form)
        )
    return _render_detail(request, consultation, status=status, message_form=form)


@role_required("engineer")
@require_POST
def consultation_decline(request, pk: int):
    form = DeclineForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    attempt(
        request,
        request_services.consultation_decline,
        actor=request.user,
        consultation_id=pk,
        reason=reason,
        done="You declined this consultation. The client was told.",
    )
    return redirect("consultation-detail", pk=pk)


@role_required("engineer")
@require_POST
def proposal_create(request, pk: int):
    consultation = _consultation(request, pk)
    form, formset = proposal_forms(request.POST, currency=consultation.request.currency)
    if not proposal_validate(form, formset):
        messages.error(request, "Please correct the proposal fields marked below.")
        return _render_detail(
            request, consultation, status=400, proposal_form=form, milestone_formset=formset
        )
    try:
        request_services.proposal_submit(
            actor=request.user,
            consultation_id=pk,
            scope=form.cleaned_data["scope"],
            price=form.cleaned_data["price"],
            milestones=[
                {"title": row["title"], "amount": row["amount"], "due_date": row["due_date"]}
                for row in formset.milestones()
            ],
            currency=consultation.request.currency,
        )
    except NotFoundError as exc:
        raise Http404(exc.message) from exc
    except ApplicationError as exc:
        messages.error(request, exc.message)
        if isinstance(exc, ValidationError):
            proposal_apply_service_errors(form, formset, exc)
        consultation = _consultation(request, pk)
        return _render_detail(
            request, consultation, status=exc.status, proposal_form=form, milestone_formset=formset
        )
    messages.success(request, "Proposal sent. The client will review it.")
    return redirect(reverse("consultation-detail", args=[pk]) + "#proposals")


def _proposal(request, pk: int) -> Proposal:
    return fetch(selectors.proposal_get, user=request.user, proposal_id=pk)


@role_required("client")
@require_POST
def proposal_accept(request, pk: int):
    proposal = _proposal(request, pk)
    engagement = attempt(
        request,
        request_services.proposal_accept,
        actor=request.user,
        proposal_id=pk,
        done="Proposal accepted: the engagement has started. Each milestone is worked on once it is funded.",
    )
    if isinstance(engagement, Failed):
        return redirect("consultation-detail", pk=proposal.consultation_id)
    return redirect("engagement-detail", pk=engagement.pk)


@role_required("engineer")
@require_POST
def proposal_withdraw(request, pk: int):
    proposal = _proposal(request, pk)
    attempt(
        request,
        request_services.proposal_withdraw,
        actor=request.user,
        proposal_id=pk,
        done="Proposal withdrawn.",
    )
    return redirect("consultation-detail", pk=proposal.consultation_id)


@role_required("client", "engineer")
def message_attachment_download(request, pk: int):
    attachment = fetch(selectors.message_attachment_get, user=request.user, attachment_id=pk)
    return download(attachment.file, attachment.original_name)
