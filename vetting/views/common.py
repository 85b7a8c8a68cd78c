"""What the vetting pages share: visibility (what a user may not see does not exist) and the 403 page
that says why."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

CLIENTS_CANNOT_SUBMIT = (
    "Vetting challenges are taken by engineers. As a client you can read every challenge and its "
    "leaderboard, but you cannot submit."
)


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "vetting/forbidden.html", {"message": message}, status=403)


def takes_challenges(user) -> bool:
    return user.is_engineer or user.is_staff
