"""Deployment check: the repository's demo challenges have public generators (`check --deploy`)."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def check_demo_challenges(app_configs=None, **kwargs) -> list:
    if not (settings.PRODUCTION and settings.VETTING_ALLOW_DEMO_CHALLENGES):
        return []
    return [
        Warning(
            "VETTING_ALLOW_DEMO_CHALLENGES is set in production: the demo challenges' hidden items come from "
            "generators published in the repository, so anyone can train on their distribution.",
            hint="Unset it; upload private evaluation sets, or name private generator modules in "
            "VETTING_CHALLENGE_MODULES.",
            id="vetting.W001",
        )
    ]
