"""Data migrations of the vetting app, run backwards and forwards on a real schema."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("vetting", "0004_forgetting_non_inferiority"), ("sandbox", "0001_initial")]
AFTER = [("vetting", "0005_submission_jobs")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def restore_schema():
    yield
    call_command("migrate", verbosity=0)  # however the test ends, the schema is as the other tests expect


@pytest.mark.django_db(transaction=True)
def test_job_ids_become_one_link_per_role_and_back(engineer_user, restore_schema):
    apps = migrate(BEFORE)
    Challenge = apps.get_model("vetting", "Challenge")
    EvalSetVersion = apps.get_model("vetting", "EvalSetVersion")
    Submission = apps.get_model("vetting", "Submission")
    Job = apps.get_model("sandbox", "Job")
    challenge = Challenge.objects.create(
        slug="c",
        title="C",
        pass_threshold=0.8,
        band_strong=0.9,
        band_exceptional=0.95,
        user_template="{input}",
    )
    eval_set = EvalSetVersion.objects.create(challenge=challenge, version=1)
    jobs = [
        Job.objects.create(kind=kind, spec={}, wall_seconds=1, memory_mb=1, output_mb=1, max_attempts=1)
        for kind in ("train", "evaluate")
    ]
    common = {
        "engineer_id": engineer_user.pk,
        "challenge": challenge,
        "eval_set": eval_set,
        "kind": "dataset",
    }
    linked = Submission.objects.create(
        **common, job_ids={"train": jobs[0].pk, "evaluate:tuned_task": jobs[1].pk, "evaluate:gone": 999_999}
    )
    unlinked = Submission.objects.create(**common, job_ids={})

    apps = migrate(AFTER)
    SubmissionJob = apps.get_model("vetting", "SubmissionJob")
    links = set(SubmissionJob.objects.values_list("submission_id", "role", "job_id"))
    # A job that no longer exists is left out.
    assert links == {(linked.pk, "train", jobs[0].pk), (linked.pk, "evaluate:tuned_task", jobs[1].pk)}

    apps = migrate(BEFORE)
    Submission = apps.get_model("vetting", "Submission")
    assert Submission.objects.get(pk=linked.pk).job_ids == {
        "train": jobs[0].pk,
        "evaluate:tuned_task": jobs[1].pk,
    }
    assert Submission.objects.get(pk=unlinked.pk).job_ids == {}
