from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import ApiView, errors
from sandbox import services
from sandbox.api.serializers import JobProgressSerializer, JobSerializer
from sandbox.selectors import job_get_visible


class JobDetailApi(ApiView):
    @extend_schema(responses={200: JobSerializer, **errors(404)})
    def get(self, request: Request, pk: int) -> Response:
        return self.render(JobSerializer, job_get_visible(user=request.user, job_id=pk))


class JobProgressApi(ApiView):
    @extend_schema(responses={200: JobProgressSerializer, **errors(404)})
    def get(self, request: Request, pk: int) -> Response:
        return self.render(JobProgressSerializer, job_get_visible(user=request.user, job_id=pk))


class JobCancelApi(ApiView):
    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(JobSerializer, description="Cancelled."),
            202: OpenApiResponse(JobSerializer, description="Running: its supervisor is stopping it."),
            **errors(404, 409),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        job = services.job_cancel(job_id=pk, actor=request.user)
        # 202 while the supervisor is still stopping a running job; 200 once it is cancelled.
        code = status.HTTP_202_ACCEPTED if job.cancel_requested else status.HTTP_200_OK
        return self.render(JobSerializer, job, code)
