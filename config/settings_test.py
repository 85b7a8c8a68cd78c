"""Test overrides on top of the one settings module."""

import os
from urllib.parse import urlsplit, urlunsplit

from .settings import *  # noqa: F403
from .settings import CELERY_BEAT_SCHEDULE, CELERY_BROKER_URL, DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Unit tests run tasks in-process; end-to-end tests switch this off and start a real worker.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BEAT_SCHEDULE = dict(CELERY_BEAT_SCHEDULE)
MEDIA_ROOT = BASE_DIR / "var" / "test-media"  # noqa: F405
AXES_FAILURE_LIMIT = 3
# Static files come from the finders in tests; there is no collected STATIC_ROOT to serve. Looked up when
# asked for: otherwise each test client's first request lists every static file of every app again (WhiteNoise
# reads them when its middleware is built, once per handler), 8% of the unit tests' time.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# Parallel runs (pytest-xdist, `make test`): each test process has its own sandbox root, media root and,
# with a Redis broker, its own Redis database (gw0 -> 8, gw1 -> 9, ...); pytest-django gives each its own
# test database (PostgreSQL) or SQLite file. Workers a test starts inherit PYTEST_XDIST_WORKER, so they
# agree. The CPUs are shared out between the test processes: OpenMP threads that outnumber the cores spin
# against each other, and a training job then runs several times slower than on its share alone.
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _XDIST_WORKER:
    SANDBOX_ROOT = VAR_DIR / f"test-sandbox-{_XDIST_WORKER}"  # noqa: F405
    MEDIA_ROOT = VAR_DIR / f"test-media-{_XDIST_WORKER}"  # noqa: F405
    SANDBOX_CPU_THREADS = max(
        1, len(os.sched_getaffinity(0)) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    )
    os.environ.setdefault("OMP_NUM_THREADS", str(SANDBOX_CPU_THREADS))
    if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        _parts = urlsplit(CELERY_BROKER_URL)
        _database = 8 + int(_XDIST_WORKER.removeprefix("gw"))
        CELERY_BROKER_URL = urlunsplit(_parts._replace(path=f"/{_database}"))
        # Celery reads the environment variable before the setting: both must say the same.
        os.environ["CELERY_BROKER_URL"] = CELERY_BROKER_URL

# PostgreSQL: the live server answers each request on a thread of its own, whose connection Django closes
# when the request ends; a pool hands the next request an open connection instead of a new backend (a fork
# and a login each time: a third of the contract test's wall time). Workers a test starts use it too.
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # a pool replaces persistent connections
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {"min_size": 0, "max_size": 16, "timeout": 30}
