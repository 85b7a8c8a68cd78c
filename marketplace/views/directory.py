"""The engineer directory (clients find engineers), the job board (engineers find open requests) and
asking to be invited, with the client's answer on the request page.

The directory and the board are GET forms: the URL is the search, and without scripts they work as
plain pages; htmx swaps only the results (a 2xx fragment that also carries the field errors)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.errors import ApplicationError, NotFoundError
from core.pages import paginate, report, role_required
from marketplace import directory, selectors
from marketplace.forms import EngineerDirectoryForm, InviteRequestForm, JobBoardForm
from marketplace.models import EngineerProfile, InviteRequest
from marketplace.services import invite_requests as invite_request_services

PAGE_SIZE = 20


def _fragment(request) -> bool:
    """An htmx request for the results alone (a history restore wants the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


@login_required
def engineer_directory(request):
    form = EngineerDirectoryForm(request.GET or None, skills=directory.directory_skills())
    page, status = None, 200
    if not form.is_bound or form.is_valid():
        filters = form.filters() if form.is_bound else directory.EngineerFilters()
        page = paginate(request, directory.engineer_directory(filters=filters), per_page=PAGE_SIZE)
    elif not _fragment(request):
        status = 400  # htmx swaps only 2xx answers; the fragment carries the errors instead.
    context = {"form": form, "page": page, "profiles": page.object_list if page else []}
    template = (
        "marketplace/directory/_results.html" if _fragment(request) else "marketplace/directory/list.html"
    )
    return render(request, template, context, status=status)


@role_required("engineer")
def job_board(request):
    form = JobBoardForm(request.GET or None, skills=selectors.skill_list())
    profile = EngineerProfile.objects.filter(user=request.user).prefetch_related("skills").first()
    missing = profile.listing_missing() if profile else ["a profile"]
    q, skill = "", ""
    if form.is_bound and form.is_valid():
        q, skill = form.cleaned_data["q"], form.cleaned_data["skill"]
    page = paginate(request, directory.job_board(engineer=request.user, q=q, skill=skill), per_page=PAGE_SIZE)
    mine = directory.engineer_skill_ids(engineer=request.user)
    context = {
        "form": form,
        "page": page,
        "requests": page.object_list,
        "my_skill_ids": mine,
        "missing": missing,
        "can_ask": not missing and profile.availability != EngineerProfile.Availability.UNAVAILABLE,
        "not_taking_work": profile is not None
        and profile.availability == EngineerProfile.Availability.UNAVAILABLE,
        "ask_form": InviteRequestForm(),
    }
    template = "marketplace/jobs/_results.html" if _fragment(request) else "marketplace/jobs/list.html"
    return render(request, template, context)


@role_required("engineer")
@require_POST
def invite_request_create(request, pk: int):
    form = InviteRequestForm(request.POST)
    ask, error = None, None
    if not form.is_valid():
        error = "; ".join(f"{form.fields[name].label}: {msgs[0]}" for name, msgs in form.errors.items())
    else:
        try:
            ask = invite_request_services.invite_request_create(
                actor=request.user, request_id=pk, note=form.cleaned_data["note"]
            )
        except NotFoundError as exc:
            raise Http404(exc.message) from exc
        except ApplicationError as exc:
            if not request.htmx:
                report(request, exc)
                return redirect("job-board")
            error = exc.message
    if request.htmx:
        return render(
            request, "marketplace/jobs/_ask_result.html", {"ask": ask, "error": error, "request_id": pk}
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"You asked to be invited to “{ask.request.title}”. The client is told.")
    return redirect("job-board")


ANSWERS = {
    "accept": invite_request_services.invite_request_accept,
    "decline": invite_request_services.invite_request_decline,
    "withdraw": invite_request_services.invite_request_withdraw,
}


@role_required("client", "engineer")
@require_POST
def invite_request_answer(request, pk: int, action: str):
    if action not in ANSWERS:
        raise Http404("No such action.")
    result, error = None, None
    try:
        result = ANSWERS[action](actor=request.user, invite_request_id=pk)
    except NotFoundError as exc:
        raise Http404(exc.message) from exc
    except ApplicationError as exc:
        if not request.htmx:
            report(request, exc)
        error = exc.message
    ask = InviteRequest.objects.select_related("request", "engineer").filter(pk=pk).first()
    if request.htmx:
        template = (
            "marketplace/jobs/_ask_result.html"
            if action == "withdraw"
            else "marketplace/requests/_ask_answer.html"
        )
        return render(
            request,
            template,
            {
                "ask": ask,
                "error": error,
                "consultation": result if action == "accept" else None,
                "request_id": ask.request_id,
                "withdrawn": action == "withdraw" and not error,
            },
        )
    if not error:
        done = {
            "accept": f"{ask.engineer.display_name} is invited to consult.",
            "decline": f"You declined {ask.engineer.display_name}'s ask.",
            "withdraw": "You withdrew your ask.",
        }[action]
        messages.success(request, done)
    if action == "withdraw":
        return redirect("job-board")
    return redirect(reverse("request-detail", args=[ask.request_id]) + "#invite-requests")
