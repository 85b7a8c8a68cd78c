"""A milestone's acceptance test: the terms the client sets before funding, and the client's private
evaluation items behind them. The engineer sees the terms, the item count and the public sample,
never the other items (selectors.py decides who reads what)."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django_fsm import FSMField, FSMModelMixin, transition

from acceptance.metrics import METRIC_CHOICES
from core.models import TimeStampedModel


class AcceptanceTest(TimeStampedModel):
    milestone = models.OneToOneField(
        "marketplace.Milestone", on_delete=models.CASCADE, related_name="acceptance_test"
    )
    metric = models.CharField(max_length=32, choices=METRIC_CHOICES)
    pass_mark = models.FloatField(
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="The delivered model's mean score on the private items must reach this.",
    )
    base_model = models.CharField(max_length=64)
    forgetting_floor = models.FloatField(
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="General score after tuning / before must stay at or above this.",
    )
    public_sample_size = models.PositiveSmallIntegerField()
    # 0: the engineer delivers a trained adapter. Otherwise they may deliver a chat-format training set
    # and hyperparameters instead, which the platform trains within this many minutes of device time.
    training_budget_minutes = models.PositiveSmallIntegerField(default=0)
    item_count = models.PositiveIntegerField(help_text="Items in the set, the public sample included.")
    eval_set_name = models.CharField(max_length=255)
    eval_set_sha256 = models.CharField(max_length=64)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = "acceptance test"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(pass_mark__gte=0, pass_mark__lte=1), name="acceptance_pass_mark_range"
            ),
            models.CheckConstraint(
                condition=models.Q(forgetting_floor__gte=0, forgetting_floor__lte=1),
                name="acceptance_forgetting_floor_range",
            ),
        ]

    def __str__(self) -> str:
        return f"Acceptance test of {self.milestone}"

    @property
    def private_count(self) -> int:
        """Items scored: the set less its public sample."""
        return self.item_count - self.public_sample_size


class AcceptanceItem(models.Model):
    test = models.ForeignKey(AcceptanceTest, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    line = models.PositiveIntegerField(help_text="Its line in the uploaded file.")
    # The turns the model is given (a user turn, or the chat's turns before the last assistant turn).
    messages = models.JSONField()
    target = models.JSONField()
    is_public = models.BooleanField(default=False, help_text="Part of the sample shown to the engineer.")

    class Meta:
        ordering = ["test", "position"]
        constraints = [
            models.UniqueConstraint(fields=["test", "position"], name="acceptance_item_unique_position")
        ]

    def __str__(self) -> str:
        return f"item {self.position}"


class AcceptanceRun(FSMModelMixin, TimeStampedModel):
    """One run of a milestone's acceptance test on one delivery: its sandbox jobs, then the scores.

    Scores (`scores`, the aggregates both parties see) and per-item outcomes (`outcomes`, the
    delivered model's output and scores on each private item: the client's only) are written once,
    when every job has finished.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        TRAINING = "training", "Training"
        RUNNING = "running", "Running"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        ERRORED = "errored", "Could not be completed"

    FINISHED_STATES = (State.PASSED, State.FAILED, State.ERRORED)

    test = models.ForeignKey(AcceptanceTest, on_delete=models.PROTECT, related_name="runs")
    delivery = models.OneToOneField(
        "marketplace.Delivery", on_delete=models.CASCADE, related_name="acceptance_run"
    )
    state = FSMField(default=State.QUEUED, choices=State.choices, protected=True, db_index=True)
    # The delivered adapter, or (a training delivery) the one the platform trained: set once trained.
    adapter_dir = models.CharField(max_length=500, blank=True)
    # rank, alpha, target modules, trainable parameters, bytes: from the adapter check.
    adapter = models.JSONField(default=dict)
    # A training delivery: the engineer's dataset (a private file) and hyperparameters.
    dataset_path = models.CharField(max_length=500, blank=True)
    hyperparameters = models.JSONField(default=dict, blank=True)
    # base, few_shot, delivered, delivered_ci, delta_vs_few_shot_ci, general_base, general_delivered,
    # forgetting_ratio (the API's shape).
    scores = models.JSONField(default=dict, blank=True)
    # [{"position", "delivered", "few_shot", "base", "output"}, ...] for the private items.
    outcomes = models.JSONField(default=list, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    cost = models.JSONField(default=dict, blank=True)
    error_message = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "acceptance run"

    def __str__(self) -> str:
        return f"Acceptance run {self.pk} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED_STATES

    @transition(field=state, source=State.QUEUED, target=State.TRAINING)
    def start_training(self, *, now) -> None:
        self.started_at = now

    @transition(field=state, source=[State.QUEUED, State.TRAINING], target=State.RUNNING)
    def start(self, *, now, adapter_dir: str) -> None:
        self.started_at = self.started_at or now
        self.adapter_dir = adapter_dir

    @transition(field=state, source=State.RUNNING, target=State.PASSED)
    def record_pass(self, *, now) -> None:
        self.finished_at = now

    @transition(field=state, source=State.RUNNING, target=State.FAILED)
    def record_fail(self, *, now) -> None:
        self.finished_at = now

    @transition(field=state, source=[State.QUEUED, State.TRAINING, State.RUNNING], target=State.ERRORED)
    def error(self, *, message: str, now) -> None:
        self.error_message = message
        self.finished_at = now


class AcceptanceRunJob(models.Model):
    """A sandbox job a run waits on, in a role: "train" where the platform trains, then its
    evaluations (acceptance.pipeline.ROLES; EARLIER_ROLES for runs started before)."""

    run = models.ForeignKey(AcceptanceRun, on_delete=models.CASCADE, related_name="job_links")
    job = models.ForeignKey("sandbox.Job", on_delete=models.PROTECT, related_name="acceptance_links")
    role = models.CharField(max_length=32)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "role"], name="acceptance_one_job_per_role")]

    def __str__(self) -> str:
        return f"run {self.run_id} {self.role}: job {self.job_id}"


class PromptingBaseline(FSMModelMixin, TimeStampedModel):
    """A request's measured answer to "have you tried prompting?": the registry's base model,
    zero-shot and few-shot, on a sample evaluation set the client uploads (a sandbox job)."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Measuring"
        DONE = "done", "Measured"
        ERRORED = "errored", "Could not be measured"

    FINISHED_STATES = (State.DONE, State.ERRORED)

    request = models.OneToOneField(
        "marketplace.HiringRequest", on_delete=models.CASCADE, related_name="prompting_baseline"
    )
    state = FSMField(default=State.QUEUED, choices=State.choices, protected=True, db_index=True)
    metric = models.CharField(max_length=32, choices=METRIC_CHOICES)
    base_model = models.CharField(max_length=64)
    target = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="The score the client needs; prompting that reaches it makes fine-tuning unnecessary.",
    )
    # [{"messages", "target", "shot"}]: the client's items; "shot" ones are the few-shot examples.
    items = models.JSONField()
    item_count = models.PositiveIntegerField()
    eval_set_name = models.CharField(max_length=255)
    job = models.ForeignKey("sandbox.Job", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # zero_shot, zero_shot_ci, few_shot, few_shot_ci, items (scored), shots
    scores = models.JSONField(default=dict, blank=True)
    error_message = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = "prompting baseline"

    def __str__(self) -> str:
        return f"Prompting baseline of {self.request}"

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED_STATES

    @property
    def reaches_target(self) -> bool:
        best = max(self.scores.get("zero_shot", 0.0), self.scores.get("few_shot", 0.0))
        return self.state == self.State.DONE and self.target is not None and best >= self.target

    @transition(field=state, source=State.QUEUED, target=State.RUNNING)
    def start(self, *, job) -> None:
        self.job = job

    @transition(field=state, source=State.RUNNING, target=State.DONE)
    def record(self, *, scores: dict, now) -> None:
        self.scores = scores
        self.finished_at = now

    @transition(field=state, source=[State.QUEUED, State.RUNNING], target=State.ERRORED)
    def error(self, *, message: str, now) -> None:
        self.error_message = message
        self.finished_at = now
