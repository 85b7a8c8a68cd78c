"""Celery tasks of the vetting pipeline (queue "default"): they take ids and call vetting.pipeline.

Each is safe to run twice: `submission_advance` locks the submission and acts only on what its state
and its jobs' states say is due.
"""

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from vetting import pipeline, services


@shared_task(
    soft_time_limit=settings.VETTING_VALIDATION_SECONDS, time_limit=settings.VETTING_VALIDATION_SECONDS + 30
)
def submission_validate(submission_id: int) -> str:
    """Validate an upload in a worker (queue "default"), never in a web process; past the time limit it
    is rejected, saying so (no attempt used)."""
    try:
        return pipeline.submission_validate(submission_id=submission_id)
    except SoftTimeLimitExceeded:
        services.submissions.submission_validation_timeout(
            submission_id=submission_id, seconds=settings.VETTING_VALIDATION_SECONDS
        )
        return "rejected: validation timed out"


@shared_task
def submission_advance(submission_id: int) -> str:
    return pipeline.submission_advance(submission_id=submission_id)


@shared_task
def job_finished(job_id: int) -> list[int]:
    """A sandbox job reached a finished state: advance the submissions waiting on it."""
    return pipeline.job_finished(job_id=job_id)


@shared_task
def submissions_sweep() -> int:
    """The periodic safety net (beat): advance every active submission whose jobs are done."""
    return pipeline.submissions_sweep()
