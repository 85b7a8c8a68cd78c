"""The local Stripe-compatible server, over real HTTP with the real `stripe` client.

It has to behave like Stripe where our money path depends on it: Connect onboarding and signed
`account.updated` webhooks, transfers limited by their source charge, reversals, idempotency, and
failures injected before and after the work is done.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import stripe

from tests.payments.stripe_server import (
    LocalStripe,
    local_stripe,
    local_stripe_server,
    open_url,
    running_server,
)

__all__ = ["local_stripe", "local_stripe_server"]  # fixtures, used by name

WEBHOOK_SECRET = "whsec_test_local_stripe"


class Receiver(http.server.ThreadingHTTPServer):
    """Collects webhook deliveries (POST) and browser landings after redirects (GET)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.deliveries: list[tuple[bytes, str]] = []
        self.visits: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def wait_for_event(self, type: str, object_id: str, timeout: float = 10.0) -> stripe.Event:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for payload, signature in list(self.deliveries):
                event = stripe.Webhook.construct_event(payload, signature, WEBHOOK_SECRET)
                if event.type == type and event.data.object.id == object_id:
                    return event
            time.sleep(0.05)
        raise AssertionError(f"no {type} webhook for {object_id} within {timeout} s")


class ReceiverHandler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        payload = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.deliveries.append((payload, self.headers["Stripe-Signature"]))
        self.send_response(200)
        self.end_headers()

    def do_GET(self) -> None:
        self.server.visits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"back in the app")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver(local_stripe: LocalStripe) -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    name = f"test-{uuid.uuid4().hex}"
    local_stripe.register_webhook(name, server.url + "/webhooks/stripe", WEBHOOK_SECRET)
    try:
        yield server
    finally:
        local_stripe.remove_webhook(name)
        server.shutdown()
        server.server_close()


def paid_charge(amount: int = 10_000, transfer_group: str = "milestone_1") -> stripe.Charge:
    customer = stripe.Customer.create(email="client@example.com")
    intent = stripe.PaymentIntent.create(
        amount=amount,
        currency="usd",
        customer=customer.id,
        payment_method="pm_card_visa",
        confirm=True,
        transfer_group=transfer_group,
        metadata={"milestone": "1"},
    )
    assert intent.status == "succeeded"
    return stripe.Charge.retrieve(intent.latest_charge)


def new_account() -> stripe.Account:
    return stripe.Account.create(
        type="express",
        country="US",
        email="engineer@example.com",
        capabilities={"card_payments": {"requested": True}, "transfers": {"requested": True}},
    )


def onboarding_link(account_id: str, app_url: str = "http://127.0.0.1:9") -> stripe.AccountLink:
    return stripe.AccountLink.create(
        account=account_id,
        type="account_onboarding",
        refresh_url=app_url + "/payouts/onboarding/refresh",
        return_url=app_url + "/payouts/onboarding/done",
    )


def onboarded_account() -> stripe.Account:
    account = new_account()
    link = onboarding_link(account.id)
    # The return URL points at a closed port: only the visit itself matters here.
    with pytest.raises(urllib.error.URLError):
        open_url(link.url, timeout=5)
    return stripe.Account.retrieve(account.id)


def transfer_count(**filters) -> int:
    return len(stripe.Transfer.list(limit=100, **filters).data)


def test_card_payment_intent_succeeds_with_a_charge(local_stripe):
    charge = paid_charge(amount=12_345, transfer_group="milestone_7")

    assert charge.id.startswith("ch_")
    assert (charge.status, charge.paid, charge.amount, charge.currency) == ("succeeded", True, 12_345, "usd")
    assert charge.transfer_group == "milestone_7"
    intent = stripe.PaymentIntent.retrieve(charge.payment_intent)
    assert intent.latest_charge == charge.id  # an id, as in Stripe's API, unless expanded
    assert intent.metadata.to_dict() == {"milestone": "1"}
    expanded = stripe.PaymentIntent.retrieve(intent.id, expand=["latest_charge"])
    assert expanded.latest_charge.id == charge.id


def test_payment_intent_confirmed_later_with_a_payment_method(local_stripe):
    intent = stripe.PaymentIntent.create(amount=5_000, currency="usd", metadata={"milestone": "2"})
    assert intent.status == "requires_payment_method"

    confirmed = stripe.PaymentIntent.confirm(intent.id, payment_method="pm_card_visa")

    assert confirmed.status == "succeeded"
    assert stripe.Charge.retrieve(confirmed.latest_charge).amount == 5_000


def test_stripe_js_confirms_a_card_with_the_publishable_key(local_stripe):
    intent = stripe.PaymentIntent.create(amount=2_500, currency="usd")
    script = open_url(local_stripe.url + "/js.stripe.com/v3/", timeout=5).read().decode()
    assert "payment_method_data" in script  # the card-element confirmation wrapper is served

    def confirm(client_secret: str) -> tuple[int, dict]:
        body = {
            "key": "pk_test_local",
            "client_secret": client_secret,
            "payment_method_data": {
                "type": "card",
                "card": {"number": "4242424242424242", "exp_month": "12", "exp_year": "2034", "cvc": "123"},
            },
        }
        request = urllib.request.Request(  # noqa: S310 - the local server's http URL
            f"{local_stripe.url}/v1/payment_intents/{intent.id}/confirm", data=json.dumps(body).encode()
        )
        try:
            with open_url(request, timeout=5) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    status, body = confirm(intent.client_secret.replace("_secret_", "_secret_x"))
    assert status == 400 and body["error"]["param"] == "client_secret"
    status, body = confirm(intent.client_secret)
    assert status == 200 and body["status"] == "succeeded"


def test_express_onboarding_through_the_account_link(local_stripe, receiver):
    account = new_account()
    assert (account.charges_enabled, account.payouts_enabled, account.details_submitted) == (False,) * 3
    assert "external_account" in account.requirements.currently_due
    assert account.capabilities.to_dict() == {"card_payments": "inactive", "transfers": "inactive"}

    link = onboarding_link(account.id, app_url=receiver.url)
    assert link.object == "account_link" and link.url.startswith(local_stripe.url)
    assert link.expires_at > time.time()
    with open_url(link.url, timeout=5) as response:
        assert response.read() == b"back in the app"
    assert receiver.visits == ["/payouts/onboarding/done"]

    account = stripe.Account.retrieve(account.id)
    assert (account.charges_enabled, account.payouts_enabled, account.details_submitted) == (True,) * 3
    assert account.requirements.currently_due == [] and account.requirements.disabled_reason is None
    assert account.capabilities.to_dict() == {"card_payments": "active", "transfers": "active"}
    assert len(account.external_accounts.data) == 1

    event = receiver.wait_for_event("account.updated", account.id)  # signature verified on the way
    assert event.account == account.id
    assert event.data.object.payouts_enabled is True
    assert event.data.previous_attributes.payouts_enabled is False

    # A link works once; a used one sends the user to refresh_url for a new link.
    open_url(link.url, timeout=5).read()
    assert receiver.visits[-1] == "/payouts/onboarding/refresh"


def test_onboarding_left_incomplete_says_what_is_missing(local_stripe, receiver):
    account = new_account()
    link = onboarding_link(account.id, app_url=receiver.url)

    open_url(link.url + "?leave_due=external_account", timeout=5).read()

    account = stripe.Account.retrieve(account.id)
    assert account.details_submitted is True
    assert (account.charges_enabled, account.payouts_enabled) == (False, False)
    assert account.requirements.currently_due == ["external_account"]
    assert account.requirements.disabled_reason == "requirements.past_due"
    with pytest.raises(stripe.error.InvalidRequestError) as refused:
        stripe.Transfer.create(amount=100, currency="usd", destination=account.id)
    assert refused.value.code == "insufficient_capabilities_for_transfer"


def test_transfer_funded_by_its_source_charge(local_stripe):
    charge = paid_charge(amount=10_000, transfer_group="milestone_1")
    account = onboarded_account()

    transfer = stripe.Transfer.create(
        amount=9_000,
        currency="usd",
        destination=account.id,
        source_transaction=charge.id,
        metadata={"payout": "17"},
    )

    assert transfer.id.startswith("tr_")
    assert (transfer.amount, transfer.currency, transfer.destination) == (9_000, "usd", account.id)
    assert transfer.source_transaction == charge.id
    assert transfer.transfer_group == "milestone_1"  # taken from the charge
    assert (transfer.amount_reversed, transfer.reversed) == (0, False)
    assert transfer.metadata.to_dict() == {"payout": "17"}
    assert transfer_count(destination=account.id) == 1
    assert transfer_count(transfer_group="milestone_1") == 1
    assert transfer_count(transfer_group="milestone_2") == 0
    assert transfer_count(created={"gte": transfer.created}) == 1
    assert transfer_count(created={"gt": transfer.created}) == 0
    assert stripe.Balance.retrieve().available[0].amount == 1_000  # the platform keeps its fee
    assert stripe.Balance.retrieve(stripe_account=account.id).available[0].amount == 9_000


def test_transfer_beyond_its_source_charge_is_refused(local_stripe):
    charge = paid_charge(amount=10_000)
    account = onboarded_account()
    stripe.Transfer.create(amount=8_000, currency="usd", destination=account.id, source_transaction=charge.id)

    with pytest.raises(stripe.error.InvalidRequestError) as refused:
        stripe.Transfer.create(
            amount=2_001, currency="usd", destination=account.id, source_transaction=charge.id
        )

    assert refused.value.http_status == 400
    assert refused.value.code == "balance_insufficient"
    assert refused.value.param == "amount"
    assert "exceeds what remains to transfer" in refused.value.user_message
    assert "2000 usd of 10000 usd; 8000 usd already transferred" in refused.value.user_message
    stripe.Transfer.create(amount=2_000, currency="usd", destination=account.id, source_transaction=charge.id)
    assert transfer_count(destination=account.id) == 2


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"destination": "acct_missing", "source_transaction": "CHARGE"}, "destination", "resource_missing"),
        ({"source_transaction": "ch_missing"}, "source_transaction", "resource_missing"),
        ({"source_transaction": "CHARGE", "currency": "eur"}, "currency", None),
        ({"source_transaction": "CHARGE", "amount": 0}, "amount", "parameter_invalid_integer"),
        ({"amount": 100}, None, "balance_insufficient"),  # no source: the platform balance is empty
    ],
)
def test_bad_transfers_are_refused_like_stripe(local_stripe, params, param, code):
    account = onboarded_account()
    request = {"amount": 100, "currency": "usd", "destination": account.id, **params}
    if request.get("source_transaction") == "CHARGE":
        request["source_transaction"] = paid_charge().id

    with pytest.raises(stripe.error.InvalidRequestError) as refused:
        stripe.Transfer.create(**request)

    assert (refused.value.param, refused.value.code) == (param, code)
    assert transfer_count() == 0


def test_transfer_reversal(local_stripe):
    account = onboarded_account()
    transfer = stripe.Transfer.create(
        amount=5_000, currency="usd", destination=account.id, source_transaction=paid_charge().id
    )

    reversal = stripe.Transfer.create_reversal(transfer.id, amount=3_000, metadata={"dispute": "4"})
    assert reversal.id.startswith("trr_") and reversal.object == "transfer_reversal"
    assert (reversal.amount, reversal.transfer) == (3_000, transfer.id)
    assert reversal.metadata.to_dict() == {"dispute": "4"}
    partly = stripe.Transfer.retrieve(transfer.id)
    assert (partly.amount_reversed, partly.reversed) == (3_000, False)
    assert stripe.Balance.retrieve(stripe_account=account.id).available[0].amount == 2_000

    with pytest.raises(stripe.error.InvalidRequestError) as refused:
        stripe.Transfer.create_reversal(transfer.id, amount=2_001)
    assert refused.value.param == "amount"

    stripe.Transfer.create_reversal(transfer.id)  # the rest
    fully = stripe.Transfer.retrieve(transfer.id)
    assert (fully.amount_reversed, fully.reversed) == (5_000, True)
    assert [r.amount for r in stripe.Transfer.list_reversals(transfer.id).data] == [2_000, 3_000]


def test_same_idempotency_key_and_parameters_replays_the_first_response(local_stripe):
    account = onboarded_account()
    charge = paid_charge()
    params = {"amount": 4_000, "currency": "usd", "destination": account.id, "source_transaction": charge.id}

    first = stripe.Transfer.create(**params, idempotency_key="payout:1")
    again = stripe.Transfer.create(**params, idempotency_key="payout:1")

    assert again.id == first.id
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    assert first.last_response.headers.get("Idempotent-Replayed") is None
    assert transfer_count(destination=account.id) == 1


def test_same_idempotency_key_with_other_parameters_is_an_idempotency_error(local_stripe):
    account = onboarded_account()
    charge = paid_charge()
    params = {"currency": "usd", "destination": account.id, "source_transaction": charge.id}
    stripe.Transfer.create(amount=4_000, **params, idempotency_key="payout:2")

    with pytest.raises(stripe.error.IdempotencyError) as refused:
        stripe.Transfer.create(amount=4_001, **params, idempotency_key="payout:2")

    assert refused.value.http_status == 400
    assert refused.value.user_message.startswith(
        "Keys for idempotent requests can only be used with the same parameters they were first used with."
    )
    assert transfer_count() == 1


def test_concurrent_requests_with_one_key_make_one_transfer(local_stripe):
    stripe.max_network_retries = 2  # as the app runs: a 409 "key in use" is retried by the client
    account = onboarded_account()
    params = {"amount": 4_000, "currency": "usd", "destination": account.id}
    params["source_transaction"] = paid_charge().id

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(
            pool.map(lambda _: stripe.Transfer.create(**params, idempotency_key="payout:9").id, range(8))
        )

    assert len(ids) == 1
    assert transfer_count() == 1


def test_idempotency_covers_localstripe_endpoints_and_is_per_api_key(local_stripe):
    first = stripe.Customer.create(email="a@example.com", idempotency_key="customer:1")
    assert stripe.Customer.create(email="a@example.com", idempotency_key="customer:1").id == first.id
    with pytest.raises(stripe.error.IdempotencyError):
        stripe.Customer.create(email="b@example.com", idempotency_key="customer:1")

    other_platform = stripe.Customer.create(
        email="b@example.com", idempotency_key="customer:1", api_key="sk_test_other_platform"
    )
    assert other_platform.id != first.id


def test_injected_500_does_no_work_and_the_retry_with_the_same_key_does(local_stripe):
    account = onboarded_account()
    params = {"amount": 3_000, "currency": "usd", "destination": account.id}
    params["source_transaction"] = paid_charge().id
    local_stripe.add_fault("/v1/transfers", "error_500")

    with pytest.raises(stripe.error.APIError) as failed:
        stripe.Transfer.create(**params, idempotency_key="payout:3")
    assert failed.value.http_status == 500
    assert transfer_count() == 0

    transfer = stripe.Transfer.create(**params, idempotency_key="payout:3")
    assert transfer.last_response.headers.get("Idempotent-Replayed") is None  # it ran this time
    assert [t.id for t in stripe.Transfer.list().data] == [transfer.id]
    assert local_stripe.control("GET", "/_test/faults") == {"pending": [], "injected": {"error_500": 1}}


@pytest.mark.parametrize("delay_s", [0, 1.5], ids=["connection-dropped", "client-timeout"])
def test_failure_after_commit_is_retried_into_the_same_transfer(local_stripe, delay_s):
    stripe.default_http_client = stripe.RequestsClient(timeout=1)
    account = onboarded_account()
    params = {"amount": 3_000, "currency": "usd", "destination": account.id}
    params["source_transaction"] = paid_charge().id
    local_stripe.add_fault("/v1/transfers", "timeout_after_commit", delay_s=delay_s)

    with pytest.raises(stripe.error.APIConnectionError):
        stripe.Transfer.create(**params, idempotency_key="payout:4")
    [done] = stripe.Transfer.list().data  # Stripe did the work although the client saw a failure

    retried = stripe.Transfer.create(**params, idempotency_key="payout:4")

    assert retried.id == done.id
    assert retried.last_response.headers.get("Idempotent-Replayed") == "true"
    assert transfer_count() == 1


def test_unknown_parameters_are_refused_naming_them(local_stripe):
    account = onboarded_account()
    with pytest.raises(stripe.error.InvalidRequestError) as refused:
        stripe.Transfer.create(amount=100, currency="usd", destination=account.id, colour="blue")
    assert (refused.value.param, refused.value.code) == ("colour", "parameter_unknown")
    assert refused.value.user_message == "Received unknown parameter: colour"

    with pytest.raises(stripe.error.InvalidRequestError) as refused:
        stripe.Account.create(type="express", capabilities={"transfers": {"requested": True}}, colour="x")
    assert refused.value.param == "colour"

    with pytest.raises(stripe.error.InvalidRequestError, match="colour"):  # localstripe's own wording
        stripe.Customer.create(email="c@example.com", colour="blue")


def test_reset_forgets_objects_and_idempotency_keys(local_stripe):
    customer = stripe.Customer.create(email="a@example.com", idempotency_key="customer:reset")

    local_stripe.control("DELETE", "/_config/data")

    with pytest.raises(stripe.error.InvalidRequestError):
        stripe.Customer.retrieve(customer.id)
    assert stripe.Customer.create(email="b@example.com", idempotency_key="customer:reset").id != customer.id


def test_data_file_keeps_the_state_across_restarts(tmp_path, local_stripe):
    data_file = tmp_path / "stripe.pickle"
    with running_server(tmp_path, "--data-file", str(data_file)) as server:
        stripe.api_base = server.url
        customer = stripe.Customer.create(email="kept@example.com", idempotency_key="customer:kept")

    with running_server(tmp_path, "--data-file", str(data_file)) as server:
        stripe.api_base = server.url
        assert stripe.Customer.retrieve(customer.id).email == "kept@example.com"
        replay = stripe.Customer.create(email="kept@example.com", idempotency_key="customer:kept")
        assert replay.id == customer.id
