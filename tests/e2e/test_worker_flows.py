"""The marketplace's background work through a real Celery worker and beat, on the real broker."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from marketplace.models import Milestone, Notification
from marketplace.services import engagements as engagement_services
from marketplace.tasks import notification_send_email
from tests.celery_worker import wait_for
from tests.factories import milestone_in_state

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(tmp_path, start_celery_worker):
    """A default-queue worker with embedded beat sweeping every second, e-mailing into files."""
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    settings = {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        "CELERY_BEAT_SCHEDULE": {
            "milestones-auto-approve": {"task": "marketplace.tasks.milestones_auto_approve", "schedule": 1.0}
        },
    }
    return start_celery_worker("default", settings=settings, beat=True), mail_dir


def _mail(mail_dir) -> str:
    return "\n".join(path.read_text(errors="replace") for path in mail_dir.glob("*.log"))


def test_worker_emails_notifications_and_beat_auto_approves(worker):
    process, mail_dir = worker
    milestone = milestone_in_state(Milestone.State.SUBMITTED)
    client = milestone.engagement.client

    # The submission's notification to the client was e-mailed by the worker.
    submitted = Notification.objects.get(user=client, kind="milestone_submit")
    wait_for(
        lambda: Notification.objects.get(pk=submitted.pk).emailed_at,
        timeout=60,
        what=f"the e-mail (log: {process.log()})",
    )
    assert "Review it within 14 days" in _mail(mail_dir)

    # Nobody reviews; once the window has passed, beat's sweep approves it through the worker.
    Milestone.objects.filter(pk=milestone.pk).update(auto_approve_at=timezone.now() - timedelta(seconds=1))
    wait_for(
        lambda: Milestone.objects.get(pk=milestone.pk).state == Milestone.State.APPROVED,
        timeout=60,
        what=f"auto-approval by beat (log: {process.log()})",
    )
    approved = Milestone.objects.get(pk=milestone.pk)
    assert approved.approved_at is not None
    wait_for(lambda: "was approved by Tunehire" in _mail(mail_dir), timeout=60, what="the approval e-mail")
    assert process.alive


def test_a_task_delivered_twice_sends_one_email(worker):
    process, mail_dir = worker
    milestone = milestone_in_state(Milestone.State.FUNDED)
    engagement_services.milestone_start(actor=milestone.engagement.engineer, milestone_id=milestone.pk)
    notification = Notification.objects.get(kind="milestone_start_work")
    for _ in range(3):
        notification_send_email.delay(notification.pk)
    wait_for(lambda: Notification.objects.get(pk=notification.pk).emailed_at, timeout=60, what="the e-mail")
    # Give the duplicates time to run; each must see the claim and send nothing.
    wait_for(lambda: "started work" in _mail(mail_dir), timeout=30, what="the mail file")
    time.sleep(3)
    assert _mail(mail_dir).count("started work on") == 1, process.log()
