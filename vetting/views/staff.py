"""Staff pages: every submission with its full figures (`submission_staff_report`), and badges with
revocation. Challenges, eval-set versions and attempt grants are managed in the admin, linked from here."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError, NotFoundError
from core.pages import fetch
from vetting import selectors, services
from vetting.forms import BadgeRevokeForm
from vetting.models import Badge, Challenge, Submission
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
    queryset = selectors.submission_list(actor=request.user)
    challenge = request.GET.get("challenge") or ""
    state = request.GET.get("state") or ""
    if challenge:
        queryset = queryset.filter(challenge__slug=challenge)
    if state in Submission.State.values:
        queryset = queryset.filter(state=state)
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
            "challenges": Challenge.objects.order_by("title"),
            "states": Submission.State.choices,
            "challenge": challenge,
            "state": state,
        },
    )


@staff_required
@require_GET
def submission_report(request, pk: int):
    submission = fetch(selectors.submission_get, actor=request.user, submission_id=pk)
    badge = Badge.objects.filter(submission=submission).first()
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
    queryset = Badge.objects.select_related("engineer", "submission").order_by("-awarded_at", "-id")
    if request.GET.get("show") != "all":
        queryset = queryset.filter(revoked_at__isnull=True)
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
        try:
            badge = services.badges.badge_revoke(
                actor=request.user, badge_id=pk, reason=form.cleaned_data["reason"]
            )
        except NotFoundError as exc:
            raise Http404(exc.message) from exc
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Badge “{badge.title}” of {badge.engineer.display_name} revoked.")
    back = request.POST.get("next")
    if back == "badges":
        return redirect("vetting:staff-badges")
    badge = Badge.objects.filter(pk=pk).first()
    if badge is None:
        raise Http404("Badge not found.")
    if badge.submission_id:
        return redirect("vetting:staff-submission", pk=badge.submission_id)
    return redirect("vetting:staff-badges")
