"""Readiness system check for the Celery broker: without it no payment, e-mail or job task runs."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register

BROKER_TIMEOUT_SECONDS = 3


@register("readiness")
def check_broker_answers(app_configs=None, **kwargs) -> list:
    from kombu import Connection

    url = settings.CELERY_BROKER_URL
    try:
        with Connection(
            url,
            connect_timeout=BROKER_TIMEOUT_SECONDS,
            transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        ) as connection:
            connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure to connect is the finding
        reason = str(exc).rstrip(".")
        return [
            Error(
                f"The Celery broker at {_without_password(url)} does not answer: {reason}.",
                hint="Start it, or unset CELERY_BROKER_URL to use the embedded file-system broker.",
                id="core.E001",
            )
        ]
    return []


def _without_password(url: str) -> str:
    from kombu.utils.url import maybe_sanitize_url

    return maybe_sanitize_url(url)


@register()
def check_exchange_rates(app_configs=None, **kwargs) -> list:
    """Every supported currency has a positive indicative rate (matching compares rates with budgets)."""
    from core.money import CURRENCY_EXPONENTS

    rates = settings.EXCHANGE_RATES
    missing = [code for code in CURRENCY_EXPONENTS if not rates.get(code, 0) > 0]
    if missing:
        return [
            Error(
                f"EXCHANGE_RATES has no positive rate for {', '.join(sorted(missing))}.",
                hint='Set EXCHANGE_RATES to "usd=1,eur=0.86,gbp=0.75,jpy=155" (units per US dollar).',
                id="core.E002",
            )
        ]
    return []
