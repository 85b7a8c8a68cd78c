from django.conf import settings
from django.db import models
from django_fsm import FSMField, transition

from core.models import TimeStampedModel


def _is_owner_or_staff(instance: "Job", user) -> bool:
    return user.is_staff or (instance.owner_id is not None and user.pk == instance.owner_id)


class Job(TimeStampedModel):
    """One training or evaluation run in the sandbox: the source of truth for its state.

    The Celery task that supervises it is disposable: it can die, run twice or be redelivered; the
    attempt count, heartbeat and cancel flag kept here decide what happens next.
    """

    class Kind(models.TextChoices):
        TRAIN = "train", "Training"
        EVALUATE = "evaluate", "Evaluation"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class FailureReason(models.TextChoices):
        TIMEOUT = "timeout", "Ran past its wall-time limit"
        OUT_OF_MEMORY = "out_of_memory", "Ran out of memory"
        OUTPUT_TOO_LARGE = "output_too_large", "Wrote more output than allowed"
        TOO_MANY_PROCESSES = "too_many_processes", "Started more processes than allowed"
        CRASHED = "crashed", "Crashed"
        INFRASTRUCTURE = "infrastructure", "Infrastructure failure"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED_STATES = (State.SUCCEEDED, State.FAILED, State.CANCELLED)

    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Null for jobs the platform runs for itself (reference runs, baselines).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sandbox_jobs",
    )
    state = FSMField(default=State.QUEUED, choices=State.choices, protected=True, db_index=True)
    # What the engine receives as SPEC.json, and the host paths it names, bound read-only.
    spec = models.JSONField()
    input_paths = models.JSONField(default=list)

    wall_seconds = models.PositiveIntegerField()
    memory_mb = models.PositiveIntegerField()
    output_mb = models.PositiveIntegerField()
    # Set when an attempt starts, from the worker that runs it (one GPU worker per device).
    device = models.CharField(max_length=16, blank=True)

    attempt = models.PositiveSmallIntegerField(default=0, help_text="Attempts started so far.")
    max_attempts = models.PositiveSmallIntegerField()
    # "host:pid" of the process supervising the current attempt, to tell a dead one from a live one.
    supervisor = models.CharField(max_length=128, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # When its supervisor task was last handed to the broker (queued jobs): a queued job whose message
    # was lost (a broker outage at commit, a purged queue) is sent again once this is old enough.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)

    progress_step = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    # [[step, loss], ...], thinned to a bounded number of points for the loss curve.
    loss_history = models.JSONField(default=list, blank=True)
    tokens_per_second = models.FloatField(null=True, blank=True)
    peak_memory_mb = models.FloatField(null=True, blank=True)
    log_tail = models.TextField(blank=True)

    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=32, choices=FailureReason.choices, blank=True)
    failure_message = models.TextField(blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    # {"path relative to the output folder": size in bytes}
    artifacts = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "job"
        indexes = [models.Index(fields=["state", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} job {self.pk}"

    @property
    def timeline_key(self) -> str:
        return f"job:{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED_STATES

    @transition(field=state, source=State.QUEUED, target=State.RUNNING)
    def start(self, *, device: str, supervisor: str, now) -> None:
        self.attempt += 1
        self.device = device
        self.supervisor = supervisor
        self.started_at = self.heartbeat_at = now
        self.progress_step = self.progress_total = 0
        self.loss_history = []
        self.tokens_per_second = self.peak_memory_mb = None
        self.log_tail = ""

    @transition(field=state, source=State.RUNNING, target=State.SUCCEEDED)
    def succeed(self, *, now) -> None:
        self.finished_at = now
        self.cancel_requested = False

    @transition(field=state, source=[State.QUEUED, State.RUNNING], target=State.FAILED)
    def fail(self, *, reason: str, message: str, now) -> None:
        self.failure_reason = reason
        self.failure_message = message
        self.finished_at = now
        self.cancel_requested = False

    @transition(field=state, source=State.RUNNING, target=State.QUEUED)
    def retry(self, *, message: str) -> None:
        # The lost attempt's reason is kept for the page; the next attempt starts clean.
        self.failure_message = message
        self.supervisor = ""
        self.heartbeat_at = None

    @transition(
        field=state,
        source=[State.QUEUED, State.RUNNING],
        target=State.CANCELLED,
        permission=_is_owner_or_staff,
    )
    def cancel(self, *, now) -> None:
        self.failure_reason = self.FailureReason.CANCELLED
        self.failure_message = "Cancelled on request."
        self.finished_at = now
        self.cancel_requested = False
