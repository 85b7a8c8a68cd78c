"""What every page view shares: service errors become page messages (404 for objects the user may
not see), field errors go next to their fields, and only the right role reaches a page."""

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest

from core.errors import ApplicationError, NotFoundError, ValidationError
from marketplace.forms import apply_service_errors

PAGE_SIZE = 25


def fetch(selector: Callable, **kwargs):
    """Call a selector; what the user may not see does not exist."""
    try:
        return selector(**kwargs)
    except NotFoundError as exc:
        raise Http404(exc.message) from exc


def report(request: HttpRequest, error: ApplicationError, form=None) -> int:
    """Show a service error on the page; returns the HTTP status to answer with."""
    if isinstance(error, NotFoundError):
        raise Http404(error.message)
    messages.error(request, error.message)
    if form is not None and isinstance(error, ValidationError):
        apply_service_errors(form, error)
    return error.status


def paginate(request: HttpRequest, queryset, per_page: int = PAGE_SIZE):
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def role_required(*roles: str):
    """Only users with one of these roles ("client", "engineer") reach the view; others get 403."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            user = request.user
            allowed = ("client" in roles and user.is_client) or ("engineer" in roles and user.is_engineer)
            if not allowed:
                raise PermissionDenied(f"This page is for {' and '.join(roles)}s.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
