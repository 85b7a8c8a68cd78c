"""Fixtures for the money path: the app pointed at the local Stripe server, signed webhook delivery,
and the ledger invariant checked after every test.

Webhooks reach the app's real view (`/payments/stripe/webhook/`) through Django's test client, in
the test's own thread and transaction: either events the local server recorded, fetched from its
`/v1/events` and signed here with the endpoint secret (fast), or the server's own signed deliveries
caught by `relay` and forwarded unchanged (what Stripe sends, byte for byte).
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import requests
import stripe

from tests.payments.stripe_server import API_KEY, LocalStripe, local_stripe, local_stripe_server

__all__ = ["local_stripe", "local_stripe_server"]  # fixtures, used by name

WEBHOOK_URL = "/payments/stripe/webhook/"
WEBHOOK_SECRET = "whsec_test_tunehire"


@pytest.fixture(autouse=True)
def _ledger_balanced(request):
    """After every test that used the database: postings balance, no escrow is negative."""
    from payments.ledger import ledger_violations

    uses_db = "_django_db_helper" in request.fixturenames or request.node.get_closest_marker("django_db")
    if uses_db:
        request.getfixturevalue("_django_db_helper")  # set up before, torn down after this check
    yield
    assert not uses_db or ledger_violations() == []


@pytest.fixture
def stripe_app(local_stripe: LocalStripe, settings) -> LocalStripe:
    """The app's Stripe client pointed at a fresh local server, with the app's own retry policy."""
    settings.STRIPE_USES_LOCAL_SERVER = True
    settings.STRIPE_LOCAL_URL = local_stripe.url
    settings.STRIPE_SECRET_KEY = API_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_TIMEOUT = 5
    settings.STRIPE_MAX_NETWORK_RETRIES = 2
    return local_stripe


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header, computed as Stripe (and localstripe) compute it."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class Webhooks:
    def __init__(self, client, server: LocalStripe) -> None:
        self.client, self.server = client, server

    def events(self, type: str, object_id: str | None = None) -> list[dict]:
        """The events the local server recorded, oldest first."""
        response = requests.get(
            f"{self.server.url}/v1/events",
            params={"type": type, "limit": 100},
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=5,
        )
        response.raise_for_status()
        events = response.json()["data"]
        return [e for e in events if object_id is None or e["data"]["object"].get("id") == object_id]

    def event(self, type: str, object_id: str) -> dict:
        found = self.events(type, object_id)
        assert found, f"the local server recorded no {type} for {object_id}"
        return found[-1]

    def post(
        self, event: dict | bytes, *, signature: str | None = None, secret: str = WEBHOOK_SECRET, client=None
    ):
        """POST to the app's webhook view (`client`: a thread's own test client, for concurrent posts)."""
        payload = event if isinstance(event, bytes) else json.dumps(event).encode()
        headers = {} if signature == "" else {"HTTP_STRIPE_SIGNATURE": signature or sign(payload, secret)}
        client = client or self.client
        return client.post(WEBHOOK_URL, data=payload, content_type="application/json", **headers)

    def deliver(self, type: str, object_id: str, *, times: int = 1) -> dict:
        event = self.event(type, object_id)
        for _ in range(times):
            response = self.post(event)
            assert response.status_code == 200, response.content
        return event


@pytest.fixture
def webhooks(client, stripe_app: LocalStripe) -> Webhooks:
    return Webhooks(client, stripe_app)


class Relay(http.server.ThreadingHTTPServer):
    """Catches the local server's own signed deliveries, to be forwarded to the app unchanged."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), RelayHandler)
        self.deliveries: list[tuple[bytes, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{WEBHOOK_URL}"

    def wait_for(self, type: str, object_id: str, timeout: float = 10.0) -> tuple[bytes, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for payload, signature in list(self.deliveries):
                event = json.loads(payload)
                if event["type"] == type and event["data"]["object"].get("id") == object_id:
                    return payload, signature
            time.sleep(0.05)
        raise AssertionError(f"the local server delivered no {type} for {object_id} within {timeout} s")


class RelayHandler(http.server.BaseHTTPRequestHandler):
    server: Relay

    def do_POST(self) -> None:
        payload = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.deliveries.append((payload, self.headers["Stripe-Signature"]))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def relay(stripe_app: LocalStripe) -> Iterator[Relay]:
    server = Relay()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    name = f"relay-{uuid.uuid4().hex}"
    stripe_app.register_webhook(name, server.url, WEBHOOK_SECRET)
    try:
        yield server
    finally:
        stripe_app.remove_webhook(name)
        server.shutdown()
        server.server_close()


# --- Driving the money path through the real services ---------------------------------------------


def onboard(engineer, webhooks: Webhooks, *, leave_due: str = ""):
    """Stripe's hosted onboarding, completed (the link's page), and its account.updated delivered."""
    from payments.models import ConnectedAccount
    from payments.services.accounts import connected_account_onboarding_link

    url = connected_account_onboarding_link(
        actor=engineer,
        return_url="http://127.0.0.1:9/payouts/done",
        refresh_url="http://127.0.0.1:9/payouts/again",
    )
    page = requests.get(
        url + (f"?leave_due={leave_due}" if leave_due else ""), allow_redirects=False, timeout=5
    )
    assert page.status_code == 302 and page.headers["Location"].endswith("/payouts/done")
    account = ConnectedAccount.objects.get(user=engineer)
    webhooks.deliver("account.updated", account.stripe_account_id)
    account.refresh_from_db()
    return account


def pay(milestone, webhooks: Webhooks, *, card: str = "pm_card_visa", deliver: bool = True):
    """The client pays the milestone by card (the checkout, then a confirm at the server)."""
    from payments.services.funding import funding_checkout

    checkout = funding_checkout(actor=milestone.engagement.client, milestone_id=milestone.pk)
    intent_id = checkout.funding.payment_intent_id
    stripe.PaymentIntent.confirm(intent_id, payment_method=card)
    if deliver:
        webhooks.deliver("payment_intent.succeeded", intent_id)
    milestone.refresh_from_db()
    return checkout


def work_and_approve(milestone, capture_on_commit):
    """The engineer starts and delivers; the client approves, and the on-commit hook opens the payout."""
    from marketplace.services import engagements as engagement_services

    engineer, client = milestone.engagement.engineer, milestone.engagement.client
    engagement_services.milestone_start(actor=engineer, milestone_id=milestone.pk)
    engagement_services.milestone_submit(
        actor=engineer, milestone_id=milestone.pk, message="Adapter attached."
    )
    with capture_on_commit(execute=True):
        engagement_services.milestone_approve(actor=client, milestone_id=milestone.pk)
    milestone.refresh_from_db()
    return milestone.payout


def transfers_at_stripe(**filters) -> list:
    return stripe.Transfer.list(limit=100, **filters).data


def refunds_at_stripe() -> list:
    return stripe.Refund.list(limit=100).data


def card_dispute(webhooks: Webhooks, funding, *, amount: int | None = None, deliver: bool = True) -> str:
    """The card network opens a dispute on the funding's charge at the local Stripe server; its
    webhook reaches the app unless `deliver` is false (a lost event). Returns the dispute's id."""
    body = {"charge": funding.charge_id, **({"amount": amount} if amount else {})}
    response = requests.post(f"{webhooks.server.url}/_test/disputes", json=body, timeout=5)
    assert response.status_code == 200, response.text
    dispute_id = response.json()["id"]
    if deliver:
        webhooks.deliver("charge.dispute.created", dispute_id)
    return dispute_id


def card_dispute_decide(webhooks: Webhooks, dispute_id: str, status: str, *, deliver: bool = True) -> None:
    """The card network decides the dispute (won or lost)."""
    url = f"{webhooks.server.url}/_test/disputes/{dispute_id}/decide"
    response = requests.post(url, json={"status": status}, timeout=5)
    assert response.status_code == 200, response.text
    if deliver:
        webhooks.deliver("charge.dispute.closed", dispute_id)
