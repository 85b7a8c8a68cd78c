"""Celery tasks of acceptance runs (queue "default"): they take ids and call acceptance.pipeline, and
are safe to run twice (`run_advance` locks the run and acts only on what is due)."""

from celery import shared_task

from acceptance import baselines, pipeline


@shared_task
def acceptance_run_advance(run_id: int) -> str:
    return pipeline.run_advance(run_id=run_id)


@shared_task
def acceptance_runs_sweep() -> int:
    """The periodic safety net (beat): advance every unfinished run whose jobs are done."""
    return pipeline.runs_sweep()


@shared_task
def prompting_baseline_advance(baseline_id: int) -> str:
    return baselines.baseline_advance(baseline_id=baseline_id)
