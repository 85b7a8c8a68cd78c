"""Celery tasks of the payments app: each takes ids, loads fresh state, and is safe to run twice."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from payments import webhooks
from payments.services import monitoring, payouts, refunds


@shared_task(acks_late=True)
def webhook_event_process(event_id: int) -> str | None:
    event = webhooks.webhook_event_process(event_id=event_id)
    return event.status if event else None


@shared_task(acks_late=True)
def payout_create_for_milestone(milestone_id: int) -> int | None:
    payout = payouts.payout_create_for_milestone(milestone_id=milestone_id)
    return payout.pk if payout else None


@shared_task(acks_late=True)
def refund_send(refund_id: int) -> str:
    return refunds.refund_send(refund_id=refund_id).state


@shared_task
def payments_resume_stalled() -> dict[str, int]:
    """Finish what a lost worker or a broker outage left half-done; every step reuses its idempotency key."""
    older_than = timedelta(minutes=settings.PAYMENTS_RESUME_AFTER_MINUTES)
    return {
        "webhook_events": webhooks.webhook_events_resume_stalled(older_than=older_than),
        "payouts_opened": payouts.payouts_open_missing(),
        "payouts_resent": payouts.payouts_resume_stalled(older_than=older_than),
        "refunds_resent": refunds.refunds_resume_stalled(older_than=older_than),
    }


@shared_task
def holds_alert() -> int:
    return monitoring.holds_alert()


@shared_task
def reconciliation_run() -> int:
    return monitoring.reconciliation_run().pk
