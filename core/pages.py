"""What every page view of every app shares: what a user may not see does not exist (404), what they may
not do is a 403, a service's error becomes a page message with its field errors next to their fields,
and only the right users reach a page.

    result = attempt(request, services.proposal_withdraw, actor=request.user, proposal_id=pk,
                     done="Proposal withdrawn.")
    return redirect(...)

`attempt` is the one way a page calls a service: on success it adds the `done` message and returns the
service's result; on an ApplicationError it reports it (a 404 stays a 404) and returns a `Failed`
carrying the error and the HTTP status to answer with, so the view re-renders or redirects.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models.fields.files import FieldFile
from django.forms.utils import pretty_name
from django.http import FileResponse, Http404, HttpRequest

from core.errors import ApplicationError, NotFoundError, PermissionDeniedError, ValidationError

PAGE_SIZE = 25
# A detail key that names one entry of a list field ("links[2]") or a part of one ("address.city").
_ENTRY = re.compile(r"^(?P<field>[A-Za-z_]\w*)(\[\d+\]|\.).*$")
# A service message that starts with the code name of the field it is about: "budget_max: ...".
_NAMED = re.compile(r"^(?P<name>[a-z_][a-z0-9_]*)(?P<rest>(\[\d+\])?(\.[a-z_][a-z0-9_]*)?: .*)$", re.S)


def for_people(message: str, form: forms.Form | None = None) -> str:
    """A service message as a page shows it: the field's label in place of its code name
    ("Maximum budget: ..." for "budget_max: ..."), the form's label where it has the field."""
    named = _NAMED.match(message)
    if named is None:
        return message
    name, rest = named["name"], named["rest"]
    field = form.fields.get(name) if form is not None else None
    label = str(field.label) if field is not None and field.label else pretty_name(name)
    entry = re.match(r"^\[(\d+)\]", rest)
    if entry:  # "milestones[0].amount: ..." -> "Milestone 1, amount: ..."
        part = rest[entry.end() :]
        sub, _, tail = part.partition(": ")
        sub = f", {pretty_name(sub.lstrip('.')).lower()}" if sub else ""
        return f"{label.removesuffix('s')} {int(entry[1]) + 1}{sub}: {tail}"
    return f"{label}{rest}"


def fetch(selector: Callable, **kwargs) -> Any:
    """Call a selector: what the user may not see is a 404, what they may not do here a 403."""
    try:
        return selector(**kwargs)
    except NotFoundError as exc:
        raise Http404(exc.message) from exc
    except PermissionDeniedError as exc:
        raise PermissionDenied(exc.message) from exc


def apply_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's ValidationError details next to the fields they name (an entry of a list field,
    `links[2]`, goes next to `links`), or, without details, its message next to the field it starts
    with ("refund_amount: ..."); what names no field goes on top of the form."""
    details = error.details if isinstance(error.details, dict) else {}
    placed = False
    for field, messages_ in details.items():
        entry = _ENTRY.match(field)
        if field not in form.fields and entry:
            field = entry["field"]
        if field not in form.fields:
            continue
        for message in messages_ if isinstance(messages_, list | tuple) else [messages_]:
            form.add_error(field, str(message))
        placed = True
    if not placed:
        named = _NAMED.match(error.message)
        if named and named["name"] in form.fields and named["rest"].startswith(": "):
            # "refund_amount: ..." with no details: next to that field, in the message's own words.
            form.add_error(named["name"], named["rest"][2:])
        else:
            form.add_error(None, for_people(error.message, form))


def report(request: HttpRequest, error: ApplicationError, form: forms.Form | None = None) -> int:
    """Show a service error on the page; returns the HTTP status to answer with."""
    if isinstance(error, NotFoundError):
        raise Http404(error.message)
    messages.error(request, for_people(error.message, form))
    if form is not None and isinstance(error, ValidationError):
        apply_service_errors(form, error)
    return error.status


@dataclass(frozen=True)
class Failed:
    """What `attempt` returns when the service refused: the error, reported, and the status to answer."""

    error: ApplicationError
    status: int


def attempt(
    request: HttpRequest,
    service: Callable[..., Any],
    /,
    *,
    done: str = "",
    form: forms.Form | None = None,
    **kwargs: Any,
) -> Any:
    """Call `service(**kwargs)` for a page (see the module docstring); a `Failed` on refusal."""
    try:
        result = service(**kwargs)
    except ApplicationError as exc:
        return Failed(error=exc, status=report(request, exc, form))
    if done:
        messages.success(request, done)
    return result


def download(file: FieldFile, filename: str) -> FileResponse:
    """A stored upload as a download, never rendered inline (its name and type came from the
    uploader); 404 when the file is gone."""
    try:
        handle = file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The file is no longer available.") from exc
    return FileResponse(
        handle, as_attachment=True, filename=filename, content_type="application/octet-stream"
    )


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


def staff_required(view):
    """Staff pages: anonymous users log in first; for everyone else the page does not exist."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_staff:
            raise Http404("Page not found.")
        return view(request, *args, **kwargs)

    return wrapped
