"""The local Stripe-compatible server used by the tests and by `make run` (DESIGN.md section 6).

Start it with `python -m devtools.localstripe --port 8420` and point the `stripe` client's
`api_base` at it. It is `localstripe` (PyPI) plus what the marketplace's money path needs and
localstripe lacks, with the semantics of Stripe's API reference so the same code runs against Stripe:

- Connect (`connect.py`): Express accounts, account links whose URL is a local onboarding page
  (visiting it completes onboarding and sends `account.updated`), transfers with
  `source_transaction` limits, transfer reversals, a computed `/v1/balance`, and the PaymentIntent
  fields separate charges and transfers use (`transfer_group`, `latest_charge` as an id, confirming
  with a card from the test Stripe.js);
- idempotency (`idempotency.py`) for every POST, localstripe's endpoints included: replay on the
  same key and parameters, `idempotency_error` on different ones. Our retries depend on it;
- fault injection, so tests can prove that a transfer whose response was lost (5xx, or the
  connection dropped after Stripe did the work) is retried without moving money twice;
- control endpoints (no API key needed):
    POST   /_config/webhooks/{name}   url, secret[, events]: deliver signed events there (localstripe)
    DELETE /_config/webhooks/{name}   stop delivering there
    POST   /_test/reset               forget all objects, idempotency records, pending faults and
                                      queued webhook deliveries (DELETE /_config/data does the same);
                                      webhook endpoints stay registered
    POST   /_test/faults              {"path_prefix": "/v1/transfers", "mode": "error_500" |
                                      "timeout_after_commit", "count": 1, "method": "POST",
                                      "delay_s": 0}; see `Fault`
    GET    /_test/faults              pending faults and how many were injected, by mode
    DELETE /_test/faults              drop pending faults
    GET    /_test/connect/onboarding/{token}   an account link's `url` (see `connect.onboarding_page`)

State is in memory unless `--data-file` names a file to keep it in across restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from aiohttp import web
from localstripe import resources, server, webhooks
from localstripe.errors import UserError
from localstripe.resources import store

from . import connect, disputes
from .idempotency import idempotency_middleware

FAULT_MODES = ("error_500", "timeout_after_commit")


@dataclass
class Fault:
    """One injected failure, consumed by the next `count` requests matching `method` and `path_prefix`.

    `error_500` answers 500 without executing the request (the client should retry with the same
    idempotency key). `timeout_after_commit` executes it, then waits `delay_s` seconds (set it past
    the client's timeout to simulate a timeout) and drops the connection without answering: the
    client sees a failure although the work was done.
    """

    path_prefix: str
    mode: str
    count: int = 1
    method: str = "POST"
    delay_s: float = 0.0

    def matches(self, request: web.Request) -> bool:
        return request.path.startswith(self.path_prefix) and self.method in ("*", request.method)


pending_faults: list[Fault] = []
injected_faults: Counter[str] = Counter()


def take_fault(request: web.Request) -> Fault | None:
    for fault in pending_faults:
        if fault.matches(request):
            fault.count -= 1
            if fault.count == 0:
                pending_faults.remove(fault)
            injected_faults[fault.mode] += 1
            return fault
    return None


@web.middleware
async def fault_middleware(request: web.Request, handler) -> web.StreamResponse:
    # Outside the idempotency layer: an injected 500 saves nothing under the key, and a dropped
    # connection happens after the result was saved, which is what a retry must then find.
    fault = take_fault(request) if request.path.startswith("/v1/") else None
    if fault is None:
        return await handler(request)
    if fault.mode == "error_500":
        return server.json_response(
            {"error": {"type": "api_error", "message": "An unknown error occurred (injected fault)."}},
            status=500,
        )
    with contextlib.suppress(UserError):
        await handler(request)
    if fault.delay_s:
        await asyncio.sleep(fault.delay_s)
    if request.transport is not None:  # None once a client that timed out has hung up
        request.transport.close()
    return web.Response(status=500)  # never reaches the client: the connection is gone


@web.middleware
async def auth_middleware(request: web.Request, handler) -> web.StreamResponse:
    # Test controls and the onboarding page are reached without an API key, like localstripe's
    # /_config/ endpoints; and Stripe.js confirms a PaymentIntent with the publishable key.
    if request.path.startswith("/_test/") or await connect.is_publishable_confirmation(request):
        return await handler(request)
    return await server.auth_middleware(request, handler)


async def request_data(request: web.Request) -> dict:
    try:
        return await request.json()
    except ValueError:
        return dict(await request.post())


pending_deliveries: set[asyncio.Future] = set()


def schedule_webhook(event: resources.Event) -> None:
    """localstripe's delivery, tracked so that a reset can cancel what the previous test left queued."""
    delivery = asyncio.ensure_future(webhooks._send_webhook(event))
    pending_deliveries.add(delivery)
    delivery.add_done_callback(pending_deliveries.discard)


def reset_state() -> None:
    store.clear()
    pending_faults.clear()
    injected_faults.clear()
    for delivery in list(pending_deliveries):
        delivery.cancel()


async def reset(request: web.Request) -> web.Response:
    reset_state()
    return server.json_response({"reset": True})


async def add_fault(request: web.Request) -> web.Response:
    data = await request_data(request)
    unknown = set(data) - {"path_prefix", "mode", "count", "method", "delay_s"}
    try:
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        fault = Fault(
            path_prefix=str(data["path_prefix"]),
            mode=str(data["mode"]),
            count=int(data.get("count", 1)),
            method=str(data.get("method", "POST")).upper(),
            delay_s=float(data.get("delay_s", 0)),
        )
        if not fault.path_prefix.startswith("/v1/"):
            raise ValueError("path_prefix must start with /v1/")
        if fault.mode not in FAULT_MODES:
            raise ValueError(f"mode must be one of {', '.join(FAULT_MODES)}")
        if fault.count < 1 or fault.delay_s < 0:
            raise ValueError("count must be >= 1 and delay_s >= 0")
    except KeyError as missing:
        raise UserError(400, f"Missing required field: {missing.args[0]}") from None
    except (TypeError, ValueError) as error:
        raise UserError(400, f"Invalid fault: {error}") from None
    pending_faults.append(fault)
    return faults_response()


def faults_response() -> web.Response:
    return server.json_response(
        {"pending": [asdict(fault) for fault in pending_faults], "injected": dict(injected_faults)}
    )


async def list_faults(request: web.Request) -> web.Response:
    return faults_response()


async def clear_faults(request: web.Request) -> web.Response:
    pending_faults.clear()
    return faults_response()


async def remove_webhook(request: web.Request) -> web.Response:
    if webhooks._webhooks.pop(request.match_info["id"], None) is None:
        raise UserError(404, "Not Found")
    return web.Response()


def keep_store_in(data_file: Path | None) -> None:
    """Persist localstripe's store in `data_file`, or nowhere.

    localstripe pickles it to a fixed /tmp path after every write: concurrent servers (parallel
    test sessions, `make run`) would overwrite each other's state, and tests want a fresh one.
    """
    if data_file is None:
        store.dump_to_disk = lambda: None
        return

    def dump_to_disk() -> None:
        partial = data_file.with_suffix(data_file.suffix + ".partial")
        with partial.open("wb") as f:
            pickle.dump(dict(store), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, data_file)

    if data_file.exists():
        with data_file.open("rb") as f:
            dict.update(store, pickle.load(f))  # noqa: S301 - a file this server wrote (dump_to_disk)
    store.dump_to_disk = dump_to_disk


OVERRIDDEN_ROUTES = {
    ("GET", "/v1/balance"),
    ("HEAD", "/v1/balance"),
    ("POST", "/v1/payment_intents/{id}/confirm"),
    ("GET", "/js.stripe.com/v3/"),
    ("HEAD", "/js.stripe.com/v3/"),
    ("DELETE", "/_config/data"),
}


def build_app(data_file: Path | None = None) -> web.Application:
    keep_store_in(data_file)
    resources.schedule_webhook = schedule_webhook
    app = web.Application(
        middlewares=[
            server.error_middleware,
            auth_middleware,
            fault_middleware,
            idempotency_middleware,
            server.save_store_middleware,
        ]
    )
    app.on_response_prepare.append(server.add_cors_headers)
    connect.add_routes(app)
    disputes.add_routes(app)
    for route in server.app.router.routes():
        path = route.resource.canonical
        if (route.method, path) not in OVERRIDDEN_ROUTES:
            app.router.add_route(route.method, path, route.handler)
    app.router.add_delete("/_config/data", reset)
    app.router.add_delete("/_config/webhooks/{id}", remove_webhook)
    app.router.add_post("/_test/reset", reset)
    app.router.add_post("/_test/faults", add_fault)
    app.router.add_get("/_test/faults", list_faults)
    app.router.add_delete("/_test/faults", clear_faults)
    return app
