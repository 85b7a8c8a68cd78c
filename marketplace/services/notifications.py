from collections.abc import Mapping

from django.db import transaction
from django.utils import timezone

from core.errors import ValidationError
from marketplace.models import Notification, NotificationPreference, User
from marketplace.models.notifications import TOPICS, topic_of


def notify(
    *, user: User, kind: str, message: str, url: str = "", actor: User | None = None
) -> Notification | None:
    """An in-app notification, and an e-mail sent after the surrounding transaction commits, as the
    user's preferences for the kind's topic allow; none for the `actor` whose own action it reports
    (people are not told what they just did). With the in-app channel off, the notification is kept
    already read (the e-mail links to it; the bell does not count it)."""
    from marketplace.tasks import notification_send_email

    if actor is not None and actor.pk == user.pk:
        return None
    preference = NotificationPreference.objects.filter(user=user, topic=topic_of(kind)).first()
    in_app, email = (preference.in_app, preference.email) if preference else (True, True)
    if not in_app and not email:
        return None
    notification = Notification.objects.create(
        user=user, kind=kind, message=message[:300], url=url, read_at=None if in_app else timezone.now()
    )
    if email:
        # robust: a broker hiccup must not turn a committed action into an error; the in-app copy exists.
        transaction.on_commit(lambda: notification_send_email.delay(notification.pk), robust=True)
    return notification


def notify_staff(*, kind: str, message: str, url: str = "", actor: User | None = None) -> None:
    """Tell every active staff member (in the app, and by e-mail after commit, as each prefers)."""
    for user in User.objects.filter(is_staff=True, is_active=True):
        notify(user=user, kind=kind, message=message, url=url, actor=actor)


def notification_preferences_set(*, actor: User, preferences: Mapping[str, Mapping[str, bool]]) -> None:
    """Set the actor's channels per topic ({"payments": {"in_app": True, "email": False}, ...}); topics
    not given keep their setting."""
    unknown = [topic for topic in preferences if topic not in TOPICS]
    if unknown:
        raise ValidationError(
            f"Unknown topic {unknown[0]!r}; the topics are " + ", ".join(TOPICS) + ".",
            details={topic: ["Unknown topic."] for topic in unknown},
        )
    errors = {
        topic: ["in_app and email must be true or false."]
        for topic, channels in preferences.items()
        if not isinstance(channels, Mapping)
        or set(channels) - {"in_app", "email"}
        or not all(isinstance(value, bool) for value in channels.values())
    }
    if errors:
        raise ValidationError(next(iter(errors)) + ": " + next(iter(errors.values()))[0], details=errors)
    with transaction.atomic():
        for topic, channels in preferences.items():
            NotificationPreference.objects.update_or_create(user=actor, topic=topic, defaults=dict(channels))


def notification_mark_read(*, user: User, notification_ids: list[int] | None = None) -> int:
    """Mark the user's notifications read (all of them when no ids are given)."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=notification_ids)
    return unread.update(read_at=timezone.now())
