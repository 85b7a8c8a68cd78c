from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from core.text import single_line
from marketplace.models import Notification
from marketplace.services import conversations as conversation_services
from marketplace.services import reviews as review_services
from marketplace.services.engagements import milestones_auto_approve as _milestones_auto_approve


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(OSError,),  # SMTP errors and lost connections
    retry_backoff=30,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=10,
)
def notification_send_email(self, notification_id: int) -> None:
    """E-mail one notification, once. The row stays locked while the mail goes out and is marked e-mailed
    in the same transaction: a send that fails leaves it unmarked, and the task retries with backoff; a
    second delivery of the task waits on the lock, then finds it sent. The subject is one line (a
    newline in it made Django refuse the whole e-mail)."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update().select_related("user").filter(pk=notification_id).first()
        )
        if notification is None or notification.emailed_at or not notification.user.email:
            return
        link = f"{settings.SITE_URL.rstrip('/')}{notification.url}" if notification.url else settings.SITE_URL
        send_mail(
            subject=f"[Tunehire] {single_line(notification.message)[:70]}",
            message=f"{notification.message}\n\n{link}\n",
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[notification.user.email],
            fail_silently=False,
        )
        notification.emailed_at = timezone.now()
        notification.save(update_fields=["emailed_at"])


@shared_task
def milestones_auto_approve() -> dict[str, int]:
    return _milestones_auto_approve()


@shared_task
def conversations_notify_unread() -> dict[str, int]:
    """Every minute (beat): one notification per party for messages unread a few minutes."""
    return conversation_services.conversations_notify_unread()


@shared_task
def reviews_publish_due() -> dict[str, int]:
    """Hourly (beat): publish the reviews whose window has closed."""
    return review_services.reviews_publish_due()
