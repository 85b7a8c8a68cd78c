"""API error rendering: every error, ours or DRF's, becomes {"error": {"code", "message", "details"}}."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ApplicationError, LimitReachedError


def _first_message(details) -> str:
    if isinstance(details, dict):
        for field, value in details.items():
            inner = _first_message(value)
            return inner if field in ("non_field_errors", "__all__") else f"{field}: {inner}"
    if isinstance(details, list) and details:
        return _first_message(details[0])
    return str(details)


def error_response(*, code: str, message: str, details=None, status_code: int) -> Response:
    return Response(
        {"error": {"code": code, "message": message, "details": details or {}}}, status=status_code
    )


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        response = error_response(
            code=exc.code, message=exc.message, details=exc.details, status_code=exc.status
        )
        if isinstance(exc, LimitReachedError) and exc.retry_at is not None:
            response["Retry-After"] = str(exc.retry_after_seconds(timezone.now()))
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return error_response(
            code="validation_error",
            message=_first_message(details),
            details=details,
            status_code=status.HTTP_400_BAD_REQUEST,
        )
    detail = getattr(exc, "detail", "")
    code = detail.code if hasattr(detail, "code") else getattr(exc, "default_code", "error")
    response.data = {"error": {"code": code, "message": str(detail), "details": {}}}
    return response


class PingView(APIView):
    """Checks credentials: answers who you are and the server's time. Also the load benchmark's baseline."""

    @extend_schema(
        responses=inline_serializer(
            "Ping", {"user": serializers.CharField(), "time": serializers.DateTimeField()}
        )
    )
    def get(self, request):
        return Response({"user": request.user.username, "time": timezone.now()})
