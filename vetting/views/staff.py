"""Staff pages: every submission with its full figures (`submission_staff_report`), and badges with
revocation. Challenges, eval-set versions and attempt grants are managed in the admin, linked from here."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.pages import Failed, attempt, fetch
from vetting import selectors, services
from vetting.forms import BadgeRevokeForm
from vetting.models import Submission
from vetting.views.common import forbidden

PAGE_SIZE = 25
STAFF_ONLY = "This page is for staff."


def staff_required(view):
    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_staff:
            return forbidden(request, STAFF_ONLY)
        return view(request, *args, **kwargs)

    return wrapped


@staff_required
@require_GET
def submissions(request):
    challenge = request.GET.get("challenge") or ""
    state = request.GET.get("state") or ""
    queryset = selectors.submission_list(actor=request.user, challenge_slug=challenge, state=state)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {"submission": submission, "report": selectors.submission_staff_report(submission=submission)}
        for submission in page.object_list
    ]
    return render(
        request,
        "vetting/staff/submissions.html",
        {
            "page": page,
            "rows": rows,
            "challenges": selectors.challenges_by_title(),
            "states": Submission.State.choices,
            "challenge": challenge,
            "state": state,
        },
    )


@staff_required
@require_GET
def submission_report(request, pk: int):
    submission = fetch(selectors.submission_get, actor=request.user, submission_id=pk)
    badge = selectors.badge_of_submission(submission=submission)
    return render(
        request,
        "vetting/staff/report.html",
        {
            "submission": submission,
            "report": selectors.submission_staff_report(submission=submission),
            "badge": badge,
            "revoke_form": BadgeRevokeForm(),
        },
    )


@staff_required
@require_GET
def badges(request):
    queryset = selectors.badge_list(include_revoked=request.GET.get("show") == "all")
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "vetting/staff/badges.html",
        {"page": page, "badges": page.object_list, "show_all": request.GET.get("show") == "all"},
    )


@staff_required
@require_POST
def badge_revoke(request, pk: int):
    form = BadgeRevokeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the badge is revoked.")
    else:
        badge = attempt(
            request,
            services.badges.badge_revoke,
            actor=request.user,
            badge_id=pk,
            reason=form.cleaned_data["reason"],
        )
        if not isinstance(badge, Failed):
            messages.success(request, f"Badge “{badge.title}” of {badge.engineer.display_name} revoked.")
    back = request.POST.get("next")
    if back == "badges":
        return redirect("vetting:staff-badges")
    badge = fetch(selectors.badge_get, badge_id=pk)
    if badge.submission_id:
        return redirect("vetting:staff-submission", pk=badge.submission_id)
    return redirect("vetting:staff-badges")
