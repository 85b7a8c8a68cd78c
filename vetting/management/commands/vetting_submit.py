"""Run a vetting submission through the pipeline from the command line.

    python manage.py vetting_submit --challenge SLUG --engineer USERNAME --dataset FILE \
        [--hyperparams FILE] --wait
    python manage.py vetting_submit --challenge SLUG --engineer USERNAME --adapter DIR --wait

The last line printed is the staff report, one JSON object (verdict, reasons, scores, cost,
validation). With --wait the command waits for the pipeline (run by the Celery workers, or inline
when CELERY_TASK_ALWAYS_EAGER is set) and prints each step as it changes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from celery import current_app
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from core import jsonsafe
from core.errors import ApplicationError
from marketplace.models import User
from vetting import pipeline
from vetting.datasets import HYPERPARAMETERS_MAX_BYTES
from vetting.models import Challenge, Submission
from vetting.selectors import submission_staff_report

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def staff_report(submission: Submission) -> dict[str, Any]:
    """The staff report; a rejection's reasons are its validation errors, with their lines."""
    report = submission_staff_report(submission=submission)
    if submission.state == Submission.State.REJECTED and not report["reasons"]:
        report["reasons"] = [
            (f"line {error['line']}: " if error.get("line") else "") + error["message"]
            for error in submission.validation_report.get("errors", [])[:50]
        ]
    return report


def steps_line(submission: Submission) -> str:
    return " | ".join(
        f"{name}: {step['status']}" for name, step in submission.steps.items() if isinstance(step, dict)
    )


class Command(BaseCommand):
    help = "Submit a dataset (or an adapter) to a vetting challenge and print the staff report."

    def add_arguments(self, parser):
        parser.add_argument("--challenge", required=True, help="The challenge's slug.")
        parser.add_argument("--engineer", required=True, help="Username of the engineer submitting.")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--dataset", type=Path, help="Chat-format JSONL training set.")
        source.add_argument("--adapter", type=Path, help="Folder with adapter_config.json + safetensors.")
        parser.add_argument("--hyperparams", type=Path, help="JSON object; missing keys take defaults.")
        parser.add_argument("--wait", action="store_true", help="Wait for the verdict.")
        parser.add_argument("--timeout", type=float, default=6 * 3600, help="Seconds to wait at most.")
        parser.add_argument("--poll", type=float, default=2.0, help="Seconds between checks while waiting.")

    def handle(self, *args, **options):
        challenge = Challenge.objects.filter(slug=options["challenge"]).first()
        if challenge is None:
            raise CommandError(f"No challenge {options['challenge']!r}.")
        engineer = User.objects.filter(username=options["engineer"]).first()
        if engineer is None:
            raise CommandError(f"No user {options['engineer']!r}.")
        if options["adapter"] is not None and options["hyperparams"] is not None:
            raise CommandError("--hyperparams goes with --dataset: an adapter is evaluated as it is.")
        hyperparameters = self._hyperparameters(options["hyperparams"])
        try:
            if options["dataset"] is not None:
                data = self._read(options["dataset"])
                submission = pipeline.submission_submit(
                    actor=engineer,
                    challenge_id=challenge.pk,
                    kind=Submission.Kind.DATASET,
                    dataset=data,
                    hyperparameters=hyperparameters,
                )
            else:
                submission = self._submit_adapter(engineer, challenge, options["adapter"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        submission.refresh_from_db()  # inline (eager), the pipeline may already have run
        self.stdout.write(f"submission {submission.pk}: {submission.state}")
        if options["wait"]:
            submission = self._wait(submission, timeout=options["timeout"], poll=options["poll"])
        self.stdout.write(json.dumps(staff_report(submission), default=str))
        if options["wait"] and not submission.is_finished:
            raise CommandError(f"submission {submission.pk} is still {submission.state} after the timeout")

    @staticmethod
    def _read(path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from exc

    def _hyperparameters(self, path: Path | None) -> dict[str, Any] | None:
        if path is None:
            return None
        try:
            value = jsonsafe.loads(self._read(path), max_bytes=HYPERPARAMETERS_MAX_BYTES)
        except jsonsafe.JSONInputError as exc:
            raise CommandError(f"{path} is {exc}") from None
        if not isinstance(value, dict):
            raise CommandError(f"{path} must hold a JSON object of hyperparameters.")
        return value

    @staticmethod
    def _submit_adapter(engineer: User, challenge: Challenge, folder: Path) -> Submission:
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder.")
        missing = [name for name in ADAPTER_FILES if not (folder / name).is_file()]
        if missing:
            raise CommandError(f"{folder} lacks {', '.join(missing)}.")
        handles = [(folder / name).open("rb") for name in ADAPTER_FILES]
        try:
            return pipeline.submission_submit(
                actor=engineer,
                challenge_id=challenge.pk,
                kind=Submission.Kind.ADAPTER,
                adapter_files=[
                    File(handle, name=name) for handle, name in zip(handles, ADAPTER_FILES, strict=True)
                ],
            )
        finally:
            for handle in handles:
                handle.close()

    def _wait(self, submission: Submission, *, timeout: float, poll: float) -> Submission:
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            submission.refresh_from_db()
            line = f"{submission.state}: {steps_line(submission)}"
            if line != last:
                self.stdout.write(line)
                last = line
            if submission.is_finished or time.monotonic() >= deadline:
                return submission
            if current_app.conf.task_always_eager:
                # Inline: nothing else will move it; run the sweep's step here (idempotent).
                pipeline.submission_advance(submission_id=submission.pk)
            time.sleep(poll)
