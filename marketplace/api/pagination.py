"""Paging the marketplace's hand-built row lists (selectors.RowList): one query per page."""

from django.core.paginator import Paginator
from rest_framework.pagination import PageNumberPagination


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
