"""Celery tasks of the vetting pipeline (queue "default"): they take ids and call vetting.pipeline.

Each is safe to run twice: `submission_advance` locks the submission and acts only on what its state
and its jobs' states say is due.
"""

from celery import shared_task

from vetting import pipeline


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
