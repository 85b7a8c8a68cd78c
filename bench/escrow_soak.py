"""Escrow soak: many engagements through the money path at once, with Stripe misbehaving.

    python -m bench.escrow_soak [--engagements 200] [--threads 16] [--max-deliveries 4] [--fault-rate 0.35]

Starts the local Stripe-compatible server and a separate benchmark database on the configured engine
(`<name>_escrow_bench` on PostgreSQL, var/bench-escrow.sqlite3 on SQLite), then runs N engagements
concurrently (threads) through the real services: the client pays by card (some with a declined
card first), the engineer works and delivers, the client approves and staff approve the payout; one
in ten is cancelled by consent with a refund and one in ten disputed and settled with a split.

Every event the server sends is caught (a relay registered as a webhook endpoint) and delivered to
the app's webhook view 2 to `--max-deliveries` times, by several threads picking deliveries in random
order (re-signed at each delivery, as Stripe does); at the end every event is delivered once more,
shuffled. Before transfers and refunds, Stripe failures are injected at the server (a 500, or the
connection dropped after Stripe did the work); the flow retries as staff would, from the desk.

Then it checks the ledger against Stripe's objects (funded, transferred and refunded per milestone,
and the platform's balance against escrow plus fees: `ledger_drift_cents`) and counts transfers per
payout at the server (`double_transfers`). The last line is the headline, in engagements per second.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import http.server
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent.parent
WEBHOOK_PATH = "/payments/stripe/webhook/"
WEBHOOK_SECRET = "whsec_escrow_soak"  # noqa: S105 - the local server's signing secret
API_KEY = "sk_test_local"
ENGINEERS = 20
FUNDING_TIMEOUT_S = 90


# --- Database and local Stripe server ---------------------------------------------------------------


def bench_database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        parsed = urlparse(url)
        name = parsed.path.lstrip("/") or "postgres"
        return parsed._replace(path=f"/{name}_escrow_bench").geturl()
    return f"sqlite:///{BASE_DIR / 'var' / 'bench-escrow.sqlite3'}"


def prepare_database(url: str) -> None:
    if url.startswith("sqlite"):
        path = Path(urlparse(url).path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        return
    import psycopg

    parsed = urlparse(url)
    admin = parsed._replace(path="/postgres", query="").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        name = parsed.path.lstrip("/")
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def control(base: str, method: str, path: str, payload: dict | None = None) -> dict:
    """Call one of the local server's control endpoints (`/_test/...`, `/_config/...`)."""
    if not base.startswith("http://127.0.0.1:"):
        raise ValueError(f"not the local server: {base}")
    body = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(  # noqa: S310 - the local server's http URL, checked above
        base + path, data=body, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - checked above
        text = response.read().decode()
    return json.loads(text) if text else {}


def start_stripe_server(workdir: Path) -> tuple[subprocess.Popen, str]:
    port_file = workdir / "port"
    log = (workdir / "server.log").open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devtools.localstripe",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--quiet",
        ],
        cwd=BASE_DIR,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"local Stripe server exited: {(workdir / 'server.log').read_text()}")
        if port_file.exists():
            base = f"http://127.0.0.1:{port_file.read_text().strip()}"
            try:
                control(base, "GET", "/_test/faults")
                return process, base
            except OSError:
                pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("local Stripe server did not start")


# --- Webhooks: caught from the server, delivered several times, in random order ---------------------


class Relay(http.server.ThreadingHTTPServer):
    """The webhook endpoint registered at the local server: it only collects what the server sends."""

    daemon_threads = True

    def __init__(self, deliveries: Deliveries) -> None:
        super().__init__(("127.0.0.1", 0), RelayHandler)
        self.deliveries = deliveries

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{WEBHOOK_PATH}"


class RelayHandler(http.server.BaseHTTPRequestHandler):
    server: Relay

    def do_POST(self) -> None:
        self.server.deliveries.caught(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def sign(payload: bytes) -> str:
    """A fresh `Stripe-Signature`, as Stripe computes it for each delivery attempt."""
    timestamp = int(time.time())
    digest = hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class Deliveries:
    """Events caught from the server, each queued 2..max times; deliverers take them in random order."""

    def __init__(self, rng: random.Random, max_copies: int) -> None:
        self.rng, self.max_copies = rng, max_copies
        self.lock = threading.Lock()
        self.pool: list[bytes] = []
        self.events: dict[str, bytes] = {}
        self.posted = 0
        self.in_flight = 0
        self.last_caught = time.monotonic()
        self.errors: list[str] = []

    def caught(self, payload: bytes) -> None:
        event_id = json.loads(payload)["id"]
        with self.lock:
            self.last_caught = time.monotonic()
            if event_id in self.events:  # the server's own retry: one more copy
                self.pool.append(payload)
                return
            self.events[event_id] = payload
            self.pool.extend([payload] * self.rng.randint(2, self.max_copies))

    def replay_all(self) -> None:
        """Every event once more, late and shuffled (a delayed retry after everything moved on)."""
        with self.lock:
            self.pool.extend(self.events.values())

    def take(self) -> bytes | None:
        with self.lock:
            if not self.pool:
                return None
            index = self.rng.randrange(len(self.pool))
            self.pool[index], self.pool[-1] = self.pool[-1], self.pool[index]
            self.in_flight += 1
            return self.pool.pop()

    def done(self, error: str | None = None) -> None:
        with self.lock:
            self.in_flight -= 1
            self.posted += 1
            if error:
                self.errors.append(error)

    def drained(self, quiet_s: float) -> bool:
        with self.lock:
            return not self.pool and not self.in_flight and time.monotonic() - self.last_caught > quiet_s

    def wait_drained(self, quiet_s: float = 1.5, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not self.drained(quiet_s):
            if time.monotonic() > deadline:
                raise RuntimeError("webhook deliveries did not drain")
            time.sleep(0.05)


def deliverer(deliveries: Deliveries, stop: threading.Event) -> None:
    from django.db import connections
    from django.test import Client

    client = Client()
    try:
        while not stop.is_set():
            payload = deliveries.take()
            if payload is None:
                time.sleep(0.01)
                continue
            error = None
            try:
                response = client.post(
                    WEBHOOK_PATH,
                    data=payload,
                    content_type="application/json",
                    HTTP_STRIPE_SIGNATURE=sign(payload),
                )
                if response.status_code != 200:
                    error = f"HTTP {response.status_code}: {response.content[:200]!r}"
            except Exception as exc:  # recorded and reported; the soak goes on
                error = f"{type(exc).__name__}: {exc}"
            deliveries.done(error)
    finally:
        connections.close_all()


# --- The money path -----------------------------------------------------------------------------------


@dataclass
class Spec:
    index: int
    milestone_id: int
    kind: str  # paid | cancelled | disputed
    declined_first: bool
    release_share: float


@dataclass
class Outcome:
    payout_retries: int = 0
    refund_retries: int = 0
    faults_requested: int = 0
    error: str = ""


def seed(n: int, rng: random.Random) -> tuple[list[Spec], int]:
    """Users, onboarding-free engagements with one milestone each; returns the specs and staff's id."""
    from django.utils import timezone

    from marketplace.models import EngineerProfile, User
    from marketplace.services import requests as request_services

    staff = User.objects.create(username="soak-staff", email="staff@soak.test", is_staff=True, password="!")
    engineers = User.objects.bulk_create(
        User(username=f"soak-eng{i}", email=f"eng{i}@soak.test", role=User.Role.ENGINEER, password="!")
        for i in range(ENGINEERS)
    )
    EngineerProfile.objects.bulk_create(EngineerProfile(user=user, headline="LoRA") for user in engineers)
    clients = User.objects.bulk_create(
        User(username=f"soak-client{i}", email=f"client{i}@soak.test", role=User.Role.CLIENT, password="!")
        for i in range(n)
    )
    due = timezone.localdate() + timedelta(days=30)
    specs = []
    for index, client in enumerate(clients):
        engineer = engineers[index % ENGINEERS]
        amount = rng.randrange(5_000, 500_000, 100)
        hiring_request = request_services.request_create(
            actor=client,
            title=f"Soak engagement {index}",
            description="Fine-tune a ticket router.",
            budget_min=amount,
            budget_max=amount,
            currency="usd",
            deadline=due,
        )
        request_services.request_publish(actor=client, request_id=hiring_request.pk)
        consultation = request_services.consultation_invite(
            actor=client, request_id=hiring_request.pk, engineer_id=engineer.pk
        )
        proposal = request_services.proposal_submit(
            actor=engineer,
            consultation_id=consultation.pk,
            scope="Tune and evaluate.",
            price=amount,
            milestones=[{"title": "Adapter and report", "amount": amount, "due_date": due}],
        )
        engagement = request_services.proposal_accept(actor=client, proposal_id=proposal.pk)
        roll = rng.random()
        specs.append(
            Spec(
                index=index,
                milestone_id=engagement.milestones.get().pk,
                kind="cancelled" if roll < 0.1 else "disputed" if roll < 0.2 else "paid",
                declined_first=rng.random() < 0.1,
                release_share=rng.choice([0.0, 0.3, 0.5, 0.8]),
            )
        )
    return specs, staff.pk


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def onboard_engineers(base: str) -> None:
    """Stripe's hosted onboarding for every engineer (visiting each account link completes it)."""
    from marketplace.models import User
    from payments.services.accounts import connected_account_onboarding_link

    opener = urllib.request.build_opener(NoRedirect)
    for engineer in User.objects.filter(role=User.Role.ENGINEER):
        url = connected_account_onboarding_link(
            actor=engineer, return_url="http://127.0.0.1:9/done", refresh_url="http://127.0.0.1:9/again"
        )
        if not url.startswith(base + "/"):
            raise RuntimeError(f"unexpected onboarding URL {url}")
        try:
            opener.open(url, timeout=10)
        except urllib.error.HTTPError as exc:  # the page answers 302 to the return URL
            if exc.code != 302:
                raise


def wait_for(predicate, what: str, timeout: float = FUNDING_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Faults:
    """Before a transfer or a refund, sometimes ask the server to fail the next such request."""

    def __init__(self, base: str, rate: float, rng: random.Random) -> None:
        self.base, self.rate, self.rng = base, rate, rng
        self.lock = threading.Lock()

    def maybe(self, path: str, outcome: Outcome) -> None:
        with self.lock:
            if self.rng.random() >= self.rate:
                return
            mode = self.rng.choice(["error_500", "timeout_after_commit"])
        control(self.base, "POST", "/_test/faults", {"path_prefix": path, "mode": mode})
        outcome.faults_requested += 1


def send_payout(payout_id: int, staff, faults: Faults, outcome: Outcome) -> None:
    """Staff approve the payout, and retry it from the desk until it is paid."""
    from core.errors import InvalidTransitionError, PaymentProviderError
    from payments.models import Payout
    from payments.services.payouts import payout_approve, payout_retry

    for _ in range(8):
        payout = Payout.objects.get(pk=payout_id)
        if payout.state == Payout.State.PAID:
            return
        if payout.state == Payout.State.PROCESSING:  # a dispute settlement mid-way, or a late webhook
            time.sleep(0.1)
            continue
        faults.maybe("/v1/transfers", outcome)
        try:
            if payout.state == Payout.State.AWAITING_APPROVAL:
                payout_approve(actor=staff, payout_id=payout_id)
            else:
                outcome.payout_retries += 1
                payout_retry(actor=staff, payout_id=payout_id)
        except (PaymentProviderError, InvalidTransitionError):
            continue  # failed (retry it), or a webhook recorded the transfer meanwhile
    raise RuntimeError(f"payout {payout_id} still {Payout.objects.get(pk=payout_id).state}")


def send_refund(refund_id: int, staff, faults: Faults, outcome: Outcome) -> None:
    from core.errors import InvalidTransitionError, PaymentProviderError
    from payments.models import Refund
    from payments.services.refunds import refund_retry

    for _ in range(8):
        refund = Refund.objects.get(pk=refund_id)
        if refund.state == Refund.State.SUCCEEDED:
            return
        faults.maybe("/v1/refunds", outcome)
        outcome.refund_retries += 1
        try:
            refund_retry(actor=staff, refund_id=refund_id)
        except (PaymentProviderError, InvalidTransitionError):
            continue
    raise RuntimeError(f"refund {refund_id} still {Refund.objects.get(pk=refund_id).state}")


def run_engagement(spec: Spec, staff_id: int, faults: Faults) -> Outcome:
    import stripe
    from django.db import connections

    from core.errors import PaymentProviderError
    from marketplace.models import Milestone, User
    from marketplace.services import engagements as engagement_services
    from payments.models import Payout, Refund
    from payments.services.disputes import dispute_resolve
    from payments.services.funding import funding_checkout
    from payments.services.refunds import cancellation_accept, cancellation_request

    outcome = Outcome()
    try:
        milestone = Milestone.objects.select_related("engagement__client", "engagement__engineer").get(
            pk=spec.milestone_id
        )
        client, engineer = milestone.engagement.client, milestone.engagement.engineer
        staff = User.objects.get(pk=staff_id)
        pk = milestone.pk

        # The client pays by card (the browser's confirm), maybe after a declined card.
        checkout = funding_checkout(actor=client, milestone_id=pk)
        intent = checkout.funding.payment_intent_id
        if spec.declined_first:
            with contextlib.suppress(stripe.error.CardError):
                stripe.PaymentIntent.confirm(intent, payment_method="pm_card_chargeCustomerFail")
        stripe.PaymentIntent.confirm(intent, payment_method="pm_card_visa")
        wait_for(
            lambda: Milestone.objects.filter(pk=pk, state=Milestone.State.FUNDED).exists(),
            f"milestone {pk} funded by the webhook",
        )
        engagement_services.milestone_start(actor=engineer, milestone_id=pk)

        if spec.kind == "cancelled":
            request = cancellation_request(actor=client, milestone_id=pk, reason="Budget cut.")
            faults.maybe("/v1/refunds", outcome)
            refund = cancellation_accept(actor=engineer, cancellation_id=request.pk)
            send_refund(refund.pk, staff, faults, outcome)
            return outcome

        engagement_services.milestone_submit(actor=engineer, milestone_id=pk, message="Adapter attached.")
        if spec.kind == "disputed":
            engagement_services.milestone_open_dispute(actor=client, milestone_id=pk, reason="Scope.")
            release = int(milestone.amount * spec.release_share)
            faults.maybe("/v1/transfers" if release else "/v1/refunds", outcome)
            # A PaymentProviderError leaves the settlement recorded; its failed part is retried below.
            with contextlib.suppress(PaymentProviderError):
                dispute_resolve(
                    actor=staff,
                    milestone_id=pk,
                    release_amount=release,
                    refund_amount=milestone.amount - release,
                    currency=milestone.currency,
                    note="Split after mediation.",
                )
            for payout in Payout.objects.filter(milestone_id=pk):
                send_payout(payout.pk, staff, faults, outcome)
            for refund in Refund.objects.filter(milestone_id=pk):
                send_refund(refund.pk, staff, faults, outcome)
            return outcome

        engagement_services.milestone_approve(actor=client, milestone_id=pk)  # opens the payout on commit
        payout = Payout.objects.get(milestone_id=pk)
        send_payout(payout.pk, staff, faults, outcome)
        return outcome
    except Exception as exc:  # reported as an incomplete engagement
        outcome.error = f"engagement {spec.index}: {type(exc).__name__}: {exc}"
        return outcome
    finally:
        connections.close_all()


# --- Checks -------------------------------------------------------------------------------------------


def stripe_objects() -> dict:
    """Everything the local server holds that moves money, as plain dicts."""
    import stripe

    def every(resource) -> list[dict]:
        return [obj.to_dict() for obj in resource.list(limit=100).auto_paging_iter()]

    return {
        "intents": every(stripe.PaymentIntent),
        "transfers": every(stripe.Transfer),
        "refunds": every(stripe.Refund),
        "balance": stripe.Balance.retrieve().to_dict(),
    }


def check(specs: list[Spec]) -> dict:
    from django.db.models import Sum

    from marketplace.models import Milestone
    from payments.ledger import ledger_violations
    from payments.models import LedgerAccount, LedgerEntry

    objects = stripe_objects()
    stripe_money: dict[int, Counter] = {spec.milestone_id: Counter() for spec in specs}
    for intent in objects["intents"]:
        milestone = int(intent["metadata"].get("milestone", 0))
        if intent["status"] == "succeeded" and milestone in stripe_money:
            stripe_money[milestone]["funded"] += intent["amount"]
    per_payout: Counter[str] = Counter()
    for transfer in objects["transfers"]:
        per_payout[transfer["metadata"].get("payout", "")] += 1
        milestone = int(transfer["metadata"].get("milestone", 0))
        if milestone in stripe_money:
            stripe_money[milestone]["transferred"] += transfer["amount"] - transfer["amount_reversed"]
    for refund in objects["refunds"]:
        milestone = int(refund["metadata"].get("milestone", 0))
        if refund["status"] == "succeeded" and milestone in stripe_money:
            stripe_money[milestone]["refunded"] += refund["amount"]

    ledger: dict[int, Counter] = {spec.milestone_id: Counter() for spec in specs}
    accounts = {
        LedgerAccount.CLIENT_FUNDING: ("funded", -1),
        LedgerAccount.ENGINEER_TRANSFERRED: ("transferred", 1),
        LedgerAccount.CLIENT_REFUNDS: ("refunded", 1),
        LedgerAccount.PLATFORM_REVENUE: ("fees", 1),
        LedgerAccount.ESCROW: ("escrow", 1),
    }
    sums = LedgerEntry.objects.values("milestone_id", "account").annotate(total=Sum("amount"))
    for row in sums.values_list("milestone_id", "account", "total"):
        name, sign = accounts[row[1]]
        ledger[row[0]][name] += sign * row[2]

    drift = sum(
        abs(ledger[m][name] - stripe_money[m][name])
        for m in ledger
        for name in ("funded", "transferred", "refunded")
    )
    platform = sum(entry["amount"] for entry in objects["balance"]["available"] if entry["currency"] == "usd")
    kept = sum(ledger[m]["fees"] + ledger[m]["escrow"] for m in ledger)  # what the platform should hold
    drift += abs(platform - kept)

    expected = {
        "paid": Milestone.State.PAID,
        "cancelled": Milestone.State.REFUNDED,
        "disputed": Milestone.State.RESOLVED,
    }
    states = dict(Milestone.objects.filter(pk__in=ledger).values_list("pk", "state"))
    wrong_state = [s.index for s in specs if states[s.milestone_id] != expected[s.kind]]
    still_held = [m for m in ledger if ledger[m]["escrow"]]
    return {
        "ledger_drift_cents": drift,
        "double_transfers": sum(count - 1 for count in per_payout.values() if count > 1)
        + per_payout.get("", 0),
        "transfers": len(objects["transfers"]),
        "refunds": len(objects["refunds"]),
        "ledger_violations": len(ledger_violations()),
        "wrong_final_state": len(wrong_state),
        "escrow_left": len(still_held),
        "platform_balance_cents": platform,
    }


# --- Main ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engagements", type=int, default=200)
    parser.add_argument("--threads", type=int, default=16, help="engagements in flight at once")
    parser.add_argument("--deliverers", type=int, default=4, help="threads delivering webhooks")
    parser.add_argument("--max-deliveries", type=int, default=4, help="each event is delivered 2..this times")
    parser.add_argument("--fault-rate", type=float, default=0.35, help="share of transfers/refunds failed")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    workdir = Path(tempfile.mkdtemp(prefix="escrow-soak-"))
    server, base = start_stripe_server(workdir)
    url = bench_database_url()
    prepare_database(url)
    os.environ.update(
        {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "false",
            "LOG_LEVEL": "ERROR",
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "EMAIL_URL": "dummymail://",
            "STRIPE_LOCAL_URL": base,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            # Failures reach our code, which must retry them itself without moving money twice.
            "STRIPE_MAX_NETWORK_RETRIES": "0",
            "STRIPE_API_TIMEOUT": "10",
        }
    )
    os.environ.pop("STRIPE_SECRET_KEY", None)
    sys.path.insert(0, str(BASE_DIR))
    stop = threading.Event()
    deliveries = Deliveries(random.Random(args.seed + 1), args.max_deliveries)
    relay = Relay(deliveries)
    try:
        import django

        django.setup()
        import logging

        import stripe
        from django.core.management import call_command
        from django.db import connection

        from payments.models import ConnectedAccount, WebhookEvent
        from payments.webhooks import webhook_events_replay_failed

        logging.disable(logging.CRITICAL)  # expected failures (injected faults) log tracebacks
        warnings.filterwarnings("ignore", message="No directory at")  # no collected static files here
        stripe.api_base, stripe.api_key = base, API_KEY  # the browser's side: confirming cards
        call_command("migrate", verbosity=0)
        threading.Thread(target=relay.serve_forever, daemon=True).start()
        control(base, "POST", "/_config/webhooks/soak", {"url": relay.url, "secret": WEBHOOK_SECRET})
        workers = [
            threading.Thread(target=deliverer, args=(deliveries, stop), daemon=True)
            for _ in range(args.deliverers)
        ]
        for thread in workers:
            thread.start()

        setup_started = time.monotonic()
        specs, staff_id = seed(args.engagements, rng)
        onboard_engineers(base)
        wait_for(
            lambda: (
                ConnectedAccount.objects.filter(payouts_enabled=True, transfers_active=True).count()
                == ENGINEERS
            ),
            "every engineer onboarded (account.updated)",
        )
        deliveries.wait_drained()
        connection.close()
        setup_s = time.monotonic() - setup_started

        faults = Faults(base, args.fault_rate, random.Random(args.seed + 2))
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=args.threads) as pool:
            outcomes = list(pool.map(lambda spec: run_engagement(spec, staff_id, faults), specs))
        deliveries.wait_drained()
        elapsed = time.monotonic() - started

        # A late, shuffled redelivery of everything; then an operator replays what failed, if anything.
        deliveries.replay_all()
        deliveries.wait_drained()
        failed_events = WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED).count()
        replayed = webhook_events_replay_failed()
        control(base, "DELETE", "/_test/faults")
        faults_injected = sum(control(base, "GET", "/_test/faults")["injected"].values())
        injected_by_mode = control(base, "GET", "/_test/faults")["injected"]
        result = check(specs)
        unique_events = len(deliveries.events)
        errors = [o.error for o in outcomes if o.error]
        details = {
            "bench": "escrow_soak.details",
            "database": connection.vendor,
            "threads": args.threads,
            "scenarios": dict(Counter(spec.kind for spec in specs)),
            "declined_first": sum(spec.declined_first for spec in specs),
            "setup_s": round(setup_s, 1),
            "seconds": round(elapsed, 1),
            "events": unique_events,
            "deliveries": deliveries.posted,
            "delivery_errors": len(deliveries.errors),
            "events_failed_then_replayed": failed_events,
            "events_still_failed": sum(e.status == WebhookEvent.Status.FAILED for e in replayed),
            "faults_by_mode": injected_by_mode,
            "payout_retries": sum(o.payout_retries for o in outcomes),
            "refund_retries": sum(o.refund_retries for o in outcomes),
            "incomplete": len(errors),
            **result,
        }
        print(json.dumps(details), flush=True)
        for error in errors[:5] + deliveries.errors[:5]:
            print(json.dumps({"bench": "escrow_soak.error", "error": error[:500]}), flush=True)
        print(
            json.dumps(
                {
                    "bench": "escrow_soak",
                    "engagements": args.engagements,
                    "duplicate_deliveries": deliveries.posted - unique_events,
                    "faults_injected": faults_injected,
                    "ledger_drift_cents": result["ledger_drift_cents"],
                    "double_transfers": result["double_transfers"],
                    "value": round(args.engagements / elapsed, 2),
                    "unit": "engagements/s",
                }
            ),
            flush=True,
        )
        healthy = not (
            errors
            or deliveries.errors
            or result["ledger_drift_cents"]
            or result["double_transfers"]
            or result["ledger_violations"]
            or result["wrong_final_state"]
            or result["escrow_left"]
        )
        return 0 if healthy else 1
    finally:
        stop.set()
        relay.shutdown()
        relay.server_close()
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
