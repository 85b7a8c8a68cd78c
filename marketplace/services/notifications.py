from django.db import transaction
from django.utils import timezone

from marketplace.models import Notification, User


def notify(
    *, user: User, kind: str, message: str, url: str = "", actor: User | None = None
) -> Notification | None:
    """An in-app notification, and an e-mail sent after the surrounding transaction commits; none for
    the `actor` whose own action it reports (people are not told what they just did)."""
    from marketplace.tasks import notification_send_email

    if actor is not None and actor.pk == user.pk:
        return None
    notification = Notification.objects.create(user=user, kind=kind, message=message[:300], url=url)
    # robust: a broker hiccup must not turn a committed action into an error; the in-app copy exists.
    transaction.on_commit(lambda: notification_send_email.delay(notification.pk), robust=True)
    return notification


def notification_mark_read(*, user: User, notification_ids: list[int] | None = None) -> int:
    """Mark the user's notifications read (all of them when no ids are given)."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=notification_ids)
    return unread.update(read_at=timezone.now())
