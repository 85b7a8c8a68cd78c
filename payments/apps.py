from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        # Connects the receiver that opens a payout when a milestone is approved.
        from payments import receivers  # noqa: F401
