import os
import shutil
import stat
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.browser import browser  # noqa: F401 - the session browser fixture, for any test
from tests.celery_worker import start_celery_worker  # noqa: F401 - the one worker fixture, for any test
from tests.tools import require


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    yield
    shutil.rmtree(tmp_path / "media", ignore_errors=True)


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield


def pytest_runtest_setup(item):
    for marker in item.iter_markers("needs"):
        for tool in marker.args:
            require(tool)


def pytest_collection_modifyitems(config, items):
    """The longest tests first (real-model runs, then end-to-end ones), so that parallel test processes
    do not end the run waiting on one of them; tests that need row locks run on PostgreSQL only (on
    SQLite they are skipped, saying why)."""
    items.sort(key=lambda item: 0 if "slow" in item.keywords else 1 if "e2e" in item.keywords else 2)
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL row locks: set DATABASE_URL=postgres://...")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def client_user(db):
    from tests.factories import ClientFactory

    return ClientFactory()


@pytest.fixture
def engineer_user(db):
    from tests.factories import EngineerFactory

    return EngineerFactory()


@pytest.fixture
def staff_user(db):
    from tests.factories import StaffFactory

    return StaffFactory()


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"


# What bubblewrap prints where the kernel or the container forbids user namespaces.
BWRAP_REFUSAL = "bwrap: setting up uid map: Permission denied"


@pytest.fixture
def failing_bwrap(tmp_path, monkeypatch) -> Path:
    """A `bwrap` first on PATH that fails the way a forbidding kernel makes the real one fail."""
    folder = tmp_path / "bin"
    folder.mkdir()
    bwrap = folder / "bwrap"
    bwrap.write_text(f"#!/bin/sh\necho '{BWRAP_REFUSAL}' >&2\nexit 1\n")
    bwrap.chmod(bwrap.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return bwrap
