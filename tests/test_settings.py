"""Production mode: refuses to start without its variables, and passes `check --deploy` with them,
readiness checks included."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BWRAP_REFUSAL

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "k3^" + "x7-Qz" * 12,
    "ALLOWED_HOSTS": "tunehire.example.com",
    "DATABASE_URL": "sqlite:////tmp/tunehire-deploy-check.sqlite3",
    # The readiness checks reach the broker: the one this test run has (Redis in CI).
    "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "filesystem://"),
    "STRIPE_SECRET_KEY": "sk_test_example",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_example",
    "STRIPE_WEBHOOK_SECRET": "whsec_example",
    "DEFAULT_FROM_EMAIL": "Tunehire <no-reply@tunehire.example.com>",
    "EMAIL_URL": "smtp+tls://user:pass@smtp.example.com:587",
    "CACHE_URL": "redis://127.0.0.1:6379/1",
    "VETTING_SECRET_SEED": "deploy-check-" + "s33d" * 10,
}


def _manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for themselves; a deployment never has it.
    test_only = {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV and k not in test_only}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_required_variables():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k not in ("SECRET_KEY", "STRIPE_WEBHOOK_SECRET")}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "needs these environment variables: SECRET_KEY, STRIPE_WEBHOOK_SECRET" in result.stderr


def test_production_refuses_the_public_development_secrets():
    env = {
        **PRODUCTION_ENV,
        "SECRET_KEY": "dev-only-insecure-key-never-use-in-production",
        "STRIPE_WEBHOOK_SECRET": "whsec_local",
        "VETTING_SECRET_SEED": "dev-only-vetting-seed-never-use-in-production",
    }
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert (
        "refuses the development values of SECRET_KEY, STRIPE_WEBHOOK_SECRET, VETTING_SECRET_SEED"
        in result.stderr
    )


def test_production_refuses_debug():
    result = _manage("check", env={**PRODUCTION_ENV, "DEBUG": "true"})
    assert result.returncode != 0
    assert "DJANGO_ENV=production refuses DEBUG=true" in result.stderr


@pytest.mark.needs("bwrap", "base-model")
def test_production_passes_check_deploy_with_no_warnings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_check_deploy_includes_the_readiness_checks(failing_bwrap):
    result = _manage("check", "--deploy", env=PRODUCTION_ENV)  # PATH: the failing bwrap first
    assert result.returncode != 0
    assert "(sandbox.E001) The sandbox cannot start an isolated process on this host" in result.stderr
    assert BWRAP_REFUSAL in result.stderr
