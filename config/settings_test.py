"""Test overrides on top of the one settings module."""

from .settings import *  # noqa: F403
from .settings import CELERY_BEAT_SCHEDULE

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Unit tests run tasks in-process; end-to-end tests switch this off and start a real worker.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BEAT_SCHEDULE = dict(CELERY_BEAT_SCHEDULE)
MEDIA_ROOT = BASE_DIR / "var" / "test-media"  # noqa: F405
AXES_FAILURE_LIMIT = 3
# Static files come from the finders in tests; there is no collected STATIC_ROOT to serve.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
