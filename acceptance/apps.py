from django.apps import AppConfig


class AcceptanceConfig(AppConfig):
    name = "acceptance"
    verbose_name = "Acceptance tests"

    def ready(self) -> None:
        # Connects the receivers of deliveries and approvals, and of sandbox jobs finishing.
        from acceptance import pipeline, receivers  # noqa: F401
