"""Reads, and who may see what.

Engineers (and anyone not staff) get public data only: challenges with their published prompt and
public examples, their own submissions with released figures, leaderboards of released scores. Hidden
items are read by `evalset_items_for_staff` (staff) and `evaluation_prompts` (the pipeline, which
writes them into the evaluation sandbox only); neither result may reach a page or API for non-staff.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Max, QuerySet
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from core.errors import NotFoundError, PermissionDeniedError
from marketplace.models import User
from vetting.challenges import Split
from vetting.datasets import hyperparameter_schema
from vetting.models import (
    AttemptGrant,
    Badge,
    Challenge,
    EvalItem,
    EvalSetVersion,
    LeaderboardOptIn,
    Submission,
)
from vetting.scoring import few_shot_messages, general_messages, zero_shot_messages
from vetting.verdict import public_verdict

# --- challenges -----------------------------------------------------------------------------------


def challenge_list(*, actor: User | None = None) -> QuerySet[Challenge]:
    queryset = Challenge.objects.prefetch_related("skills").order_by("title")
    if actor is None or not actor.is_staff:
        queryset = queryset.filter(is_active=True, eval_sets__is_active=True)
    return queryset


def challenge_get(*, slug: str, actor: User | None = None) -> Challenge:
    challenge = challenge_list(actor=actor).filter(slug=slug).first()
    if challenge is None:
        raise NotFoundError("Challenge not found.")
    return challenge


def active_eval_set(challenge: Challenge) -> EvalSetVersion | None:
    return challenge.eval_sets.filter(is_active=True).first()


def challenge_public(*, challenge: Challenge, actor: User | None = None) -> dict[str, Any]:
    """What a challenge page and the API show anyone: instructions, prompt, examples, budgets, rules."""
    eval_set = active_eval_set(challenge)
    data: dict[str, Any] = {
        "slug": challenge.slug,
        "title": challenge.title,
        "summary": challenge.summary,
        "task_type": challenge.task_type,
        "skills": [skill.name for skill in challenge.skills.all()],
        "instructions": challenge.instructions,
        "scoring": challenge.metric_obj.summary,
        "evaluation_prompt": challenge.prompt.as_dict(),
        "public_examples": challenge.public_examples,
        "base_model": challenge.base_model,
        "budgets": challenge.budgets,
        "hyperparameters": hyperparameter_schema(challenge.hyperparameter_limits),
        "pass_rules": {
            "threshold": challenge.pass_threshold,
            "forgetting_margin": challenge.forgetting_margin,
            "beats_few_shot": "lower bound of the 95% interval of (fine-tuned - few-shot) > 0",
            "bands": {"strong": challenge.band_strong, "exceptional": challenge.band_exceptional},
        },
        "eval_set": (
            {
                "version": eval_set.version,
                "feedback_items": eval_set.split_size(Split.FEEDBACK),
                "final_items": eval_set.split_size(Split.FINAL),
                "general_items": eval_set.split_size(Split.GENERAL),
            }
            if eval_set
            else None
        ),
        "attempts": None,
    }
    if actor is not None and actor.is_authenticated:
        data["attempts"] = asdict(attempt_status(engineer=actor, challenge=challenge))
    return data


# --- attempts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptStatus:
    limit: int | None  # None: unlimited (staff)
    window_days: int
    used_in_window: int
    granted_left: int
    left: int | None
    next_available_at: datetime | None


def grants_with_left(*, engineer: User, challenge: Challenge) -> list[AttemptGrant]:
    """The engineer's grants on the challenge, each annotated with `left`, oldest first."""
    grants = AttemptGrant.objects.filter(engineer=engineer, challenge=challenge).annotate(
        used=Count("submissions", filter=Submission.counted(prefix="submissions__"))
    )
    for grant in grants:
        grant.left = max(0, grant.attempts - grant.used)
    return list(grants)


def attempt_status(*, engineer: User, challenge: Challenge, now: datetime | None = None) -> AttemptStatus:
    """Attempts left: `attempt_limit` per rolling window (not counting rejected submissions, those a
    platform fault ended, nor those paid for by a grant), plus what staff grants have left."""
    now = now or timezone.now()
    if engineer.is_staff:
        return AttemptStatus(None, challenge.attempt_window_days, 0, 0, None, None)
    window_start = now - timedelta(days=challenge.attempt_window_days)
    in_window = list(
        Submission.objects.filter(
            engineer=engineer, challenge=challenge, created_at__gt=window_start, attempt_grant__isnull=True
        )
        .filter(Submission.counted())
        .order_by("created_at")
        .values_list("created_at", flat=True)
    )
    granted_left = sum(grant.left for grant in grants_with_left(engineer=engineer, challenge=challenge))
    window_left = max(0, challenge.attempt_limit - len(in_window))
    next_at = None
    if not window_left and in_window:
        # The window frees its oldest counted attempt first.
        next_at = in_window[len(in_window) - challenge.attempt_limit] + timedelta(
            days=challenge.attempt_window_days
        )
    return AttemptStatus(
        limit=challenge.attempt_limit,
        window_days=challenge.attempt_window_days,
        used_in_window=len(in_window),
        granted_left=granted_left,
        left=window_left + granted_left,
        next_available_at=next_at,
    )


# --- submissions ----------------------------------------------------------------------------------


def submission_list(
    *,
    actor: User,
    challenge: Challenge | None = None,
    challenge_slug: str = "",
    state: str = "",
    own: bool = False,
) -> QuerySet[Submission]:
    """Submissions `actor` may see (staff: all, unless `own`), narrowed by challenge and a known state."""
    queryset = Submission.objects.select_related("challenge", "engineer", "eval_set")
    if own or not actor.is_staff:
        queryset = queryset.filter(engineer=actor)
    if challenge is not None:
        queryset = queryset.filter(challenge=challenge)
    if challenge_slug:
        queryset = queryset.filter(challenge__slug=challenge_slug)
    if state in Submission.State.values:
        queryset = queryset.filter(state=state)
    return queryset


def submission_get(*, actor: User, submission_id: int) -> Submission:
    submission = submission_list(actor=actor).filter(pk=submission_id).first()
    if submission is None:
        raise NotFoundError("Submission not found.")
    return submission


PLATFORM_STEPS = ("evaluate", "score", "verdict")
PLATFORM_FAILED = "The platform failed; your attempt was returned."


def submission_public(*, submission: Submission) -> dict[str, Any]:
    """The engineer's view: state, steps, validation report, released feedback figure, baselines on
    the feedback split, forgetting, costs, verdict and band. No final-split figure, no item."""
    feedback = submission.figures.get(Split.FEEDBACK, {})
    failure = None
    if submission.state == Submission.State.ERRORED:
        # A platform fault is told as nothing more than that; the engineer's own failures (their
        # training crashed, their adapter broke or stalled evaluation) are described, never quoting
        # what ran on hidden items.
        message = PLATFORM_FAILED if submission.attempt_returned else submission.failure_message
        failure = {"step": submission.failure_step, "message": message}
    steps = {
        name: {
            "status": step["status"],
            "detail": ""
            if step["status"] == "failed" and (submission.attempt_returned or name in PLATFORM_STEPS)
            else step["detail"],
        }
        for name, step in submission.steps.items()
    }
    return {
        "id": submission.pk,
        "challenge": submission.challenge.slug,
        "eval_set_version": submission.eval_set.version,
        "kind": submission.kind,
        "state": submission.state,
        "steps": steps,
        "hyperparameters": submission.hyperparameters,
        "validation": submission.validation_report,
        "feedback": {
            "base": feedback.get("zero_shot"),
            "few_shot": feedback.get("few_shot"),
            "fine_tuned_released": submission.released_feedback_score,
            "newly_released": submission.feedback_released,
        },
        "general": {
            "base": submission.general_base_score,
            "fine_tuned": submission.general_fine_tuned_score,
            "forgetting_ratio": submission.forgetting_ratio,
            "change_ci": submission.general_delta_ci,
        },
        "cost": submission.cost,
        "verdict": public_verdict(submission.verdict) if submission.verdict else None,
        "band": submission.band or None,
        "failure": failure,
        "created_at": submission.created_at.isoformat(),
        "finished_at": submission.finished_at.isoformat() if submission.finished_at else None,
    }


VERDICT_WORDS = {
    Submission.State.PASSED: "pass",
    Submission.State.FAILED: "fail",
    Submission.State.REJECTED: "rejected",
    Submission.State.ERRORED: "errored",
}


def submission_staff_report(*, submission: Submission) -> dict[str, Any]:
    """Every figure (staff and `vetting_submit`); still no item text."""
    return {
        "submission": submission.pk,
        "challenge": submission.challenge.slug,
        "eval_set_version": submission.eval_set.version,
        "engineer": submission.engineer.username,
        "state": submission.state,
        "verdict": VERDICT_WORDS.get(submission.state, submission.state),
        "band": submission.band or None,
        "reasons": submission.verdict.get("reasons", [])
        or ([submission.failure_message] if submission.failure_message else []),
        "rules": submission.verdict.get("rules", []),
        "scores": {
            "base": submission.base_score,
            "few_shot": submission.few_shot_score,
            "fine_tuned": submission.fine_tuned_score,
            "fine_tuned_ci": submission.fine_tuned_ci,
            "delta_vs_few_shot_ci": submission.delta_ci,
            "general_base": submission.general_base_score,
            "general_fine_tuned": submission.general_fine_tuned_score,
            "forgetting_ratio": submission.forgetting_ratio,
            "general_delta_ci": submission.general_delta_ci,
        },
        "feedback": {
            "score": submission.feedback_score,
            "released": submission.released_feedback_score,
            "newly_released": submission.feedback_released,
        },
        "figures": submission.figures,
        "cost": submission.cost,
        "validation": submission.validation_report,
        "failure": {
            "step": submission.failure_step,
            "message": submission.failure_message,
            "attempt_returned": submission.attempt_returned,
        }
        if submission.failure_step
        else None,
    }


def best_released_feedback(
    *, engineer: User, eval_set: EvalSetVersion, exclude_id: int | None = None
) -> float | None:
    """The Ladder's reference: the best feedback figure already shown to this engineer on this version."""
    queryset = Submission.objects.filter(
        engineer=engineer, eval_set=eval_set, released_feedback_score__isnull=False
    )
    if exclude_id is not None:
        queryset = queryset.exclude(pk=exclude_id)
    return queryset.aggregate(best=Max("released_feedback_score"))["best"]


# --- leaderboard ----------------------------------------------------------------------------------


def leaderboard(*, challenge: Challenge, limit: int = 50) -> list[dict[str, Any]]:
    """Opted-in engineers ranked by their best Ladder-released feedback figure on the active version."""
    eval_set = active_eval_set(challenge)
    if eval_set is None:
        return []
    opted_in = LeaderboardOptIn.objects.filter(challenge=challenge).values("engineer_id")
    rows = (
        Submission.objects.filter(
            eval_set=eval_set, engineer_id__in=opted_in, released_feedback_score__isnull=False
        )
        .values("engineer_id", "engineer__username", "engineer__first_name", "engineer__last_name")
        .annotate(best=Max("released_feedback_score"), submissions=Count("id"))
        .order_by("-best", "engineer__username")[:limit]
    )
    return [
        {
            "rank": rank,
            "engineer": row["engineer__username"],
            "display_name": f"{row['engineer__first_name']} {row['engineer__last_name']}".strip()
            or row["engineer__username"],
            "released_feedback_score": row["best"],
            "submissions": row["submissions"],
        }
        for rank, row in enumerate(rows, start=1)
    ]


# --- hidden items: staff and pipeline only ---------------------------------------------------------


def evalset_items_for_staff(*, actor: User, evalset_id: int) -> QuerySet[EvalItem]:
    if actor is None or not actor.is_staff:
        raise PermissionDeniedError("Only staff may see evaluation items.")
    return EvalItem.objects.filter(eval_set_id=evalset_id).order_by("position")


EVALUATION_CONFIGS = ("zero_shot", "few_shot", "fine_tuned", "general")


@sensitive_variables()
def evaluation_prompts(*, eval_set: EvalSetVersion, config: str) -> list[dict[str, Any]]:
    """The evaluation engine's prompts ({"id", "messages"}) for one configuration.

    For the pipeline only: the result holds hidden items and goes into the evaluation sandbox alone.
    zero_shot and fine_tuned use the published prompt; few_shot adds the public examples as earlier
    turns; general asks the general set as bare user turns.
    """
    if config not in EVALUATION_CONFIGS:
        raise ValueError(f"unknown configuration {config!r}")
    challenge = eval_set.challenge
    if config == "general":
        items = eval_set.items.filter(split=Split.GENERAL)
        return [{"id": item.key, "messages": general_messages(item.input)} for item in items]
    items = eval_set.items.filter(split__in=Split.HIDDEN)
    prompt = challenge.prompt
    if config == "few_shot":
        return [
            {"id": item.key, "messages": few_shot_messages(prompt, challenge.public_examples, item.input)}
            for item in items
        ]
    return [{"id": item.key, "messages": zero_shot_messages(prompt, item.input)} for item in items]


# --- badges and leaderboard opt-ins ----------------------------------------------------------------


def badge_active(*, engineer: User, challenge: Challenge) -> Badge | None:
    return Badge.objects.filter(engineer=engineer, challenge=challenge, revoked_at__isnull=True).first()


def badge_of_submission(*, submission: Submission) -> Badge | None:
    return Badge.objects.filter(submission=submission).first()


def badge_list(*, include_revoked: bool = False) -> QuerySet[Badge]:
    """Every badge, newest first (staff pages)."""
    queryset = Badge.objects.select_related("engineer", "submission").order_by("-awarded_at", "-id")
    return queryset if include_revoked else queryset.filter(revoked_at__isnull=True)


def badge_get(*, badge_id: int) -> Badge:
    badge = Badge.objects.filter(pk=badge_id).first()
    if badge is None:
        raise NotFoundError("Badge not found.")
    return badge


def leaderboard_opted_in(*, engineer: User, challenge: Challenge) -> bool:
    return (
        engineer.is_authenticated
        and LeaderboardOptIn.objects.filter(engineer=engineer, challenge=challenge).exists()
    )


def challenges_by_title() -> QuerySet[Challenge]:
    """Every challenge, for staff filters."""
    return Challenge.objects.order_by("title")
