"""Celery tasks: they take ids, load fresh state and call services; each is safe to run twice.

`supervise_job` is routed to the "gpu" queue (config/celery.py), served by one worker process per
device. The reaper must run on "default" (its beat entry says so): GPU workers are busy with long
jobs exactly when a stale one needs reaping.
"""

from celery import shared_task

from sandbox import services


@shared_task
def supervise_job(job_id: int) -> None:
    services.job_run(job_id=job_id)


@shared_task
def reap_stale_jobs() -> int:
    """Attempts whose heartbeat stopped are counted lost (returns how many); queued jobs whose task
    was lost are sent again."""
    services.jobs_requeue_lost()
    return services.jobs_reap_stale()
