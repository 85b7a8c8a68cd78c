"""The only module that talks to Stripe (or to the local Stripe-compatible server).

Every function returns a small frozen dataclass instead of Stripe's objects, so the rest of the code
never depends on the SDK. Every mutating call takes an idempotency key derived from our own ids
(`payout:<id>`, `refund:<id>`, `funding:<milestone>:<attempt>`): the SDK's automatic retries
(`STRIPE_MAX_NETWORK_RETRIES`) resend it unchanged, and so do our own retries, so a request whose
answer was lost is replayed by Stripe instead of executed twice. Stripe's errors become
`PaymentProviderError` (502) with Stripe's message, code and type kept in `details`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import stripe
from django.conf import settings

from core.errors import PaymentProviderError, ValidationError

WEBHOOK_TOLERANCE_S = 300
LIST_PAGE_SIZE = 100


# --- What we read back ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentIntentInfo:
    id: str
    status: str
    amount: int
    currency: str
    created: int
    latest_charge: str | None
    client_secret: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    failure_code: str = ""
    failure_message: str = ""

    @classmethod
    def from_dict(cls, data: dict) -> PaymentIntentInfo:
        charge = data.get("latest_charge")
        error = data.get("last_payment_error") or {}
        return cls(
            id=data["id"],
            status=data.get("status") or "",
            amount=int(data.get("amount") or 0),
            currency=(data.get("currency") or "").lower(),
            created=int(data.get("created") or 0),
            latest_charge=charge.get("id") if isinstance(charge, dict) else charge,
            client_secret=data.get("client_secret"),
            metadata=dict(data.get("metadata") or {}),
            failure_code=error.get("decline_code") or error.get("code") or "",
            failure_message=error.get("message") or "",
        )


@dataclass(frozen=True)
class AccountInfo:
    id: str
    details_submitted: bool
    charges_enabled: bool
    payouts_enabled: bool
    transfers_active: bool
    requirements_due: tuple[str, ...]
    disabled_reason: str

    @classmethod
    def from_dict(cls, data: dict) -> AccountInfo:
        requirements = data.get("requirements") or {}
        capabilities = data.get("capabilities") or {}
        return cls(
            id=data["id"],
            details_submitted=bool(data.get("details_submitted")),
            charges_enabled=bool(data.get("charges_enabled")),
            payouts_enabled=bool(data.get("payouts_enabled")),
            transfers_active=capabilities.get("transfers") == "active",
            requirements_due=tuple(requirements.get("currently_due") or ()),
            disabled_reason=requirements.get("disabled_reason") or "",
        )


@dataclass(frozen=True)
class TransferInfo:
    id: str
    amount: int
    currency: str
    destination: str
    source_transaction: str | None
    amount_reversed: int
    created: int
    metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> TransferInfo:
        return cls(
            id=data["id"],
            amount=int(data.get("amount") or 0),
            currency=(data.get("currency") or "").lower(),
            destination=data.get("destination") or "",
            source_transaction=data.get("source_transaction"),
            amount_reversed=int(data.get("amount_reversed") or 0),
            created=int(data.get("created") or 0),
            metadata=dict(data.get("metadata") or {}),
        )


@dataclass(frozen=True)
class RefundInfo:
    id: str
    amount: int
    currency: str
    status: str
    charge: str | None
    created: int
    metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> RefundInfo:
        return cls(
            id=data["id"],
            amount=int(data.get("amount") or 0),
            currency=(data.get("currency") or "").lower(),
            status=data.get("status") or "",
            charge=data.get("charge"),
            created=int(data.get("created") or 0),
            metadata=dict(data.get("metadata") or {}),
        )


@dataclass(frozen=True)
class DisputeInfo:
    """A card dispute (chargeback). Read from the event: the object only moves forward in status."""

    id: str
    charge: str
    payment_intent: str | None
    amount: int
    currency: str
    reason: str
    status: str
    created: int = 0

    @classmethod
    def from_dict(cls, data: dict) -> DisputeInfo:
        charge = data.get("charge")
        return cls(
            id=data["id"],
            charge=charge.get("id") if isinstance(charge, dict) else (charge or ""),
            payment_intent=data.get("payment_intent"),
            amount=int(data.get("amount") or 0),
            currency=(data.get("currency") or "").lower(),
            reason=data.get("reason") or "",
            status=data.get("status") or "",
            created=int(data.get("created") or 0),
        )


# --- The client ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _client_for(api_key: str, api_base: str | None, timeout: float, retries: int) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base, "connect": api_base} if api_base else None,
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def _client() -> stripe.StripeClient:
    return _client_for(
        settings.STRIPE_SECRET_KEY,
        settings.STRIPE_LOCAL_URL if settings.STRIPE_USES_LOCAL_SERVER else None,
        settings.STRIPE_API_TIMEOUT,
        settings.STRIPE_MAX_NETWORK_RETRIES,
    )


@contextlib.contextmanager
def _provider_errors(action: str) -> Iterator[None]:
    try:
        yield
    except stripe.StripeError as exc:
        message = exc.user_message or str(exc) or type(exc).__name__
        error = exc.error
        raise PaymentProviderError(
            f"Stripe could not {action}: {message}",
            details={
                "stripe_message": message,
                "stripe_code": exc.code or "",
                "stripe_type": getattr(error, "type", None) or type(exc).__name__,
                "param": getattr(exc, "param", None) or "",
                "http_status": exc.http_status,
                "request_id": exc.request_id or "",
                # The request may have been done although no answer came back: retry with the same key.
                "outcome_unknown": isinstance(exc, stripe.APIConnectionError),
            },
        ) from exc


def _options(idempotency_key: str | None = None) -> dict[str, Any]:
    return {"idempotency_key": idempotency_key} if idempotency_key else {}


def _window(created_gte: datetime, created_lte: datetime) -> dict[str, int]:
    return {"gte": int(created_gte.timestamp()), "lte": int(created_lte.timestamp())}


def _in_window(created: int, created_gte: datetime, created_lte: datetime) -> bool:
    return created_gte.timestamp() <= created <= created_lte.timestamp()


# --- Payment intents (funding) -------------------------------------------------------------------


def payment_intent_create(
    *,
    amount: int,
    currency: str,
    transfer_group: str,
    description: str,
    metadata: dict[str, str],
    idempotency_key: str,
) -> PaymentIntentInfo:
    with _provider_errors("create the payment"):
        intent = _client().v1.payment_intents.create(
            params={
                "amount": amount,
                "currency": currency,
                "payment_method_types": ["card"],
                "transfer_group": transfer_group,
                "description": description,
                "metadata": metadata,
            },
            options=_options(idempotency_key),
        )
    return PaymentIntentInfo.from_dict(intent.to_dict())


def payment_intent_retrieve(payment_intent_id: str) -> PaymentIntentInfo:
    with _provider_errors("read the payment"):
        intent = _client().v1.payment_intents.retrieve(payment_intent_id)
    return PaymentIntentInfo.from_dict(intent.to_dict())


def payment_intent_cancel(payment_intent_id: str) -> PaymentIntentInfo:
    """Cancel an intent nobody has paid yet; Stripe refuses once it succeeded or is processing."""
    with _provider_errors("cancel the payment"):
        intent = _client().v1.payment_intents.cancel(payment_intent_id)
    return PaymentIntentInfo.from_dict(intent.to_dict())


def payment_intents_list(*, created_gte: datetime, created_lte: datetime) -> Iterator[PaymentIntentInfo]:
    params: dict[str, Any] = {"limit": LIST_PAGE_SIZE}
    if not settings.STRIPE_USES_LOCAL_SERVER:  # localstripe's list takes no `created` filter
        params["created"] = _window(created_gte, created_lte)
    with _provider_errors("list payments"):
        for intent in _client().v1.payment_intents.list(params=params).auto_paging_iter():
            info = PaymentIntentInfo.from_dict(intent.to_dict())
            if _in_window(info.created, created_gte, created_lte):
                yield info


# --- Connect accounts (engineer onboarding) ------------------------------------------------------


def account_create(*, email: str, metadata: dict[str, str], idempotency_key: str) -> AccountInfo:
    with _provider_errors("create the payout account"):
        account = _client().v1.accounts.create(
            params={
                "type": "express",
                "email": email,
                "capabilities": {"transfers": {"requested": True}},
                "metadata": metadata,
            },
            options=_options(idempotency_key),
        )
    return AccountInfo.from_dict(account.to_dict())


def account_retrieve(account_id: str) -> AccountInfo:
    with _provider_errors("read the payout account"):
        account = _client().v1.accounts.retrieve(account_id)
    return AccountInfo.from_dict(account.to_dict())


def account_link_create(*, account_id: str, refresh_url: str, return_url: str, idempotency_key: str) -> str:
    """A single-use URL of Stripe's hosted onboarding for the account."""
    with _provider_errors("start onboarding"):
        link = _client().v1.account_links.create(
            params={
                "account": account_id,
                "type": "account_onboarding",
                "refresh_url": refresh_url,
                "return_url": return_url,
            },
            options=_options(idempotency_key),
        )
    return link.url


# --- Transfers (payouts) -------------------------------------------------------------------------


def transfer_create(
    *,
    amount: int,
    currency: str,
    destination: str,
    source_transaction: str,
    description: str,
    metadata: dict[str, str],
    idempotency_key: str,
) -> TransferInfo:
    """Separate charges and transfers: funded by `source_transaction`, whose transfer group it takes."""
    with _provider_errors("send the transfer"):
        transfer = _client().v1.transfers.create(
            params={
                "amount": amount,
                "currency": currency,
                "destination": destination,
                "source_transaction": source_transaction,
                "description": description,
                "metadata": metadata,
            },
            options=_options(idempotency_key),
        )
    return TransferInfo.from_dict(transfer.to_dict())


def transfer_retrieve(transfer_id: str) -> TransferInfo:
    with _provider_errors("read the transfer"):
        transfer = _client().v1.transfers.retrieve(transfer_id)
    return TransferInfo.from_dict(transfer.to_dict())


def transfer_find(*, destination: str, metadata_key: str, metadata_value: str) -> TransferInfo | None:
    """The transfer to `destination` whose metadata names our object, if Stripe has one.

    Idempotency keys expire after 24 hours; a retry looks first, so a late one cannot transfer twice.
    """
    with _provider_errors("look for the transfer"):
        params = {"limit": LIST_PAGE_SIZE, "destination": destination}
        for transfer in _client().v1.transfers.list(params=params).auto_paging_iter():
            info = TransferInfo.from_dict(transfer.to_dict())
            if info.metadata.get(metadata_key) == metadata_value:
                return info
    return None


def transfers_list(*, created_gte: datetime, created_lte: datetime) -> Iterator[TransferInfo]:
    params = {"limit": LIST_PAGE_SIZE, "created": _window(created_gte, created_lte)}
    with _provider_errors("list transfers"):
        for transfer in _client().v1.transfers.list(params=params).auto_paging_iter():
            yield TransferInfo.from_dict(transfer.to_dict())


# --- Refunds ----------------------------------------------------------------------------------------


def refund_create(
    *, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
) -> RefundInfo:
    with _provider_errors("send the refund"):
        refund = _client().v1.refunds.create(
            params={"payment_intent": payment_intent_id, "amount": amount, "metadata": metadata},
            options=_options(idempotency_key),
        )
    return RefundInfo.from_dict(refund.to_dict())


def refund_find(*, payment_intent_id: str, metadata_key: str, metadata_value: str) -> RefundInfo | None:
    """The refund of the payment whose metadata names our object, if Stripe has one (see transfer_find)."""
    with _provider_errors("look for the refund"):
        params = {"limit": LIST_PAGE_SIZE, "payment_intent": payment_intent_id}
        for refund in _client().v1.refunds.list(params=params).auto_paging_iter():
            info = RefundInfo.from_dict(refund.to_dict())
            if info.metadata.get(metadata_key) == metadata_value:
                return info
    return None


def refund_retrieve(refund_id: str) -> RefundInfo:
    with _provider_errors("read the refund"):
        refund = _client().v1.refunds.retrieve(refund_id)
    return RefundInfo.from_dict(refund.to_dict())


def refunds_list(*, created_gte: datetime, created_lte: datetime) -> Iterator[RefundInfo]:
    params: dict[str, Any] = {"limit": LIST_PAGE_SIZE}
    if not settings.STRIPE_USES_LOCAL_SERVER:  # localstripe's list takes no `created` filter
        params["created"] = _window(created_gte, created_lte)
    with _provider_errors("list refunds"):
        for refund in _client().v1.refunds.list(params=params).auto_paging_iter():
            info = RefundInfo.from_dict(refund.to_dict())
            if _in_window(info.created, created_gte, created_lte):
                yield info


def dispute_retrieve(dispute_id: str) -> DisputeInfo:
    with _provider_errors("read the card dispute"):
        dispute = _client().v1.disputes.retrieve(dispute_id)
    return DisputeInfo.from_dict(dispute.to_dict())


def disputes_list(*, created_gte: datetime, created_lte: datetime) -> Iterator[DisputeInfo]:
    params: dict[str, Any] = {"limit": LIST_PAGE_SIZE, "created": _window(created_gte, created_lte)}
    with _provider_errors("list card disputes"):
        for dispute in _client().v1.disputes.list(params=params).auto_paging_iter():
            yield DisputeInfo.from_dict(dispute.to_dict())


# --- Webhooks ---------------------------------------------------------------------------------------


def webhook_event_verify(*, payload: bytes, signature: str | None) -> dict:
    """The event, once its `Stripe-Signature` proves it came from Stripe with our endpoint secret."""
    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(
            text, signature, settings.STRIPE_WEBHOOK_SECRET, WEBHOOK_TOLERANCE_S
        )
    except (UnicodeDecodeError, stripe.SignatureVerificationError) as exc:
        raise ValidationError(
            "Stripe-Signature: the webhook signature does not verify with this endpoint's secret.",
            code="invalid_signature",
            details={"Stripe-Signature": [str(exc)]},
        ) from exc
    try:
        event = json.loads(text)
    except ValueError as exc:
        raise ValidationError("body: the event is not JSON.", code="invalid_event") from exc
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
        or not isinstance((event.get("data") or {}).get("object"), dict)
    ):
        raise ValidationError("body: the event lacks an id, a type or data.object.", code="invalid_event")
    return event


def stripe_js_url() -> str:
    if settings.STRIPE_USES_LOCAL_SERVER:
        return f"{settings.STRIPE_LOCAL_URL.rstrip('/')}/js.stripe.com/v3/"
    return "https://js.stripe.com/v3/"


def local_server_register_webhook(*, name: str, url: str, secret: str) -> None:
    """Ask the local Stripe-compatible server to deliver its signed events to `url`."""
    base = settings.STRIPE_LOCAL_URL.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"STRIPE_LOCAL_URL must be an http(s) URL, not {base!r}")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        f"{base}/_config/webhooks/{name}",
        data=json.dumps({"url": url, "secret": secret}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - scheme checked above
        response.read()
