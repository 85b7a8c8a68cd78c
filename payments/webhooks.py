"""Stripe webhooks: verify, store first, answer, then process through an explicit handler table.

`webhook_receive` (the view calls it) stores the verified event unique on Stripe's id, so a
redelivery is a no-op. `webhook_event_process` (a Celery task calls it) claims the stored event,
runs its handler and records the outcome: processed, ignored (no handler), or failed with the error
and traceback (replay with `manage.py stripe_replay_failed`). Handlers re-read the object from
Stripe or the database and only move state machines forward, so events may come in any order and
any number of times.
"""

import logging
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from payments import stripe_client
from payments.models import Payout, WebhookEvent
from payments.services.accounts import connected_account_sync
from payments.services.disputes import chargeback_record
from payments.services.funding import funding_sync
from payments.services.payouts import payout_record_transfer
from payments.stripe_client import DisputeInfo

logger = logging.getLogger(__name__)


def _payment_intent(event: WebhookEvent) -> str:
    funding = funding_sync(payment_intent_id=event.data_object["id"])
    return f"funding {funding.pk} is {funding.state}" if funding else "not one of our payments"


def _account(event: WebhookEvent) -> str:
    account = connected_account_sync(stripe_account_id=event.account or event.data_object["id"])
    if account is None:
        return "not one of our accounts"
    return f"account of {account.user} synced; payouts {'ready' if account.payouts_ready else 'not ready'}"


def _transfer(event: WebhookEvent) -> str:
    transfer = stripe_client.transfer_retrieve(event.data_object["id"])
    payout_id = transfer.metadata.get("payout", "")
    if not payout_id.isdigit() or not Payout.objects.filter(pk=int(payout_id)).exists():
        return "not one of our payouts"
    payout = payout_record_transfer(payout_id=int(payout_id), transfer=transfer)
    return f"payout {payout.pk} is {payout.state}"


def _charge_dispute(event: WebhookEvent) -> str:
    chargeback = chargeback_record(dispute=DisputeInfo.from_dict(event.data_object))
    return f"chargeback {chargeback.stripe_dispute_id} is {chargeback.status}"


HANDLERS: dict[str, Callable[[WebhookEvent], str]] = {
    "payment_intent.succeeded": _payment_intent,
    "payment_intent.payment_failed": _payment_intent,
    "payment_intent.canceled": _payment_intent,
    "account.updated": _account,
    "transfer.created": _transfer,
    "charge.dispute.created": _charge_dispute,
    "charge.dispute.updated": _charge_dispute,
    "charge.dispute.closed": _charge_dispute,
}


def webhook_receive(*, payload: bytes, signature: str | None) -> tuple[WebhookEvent, bool]:
    """Verify and store the event; returns it and whether it is new. Raises ValidationError (400)."""
    event = stripe_client.webhook_event_verify(payload=payload, signature=signature)
    created = event.get("created")
    fields = {
        "type": event["type"][:100],
        "account": str(event.get("account") or "")[:64],
        "stripe_created": datetime.fromtimestamp(created, tz=UTC) if isinstance(created, int) else None,
        "payload": event,
    }
    try:
        with transaction.atomic():
            return WebhookEvent.objects.create(stripe_id=event["id"], **fields), True
    except IntegrityError:
        return WebhookEvent.objects.get(stripe_id=event["id"]), False


def webhook_event_process(*, event_id: int, stale_after: timedelta | None = None) -> WebhookEvent | None:
    """Claim the event and run its handler. Returns None when another worker has it or it is done.

    `stale_after` also reclaims an event left `processing` that long by a worker that died.
    """
    now = timezone.now()
    claimable = Q(status__in=[WebhookEvent.Status.RECEIVED, WebhookEvent.Status.FAILED])
    if stale_after is not None:
        claimable |= Q(status=WebhookEvent.Status.PROCESSING, processing_since__lt=now - stale_after)
    claimed = WebhookEvent.objects.filter(claimable, pk=event_id).update(
        status=WebhookEvent.Status.PROCESSING, processing_since=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    event = WebhookEvent.objects.get(pk=event_id)
    handler = HANDLERS.get(event.type)
    outcome: dict = {"processing_since": None, "processed_at": timezone.now()}
    if handler is None:
        outcome.update(status=WebhookEvent.Status.IGNORED, result="no handler for this event type")
    else:
        try:
            result = handler(event)
        except Exception as exc:  # recorded on the event for the replay command; never lost
            logger.exception("Stripe event %s (%s) failed", event.stripe_id, event.type)
            outcome.update(
                status=WebhookEvent.Status.FAILED,
                error=f"{type(exc).__name__}: {exc}"[:5000],
                traceback=traceback.format_exc(),
                processed_at=None,
            )
        else:
            outcome.update(status=WebhookEvent.Status.PROCESSED, result=result[:300], error="", traceback="")
    WebhookEvent.objects.filter(pk=event_id).update(**outcome)
    event.refresh_from_db()
    return event


def webhook_events_replay_failed(
    *, event_ids: list[str] | None = None, limit: int | None = None
) -> list[WebhookEvent]:
    """Process the failed events again, oldest first; returns them as they ended."""
    failed = WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED).order_by("created_at", "id")
    if event_ids:
        failed = failed.filter(stripe_id__in=event_ids)
    pks = list(failed.values_list("pk", flat=True)[:limit])
    return [event for pk in pks if (event := webhook_event_process(event_id=pk)) is not None]


def webhook_events_resume_stalled(*, older_than: timedelta) -> int:
    """Process events stored but never processed (broker down) or abandoned mid-way (worker lost)."""
    cutoff = timezone.now() - older_than
    stalled = WebhookEvent.objects.filter(
        Q(status=WebhookEvent.Status.RECEIVED, created_at__lt=cutoff)
        | Q(status=WebhookEvent.Status.PROCESSING, processing_since__lt=cutoff)
    ).order_by("created_at", "id")
    pks = list(stalled.values_list("pk", flat=True))
    return sum(webhook_event_process(event_id=pk, stale_after=older_than) is not None for pk in pks)
