import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.errors import ValidationError
from payments.tasks import webhook_event_process
from payments.webhooks import webhook_receive

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    """Store first, answer 2xx, process later: Stripe retries only what we failed to store."""
    try:
        event, created = webhook_receive(
            payload=request.body, signature=request.headers.get("Stripe-Signature")
        )
    except ValidationError as exc:
        return JsonResponse({"error": {"code": exc.code, "message": exc.message, "details": {}}}, status=400)
    if created:
        try:
            webhook_event_process.delay(event.pk)
        except Exception:  # the event is stored; payments_resume_stalled processes it
            logger.exception("could not enqueue Stripe event %s", event.stripe_id)
    return JsonResponse({"received": event.stripe_id, "duplicate": not created})
