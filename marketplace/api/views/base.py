"""What every /api/v1/ view shares: parse input, render output, and the documented error responses.

Views stay thin: parse with an input serializer, call one service or selector, render. Errors are
never mapped here; core errors and DRF's propagate to core.api.exception_handler.
"""

from django.core.paginator import Paginator
from drf_spectacular.utils import OpenApiResponse
from rest_framework import status, viewsets
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from marketplace.api.serializers import ErrorSerializer

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


class ApiMixin:
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

    def created(self, serializer_class, instance) -> Response:
        return self.render(serializer_class, instance, status.HTTP_201_CREATED)


class _RowPaginator(Paginator):
    """Fetches the page first, with the count that comes on its rows, then pages as Django does."""

    def page(self, number):
        try:
            offset = (int(number) - 1) * self.per_page
        except (TypeError, ValueError):
            offset = -1  # Not a page number: Django's own checks below say so.
        if offset >= 0:
            self.object_list.fetch(offset, self.per_page)
        return super().page(number)


class RowPagination(PageNumberPagination):
    """Page-number pagination of a selectors.RowList in one query per page (the count comes with it)."""

    django_paginator_class = _RowPaginator


class ApiViewSet(ApiMixin, viewsets.GenericViewSet):
    # Resources are addressed by integer id (typed in the URL, and so in the OpenAPI document).
    lookup_value_converter = "int"

    def render_page(self, serializer_class, queryset) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True, context=self.context()).data)
