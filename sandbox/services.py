"""Every write to a Job: creating, cancelling, and the supervisor's side of an attempt.

An attempt: `job_run` (called by the Celery task) locks the job and starts it, runs the engine
confined (sandbox.supervisor), streams progress and heartbeats into the row, then records how it
ended. A supervisor that disappears leaves a stale heartbeat; the reaper (`jobs_reap_stale`) or the
task's redelivery counts that attempt as lost and retries the job until the attempt cap, then fails
it as `infrastructure`.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import socket
import sys
from collections import deque
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import ValidationError
from core.transitions import transition_apply
from sandbox.isolation import Confinement, IsolationUnavailable, engine_device
from sandbox.models import Job
from sandbox.selectors import job_get_visible
from sandbox.supervisor import Ending, Limits, Outcome, run_confined

logger = logging.getLogger(__name__)

LOG_TAIL_LINES = 200
LOG_LINE_CHARS = 500
LOSS_POINTS = 400
METRICS_MAX_BYTES = 1024 * 1024


# ---------------------------------------------------------------------------------------------
# Creating and cancelling


def _spec_input_paths(spec: dict[str, Any]) -> list[str]:
    """Every path the spec names (keys ending in _path or _dir): the sandbox binds exactly these."""
    paths: list[str] = []
    errors: dict[str, list[str]] = {}
    for key, value in spec.items():
        if key == "output_dir":
            errors[key] = ["The sandbox chooses the output folder; leave it out of the spec."]
        elif key.endswith(("_path", "_dir")) and value is not None:  # None: not given (no adapter)
            if not isinstance(value, str) or not os.path.isabs(value):
                errors[key] = ["Must be an absolute path."]
            elif not os.path.exists(value):
                errors[key] = [f"{value} does not exist."]
            else:
                paths.append(value)
    if errors:
        raise ValidationError(
            f"Invalid job spec: {next(iter(errors))}: {next(iter(errors.values()))[0]}", details=errors
        )
    return paths


def _limit(name: str, value: int | None, default_setting: str, maximum: int | None = None) -> int:
    value = getattr(settings, default_setting) if value is None else value
    if not isinstance(value, int) or value <= 0 or (maximum is not None and value > maximum):
        bound = f" and at most {maximum}" if maximum is not None else ""
        raise ValidationError(f"{name} must be a positive whole number{bound}.", details={name: [value]})
    return value


@transaction.atomic
def job_create(
    *,
    kind: str,
    spec: dict[str, Any],
    owner=None,
    wall_seconds: int | None = None,
    memory_mb: int | None = None,
    output_mb: int | None = None,
) -> Job:
    """Queue a job; its supervisor task is enqueued once the surrounding transaction commits.

    Called by platform code (vetting), never directly with user input: the spec is trusted to name
    only files the job may read. The owner is who may watch and cancel it (None: a system job).
    """
    if kind not in Job.Kind.values:
        raise ValidationError(f"Unknown job kind {kind!r}.", details={"kind": [kind]})
    if not isinstance(spec, dict):
        raise ValidationError("The job spec must be a JSON object.", details={"spec": ["not an object"]})
    input_paths = _spec_input_paths(spec)
    job = Job.objects.create(
        kind=kind,
        owner=owner,
        spec=spec,
        input_paths=input_paths,
        wall_seconds=_limit(
            "wall_seconds",
            wall_seconds,
            "SANDBOX_DEFAULT_WALL_SECONDS",
            # The broker redelivers unacknowledged tasks after its visibility timeout.
            maximum=settings.SANDBOX_MAX_WALL_SECONDS,
        ),
        memory_mb=_limit("memory_mb", memory_mb, "SANDBOX_DEFAULT_MEMORY_MB"),
        output_mb=_limit("output_mb", output_mb, "SANDBOX_DEFAULT_OUTPUT_MB"),
        max_attempts=settings.SANDBOX_MAX_ATTEMPTS,
    )
    _enqueue_on_commit(job.pk)
    return job


def _enqueue_on_commit(job_id: int) -> None:
    """Send the job's supervisor task once the job is committed. Should the broker be down then, the
    job stays queued (nothing is lost, the caller is not failed) and `jobs_requeue_lost` sends it again."""
    Job.objects.filter(pk=job_id).update(enqueued_at=timezone.now())
    transaction.on_commit(lambda: _send(job_id))


def _send(job_id: int) -> None:
    from sandbox.tasks import supervise_job  # here: sandbox.tasks imports this module

    try:
        supervise_job.delay(job_id)
    except Exception:  # the broker's errors are many (kombu, redis, amqp, OS); each means "not sent"
        logger.warning(
            "Job %s: its task could not be sent; the reaper will send it again.", job_id, exc_info=True
        )


def jobs_requeue_lost(*, now: datetime | None = None) -> int:
    """Send again the task of every job still queued SANDBOX_REQUEUE_SECONDS after it was last sent
    (its message was lost, or it waits behind long jobs: a duplicate is harmless, since an attempt is
    claimed under the row lock and a second task for a claimed job does nothing). Returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SANDBOX_REQUEUE_SECONDS)
    lost = list(
        Job.objects.filter(state=Job.State.QUEUED)
        .filter(Q(enqueued_at__lt=cutoff) | Q(enqueued_at__isnull=True, updated_at__lt=cutoff))
        .values_list("pk", flat=True)
    )
    for job_id in lost:
        Job.objects.filter(pk=job_id).update(enqueued_at=now)
        _send(job_id)
    return len(lost)


@transaction.atomic
def job_cancel(*, job_id: int, actor) -> Job:
    """Cancel a queued job at once; ask the supervisor of a running one to stop it (a flag it polls:
    killing a worker's task from outside would leave the job and its process in unknown states)."""
    # Who may see a job (its owner, staff) may cancel it.
    job = job_get_visible(user=actor, job_id=job_id, for_update=True)
    if job.state == Job.State.RUNNING:
        if not job.cancel_requested:
            job.cancel_requested = True
            job.save(update_fields=["cancel_requested", "updated_at"])
        return job
    transition_apply(
        instance=job, transition="cancel", actor=actor, timeline_key=job.timeline_key, now=timezone.now()
    )
    return job


# ---------------------------------------------------------------------------------------------
# Attempts: the supervisor's side


def job_folder(job: Job) -> Path:
    return Path(settings.SANDBOX_ROOT) / "jobs" / str(job.pk)


def job_attempt_folder(job: Job) -> Path:
    """Each attempt writes to its own folder, so a lost attempt still running cannot mix in."""
    return job_folder(job) / f"attempt-{job.attempt}"


def job_output_dir(job: Job) -> Path:
    return job_attempt_folder(job) / "output"


def _supervisor_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _attempt_is_dead(job: Job, *, now: datetime) -> bool:
    stale = timedelta(seconds=settings.SANDBOX_STALE_SECONDS)
    if job.heartbeat_at is None or job.heartbeat_at < now - stale:
        return True
    # On this host a dead supervisor is certain at once, without waiting for the heartbeat to age:
    # its process is gone, or it is this very process (one job at a time), so it is no longer running.
    host, _, pid = job.supervisor.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        return int(pid) == os.getpid() or not psutil.pid_exists(int(pid))
    return False


def _attempt_lost(job: Job, *, message: str, requeue: bool) -> None:
    """The supervisor of the job's current attempt is gone; the row is locked by the caller."""
    now = timezone.now()
    key = job.timeline_key
    if job.cancel_requested:
        transition_apply(
            instance=job, transition="cancel", actor=None, timeline_key=key, note=message, now=now
        )
    elif job.attempt < job.max_attempts:
        transition_apply(
            instance=job, transition="retry", actor=None, timeline_key=key, note=message, message=message
        )
        if requeue:
            _enqueue_on_commit(job.pk)
    else:
        message = f"{message} Gave up after {job.attempt} attempts."
        transition_apply(
            instance=job,
            transition="fail",
            actor=None,
            timeline_key=key,
            note=message,
            reason=Job.FailureReason.INFRASTRUCTURE,
            message=message,
            now=now,
        )
    logger.warning("Job %s: %s Now %s.", job.pk, message, job.state)


@transaction.atomic
def job_attempt_begin(*, job_id: int) -> Job | None:
    """Start the next attempt of a queued job; None when there is nothing for this task to run.

    Safe to call twice for one job: a job running under a live supervisor, or finished, is left alone.
    A job still `running` under a dead supervisor is a task redelivered after its worker died: that
    attempt is counted as lost here, then the next one starts in this task.
    """
    job = Job.objects.select_for_update().filter(pk=job_id).first()
    if job is None:
        logger.warning("Job %s does not exist; nothing to supervise.", job_id)
        return None
    now = timezone.now()
    if job.state == Job.State.RUNNING:
        if not _attempt_is_dead(job, now=now):
            return None
        _attempt_lost(
            job,
            message=f"The worker running attempt {job.attempt} stopped (task redelivered).",
            requeue=False,
        )
    if job.state != Job.State.QUEUED:
        return None
    transition_apply(
        instance=job,
        transition="start",
        actor=None,
        timeline_key=job.timeline_key,
        note=f"attempt {job.attempt + 1}",
        device=settings.SANDBOX_DEVICE,
        supervisor=_supervisor_id(),
        now=now,
    )
    return job


class ProgressRecorder:
    """Turns the engine's JSON-lines events and its other output into the Job's progress fields."""

    def __init__(self) -> None:
        self.step = 0
        self.total = 0
        self.loss_history: list[list[float]] = []
        self.tokens_per_second: float | None = None
        self.log: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        self.metrics: dict[str, Any] | None = None
        self.error: str | None = None

    def on_line(self, stream: str, line: str) -> None:
        event = self._event(line) if stream == "stdout" else None
        if event is None:
            if line.strip():
                self._log(line)
            return
        kind = event.get("event")
        if kind == "progress":
            self._progress(event)
        elif kind == "log":
            self._log(str(event.get("message", "")))
        elif kind == "done":
            self.metrics = {key: value for key, value in event.items() if key != "event"}
        elif kind == "error":
            self.error = str(event.get("message", ""))[:2000]
            self._log(f"error: {self.error}")
        else:
            self._log(line)

    @staticmethod
    def _event(line: str) -> dict[str, Any] | None:
        if not line.startswith("{"):
            return None
        try:
            event = json.loads(line)
        except ValueError:
            return None
        return event if isinstance(event, dict) else None

    def _log(self, line: str) -> None:
        self.log.append(line[:LOG_LINE_CHARS])

    def _progress(self, event: dict[str, Any]) -> None:
        # Engine output is untrusted: a malformed number is ignored, never a crash of the supervisor.
        try:
            step = int(event.get("step", self.step))
            total = int(event.get("total_steps", self.total))
        except (TypeError, ValueError):
            return
        self.step, self.total = max(step, 0), max(total, 0)
        loss = event.get("loss")
        if isinstance(loss, int | float) and loss == loss and abs(loss) != float("inf"):
            self.loss_history.append([self.step, round(float(loss), 5)])
            if len(self.loss_history) > LOSS_POINTS:
                # Halve the resolution rather than drop the start: the curve keeps its whole span.
                self.loss_history = self.loss_history[::2]
        tokens_per_second = event.get("tokens_per_second")
        if isinstance(tokens_per_second, int | float):
            self.tokens_per_second = float(tokens_per_second)

    def fields(self) -> dict[str, Any]:
        return {
            "progress_step": self.step,
            "progress_total": self.total,
            "loss_history": self.loss_history,
            "tokens_per_second": self.tokens_per_second,
            "log_tail": "\n".join(self.log),
        }


def job_attempt_report(*, job: Job, recorder: ProgressRecorder) -> bool:
    """Write progress and the heartbeat; True when the attempt should stop (cancelled, or superseded
    because the reaper already gave this attempt up)."""
    current = Job.objects.filter(pk=job.pk, state=Job.State.RUNNING, attempt=job.attempt)
    updated = current.update(
        heartbeat_at=timezone.now(),
        updated_at=timezone.now(),
        **recorder.fields(),
    )
    if not updated:
        return True
    return bool(current.values_list("cancel_requested", flat=True).first())


def _remove_special_files(output_dir: Path) -> list[str]:
    """Delete everything in the output that is not a plain file or folder, and say what.

    A job could leave a symlink to a host file (say /etc/shadow) named like an artifact; platform
    code reading its output outside the sandbox would follow it. Plain files are all an engine makes.
    """
    removed = []
    for folder, dirs, files in os.walk(output_dir):  # never into a linked folder
        for name in dirs + files:
            path = Path(folder) / name
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                path.unlink()
                removed.append(str(path.relative_to(output_dir)))
    return sorted(removed)


def _artifacts(output_dir: Path) -> dict[str, int]:
    found: dict[str, int] = {}
    for folder, _, files in os.walk(output_dir):
        for name in files:
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                found[str(path.relative_to(output_dir))] = path.stat().st_size
    return dict(sorted(found.items()))


def _metrics_file(output_dir: Path) -> dict[str, Any]:
    path = output_dir / "metrics.json"
    if not path.is_file() or path.is_symlink() or path.stat().st_size > METRICS_MAX_BYTES:
        return {}
    try:
        metrics = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        return {}
    return metrics if isinstance(metrics, dict) else {}


@transaction.atomic
def job_attempt_finish(
    *, job: Job, outcome: Outcome | None, recorder: ProgressRecorder, infrastructure_error: str = ""
) -> Job:
    """Record how the attempt ended. An attempt the reaper already gave up is left as the reaper left it."""
    locked = Job.objects.select_for_update().get(pk=job.pk)
    if locked.state != Job.State.RUNNING or locked.attempt != job.attempt:
        logger.warning("Job %s attempt %s ended after it was given up; result dropped.", job.pk, job.attempt)
        return locked
    for name, value in recorder.fields().items():
        setattr(locked, name, value)
    locked.heartbeat_at = now = timezone.now()
    output_dir = job_output_dir(locked)
    if outcome is not None:
        locked.peak_memory_mb = round(outcome.peak_memory_mb, 1)
    if output_dir.is_dir():
        removed = _remove_special_files(output_dir)
        if removed:
            locked.log_tail += (
                f"\nsandbox: removed links and special files from the output: {', '.join(removed)}"
            )
        locked.artifacts = _artifacts(output_dir)
    key = locked.timeline_key

    if outcome is None:
        transition_apply(
            instance=locked,
            transition="fail",
            actor=None,
            timeline_key=key,
            note=infrastructure_error,
            reason=Job.FailureReason.INFRASTRUCTURE,
            message=infrastructure_error,
            now=now,
        )
    elif outcome.succeeded:
        locked.metrics = recorder.metrics or _metrics_file(output_dir)
        transition_apply(instance=locked, transition="succeed", actor=None, timeline_key=key, now=now)
    elif outcome.ending == Ending.CANCELLED:
        transition_apply(instance=locked, transition="cancel", actor=None, timeline_key=key, now=now)
    else:
        message = outcome.message
        if outcome.ending == Ending.CRASHED and recorder.error:
            message = recorder.error
        transition_apply(
            instance=locked,
            transition="fail",
            actor=None,
            timeline_key=key,
            note=message,
            reason=str(outcome.ending),
            message=message,
            now=now,
        )
    return locked


def _engine_command(job: Job, spec_path: Path, output_dir: Path) -> tuple[list[str], list[Path]]:
    """The engine's argv and the package directories it needs bound (its top-level package only)."""
    module = settings.SANDBOX_ENGINES[job.kind]
    package = importlib.util.find_spec(module.partition(".")[0])
    if package is None or not package.submodule_search_locations:
        raise RuntimeError(f"The engine module {module} is not in an importable package.")
    code_dirs = [Path(location) for location in package.submodule_search_locations]
    return [sys.executable, "-m", module, str(spec_path), str(output_dir)], code_dirs


def job_run(*, job_id: int) -> Job | None:
    """Run the next attempt of a job from start to end (the Celery task's whole work)."""
    job = job_attempt_begin(job_id=job_id)
    if job is None:
        return None
    recorder = ProgressRecorder()
    try:
        attempt_folder = job_attempt_folder(job)
        shutil.rmtree(attempt_folder, ignore_errors=True)
        output_dir = job_output_dir(job)
        output_dir.mkdir(parents=True)
        spec_path = attempt_folder / "spec.json"
        spec_path.write_text(json.dumps({**job.spec, "device": engine_device(job.device)}, indent=2))
        command, code_dirs = _engine_command(job, spec_path, output_dir)
        threads = settings.SANDBOX_CPU_THREADS or len(os.sched_getaffinity(0))
        confinement = Confinement(
            output_dir=output_dir,
            inputs=[spec_path, *map(Path, job.input_paths)],
            device=job.device,
            memory_mb=job.memory_mb,
            cpu_threads=threads,
            code_dirs=code_dirs,
        )

        def on_poll() -> bool:
            try:
                return job_attempt_report(job=job, recorder=recorder)
            except DatabaseError:
                # The database being briefly away is no reason to kill a long run; the reaper
                # decides if the heartbeat stays away too long.
                logger.exception("Job %s: could not record progress", job.pk)
                return False

        outcome = run_confined(
            command,
            confinement=confinement,
            limits=Limits(
                wall_seconds=job.wall_seconds,
                memory_mb=job.memory_mb,
                output_mb=job.output_mb,
                max_tasks=settings.SANDBOX_MAX_TASKS,
                max_files=settings.SANDBOX_MAX_FILES,
            ),
            allow_unisolated=settings.SANDBOX_ALLOW_UNISOLATED,
            on_line=recorder.on_line,
            on_poll=on_poll,
            poll_seconds=settings.SANDBOX_HEARTBEAT_SECONDS,
            pids_cgroup=settings.SANDBOX_PIDS_CGROUP,
        )
    except IsolationUnavailable as exc:
        logger.error("Job %s refused: %s", job.pk, exc)
        return job_attempt_finish(job=job, outcome=None, recorder=recorder, infrastructure_error=str(exc))
    except Exception as exc:
        logger.exception("Job %s: the supervisor failed", job.pk)
        return job_attempt_finish(
            job=job, outcome=None, recorder=recorder, infrastructure_error=f"Supervisor error: {exc}"
        )
    return job_attempt_finish(job=job, outcome=outcome, recorder=recorder)


# ---------------------------------------------------------------------------------------------
# Reaper


def jobs_reap_stale(*, now: datetime | None = None) -> int:
    """Count as lost every running attempt whose heartbeat stopped; returns how many were reaped."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SANDBOX_STALE_SECONDS)
    stale_ids = list(
        Job.objects.filter(state=Job.State.RUNNING, heartbeat_at__lt=cutoff).values_list("pk", flat=True)
    )
    reaped = 0
    for job_id in stale_ids:
        with transaction.atomic():
            job = Job.objects.select_for_update().get(pk=job_id)
            # Re-checked under the lock: the supervisor may have reported since the query above.
            if job.state != Job.State.RUNNING or job.heartbeat_at is None or job.heartbeat_at >= cutoff:
                continue
            _attempt_lost(
                job,
                message=f"No heartbeat from attempt {job.attempt} since {job.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC.",
                requeue=True,
            )
            reaped += 1
    return reaped
