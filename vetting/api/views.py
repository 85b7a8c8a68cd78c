"""The vetting API: challenges, leaderboards, submissions (create, list, detail), staff report, badge
revocation. Thin: parse, call one service or selector, render; errors go to core.api's handler.

Submitting goes through `pipeline.submission_submit` (validation with the base model's tokenizer;
an accepted submission is handed to the pipeline). Two decisions, documented in the schema:
- A submission that fails validation is kept (state `rejected`, no attempt used, nothing started)
  and answered 400 `submission_rejected` with the report in `error.details.validation`.
- Attempts exhausted is 429 `attempt_limit` with a Retry-After header: the limit is a rolling
  budget, and retrying after that time succeeds.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from core.api import PAGED, ApiView, ErrorSerializer, errors
from core.errors import ApplicationError, NotFoundError, PermissionDeniedError, ValidationError
from sandbox.adapters import MAX_CONFIG_BYTES
from vetting import pipeline, selectors, services
from vetting.api import serializers as s
from vetting.models import Badge, Challenge, Submission

TAGS = ["vetting"]
ATTEMPT_LIMIT = OpenApiResponse(
    ErrorSerializer,
    description="`attempt_limit`: the challenge's attempts for the rolling window are used up; "
    "`details.next_available_at` and the Retry-After header say when the next one is available.",
)
REJECTED = OpenApiResponse(
    s.RejectedSerializer,
    description="`submission_rejected`: validation found problems; nothing ran and no attempt was "
    "used. `details.validation.errors` lists each problem with its line (null: the whole file or a "
    "hyperparameter, named as `hyperparameters.<key>`). Other 400s (`validation_error`) are malformed "
    "requests, naming the field.",
)


def _challenge(request, slug: str) -> Challenge:
    return selectors.challenge_get(slug=slug, actor=request.user)


def _challenge_data(request, challenge: Challenge) -> dict:
    user = request.user
    data = selectors.challenge_public(challenge=challenge, actor=user)
    data["best_released_feedback"] = None
    data["badge"] = None
    if user.is_engineer or user.is_staff:
        eval_set = selectors.active_eval_set(challenge)
        if eval_set is not None:
            data["best_released_feedback"] = selectors.best_released_feedback(
                engineer=user, eval_set=eval_set
            )
        data["badge"] = Badge.objects.filter(
            engineer=user, challenge=challenge, revoked_at__isnull=True
        ).first()
    else:
        data["attempts"] = None
    return data


def _submission_data(submission: Submission) -> dict:
    return {
        **selectors.submission_public(submission=submission),
        "training_job": submission.job_ids.get("train"),
    }


class ChallengeListApi(ApiView):
    @extend_schema(
        tags=TAGS,
        responses={200: s.VettingChallengeSerializer(many=True), **errors()},
        description="Open challenges. Engineers also get their attempts left, best released score and badge.",
    )
    def get(self, request):
        challenges = selectors.challenge_list(actor=request.user)
        return self.render_many(
            s.VettingChallengeSerializer, [_challenge_data(request, c) for c in challenges]
        )


class ChallengeDetailApi(ApiView):
    @extend_schema(
        tags=TAGS,
        responses={200: s.VettingChallengeDetailSerializer, **errors(404)},
        description="Instructions, the exact evaluation prompt, public examples, budgets, hyperparameter "
        "defaults and bounds, pass rules and the hidden set's sizes (never its items).",
    )
    def get(self, request, slug: str):
        return self.render(
            s.VettingChallengeDetailSerializer, _challenge_data(request, _challenge(request, slug))
        )


class LeaderboardApi(ApiView):
    @extend_schema(
        tags=TAGS,
        responses={200: s.LeaderboardRowSerializer(many=True), **errors(404)},
        description="Opted-in engineers ranked by their best Ladder-released feedback score.",
    )
    def get(self, request, slug: str):
        return self.render_many(
            s.LeaderboardRowSerializer, selectors.leaderboard(challenge=_challenge(request, slug))
        )


class LeaderboardOptInApi(ApiView):
    @extend_schema(
        tags=TAGS,
        request=s.OptInInput,
        responses={200: s.OptInSerializer, **errors(400, 403, 404)},
        description="An engineer joins or leaves the challenge's leaderboard (engineers only).",
    )
    def put(self, request, slug: str):
        opted_in = self.parse(s.OptInInput)["opted_in"]
        challenge = _challenge(request, slug)
        services.badges.leaderboard_set_opt_in(
            actor=request.user, challenge_id=challenge.pk, opted_in=opted_in
        )
        return self.render(s.OptInSerializer, {"challenge": challenge.slug, "opted_in": opted_in})


class SubmissionListCreateApi(ApiView):
    parser_classes = [MultiPartParser, FormParser]
    pagination_class = PAGED

    @staticmethod
    def upload_limit() -> int:  # core/uploads.py: a dataset, or an adapter's two files
        return max(settings.VETTING_MAX_DATASET_BYTES, settings.ADAPTER_MAX_BYTES + MAX_CONFIG_BYTES)

    @extend_schema(
        tags=TAGS,
        parameters=[OpenApiParameter("challenge", str, description="Only this challenge (slug).")],
        responses={200: s.VettingSubmissionSerializer(many=True), **errors()},
        description="Your submissions, newest first (staff: everyone's).",
    )
    def get(self, request):
        queryset = selectors.submission_list(actor=request.user)
        if request.query_params.get("challenge"):
            queryset = queryset.filter(challenge__slug=request.query_params["challenge"])
        return self.render_page(
            s.VettingSubmissionSerializer, queryset, rows=lambda page: [_submission_data(sub) for sub in page]
        )

    @extend_schema(
        tags=TAGS,
        request={"multipart/form-data": s.SubmissionCreateInput},
        responses={
            201: OpenApiResponse(
                s.VettingSubmissionSerializer,
                description="Valid: queued for training and evaluation (Location: the submission).",
            ),
            202: OpenApiResponse(
                s.VettingSubmissionSerializer,
                description="Received: a worker is validating it (state `validating`); poll the Location.",
            ),
            400: REJECTED,
            **errors(403, 404, 503),
            429: ATTEMPT_LIMIT,
        },
        description="Submit a dataset (chat-format JSONL + hyperparameters) or a LoRA adapter "
        "(adapter_model.safetensors + adapter_config.json) to a challenge. A worker validates it before "
        "anything runs (202 while it does; 201 or 400 when it answered at once). Clients get 403; 503 `base_model_unavailable` while the challenge's base model "
        "is not prepared on the server.",
    )
    def post(self, request):
        data = self.parse(s.SubmissionCreateInput)
        try:
            challenge = _challenge(request, data["challenge"])
        except NotFoundError as exc:
            raise ValidationError(
                f"challenge: no open challenge {data['challenge']!r}.",
                details={"challenge": ["No open challenge with this slug."]},
            ) from exc
        adapter_files = None
        if data["kind"] == Submission.Kind.ADAPTER:
            adapter_files = [data["adapter_model"], data["adapter_config"]]
            adapter_files[0].name, adapter_files[1].name = "adapter_model.safetensors", "adapter_config.json"
        submission = pipeline.submission_submit(
            actor=request.user,
            challenge_id=challenge.pk,
            kind=data["kind"],
            dataset=data.get("dataset"),
            hyperparameters=data.get("hyperparameters"),
            adapter_files=adapter_files,
            leaderboard_opt_in=data.get("leaderboard_opt_in"),
        )
        if submission.state == Submission.State.REJECTED:
            raise _rejected(submission)
        validating = submission.state == Submission.State.VALIDATING
        return Response(
            s.VettingSubmissionSerializer(_submission_data(submission)).data,
            status=status.HTTP_202_ACCEPTED if validating else status.HTTP_201_CREATED,
            headers={"Location": reverse("api-vetting-submission", args=[submission.pk])},
        )


def _rejected(submission: Submission) -> ApplicationError:
    report = submission.validation_report
    problems = sum(report["stats"]["error_counts"].values())
    first = report["errors"][0] if report["errors"] else None
    where = ""
    if first is not None:
        where = f" {'Line ' + str(first['line']) + ': ' if first['line'] else ''}{first['message']}."
    return ValidationError(
        f"The submission was rejected: {problems} problem(s).{where}",
        code="submission_rejected",
        details={"submission": submission.pk, "validation": report},
    )


class SubmissionDetailApi(ApiView):
    @extend_schema(
        tags=TAGS,
        responses={200: s.VettingSubmissionSerializer, **errors(404)},
        description="State and steps, the validation report, the released feedback figure, baselines on "
        "the feedback split, forgetting, costs, verdict and band. Never a final-split figure or an item.",
    )
    def get(self, request, pk: int):
        submission = selectors.submission_get(actor=request.user, submission_id=pk)
        return self.render(s.VettingSubmissionSerializer, _submission_data(submission))


class SubmissionReportApi(ApiView):
    @extend_schema(
        tags=TAGS,
        responses={200: s.StaffReportSerializer, **errors(403, 404)},
        description="Staff: every figure of a submission, final split included, and its badge.",
    )
    def get(self, request, pk: int):
        submission = selectors.submission_get(actor=request.user, submission_id=pk)
        if not request.user.is_staff:
            raise PermissionDeniedError("Only staff see the full report.")
        report = {
            **selectors.submission_staff_report(submission=submission),
            "badge": Badge.objects.filter(submission=submission).select_related("engineer").first(),
        }
        return self.render(s.StaffReportSerializer, report)


class BadgeRevokeApi(ApiView):
    @extend_schema(
        tags=TAGS,
        request=s.BadgeRevokeInput,
        responses={200: s.VettingBadgeSerializer, **errors(400, 403, 404, 409)},
        description="Staff revoke a badge, saying why; it leaves the profile and matching (kept on record).",
    )
    def post(self, request, pk: int):
        reason = self.parse(s.BadgeRevokeInput)["reason"]
        badge = services.badges.badge_revoke(actor=request.user, badge_id=pk, reason=reason)
        return self.render(s.VettingBadgeSerializer, badge)
