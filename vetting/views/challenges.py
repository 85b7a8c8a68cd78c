"""Challenges: the list, a challenge's page (instructions, the exact evaluation prompt, public examples,
budgets, pass rules, attempts left) and its leaderboard. Anyone signed in may read them."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.errors import PermissionDeniedError
from core.pages import fetch
from vetting import selectors, services
from vetting.challenges.base import INPUT_MARK
from vetting.models import Challenge
from vetting.views.common import forbidden, takes_challenges


def _standing(user, challenge: Challenge) -> dict[str, Any]:
    """The engineer's own standing on a challenge: best released feedback figure and active badge."""
    eval_set = selectors.active_eval_set(challenge)
    return {
        "best_released": selectors.best_released_feedback(engineer=user, eval_set=eval_set)
        if eval_set
        else None,
        "badge": selectors.badge_active(engineer=user, challenge=challenge),
    }


@login_required
@require_GET
def challenge_list(request):
    user = request.user
    rows = []
    for challenge in selectors.challenge_list(actor=user):
        public = selectors.challenge_public(challenge=challenge, actor=user)
        rows.append(
            {
                "challenge": challenge,
                "public": public,
                **(_standing(user, challenge) if takes_challenges(user) else {}),
            }
        )
    return render(
        request,
        "vetting/challenge_list.html",
        {"rows": rows, "takes_challenges": takes_challenges(user)},
    )


@login_required
@require_GET
def challenge_detail(request, slug: str):
    user = request.user
    challenge = fetch(selectors.challenge_get, slug=slug, actor=user)
    public = selectors.challenge_public(challenge=challenge, actor=user)
    context = {
        "challenge": challenge,
        "public": public,
        "takes_challenges": takes_challenges(user),
        "hyperparameters": public["hyperparameters"],
        # The user turn around the input, so the page can mark where the input goes.
        "user_turn": challenge.user_template.split(INPUT_MARK),
        "input_mark": INPUT_MARK,
    }
    if takes_challenges(user):
        context.update(_standing(user, challenge))
        context["submissions"] = selectors.submission_list(actor=user, challenge=challenge, own=True)[:10]
    return render(request, "vetting/challenge_detail.html", context)


@login_required
@require_GET
def leaderboard(request, slug: str):
    user = request.user
    challenge = fetch(selectors.challenge_get, slug=slug, actor=user)
    context = {
        "challenge": challenge,
        "rows": selectors.leaderboard(challenge=challenge),
        "eval_set": selectors.active_eval_set(challenge),
        "can_opt_in": user.is_engineer,
        "opted_in": selectors.leaderboard_opted_in(engineer=user, challenge=challenge),
    }
    return render(request, "vetting/leaderboard.html", context)


@login_required
@require_POST
def leaderboard_opt_in(request, slug: str):
    challenge = fetch(selectors.challenge_get, slug=slug, actor=request.user)
    opted_in = request.POST.get("opted_in") == "1"
    try:
        services.badges.leaderboard_set_opt_in(
            actor=request.user, challenge_id=challenge.pk, opted_in=opted_in
        )
    except PermissionDeniedError as exc:
        return forbidden(request, exc.message)
    messages.success(
        request,
        "You appear on this leaderboard." if opted_in else "You no longer appear on this leaderboard.",
    )
    return redirect("vetting:leaderboard", slug=slug)
