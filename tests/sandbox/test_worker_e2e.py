"""Jobs through the broker and a real `celery worker -Q gpu`: isolation and limits with the worker
surviving, a worker killed mid-job (one retry, then `infrastructure`), and the project's engines
training and evaluating the tiny model with progress on the job page."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import psutil
import pytest
from django.conf import settings
from django.utils import timezone

from sandbox import services
from sandbox.models import Job
from tests.celery_worker import wait_for
from tests.sandbox.conftest import job_state

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.needs("bwrap"),
]


def finished(job_id: int, timeout: float = 60) -> Job:
    return wait_for(
        lambda: (job := job_state(job_id)).is_finished and job,
        timeout=timeout,
        what=f"job {job_id} to finish",
    )


def sandboxed_processes(job: Job) -> list[psutil.Process]:
    """Processes still running this job's engine (found by its spec path on their command line)."""
    marker = str(services.job_folder(job))
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(marker in part for part in process.info["cmdline"] or ()):
            found.append(process)
    return found


def test_isolation_and_limits_through_a_real_worker(start_worker, dataset, tmp_path):
    worker = start_worker()
    hidden = tmp_path / "hidden-eval.jsonl"
    hidden.write_text('{"expected": "secret"}\n')
    other_job = Path(settings.SANDBOX_ROOT) / "jobs" / "999999" / "attempt-1" / "output" / "a.bin"
    other_job.parent.mkdir(parents=True, exist_ok=True)
    other_job.write_bytes(b"another job's adapter")

    probe = services.job_create(
        kind=Job.Kind.EVALUATE,
        spec={
            "behaviour": "probe",
            "dataset_path": str(dataset),
            "forbidden": [str(hidden), str(other_job), "/var/run/postgresql/.s.PGSQL.5432"],
        },
        wall_seconds=60,
        memory_mb=512,
    )
    hog = services.job_create(
        kind=Job.Kind.TRAIN, spec={"behaviour": "memory", "dataset_path": str(dataset)}, memory_mb=200
    )
    after = services.job_create(
        kind=Job.Kind.TRAIN, spec={"behaviour": "train", "dataset_path": str(dataset)}
    )

    probe = finished(probe.pk)
    assert probe.state == Job.State.SUCCEEDED, (probe.failure_message, worker.log())
    assert probe.metrics["tcp_5432"].startswith("refused") and probe.metrics["tcp_6379"].startswith("refused")
    assert probe.metrics["visible"] == [] and probe.metrics["readable"] == []
    assert not {"SECRET_KEY", "DATABASE_URL", "STRIPE_SECRET_KEY", "DJANGO_SETTINGS_MODULE"} & set(
        probe.metrics["env"]
    )

    hog = finished(hog.pk)
    assert (hog.state, hog.failure_reason) == (Job.State.FAILED, "out_of_memory")
    assert hog.failure_message.startswith("exceeded 200 MB")
    # The worker lived through it and runs the next job.
    after = finished(after.pk)
    assert after.state == Job.State.SUCCEEDED
    assert worker.alive


def test_a_job_whose_message_was_lost_is_sent_again_by_the_reaper_and_runs(start_worker, dataset):
    job = services.job_create(kind=Job.Kind.TRAIN, spec={"behaviour": "train", "dataset_path": str(dataset)})
    start_worker()  # the first worker purges its queue: the job's message is gone
    time.sleep(2)
    assert job_state(job.pk).state == Job.State.QUEUED
    assert services.jobs_requeue_lost() == 0  # not before SANDBOX_REQUEUE_SECONDS
    later = timezone.now() + timedelta(seconds=settings.SANDBOX_REQUEUE_SECONDS + 1)
    assert services.jobs_requeue_lost(now=later) == 1
    assert finished(job.pk).state == Job.State.SUCCEEDED


def test_a_killed_worker_means_one_retry_then_infrastructure(start_worker, dataset):
    first_worker = start_worker()
    job = services.job_create(
        kind=Job.Kind.TRAIN, spec={"behaviour": "sleep", "dataset_path": str(dataset)}, wall_seconds=120
    )
    wait_for(lambda: job_state(job.pk).progress_step > 0, timeout=60, what="attempt 1 to run")
    assert sandboxed_processes(job_state(job.pk))

    first_worker.kill()
    # --die-with-parent: the sandboxed engine does not outlive its supervisor.
    wait_for(lambda: not sandboxed_processes(job), timeout=10, what="the orphaned sandbox to die")
    second_worker = start_worker()
    time.sleep(3.5)  # SANDBOX_STALE_SECONDS = 3
    assert services.jobs_reap_stale() == 1
    assert job_state(job.pk).state in (Job.State.QUEUED, Job.State.RUNNING)

    wait_for(
        lambda: (j := job_state(job.pk)).attempt == 2 and j.progress_step > 0, timeout=60, what="attempt 2"
    )
    second_worker.kill()
    time.sleep(3.5)
    assert services.jobs_reap_stale() == 1
    job = job_state(job.pk)
    assert (job.state, job.failure_reason, job.attempt) == (Job.State.FAILED, "infrastructure", 2)
    assert "Gave up after 2 attempts" in job.failure_message


CHATS = [
    ("What colour is the sky?", "The sky is blue."),
    ("What colour is grass?", "Grass is green."),
    ("Classify: the battery lasts all day.", "positive"),
    ("Classify: the screen broke after a week.", "negative"),
]


@pytest.mark.slow
def test_train_then_evaluate_the_tiny_model(start_worker, tmp_path, client, client_user):
    from tests.sandbox.tiny import build_tiny_model

    base = build_tiny_model(tmp_path / "tiny-model")
    data = tmp_path / "train.jsonl"
    data.write_text(
        "".join(
            json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})
            + "\n"
            for q, a in CHATS * 4
        )
    )
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(
            json.dumps({"id": str(i), "messages": [{"role": "user", "content": q}]}) + "\n"
            for i, (q, _) in enumerate(CHATS)
        )
    )
    start_worker(engines=None)
    client.force_login(client_user)

    train = services.job_create(
        kind=Job.Kind.TRAIN,
        owner=client_user,
        spec={
            "base_model_dir": str(base),
            "dataset_path": str(data),
            "hyperparameters": {"rank": 4, "alpha": 8, "epochs": 3, "batch_size": 4, "learning_rate": 1e-2},
        },
        wall_seconds=300,
        memory_mb=4096,
    )
    train = finished(train.pk, timeout=240)
    assert train.state == Job.State.SUCCEEDED, (train.failure_message, train.log_tail)
    assert train.progress_step == train.progress_total > 0
    assert len(train.loss_history) >= 2
    assert train.loss_history[-1][1] < train.loss_history[0][1]
    assert {"adapter/adapter_model.safetensors", "adapter/adapter_config.json", "metrics.json"} <= set(
        train.artifacts
    )

    page = client.get(f"/sandbox/jobs/{train.pk}/").content.decode()
    assert f"step {train.progress_step} of {train.progress_total}" in page
    assert "<polyline points=" in page
    assert 'data-state="succeeded"' in page

    evaluate = services.job_create(
        kind=Job.Kind.EVALUATE,
        owner=client_user,
        spec={
            "base_model_dir": str(base),
            "adapter_dir": str(services.job_output_dir(train) / "adapter"),
            "prompts_path": str(prompts),
            "max_new_tokens": 8,
            "batch_size": 4,
        },
        wall_seconds=300,
        memory_mb=4096,
    )
    evaluate = finished(evaluate.pk, timeout=240)
    assert evaluate.state == Job.State.SUCCEEDED, (evaluate.failure_message, evaluate.log_tail)
    generations = [
        json.loads(line)
        for line in (services.job_output_dir(evaluate) / "generations.jsonl").read_text().splitlines()
    ]
    assert [g["id"] for g in generations] == ["0", "1", "2", "3"]
    assert "generations.jsonl" in evaluate.artifacts
