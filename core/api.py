"""What every /api/v1/ view of every app shares: the one error format (rendering every error, ours or
DRF's, as {"error": {"code", "message", "details"}}, and documenting it), and the view base classes.

Views stay thin: parse with an input serializer, call one service or selector, render. Errors are
never mapped in views; core errors and DRF's propagate to `exception_handler`.
"""

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from django.utils import timezone
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ApplicationError, LimitReachedError
from core.middleware import api_error_body


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
    if isinstance(exc, RequestDataTooBig):
        return Response(api_error_body(413), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
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


# --- Errors (documentation of the one error format) ---------------------------------------------


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. `invalid_state`.")
    message = serializers.CharField(help_text="Human-readable; names the field for bad input.")
    details = serializers.DictField(
        help_text="For bad input, each field path (e.g. `milestones[0].amount`) with its messages."
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


ERROR_DESCRIPTIONS = {
    400: "Bad input; `details` names each field by its path.",
    401: "Not authenticated: send `Authorization: Token <token>` or a session cookie.",
    403: "A party to this object, but not in the role that may do this.",
    404: "No such object, or it belongs to other users.",
    409: "The object is in a state where this action is not possible.",
    429: "Too many failed log-in attempts for this username from this address; retry later.",
    503: "Something the platform needs is not available right now (`code` says what); retry later.",
}


def errors(*statuses: int, authenticated: bool = True) -> dict[int, OpenApiResponse]:
    """The error responses of an endpoint, all in the one format, for its OpenAPI description."""
    codes = {*statuses, 401} if authenticated else set(statuses)
    return {
        code: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]) for code in sorted(codes)
    }


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's schema with what every paged list answers besides its page: 404 for a `page`
    that is past the last page or not a page number (DRF's paginator), so no list can forget it.

    (`extend_schema` replaces `get_response_serializers` with what the view declares, so the 404 is
    added where drf-spectacular turns those into response bodies.)"""

    NO_SUCH_PAGE = OpenApiResponse(ErrorSerializer, description="`not_found`: no such page.")

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        paged = self.method == "GET" and getattr(self.view, "pagination_class", None) is not None
        if paged and "404" not in responses:
            responses["404"] = self._get_response_for_code(self.NO_SUCH_PAGE, "404", direction=direction)
        return responses


# The base of every /api/v1/ endpoint: one class per URL, one method per HTTP verb. (A comment, not a
# docstring: drf-spectacular would print a docstring as every operation's description.)
#
# A list endpoint sets `pagination_class` (PAGED, or a paginator of its own) and documents its response
# as `Serializer(many=True)`: drf-spectacular documents the page from that attribute, so what the
# schema says and what `render_page` answers cannot drift apart. A list without it is a bare array
# (`render_many`).
class ApiView(APIView):
    pagination_class = None

    def context(self) -> dict:
        return {"request": self.request, "view": self}

    def parse(self, serializer_class, data=None, **kwargs) -> dict:
        serializer = serializer_class(
            data=self.request.data if data is None else data, context=self.context(), **kwargs
        )
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def parse_query(self, serializer_class) -> dict:
        return self.parse(serializer_class, data=self.request.query_params)

    def render(self, serializer_class, instance, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(serializer_class(instance, context=self.context()).data, status=status_code)

    def render_many(self, serializer_class, items) -> Response:
        return Response(serializer_class(items, many=True, context=self.context()).data)

    def render_page(self, serializer_class, queryset, *, rows=None) -> Response:
        """One page of `queryset` (`rows` turns the page's objects into what the serializer reads)."""
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        if rows is not None:
            page = rows(page)
        return paginator.get_paginated_response(
            serializer_class(page, many=True, context=self.context()).data
        )

    def created(self, serializer_class, instance) -> Response:
        return self.render(serializer_class, instance, status.HTTP_201_CREATED)


# The paginator of the project's lists (REST_FRAMEWORK's DEFAULT_PAGINATION_CLASS and PAGE_SIZE).
PAGED = api_settings.DEFAULT_PAGINATION_CLASS


class PingView(ApiView):
    """Checks credentials: answers who you are and the server's time. Also the load benchmark's baseline."""

    @extend_schema(
        responses=inline_serializer(
            "Ping", {"user": serializers.CharField(), "time": serializers.DateTimeField()}
        )
    )
    def get(self, request):
        return Response({"user": request.user.username, "time": timezone.now()})
