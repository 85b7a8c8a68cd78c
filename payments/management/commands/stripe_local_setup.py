import time
import urllib.error

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from payments.stripe_client import local_server_register_webhook

ENDPOINT_NAME = "tunehire"


class Command(BaseCommand):
    help = (
        "Register this app's webhook endpoint (SITE_URL/payments/stripe/webhook/) with the local "
        "Stripe-compatible server, signed with STRIPE_WEBHOOK_SECRET. With real Stripe keys, does nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=float, default=30, help="seconds to wait for the server to answer")

    def handle(self, *args, wait, **options):
        if not settings.STRIPE_USES_LOCAL_SERVER:
            self.stdout.write(
                "Real Stripe keys are set: register the endpoint in Stripe's dashboard instead."
            )
            return
        url = settings.SITE_URL.rstrip("/") + reverse("payments:stripe-webhook")
        deadline = time.monotonic() + wait
        while True:
            try:
                local_server_register_webhook(
                    name=ENDPOINT_NAME, url=url, secret=settings.STRIPE_WEBHOOK_SECRET
                )
                break
            except (urllib.error.URLError, ConnectionError) as exc:
                if time.monotonic() >= deadline:
                    raise CommandError(
                        f"The local Stripe server at {settings.STRIPE_LOCAL_URL} did not answer: {exc}"
                    ) from exc
                time.sleep(0.5)
        self.stdout.write(f"Local Stripe server {settings.STRIPE_LOCAL_URL} delivers webhooks to {url}.")
