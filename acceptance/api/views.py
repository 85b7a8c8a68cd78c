"""A milestone's acceptance test: the client sets it before funding; both parties read the terms."""

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from acceptance import baselines, selectors, services
from acceptance.api import serializers as s
from core.api import ApiView, errors
from core.uploads import MULTIPART_OVERHEAD


class _SetUploadApi(ApiView):
    """An endpoint that takes a client's evaluation set (multipart)."""

    parser_classes = [MultiPartParser, FormParser]

    @staticmethod
    def upload_limit() -> int:  # core/uploads.py: refused while it streams past this
        return settings.ACCEPTANCE_MAX_SET_BYTES + MULTIPART_OVERHEAD


class AcceptanceTermsApi(_SetUploadApi):
    @extend_schema(
        tags=["milestones"],
        responses={200: s.AcceptanceTermsSerializer, **errors(404)},
        description="The milestone's acceptance test as the caller may see it: the terms, the item "
        "count and the public sample (never the private items).",
    )
    def get(self, request, pk: int):
        return self.render(
            s.AcceptanceTermsSerializer, selectors.acceptance_test_get(user=request.user, milestone_id=pk)
        )

    @extend_schema(
        tags=["milestones"],
        request={"multipart/form-data": s.AcceptanceTermsInput},
        responses={200: s.AcceptanceTermsSerializer, **errors(400, 403, 404, 409)},
        description="The client attaches (or replaces) the milestone's acceptance test while it awaits "
        "funding: a private evaluation set, a metric, a pass mark, a base model, a forgetting floor and "
        "the size of the public sample. Every problem of the set is listed with its line in "
        "`details.eval_set`. 409 once the milestone is funded.",
    )
    def put(self, request, pk: int):
        test = services.acceptance_terms_set(
            actor=request.user, milestone_id=pk, **self.parse(s.AcceptanceTermsInput)
        )
        return self.render(s.AcceptanceTermsSerializer, test)

    @extend_schema(
        tags=["milestones"],
        responses={
            204: OpenApiResponse(description="The acceptance test is removed."),
            **errors(403, 404, 409),
        },
        description="The client removes the acceptance test while the milestone awaits funding.",
    )
    def delete(self, request, pk: int):
        services.acceptance_terms_remove(actor=request.user, milestone_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AcceptanceRunListApi(ApiView):
    @extend_schema(
        tags=["milestones"],
        responses={200: s.AcceptanceRunSerializer(many=True), **errors(404)},
        description="Every run of the milestone's acceptance test (one per delivery), newest first: state, "
        "progress, the scores with 95% intervals, the terms they were judged by, the reasons a run "
        "failed, and its cost. Aggregates only: per-item outputs are on the client's page.",
    )
    def get(self, request, pk: int):
        return self.render_many(
            s.AcceptanceRunSerializer, selectors.acceptance_runs(user=request.user, milestone_id=pk)
        )


class RequestBaselineApi(_SetUploadApi):
    @extend_schema(
        tags=["requests"],
        responses={200: s.PromptingBaselineSerializer, **errors(404)},
        description="The request's prompting baseline with its state: what the base model scores with "
        "prompting alone (zero-shot, few-shot) on the client's sample, with 95% intervals. The client, "
        "staff and invited engineers see it; the items stay the client's.",
    )
    def get(self, request, pk: int):
        return self.render(
            s.PromptingBaselineSerializer, baselines.baseline_get(user=request.user, request_id=pk)
        )

    @extend_schema(
        tags=["requests"],
        request={"multipart/form-data": s.BaselineInput},
        responses={202: s.PromptingBaselineSerializer, **errors(400, 403, 404, 409)},
        description="The client uploads a sample evaluation set; the platform measures the base model on it "
        "in the sandbox (202: queued; GET follows it). Replaces the last measurement; 409 while one runs.",
    )
    def post(self, request, pk: int):
        baseline = baselines.baseline_measure(
            actor=request.user, request_id=pk, **self.parse(s.BaselineInput)
        )
        return self.render(s.PromptingBaselineSerializer, baseline, status.HTTP_202_ACCEPTED)
