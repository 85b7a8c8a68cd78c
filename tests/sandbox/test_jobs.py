"""Jobs: creation, the state machine, the supervisor's endings, cancellation, the reaper and redelivery.

Jobs run the stand-in engine (tests/sandbox/conftest.py) under the real supervisor and bubblewrap, in
this process: `services.job_run` is exactly what the Celery task calls.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import kombu.exceptions
import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.utils import timezone

from core.errors import InvalidTransitionError, NotFoundError, ValidationError
from core.models import TransitionLog
from sandbox import services, tasks
from sandbox.models import Job
from sandbox.services import ProgressRecorder
from tests.celery_worker import wait_for
from tests.sandbox.conftest import job_state

pytestmark = pytest.mark.needs("bwrap")


def make_job(dataset, *, owner=None, **spec) -> Job:
    limits = {key: spec.pop(key) for key in ("wall_seconds", "memory_mb", "output_mb") if key in spec}
    return services.job_create(
        kind=Job.Kind.TRAIN,
        spec={"dataset_path": str(dataset), **spec},
        owner=owner,
        **{"wall_seconds": 60, "memory_mb": 512, "output_mb": 64, **limits},
    )


def transitions(job: Job) -> list[tuple[str, str]]:
    logs = TransitionLog.objects.filter(content_type=ContentType.objects.get_for_model(Job), object_id=job.pk)
    assert {log.timeline_key for log in logs} <= {f"job:{job.pk}"}
    return [(log.from_state, log.to_state) for log in logs]


# -- creating -------------------------------------------------------------------------------------


def test_create_records_limits_and_inputs_and_enqueues_on_commit(
    db, sandbox_settings, dataset, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = make_job(dataset, behaviour="train", base_model_dir=str(dataset.parent), steps=3)
    # Eager in tests: the enqueued task ran the job to the end.
    assert len(callbacks) == 1
    job = job_state(job.pk)
    assert job.state == Job.State.SUCCEEDED
    assert job.input_paths == [str(dataset), str(dataset.parent)]
    assert (job.wall_seconds, job.memory_mb, job.output_mb, job.max_attempts) == (60, 512, 64, 2)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"dataset_path": "relative/path.jsonl"}, "dataset_path"),
        ({"dataset_path": "/nonexistent/data.jsonl"}, "dataset_path"),
        ({"output_dir": "/tmp"}, "output_dir"),
    ],
)
def test_create_rejects_bad_specs_naming_the_field(db, sandbox_settings, spec, field):
    with pytest.raises(ValidationError) as error:
        services.job_create(kind="train", spec=spec)
    assert field in error.value.details
    assert field in error.value.message


def test_create_rejects_unknown_kinds_and_bad_limits(db, sandbox_settings, dataset):
    with pytest.raises(ValidationError, match="Unknown job kind"):
        services.job_create(kind="mine_bitcoin", spec={})
    with pytest.raises(ValidationError, match="wall_seconds"):
        make_job(dataset, wall_seconds=6 * 3600)  # past the broker's visibility timeout
    with pytest.raises(ValidationError, match="memory_mb"):
        make_job(dataset, memory_mb=0)


# -- endings --------------------------------------------------------------------------------------


def test_successful_run_streams_progress_and_records_artifacts(db, sandbox_settings, dataset):
    job = make_job(dataset, behaviour="train", steps=5)
    job = services.job_run(job_id=job.pk)

    assert job.state == Job.State.SUCCEEDED, job.failure_message
    assert (job.attempt, job.device, job.failure_reason) == (1, "cpu", "")
    assert (job.progress_step, job.progress_total) == (5, 5)
    assert job.loss_history == [[1, 3.0], [2, 1.5], [3, 1.0], [4, 0.75], [5, 0.6]]
    assert job.tokens_per_second == 1005.0
    assert job.metrics == {"train_loss": 0.6, "device": "cpu"}
    assert job.artifacts == {
        "adapter/adapter_config.json": 2,
        "adapter/adapter_model.safetensors": 1234,
        "metrics.json": 19,
    }
    output = services.job_output_dir(job)
    assert (output / "adapter" / "adapter_model.safetensors").exists()
    # The link to a host file and the fifo are gone, so nothing reading the output can follow them.
    assert not (output / "adapter" / "tokenizer.json").is_symlink() and not (output / "pipe").exists()
    assert "removed links and special files from the output: adapter/tokenizer.json, pipe" in job.log_tail
    assert "saving adapter" in job.log_tail and "a plain line on stderr" in job.log_tail
    spec = json.loads((services.job_attempt_folder(job) / "spec.json").read_text())
    assert spec["device"] == "cpu" and spec["behaviour"] == "train"
    assert job.started_at <= job.finished_at and job.heartbeat_at is not None
    assert transitions(job) == [("queued", "running"), ("running", "succeeded")]
    # Safe to run twice: a finished job is left alone.
    assert services.job_run(job_id=job.pk) is None


def test_crash_keeps_the_engines_error_message(db, sandbox_settings, dataset):
    job = services.job_run(job_id=make_job(dataset, behaviour="crash").pk)
    assert (job.state, job.failure_reason) == (Job.State.FAILED, "crashed")
    assert job.failure_message == "dataset line 3: missing assistant turn"
    assert job.progress_step == 1


@pytest.mark.parametrize(
    ("behaviour", "limits", "reason", "message"),
    [
        ("sleep", {"wall_seconds": 2}, "timeout", "exceeded 2 s of wall time"),
        ("memory", {"memory_mb": 200}, "out_of_memory", "exceeded 200 MB"),
        ("output", {"output_mb": 10}, "output_too_large", "output exceeded 10 MB"),
    ],
)
def test_limits_end_the_job_with_their_reason(
    db, sandbox_settings, dataset, behaviour, limits, reason, message
):
    job = services.job_run(job_id=make_job(dataset, behaviour=behaviour, **limits).pk)
    assert (job.state, job.failure_reason) == (Job.State.FAILED, reason)
    assert job.failure_message.startswith(message)
    assert transitions(job) == [("queued", "running"), ("running", "failed")]


def test_a_job_past_the_process_cap_ends_with_its_reason(db, sandbox_settings, dataset):
    # Threads are tasks too: the kernel (and the cap) count both.
    sandbox_settings.SANDBOX_MAX_TASKS = 32
    job = services.job_run(job_id=make_job(dataset, behaviour="threads", threads=100).pk)
    assert (job.state, job.failure_reason) == (Job.State.FAILED, Job.FailureReason.TOO_MANY_PROCESSES)
    assert job.failure_message == "reached the limit of 32 processes and threads"


def test_a_sandbox_that_cannot_be_set_up_is_an_infrastructure_failure(db, sandbox_settings, dataset):
    job = make_job(dataset, behaviour="train")
    dataset.unlink()  # an input gone between queueing and running
    job = services.job_run(job_id=job.pk)
    assert (job.state, job.failure_reason) == (Job.State.FAILED, "infrastructure")
    assert job.failure_message.startswith("the sandbox could not be set up: bwrap: Can't find source path")


def test_jobs_are_refused_without_bubblewrap_unless_allowed(
    db, sandbox_settings, dataset, monkeypatch, caplog
):
    monkeypatch.setenv("PATH", "/nonexistent")
    job = services.job_run(job_id=make_job(dataset, behaviour="train").pk)
    assert (job.state, job.failure_reason) == (Job.State.FAILED, "infrastructure")
    assert "bubblewrap (bwrap) is not installed" in job.failure_message

    sandbox_settings.SANDBOX_ALLOW_UNISOLATED = True
    job = services.job_run(job_id=make_job(dataset, behaviour="train").pk)
    assert job.state == Job.State.SUCCEEDED
    assert "SANDBOX UNISOLATED" in caplog.text


# -- cancelling -----------------------------------------------------------------------------------


def test_cancel_a_queued_job_at_once(db, sandbox_settings, dataset, client_user, engineer_user, staff_user):
    job = make_job(dataset, behaviour="train", owner=client_user)
    with pytest.raises(NotFoundError):
        services.job_cancel(job_id=job.pk, actor=engineer_user)
    job = services.job_cancel(job_id=job.pk, actor=client_user)
    assert (job.state, job.failure_reason) == (Job.State.CANCELLED, "cancelled")
    assert services.job_run(job_id=job.pk) is None  # its task finds nothing to do
    with pytest.raises(InvalidTransitionError):
        services.job_cancel(job_id=job.pk, actor=staff_user)


def test_cancel_a_running_job_stops_its_process(transactional_db, sandbox_settings, dataset, client_user):
    # Outside a test transaction the eager task runs as soon as job_create commits: in this thread.
    def create_and_run() -> None:
        try:
            make_job(dataset, behaviour="sleep", owner=client_user)
        finally:
            connection.close()

    thread = threading.Thread(target=create_and_run)
    thread.start()
    job = wait_for(
        lambda: Job.objects.filter(owner=client_user, progress_step__gt=0).first(),
        timeout=30,
        what="the job to report progress",
    )

    requested = services.job_cancel(job_id=job.pk, actor=client_user)
    assert (requested.state, requested.cancel_requested) == (Job.State.RUNNING, True)
    started = time.monotonic()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert time.monotonic() - started < 10
    cancelled = job_state(job.pk)
    assert (cancelled.state, cancelled.failure_reason) == (Job.State.CANCELLED, "cancelled")
    assert transitions(cancelled) == [("queued", "running"), ("running", "cancelled")]


# -- lost workers ---------------------------------------------------------------------------------


def _as_running(job: Job, *, heartbeat_age: float, supervisor: str, attempt: int = 1) -> Job:
    Job.objects.filter(pk=job.pk).update(
        state=Job.State.RUNNING,
        attempt=attempt,
        supervisor=supervisor,
        heartbeat_at=timezone.now() - timedelta(seconds=heartbeat_age),
        started_at=timezone.now(),
    )
    return job_state(job.pk)


def test_reaper_retries_a_lost_attempt_once_then_fails_as_infrastructure(
    db, sandbox_settings, dataset, django_capture_on_commit_callbacks
):
    job = make_job(dataset, behaviour="train")
    _as_running(job, heartbeat_age=60, supervisor="gone-host:1")
    fresh = _as_running(make_job(dataset, behaviour="train"), heartbeat_age=0, supervisor="other-host:1")

    with django_capture_on_commit_callbacks() as callbacks:
        assert tasks.reap_stale_jobs() == 1
    job = job_state(job.pk)
    assert (job.state, job.attempt) == (Job.State.QUEUED, 1)
    assert "No heartbeat from attempt 1" in job.failure_message
    assert len(callbacks) == 1  # the retry is enqueued
    assert job_state(fresh.pk).state == Job.State.RUNNING

    _as_running(job, heartbeat_age=60, supervisor="gone-host:1", attempt=2)
    with django_capture_on_commit_callbacks() as callbacks:
        assert tasks.reap_stale_jobs() == 1
    job = job_state(job.pk)
    assert (job.state, job.failure_reason) == (Job.State.FAILED, "infrastructure")
    assert "Gave up after 2 attempts" in job.failure_message
    assert callbacks == []


def test_a_broker_outage_at_commit_loses_no_job_and_the_reaper_sends_it_later(
    db, sandbox_settings, dataset, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    def broker_down(*args, **kwargs):
        raise kombu.exceptions.OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.supervise_job, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        job = make_job(dataset, behaviour="train")  # the caller is not failed
    assert job_state(job.pk).state == Job.State.QUEUED
    assert f"Job {job.pk}: its task could not be sent" in caplog.text
    monkeypatch.undo()  # the broker is back

    assert services.jobs_requeue_lost() == 0  # too soon: it may just be waiting its turn
    later = timezone.now() + timedelta(seconds=settings.SANDBOX_REQUEUE_SECONDS + 1)
    assert services.jobs_requeue_lost(now=later) == 1  # eager here: the task ran the job
    assert job_state(job.pk).state == Job.State.SUCCEEDED
    assert services.jobs_requeue_lost(now=later + timedelta(days=1)) == 0  # finished jobs are left alone


def test_reaper_cancels_a_lost_job_whose_cancel_was_requested(db, sandbox_settings, dataset):
    job = _as_running(make_job(dataset, behaviour="train"), heartbeat_age=60, supervisor="gone-host:1")
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    assert services.jobs_reap_stale() == 1
    assert job_state(job.pk).state == Job.State.CANCELLED


def test_redelivered_task_counts_the_dead_attempt_and_runs_the_next(db, sandbox_settings, dataset):
    # Its worker died a moment ago (fresh heartbeat), but its process is gone from this host.
    import socket

    import psutil

    dead_pid = max(psutil.pids()) + 10_000
    job = _as_running(
        make_job(dataset, behaviour="train"), heartbeat_age=1, supervisor=f"{socket.gethostname()}:{dead_pid}"
    )
    tasks.supervise_job(job.pk)
    job = job_state(job.pk)
    assert (job.state, job.attempt) == (Job.State.SUCCEEDED, 2)
    assert ("running", "queued") in transitions(job)


def test_duplicate_task_leaves_a_job_with_a_live_supervisor_alone(db, sandbox_settings, dataset):
    job = _as_running(make_job(dataset, behaviour="train"), heartbeat_age=1, supervisor="other-host:42")
    tasks.supervise_job(job.pk)
    job = job_state(job.pk)
    assert (job.state, job.attempt, job.supervisor) == (Job.State.RUNNING, 1, "other-host:42")


def test_a_superseded_attempt_stops_and_its_result_is_dropped(db, sandbox_settings, dataset):
    job = services.job_attempt_begin(job_id=make_job(dataset, behaviour="train").pk)
    recorder = ProgressRecorder()
    assert services.job_attempt_report(job=job, recorder=recorder) is False
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    services.jobs_reap_stale()
    assert services.job_attempt_report(job=job, recorder=recorder) is True
    finished = services.job_attempt_finish(
        job=job, outcome=None, recorder=recorder, infrastructure_error="late"
    )
    assert (finished.state, finished.attempt, finished.failure_reason) == (Job.State.QUEUED, 1, "")


# -- progress parsing -----------------------------------------------------------------------------


def test_progress_recorder_tolerates_junk_and_bounds_what_it_keeps():
    recorder = ProgressRecorder()
    recorder.on_line("stdout", '{"event": "progress", "step": "x", "loss": 1}')
    recorder.on_line("stdout", '{"event": "progress", "step": 1, "total_steps": 10, "loss": NaN}')
    recorder.on_line("stdout", "[1, 2]")
    recorder.on_line("stdout", "{not json")
    recorder.on_line("stderr", '{"event": "done", "forged": true}')
    assert recorder.metrics is None  # events count on stdout only
    assert (recorder.step, recorder.total, recorder.loss_history) == (1, 10, [])
    for step in range(1, 2001):
        recorder.on_line(
            "stdout", json.dumps({"event": "progress", "step": step, "total_steps": 2000, "loss": 1 / step})
        )
        recorder.on_line("stdout", "x" * 10_000)
    assert 200 <= len(recorder.loss_history) <= services.LOSS_POINTS
    assert recorder.loss_history[0][0] == 1 and recorder.loss_history[-1][0] >= 1990
    assert len(recorder.log) == services.LOG_TAIL_LINES
    assert max(len(line) for line in recorder.log) == services.LOG_LINE_CHARS
