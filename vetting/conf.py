"""The vetting secret seed: whoever knows it can regenerate every hidden item of the built-in challenges."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def secret_seed() -> str:
    """The seed hidden items come from; production refuses to run on the development default (the
    settings refuse it at start-up already; this guards a value changed since)."""
    seed = settings.VETTING_SECRET_SEED
    if not seed or (settings.PRODUCTION and seed == settings.DEVELOPMENT_VALUES["VETTING_SECRET_SEED"]):
        raise ImproperlyConfigured("VETTING_SECRET_SEED must be set (a long random string) in production.")
    return seed
