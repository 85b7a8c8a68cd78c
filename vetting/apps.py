from django.apps import AppConfig


class VettingConfig(AppConfig):
    name = "vetting"
    verbose_name = "Vetting"

    def ready(self) -> None:
        # Connects the pipeline's receiver of sandbox jobs' finishing transitions.
        from vetting import pipeline  # noqa: F401
