from django.apps import AppConfig


class VettingConfig(AppConfig):
    name = "vetting"
    verbose_name = "Vetting"

    def ready(self) -> None:
        # Connects the pipeline's receiver of sandbox jobs' finishing transitions; registers the checks.
        from vetting import checks, pipeline  # noqa: F401
