from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from marketplace.models import Notification
from marketplace.services.engagements import milestones_auto_approve as _milestones_auto_approve


@shared_task(acks_late=True)
def notification_send_email(notification_id: int) -> None:
    """E-mail one notification. Safe to run twice: the row is claimed before sending."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update().select_related("user").filter(pk=notification_id).first()
        )
        if notification is None or notification.emailed_at or not notification.user.email:
            return
        notification.emailed_at = timezone.now()
        notification.save(update_fields=["emailed_at"])
    link = f"{settings.SITE_URL.rstrip('/')}{notification.url}" if notification.url else settings.SITE_URL
    send_mail(
        subject=f"[Tunehire] {notification.message[:70]}",
        message=f"{notification.message}\n\n{link}\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[notification.user.email],
        fail_silently=False,
    )


@shared_task
def milestones_auto_approve() -> dict[str, int]:
    return _milestones_auto_approve()
