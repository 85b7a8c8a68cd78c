"""Two submissions reaching evaluation at the same moment on PostgreSQL (two workers advancing them):
the base model's jobs are started once, and both submissions wait on the same ones."""

from __future__ import annotations

import pytest

from sandbox.models import Job
from tests.concurrency import run_together
from tests.vetting import test_pipeline_support as support
from tests.vetting.test_pipeline_support import tiny_adapter_files
from vetting import pipeline
from vetting.models import Submission

# Fixtures (see test_pipeline_support).
pipeline_settings = support.pipeline_settings
tiny_model_dir = support.tiny_model_dir

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("attempt", range(3))
def test_two_submissions_starting_evaluation_together_share_one_set_of_baseline_jobs(
    attempt, pipeline_settings, start_celery_worker, engineer_user, tiny_model_dir, tmp_path
):
    # Tasks go to a broker with no worker on it: the test takes each submission's steps itself.
    challenge = support.make_tiny_challenge()
    submissions = []
    for number in range(2):
        files = tiny_adapter_files(tiny_model_dir, tmp_path / f"adapter-{number}", rank=4)
        submission = pipeline.submission_submit(
            actor=engineer_user, challenge_id=challenge.pk, kind="adapter", adapter_files=files
        )
        pipeline.submission_validate(submission_id=submission.pk)
        submission.refresh_from_db()
        assert submission.state == Submission.State.QUEUED, submission.validation_report
        submissions.append(submission)

    results = run_together(
        *(lambda pk=s.pk: pipeline.submission_advance(submission_id=pk) for s in submissions)
    )

    assert all(kind == "ok" and value.startswith("evaluating") for kind, value in results), results
    baselines = Job.objects.filter(kind=Job.Kind.EVALUATE, spec__has_key="vetting_baseline")
    assert baselines.count() == 1, list(baselines.values_list("pk", "spec__vetting_baseline"))
    first, second = (Submission.objects.get(pk=s.pk).job_ids for s in submissions)
    assert first[pipeline.BASE] == second[pipeline.BASE] == baselines.get().pk
    assert first[pipeline.TUNED] != second[pipeline.TUNED]
