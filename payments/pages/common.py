"""What the payments pages add to core.pages: payout settings are for engineers, and the engagement page
is where most actions return to."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse

from marketplace.models import Milestone


def engineer_required(view):
    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_engineer:
            raise PermissionDenied("Payout settings are for engineers.")
        return view(request, *args, **kwargs)

    return wrapped


def back_to_milestone(milestone: Milestone | int, engagement_id: int | None = None):
    if isinstance(milestone, Milestone):
        milestone, engagement_id = milestone.pk, milestone.engagement_id
    return redirect(reverse("engagement-detail", args=[engagement_id]) + f"#milestone-{milestone}")
