"""Reads of Jobs, and who may see them: the job's owner and staff; nobody else learns it exists."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from core.errors import NotFoundError
from sandbox.models import Job


def jobs_visible_to(*, user) -> QuerySet[Job]:
    if not getattr(user, "is_authenticated", False):
        return Job.objects.none()
    if user.is_staff:
        return Job.objects.all()
    return Job.objects.filter(owner=user)


def job_get_visible(*, user, job_id: int, for_update: bool = False) -> Job:
    jobs = jobs_visible_to(user=user)
    if for_update:
        jobs = jobs.select_for_update()
    job = jobs.filter(pk=job_id).first()
    if job is None:
        raise NotFoundError("Job not found.")
    return job


THROUGHPUT_JOBS = 20


@dataclass(frozen=True)
class Throughput:
    tokens_per_second: float
    device_kind: str  # "cpu" or "cuda"
    jobs: int


def train_throughput_measured() -> Throughput | None:
    """Median training tokens/s of this deployment's most recent succeeded training jobs, on the device
    kind that ran the latest one; None before any has run."""
    succeeded = Job.objects.filter(
        kind=Job.Kind.TRAIN, state=Job.State.SUCCEEDED, tokens_per_second__gt=0
    ).order_by("-finished_at")
    latest = succeeded.values_list("device", flat=True).first()
    if latest is None:
        return None
    kind = "cuda" if latest.startswith("cuda") else "cpu"
    rates = list(
        succeeded.filter(device__startswith=kind).values_list("tokens_per_second", flat=True)[
            :THROUGHPUT_JOBS
        ]
    )
    return Throughput(tokens_per_second=round(statistics.median(rates), 1), device_kind=kind, jobs=len(rates))


@dataclass(frozen=True)
class JobProgress:
    """What the job page shows about a job's progress, derived once here for the page and the API."""

    percent: float | None  # None: no step count yet
    elapsed_seconds: int | None
    remaining_seconds: int | None  # None: no estimate yet (no steps done, or finished)
    last_loss: float | None


def job_progress(*, job: Job) -> JobProgress:
    percent = None
    if job.progress_total:
        percent = round(min(job.progress_step / job.progress_total, 1.0) * 100, 1)
    if job.state == Job.State.SUCCEEDED:
        percent = 100.0

    elapsed = None
    if job.started_at:
        end = job.finished_at if job.is_finished and job.finished_at else timezone.now()
        elapsed = max(int((end - job.started_at).total_seconds()), 0)

    remaining = None
    if job.state == Job.State.RUNNING and elapsed is not None and 0 < job.progress_step < job.progress_total:
        # Steps so far took `elapsed` (model loading included, so the estimate errs long early on).
        remaining = int(elapsed * (job.progress_total - job.progress_step) / job.progress_step)

    last_loss = job.loss_history[-1][1] if job.loss_history else None
    return JobProgress(
        percent=percent, elapsed_seconds=elapsed, remaining_seconds=remaining, last_loss=last_loss
    )
