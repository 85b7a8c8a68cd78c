"""`manage.py vetting_submit`: the staff report as the last line, for a rejection and, with --wait,
for a submission run inline (CELERY_TASK_ALWAYS_EAGER) through the real sandbox on the tiny model."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from sandbox.models import Job
from tests.vetting import test_pipeline_support as support
from tests.vetting.conftest import task_dataset
from tests.vetting.test_pipeline_support import make_tiny_challenge
from vetting.models import Submission

# Fixtures (see test_pipeline_support).
pipeline_settings = support.pipeline_settings
tiny_model_dir = support.tiny_model_dir
tiny_ticket = support.tiny_ticket

SCORES = {
    "base",
    "few_shot",
    "fine_tuned",
    "fine_tuned_ci",
    "delta_vs_few_shot_ci",
    "general_base",
    "general_fine_tuned",
    "forgetting_ratio",
    "general_delta_ci",  # the forgetting rule's interval; forgetting_ratio stays beside it
}


def run(*args: str) -> tuple[list[str], dict]:
    out = io.StringIO()
    call_command("vetting_submit", *args, stdout=out)
    lines = out.getvalue().strip().splitlines()
    return lines, json.loads(lines[-1])


@pytest.mark.django_db
def test_a_rejected_dataset_reports_its_lines_and_starts_nothing(tiny_ticket, engineer_user, tmp_path):
    dataset = tmp_path / "data.jsonl"
    lines = task_dataset(tiny_ticket, 24).decode().splitlines()
    dataset.write_text("\n".join([lines[0], "not json", *lines[1:]]) + "\n")
    jobs = Job.objects.count()
    _, report = run(
        "--challenge",
        tiny_ticket.slug,
        "--engineer",
        engineer_user.username,
        "--dataset",
        str(dataset),
        "--wait",
    )
    assert report["verdict"] == "rejected" and report["state"] == "rejected"
    assert any(reason.startswith("line 2: ") for reason in report["reasons"]), report["reasons"]
    assert report["validation"]["ok"] is False
    assert set(report["scores"]) == SCORES and report["scores"]["fine_tuned"] is None
    assert Job.objects.count() == jobs


@pytest.mark.django_db
def test_bad_arguments_are_command_errors(tiny_ticket, engineer_user, tmp_path):
    hyperparameters = tmp_path / "hp.json"
    hyperparameters.write_text("[1, 2]")
    dataset = tmp_path / "data.jsonl"
    dataset.write_bytes(task_dataset(tiny_ticket, 24))
    common = ["--challenge", tiny_ticket.slug, "--engineer", engineer_user.username]
    with pytest.raises(CommandError, match="JSON object"):
        run(*common, "--dataset", str(dataset), "--hyperparams", str(hyperparameters))
    with pytest.raises(CommandError, match="No user"):
        run("--challenge", tiny_ticket.slug, "--engineer", "nobody", "--dataset", str(dataset))
    with pytest.raises(CommandError, match=r"lacks adapter_config\.json"):
        run(*common, "--adapter", str(tmp_path))
    with pytest.raises(CommandError, match="not allowed with argument"):
        run(*common, "--adapter", str(tmp_path), "--dataset", str(dataset))


@pytest.mark.e2e
@pytest.mark.needs("bwrap")
def test_wait_runs_the_pipeline_inline_when_eager(
    transactional_db, pipeline_settings, engineer_user, tmp_path
):
    assert pipeline_settings.CELERY_TASK_ALWAYS_EAGER
    challenge = make_tiny_challenge()
    dataset = tmp_path / "data.jsonl"
    dataset.write_bytes(task_dataset(challenge, 24))
    hyperparameters = tmp_path / "hp.json"
    hyperparameters.write_text(json.dumps({"rank": 4, "epochs": 1, "learning_rate": 1e-2}))
    lines, report = run(
        "--challenge",
        challenge.slug,
        "--engineer",
        engineer_user.username,
        "--dataset",
        str(dataset),
        "--hyperparams",
        str(hyperparameters),
        "--wait",
    )
    assert report["verdict"] in ("pass", "fail"), report
    assert set(report["scores"]) == SCORES
    assert all(report["scores"][key] is not None for key in SCORES)
    assert len(report["scores"]["fine_tuned_ci"]) == 2 and len(report["scores"]["delta_vs_few_shot_ci"]) == 2
    assert {"trained_tokens", "device_seconds", "trainable_params", "adapter_bytes"} <= set(report["cost"])
    assert report["validation"]["ok"] is True
    submission = Submission.objects.get(pk=report["submission"])
    # Missing keys took their defaults.
    assert submission.hyperparameters["rank"] == 4 and submission.hyperparameters["batch_size"] == 8
    # Inline, the pipeline has run by the time the submission call returns.
    assert lines[0] == f"submission {submission.pk}: {submission.state}"
