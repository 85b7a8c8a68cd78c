from django.apps import AppConfig


class VettingConfig(AppConfig):
    name = "vetting"
    verbose_name = "Vetting"

    def ready(self) -> None:
        # Connects the pipeline's receiver of sandbox jobs' finishing transitions; registers the checks.
        from marketplace import verified_skills
        from vetting import checks, pipeline  # noqa: F401
        from vetting.verified_skills import BadgeSkills

        # The marketplace reads badges (matching, profiles) through this, without importing vetting.
        verified_skills.register(BadgeSkills())
