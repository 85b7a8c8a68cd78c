"""A notification's e-mail goes out once, and is not lost: it is marked e-mailed only with a send that
succeeded (a failed one is retried with backoff), and a title with a newline no longer drops it."""

import smtplib

import pytest
from celery.exceptions import Retry
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend

from marketplace.models import Notification
from marketplace.services.notifications import notify
from marketplace.tasks import notification_send_email
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db


class RefusingBackend(BaseEmailBackend):
    """The mail server is down (fault injection at the edge of the system)."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


def test_a_failed_send_leaves_the_notification_unsent_and_a_retry_sends_it_once(settings):
    user = ClientFactory(email="maya@example.com")
    settings.EMAIL_BACKEND = "tests.marketplace.test_notification_email.RefusingBackend"
    notification = notify(user=user, kind="x", message="Your milestone was funded.")
    with pytest.raises(Retry, match="SMTPServerDisconnected"):  # the worker would retry it, backing off
        notification_send_email.apply(args=[notification.pk])
    notification.refresh_from_db()
    assert notification.emailed_at is None and mail.outbox == []

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    notification_send_email.apply(args=[notification.pk])
    notification_send_email.apply(args=[notification.pk])  # delivered twice: one e-mail
    notification.refresh_from_db()
    assert notification.emailed_at is not None
    assert [message.to for message in mail.outbox] == [["maya@example.com"]]


def test_a_newline_in_what_it_quotes_does_not_drop_the_email(django_capture_on_commit_callbacks):
    user = ClientFactory(email="maya@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        notification = notify(user=user, kind="x", message='Delivery on "Tune\r\nthe router" is ready.')
    assert Notification.objects.get(pk=notification.pk).emailed_at is not None
    (sent,) = mail.outbox
    assert sent.subject == '[Tunehire] Delivery on "Tune  the router" is ready.'
    assert "Tune\r\nthe router" in sent.body
