"""Readiness system checks (`manage.py check`; `check --deploy` in production runs them too): can this
host run the sandbox jobs vetting depends on, and is the base model prepared?"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from sandbox import registry
from sandbox.readiness import INSTALL_HINT, sandbox_problem

READINESS = "readiness"


@register(READINESS, Tags.compatibility)
def check_sandbox_can_start(app_configs=None, **kwargs) -> list:
    problem = sandbox_problem()
    if problem is None:
        return []
    if settings.SANDBOX_ALLOW_UNISOLATED:
        return [
            Warning(
                f"The sandbox cannot isolate jobs: {problem}. SANDBOX_ALLOW_UNISOLATED is set, so "
                "training and evaluation jobs run with full access to this host (unsafe).",
                hint=f"To isolate them, {INSTALL_HINT}.",
                id="sandbox.W001",
            )
        ]
    return [
        Error(
            f"The sandbox cannot start an isolated process on this host: {problem}. Every vetting "
            "submission's training and evaluation jobs would be refused.",
            hint=f"To fix it, {INSTALL_HINT}. Check the host with `python -m sandbox.exec -- true`.",
            id="sandbox.E001",
        )
    ]


@register(READINESS)
def check_base_model_prepared(app_configs=None, **kwargs) -> list:
    name = registry.default_model_name()
    try:
        registry.base_model_dir(name)
    except registry.BaseModelError as exc:
        return [
            Error(
                f"The default base model cannot be loaded: {exc}.",
                hint="Run `python manage.py prepare_models` (`make run` does it).",
                id="sandbox.E002",
            )
        ]
    return []
