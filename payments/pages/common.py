"""What the payments pages share: service errors become page messages, staff pages do not exist for
anyone else, and the engagement page is where most actions return to."""

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.shortcuts import redirect
from django.urls import reverse

from core.errors import ApplicationError, NotFoundError, PermissionDeniedError
from marketplace.models import Milestone


def read(selector: Callable, **kwargs):
    """Call a selector: what the user may not see is a 404, what they may not do here a 403."""
    try:
        return selector(**kwargs)
    except NotFoundError as exc:
        raise Http404(exc.message) from exc
    except PermissionDeniedError as exc:
        raise PermissionDenied(exc.message) from exc


def staff_required(view):
    """Staff pages: anonymous users log in first; for everyone else the page does not exist."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_staff:
            raise Http404("Page not found.")
        return view(request, *args, **kwargs)

    return wrapped


def engineer_required(view):
    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_engineer:
            raise PermissionDenied("Payout settings are for engineers.")
        return view(request, *args, **kwargs)

    return wrapped


def report_error(request: HttpRequest, error: ApplicationError) -> None:
    """A service error as a page message; a 404 stays a 404."""
    if isinstance(error, NotFoundError):
        raise Http404(error.message)
    messages.error(request, error.message)


def back_to_milestone(milestone: Milestone | int, engagement_id: int | None = None):
    if isinstance(milestone, Milestone):
        milestone, engagement_id = milestone.pk, milestone.engagement_id
    return redirect(reverse("engagement-detail", args=[engagement_id]) + f"#milestone-{milestone}")
