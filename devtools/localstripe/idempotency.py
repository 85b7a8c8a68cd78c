"""Stripe's idempotency semantics for every POST to the local server, localstripe's endpoints included.

What Stripe documents, and what our retry logic relies on:

- the first request with an `Idempotency-Key` runs; its status and body are saved;
- the same key with the same parameters replays that response (header `Idempotent-Replayed: true`)
  without running anything again, so a retried transfer can never move money twice;
- the same key with different parameters, or on another endpoint, is refused with a 400
  `idempotency_error`;
- a key that is still executing answers 409, which Stripe's clients retry;
- keys are scoped to the API key (and `Stripe-Account`), so two platforms never collide;
- nothing is saved when the request fails validation (4xx other than a 402 card error): no endpoint
  "began execution", and a corrected retry with the same key must be able to run.

Records live in localstripe's store, so resetting the server's data forgets them as well.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from aiohttp import web
from localstripe import server
from localstripe.errors import UserError
from localstripe.resources import store

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
RECORD_PREFIX = "idempotency:"


@dataclass(frozen=True)
class Record:
    method: str
    path: str
    params: str
    status: int
    body: bytes
    content_type: str


def error_response(status: int, message: str, type: str = "idempotency_error", **extra) -> web.Response:
    return server.json_response({"error": {"type": type, "message": message, **extra}}, status=status)


def canonical_params(data: dict | None) -> str:
    """Order-insensitive form of the request's parameters (form or JSON), for comparison."""
    return json.dumps(data or {}, sort_keys=True, default=str)


def is_saved(status: int) -> bool:
    return status < 400 or status == 402 or status >= 500


async def run(handler, request: web.Request) -> web.Response:
    try:
        return await handler(request)
    except UserError as error:
        return error.to_response()


_in_flight: set[str] = set()


@web.middleware
async def idempotency_middleware(request: web.Request, handler) -> web.StreamResponse:
    key = request.headers.get(HEADER)
    if request.method != "POST" or not key or not request.path.startswith("/v1/"):
        return await handler(request)
    if len(key) > MAX_KEY_LENGTH:
        return error_response(
            400,
            f"Invalid idempotency key: keys must be at most {MAX_KEY_LENGTH} characters long.",
            type="invalid_request_error",
        )

    scope = f"{server.get_api_key(request) or ''}:{request.headers.get('Stripe-Account', '')}"
    record_key = f"{RECORD_PREFIX}{scope}:{key}"
    params = canonical_params(await server.get_post_data(request, remove_auth=False))
    record = store.get(record_key)

    if record is None:
        if record_key in _in_flight:
            return error_response(
                409,
                "There is currently another in-progress request using this Stripe-Account, "
                f"Idempotency-Key ({key}), and request method/url (POST {request.path}). Please try "
                "again later.",
                type="invalid_request_error",
                code="idempotency_key_in_use",
            )
        _in_flight.add(record_key)
        try:
            response = await run(handler, request)
        finally:
            _in_flight.discard(record_key)
        if is_saved(response.status):
            store[record_key] = Record(
                "POST", request.path, params, response.status, response.body, response.content_type
            )
        response.headers[HEADER] = key
        return response

    if record.path != request.path:
        return error_response(
            400,
            "Keys for idempotent requests can only be used for the same endpoint they were first used "
            f"for ('{record.method} {record.path}' vs '{request.method} {request.path}'). Try using a "
            f"key other than '{key}' if you meant to execute a different request.",
        )
    if record.params != params:
        return error_response(
            400,
            "Keys for idempotent requests can only be used with the same parameters they were first "
            f"used with. Try using a key other than '{key}' if you meant to execute a different request.",
        )
    return web.Response(
        status=record.status,
        body=record.body,
        content_type=record.content_type,
        headers={HEADER: key, "Idempotent-Replayed": "true"},
    )
