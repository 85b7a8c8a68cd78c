from rest_framework import serializers

from sandbox.models import Job
from sandbox.selectors import job_progress


class JobProgressSerializer(serializers.ModelSerializer):
    """The live part of a job, polled by clients while it runs."""

    percent = serializers.SerializerMethodField()
    elapsed_seconds = serializers.SerializerMethodField()
    remaining_seconds = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "state",
            "attempt",
            "progress_step",
            "progress_total",
            "percent",
            "loss_history",
            "tokens_per_second",
            "elapsed_seconds",
            "remaining_seconds",
            "heartbeat_at",
            "cancel_requested",
            "failure_reason",
            "failure_message",
        ]
        read_only_fields = fields

    def _progress(self, job: Job):
        cache = self.context.setdefault("progress", {})
        if job.pk not in cache:
            cache[job.pk] = job_progress(job=job)
        return cache[job.pk]

    def get_percent(self, job: Job) -> float | None:
        return self._progress(job).percent

    def get_elapsed_seconds(self, job: Job) -> int | None:
        return self._progress(job).elapsed_seconds

    def get_remaining_seconds(self, job: Job) -> int | None:
        return self._progress(job).remaining_seconds


class JobSerializer(JobProgressSerializer):
    # The spec and input paths stay server-side: they name files (such as hidden eval sets) that
    # nobody outside the platform needs to know the location of.
    class Meta(JobProgressSerializer.Meta):
        fields = [
            *JobProgressSerializer.Meta.fields,
            "kind",
            "owner",
            "device",
            "max_attempts",
            "wall_seconds",
            "memory_mb",
            "output_mb",
            "peak_memory_mb",
            "log_tail",
            "metrics",
            "artifacts",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields
