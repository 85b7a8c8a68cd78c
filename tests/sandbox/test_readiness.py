"""Readiness: `manage.py check` says whether this host can run sandbox jobs, has the base model and
reaches the broker, and a gpu worker that cannot sandbox says so when it starts."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from tests.conftest import BWRAP_REFUSAL as REFUSAL


def check_output(settings, **overrides) -> str:
    for name, value in overrides.items():
        setattr(settings, name, value)
    try:
        call_command("check", "--tag", "readiness")
    except SystemCheckError as exc:
        return str(exc)
    return ""


@pytest.mark.needs("bwrap", "base-model")
def test_a_ready_host_passes_the_readiness_checks(settings, capsys):
    assert check_output(settings, SANDBOX_ALLOW_UNISOLATED=False) == ""
    assert "System check identified no issues" in capsys.readouterr().out


def test_a_sandbox_that_cannot_start_is_an_error_that_says_what_to_do(settings, failing_bwrap):
    report = check_output(settings, SANDBOX_ALLOW_UNISOLATED=False)
    assert "(sandbox.E001) The sandbox cannot start an isolated process on this host" in report
    assert REFUSAL in report
    assert "Every vetting submission's training and evaluation jobs would be refused" in report
    assert "HINT: To fix it, install bubblewrap" in report
    assert "allow unprivileged user namespaces" in report


def test_missing_bubblewrap_is_named(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    report = check_output(settings, SANDBOX_ALLOW_UNISOLATED=False)
    assert "(sandbox.E001)" in report and "bubblewrap (bwrap) is not installed" in report


def test_allowed_unisolated_runs_are_a_warning_not_an_error(settings, failing_bwrap, capsys):
    assert check_output(settings, SANDBOX_ALLOW_UNISOLATED=True) == ""
    warned = capsys.readouterr().err
    assert "(sandbox.W001) The sandbox cannot isolate jobs" in warned
    assert "run with full access to this host (unsafe)" in warned


def test_an_unprepared_base_model_is_an_error_naming_the_command(settings, tmp_path):
    report = check_output(settings, SANDBOX_MODEL_CACHE_DIR=tmp_path / "empty-cache")
    assert "(sandbox.E002) The default base model cannot be loaded" in report
    assert "HINT: Run `python manage.py prepare_models`" in report


def test_a_broker_that_does_not_answer_is_an_error(settings):
    report = check_output(settings, CELERY_BROKER_URL="redis://:secret@127.0.0.1:1/0")
    assert "(core.E001) The Celery broker at redis://:**@127.0.0.1:1/0 does not answer" in report
    assert "secret" not in report


@pytest.mark.e2e
def test_a_gpu_worker_that_cannot_sandbox_says_so_when_it_starts(
    tmp_path, failing_bwrap, start_celery_worker
):
    # A broker of its own, whatever the suite's: the worker only has to start and say why it is not ready.
    broker = tmp_path / "readiness-broker"
    broker.mkdir()
    folders = {"data_folder_in": str(broker), "data_folder_out": str(broker), "control_folder": str(broker)}
    worker = start_celery_worker(
        "gpu", settings={"CELERY_BROKER_URL": "filesystem://", "CELERY_BROKER_TRANSPORT_OPTIONS": folders}
    )
    worker.stop()
    log = worker.log_path.read_text()
    assert "SANDBOX NOT READY: a confined test process failed" in log
    assert REFUSAL in log
    assert "Every training and evaluation job this worker takes will be refused" in log
