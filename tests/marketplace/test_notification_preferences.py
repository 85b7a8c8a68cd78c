"""Notification preferences: per topic, in the app and by e-mail; the page, the API, and what notify()
then does (nothing with both off; kept read without the in-app channel; no e-mail without e-mail)."""

import pytest
from django.core import mail
from rest_framework.test import APIClient

from marketplace.models import Notification
from marketplace.models.notifications import TOPICS, topic_of
from marketplace.services.notifications import notification_preferences_set, notify
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db(transaction=True)  # e-mails go out on commit


def test_every_kind_the_apps_send_has_a_topic():
    kinds = [
        "message", "consultation_invited", "proposal_received", "milestone_submit", "engagement_completed",
        "cancellation_requested", "acceptance_passed", "funding_failed", "payout_sent", "payouts_enabled",
        "refund_sent", "chargeback_opened", "payments_mismatch", "review_received", "reconciliation_error",
        "escrow_hold_alert", "invite_requested", "invite_request_declined",
    ]  # fmt: skip
    assert {kind: topic_of(kind) for kind in kinds if topic_of(kind) == "other"} == {}


def test_channels_decide_what_notify_sends(mailoutbox):
    user = ClientFactory()
    notification_preferences_set(
        actor=user,
        preferences={
            "payments": {"in_app": True, "email": False},
            "milestones": {"in_app": False, "email": True},
            "reviews": {"in_app": False, "email": False},
        },
    )
    payment = notify(user=user, kind="payout_sent", message="Paid.")
    milestone = notify(user=user, kind="milestone_submit", message="Delivered.")
    review = notify(user=user, kind="review_received", message="Rated.")
    message = notify(user=user, kind="message", message="Hello.")
    assert payment.read_at is None and milestone.read_at is not None and review is None
    assert [m.body for m in mailoutbox if "Delivered." in m.body or "Hello." in m.body]
    assert not [m for m in mailoutbox if "Paid." in m.body]
    assert len(mail.outbox) == 2 and message.read_at is None
    assert Notification.objects.filter(user=user, read_at__isnull=True).count() == 2


def test_unknown_topics_and_channels_are_refused():
    from core.errors import ValidationError

    user = ClientFactory()
    with pytest.raises(ValidationError, match="Unknown topic 'gossip'"):
        notification_preferences_set(actor=user, preferences={"gossip": {"in_app": True, "email": True}})
    with pytest.raises(ValidationError, match="payments: in_app and email must be true or false"):
        notification_preferences_set(actor=user, preferences={"payments": {"in_app": "yes"}})


def test_the_api_and_the_page(client):
    user = ClientFactory()
    api = APIClient()
    api.force_authenticate(user)
    listed = api.get("/api/v1/notifications/preferences/").json()
    # Staff alerts are staff's only.
    assert [row["topic"] for row in listed] == [topic for topic in TOPICS if topic != "staff"]
    assert all(row["in_app"] and row["email"] for row in listed)
    saved = api.put(
        "/api/v1/notifications/preferences/",
        {"preferences": {"payments": {"in_app": True, "email": False}}},
        format="json",
    )
    assert saved.status_code == 200
    assert {row["topic"]: row["email"] for row in saved.json()}["payments"] is False
    bad = api.put(
        "/api/v1/notifications/preferences/", {"preferences": {"gossip": {"in_app": 1}}}, format="json"
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"

    client.force_login(user)
    page = client.get("/notifications/settings/").content.decode()
    assert (
        'name="payments-email"' in page and 'name="payments-in_app" id="payments-in_app" aria-label' in page
    )
    posted = {
        f"{topic}-{channel}": "on" for topic in TOPICS if topic != "staff" for channel in ("in_app", "email")
    }
    del posted["reviews-email"]
    assert client.post("/notifications/settings/", posted).status_code == 302
    rows = {row["topic"]: row for row in api.get("/api/v1/notifications/preferences/").json()}
    assert rows["reviews"]["email"] is False and rows["payments"]["email"] is True
