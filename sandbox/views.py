"""The job page: state, a live progress bar, the loss curve, elapsed and remaining time, the log tail.

The status block is a partial the page re-fetches every two seconds (htmx) until the job finishes.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError, NotFoundError
from sandbox import services
from sandbox.models import Job
from sandbox.selectors import job_get_visible, job_progress

CURVE_WIDTH = 600
CURVE_HEIGHT = 200
CURVE_PAD = 8
CURVE_AXIS = 24  # room under the curve for its labels


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def _loss_curve(history: list[list[float]]) -> dict[str, Any] | None:
    """An SVG polyline of the loss over steps, drawn on the server so the page needs no chart library."""
    if len(history) < 2:
        return None
    steps = [point[0] for point in history]
    losses = [point[1] for point in history]
    first_step, last_step = min(steps), max(steps)
    low, high = min(losses), max(losses)
    step_span = (last_step - first_step) or 1
    loss_span = (high - low) or 1.0
    inner_w = CURVE_WIDTH - 2 * CURVE_PAD
    inner_h = CURVE_HEIGHT - CURVE_PAD - CURVE_AXIS
    points = " ".join(
        f"{CURVE_PAD + (step - first_step) / step_span * inner_w:.1f},"
        f"{CURVE_PAD + (high - loss) / loss_span * inner_h:.1f}"
        for step, loss in history
    )
    return {
        "points": points,
        "width": CURVE_WIDTH,
        "height": CURVE_HEIGHT,
        "first_step": first_step,
        "last_step": last_step,
        "low": low,
        "high": high,
    }


def _status_context(job: Job) -> dict[str, Any]:
    progress = job_progress(job=job)
    return {
        "job": job,
        "progress": progress,
        "elapsed": _duration(progress.elapsed_seconds),
        "remaining": _duration(progress.remaining_seconds),
        "curve": _loss_curve(job.loss_history),
    }


def _visible_job(request: HttpRequest, pk: int) -> Job:
    try:
        return job_get_visible(user=request.user, job_id=pk)
    except NotFoundError as exc:
        raise Http404(exc.message) from exc


@login_required
@require_GET
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _visible_job(request, pk)
    return render(request, "sandbox/job_detail.html", _status_context(job))


@login_required
@require_GET
def job_status(request: HttpRequest, pk: int) -> HttpResponse:
    job = _visible_job(request, pk)
    return render(request, "sandbox/_job_status.html", _status_context(job))


@login_required
@require_POST
def job_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        job = services.job_cancel(job_id=pk, actor=request.user)
    except NotFoundError as exc:
        raise Http404(exc.message) from exc
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        if job.cancel_requested:
            messages.info(request, "Stopping the job; it ends within a few seconds.")
    return redirect("sandbox:job-detail", pk=pk)
