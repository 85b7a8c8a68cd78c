"""The engagement's conversation: one thread from the first invitation to the end of the work, with
attachments, the engagement's events in order, read marks, the inbox, and unread messages told in
one notification per sweep (never one e-mail per message)."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from core.errors import InvalidTransitionError, NotFoundError, PermissionDeniedError, ValidationError
from marketplace import selectors
from marketplace.models import Message, Milestone, Notification, NotificationPreference
from marketplace.services import conversations as services
from marketplace.services import engagements as engagement_services
from tests.factories import EngineerFactory, StaffFactory, engagement

pytestmark = pytest.mark.django_db


def upload(name: str = "eval-report.md", content: bytes = b"# Eval\nF1 0.91\n") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/markdown")


def bodies(consultation_id: int) -> list[tuple[str, str]]:
    return list(
        Message.objects.filter(consultation_id=consultation_id).order_by("id").values_list("kind", "body")
    )


def test_the_consultation_thread_carries_on_after_the_hire_with_the_events_in_order():
    eng = engagement(amounts=(100_000,))
    client, engineer, pk = eng.client, eng.engineer, eng.consultation_id
    services.message_post(actor=client, consultation_id=pk, body="Welcome aboard. Data is in the bucket.")
    milestone = eng.milestones.get()
    engagement_services.milestone_mark_funded(milestone_id=milestone.pk)
    engagement_services.milestone_start(actor=engineer, milestone_id=milestone.pk)
    engagement_services.milestone_submit(
        actor=engineer, milestone_id=milestone.pk, message="Adapter attached."
    )
    engagement_services.milestone_request_revision(
        actor=client, milestone_id=milestone.pk, comment="Add the eval on the held-out tickets."
    )
    services.message_post(actor=engineer, consultation_id=pk, body="Will do, by Friday.")
    engagement_services.milestone_submit(actor=engineer, milestone_id=milestone.pk, message="Eval added.")
    engagement_services.milestone_open_dispute(
        actor=client,
        milestone_id=milestone.pk,
        category="scope_not_met",
        reason="F1 is lower: the delivery does not match the agreed scope.",
    )
    services.message_post(actor=engineer, consultation_id=pk, body="The F1 is on the agreed split.")

    thread = bodies(pk)
    assert [kind for kind, _ in thread] == [
        "message", "event", "event", "event", "message", "event", "event", "message",
    ]  # fmt: skip
    assert thread[0][1] == "Welcome aboard. Data is in the bucket."
    assert thread[1][1] == "Started work on “Milestone 1”."
    assert thread[2][1] == "Delivered “Milestone 1”.\n\nAdapter attached."
    assert thread[3][1] == "Asked for a revision of “Milestone 1”.\n\nAdd the eval on the held-out tickets."
    assert thread[6][1].startswith("Opened a dispute on “Milestone 1”") and thread[6][1].endswith(
        "F1 is lower: the delivery does not match the agreed scope."
    )
    events = Message.objects.filter(consultation_id=pk, kind=Message.Kind.EVENT)
    assert {e.link for e in events} == {f"/engagements/{eng.pk}/#milestone-{milestone.pk}"}
    assert list(events.values_list("author_id", flat=True)) == [
        engineer.pk,
        engineer.pk,
        client.pk,
        engineer.pk,
        client.pk,
    ]


def test_the_conversation_closes_with_the_engagement_and_keeps_its_history():
    eng = engagement(amounts=(100_000,))
    milestone = eng.milestones.get()
    engagement_services.milestone_cancel(actor=eng.client, milestone_id=milestone.pk)
    eng.refresh_from_db()
    assert eng.state == "completed"
    with pytest.raises(InvalidTransitionError, match="This engagement is finished"):
        services.message_post(actor=eng.engineer, consultation_id=eng.consultation_id, body="Thanks!")
    assert Message.objects.filter(consultation_id=eng.consultation_id).count() == 0


def test_only_the_parties_write_and_bad_messages_are_refused_naming_the_field():
    eng = engagement(amounts=(100_000,))
    pk = eng.consultation_id
    with pytest.raises(NotFoundError):
        services.message_post(actor=EngineerFactory(), consultation_id=pk, body="Hi")
    with pytest.raises(PermissionDeniedError):
        services.message_post(actor=StaffFactory(), consultation_id=pk, body="Hi")
    with pytest.raises(ValidationError) as empty:
        services.message_post(actor=eng.client, consultation_id=pk, body="  ", files=[])
    assert empty.value.details == {"body": ["Write a message or attach a file."]}
    with pytest.raises(ValidationError) as wrong_type:
        services.message_post(actor=eng.client, consultation_id=pk, body="See", files=[upload("run.exe")])
    assert "run.exe" in wrong_type.value.details["attachments"][0]
    with pytest.raises(ValidationError) as too_long:
        services.message_post(actor=eng.client, consultation_id=pk, body="x" * 10_001)
    assert "body" in too_long.value.details
    assert not Message.objects.filter(consultation_id=pk).exists()  # nothing half-written
    only_a_file = services.message_post(actor=eng.client, consultation_id=pk, body="", files=[upload()])
    assert only_a_file.attachments.get().original_name == "eval-report.md"


def test_read_marks_unread_counts_and_the_inbox():
    first = engagement(amounts=(100_000,))
    client, engineer = first.client, first.engineer
    second = engagement(amounts=(100_000,), client=client)
    services.message_post(actor=engineer, consultation_id=first.consultation_id, body="One")
    services.message_post(actor=engineer, consultation_id=first.consultation_id, body="Two")
    services.message_post(actor=client, consultation_id=second.consultation_id, body="Mine")
    assert selectors.conversation_unread_total(user=client) == 2  # one's own messages are never unread
    assert selectors.conversation_unread_total(user=engineer) == 0
    inbox = list(selectors.conversation_inbox(user=client))
    assert [(c.pk, c.unread, c.last_body) for c in inbox] == [
        (second.consultation_id, 0, "Mine"),
        (first.consultation_id, 2, "Two"),
    ]
    newest = services.conversation_mark_read(actor=client, consultation_id=first.consultation_id)
    assert newest == Message.objects.filter(consultation_id=first.consultation_id).latest("id").pk
    assert selectors.conversation_unread_total(user=client) == 0
    # An event by the other party is unread too; the actor's own is not.
    milestone = first.milestones.get()
    engagement_services.milestone_mark_funded(milestone_id=milestone.pk)
    engagement_services.milestone_start(actor=engineer, milestone_id=milestone.pk)
    assert selectors.conversation_unread_total(user=client) == 1
    assert selectors.conversation_unread_total(user=engineer) == 0


def _age(consultation_id: int, minutes: int) -> None:
    Message.objects.filter(consultation_id=consultation_id).update(
        created_at=timezone.now() - timedelta(minutes=minutes)
    )


def test_unread_messages_are_told_in_one_notification_after_the_delay(
    settings, django_capture_on_commit_callbacks
):
    settings.CONVERSATION_EMAIL_DELAY_MINUTES = 5
    first = engagement(amounts=(100_000,))
    client, engineer = first.client, first.engineer
    other = engagement(amounts=(100_000,), client=client)
    for body in ("Question one", "Question two", "Question three"):
        services.message_post(actor=engineer, consultation_id=first.consultation_id, body=body)
    services.message_post(actor=other.engineer, consultation_id=other.consultation_id, body="Hello")
    mail.outbox.clear()

    assert services.conversations_notify_unread() == {"users_told": 0}  # too recent yet
    _age(first.consultation_id, 6)
    _age(other.consultation_id, 6)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.conversations_notify_unread() == {"users_told": 1}
    told = Notification.objects.get(user=client, kind="messages_unread")
    assert told.message.startswith("4 unread messages: ")
    assert (
        f"3 from {engineer.display_name}" in told.message
        and f"1 from {other.engineer.display_name}" in told.message
    )
    assert told.url == "/messages/"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [client.email]
    assert not Notification.objects.filter(user=engineer, kind="messages_unread").exists()

    assert services.conversations_notify_unread() == {"users_told": 0}  # never told twice
    services.message_post(actor=engineer, consultation_id=first.consultation_id, body="Question four")
    services.conversation_mark_read(actor=client, consultation_id=first.consultation_id)
    _age(first.consultation_id, 6)
    assert services.conversations_notify_unread() == {"users_told": 0}  # read in time: nothing to tell
    assert len(mail.outbox) == 1


def test_the_sweep_makes_as_many_queries_for_many_conversations_as_for_one(
    settings, django_capture_on_commit_callbacks
):
    settings.CONVERSATION_EMAIL_DELAY_MINUTES = 5

    def sweep_queries(conversations: int) -> int:
        """Queries of a sweep that tells one client about `conversations` threads with one engineer."""
        first = engagement(amounts=(100_000,))
        threads = [first] + [
            engagement(amounts=(100_000,), client=first.client, engineer=first.engineer)
            for _ in range(conversations - 1)
        ]
        for thread in threads:
            services.message_post(actor=first.engineer, consultation_id=thread.consultation_id, body="Ping")
            _age(thread.consultation_id, 6)
        with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
            assert services.conversations_notify_unread() == {"users_told": 1}
        told = Notification.objects.get(user=first.client, kind="messages_unread")
        assert told.message.startswith(f"{conversations} unread message")
        for thread in threads:  # out of the next sweep's look-back
            _age(thread.consultation_id, 8 * 24 * 60)
        return len(queries)

    assert sweep_queries(4) == sweep_queries(1)


def test_the_messages_preferences_decide_the_channels(settings, django_capture_on_commit_callbacks):
    settings.CONVERSATION_EMAIL_DELAY_MINUTES = 5
    eng = engagement(amounts=(100_000,))
    NotificationPreference.objects.create(user=eng.client, topic="messages", in_app=True, email=False)
    services.message_post(actor=eng.engineer, consultation_id=eng.consultation_id, body="Ping")
    _age(eng.consultation_id, 10)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.conversations_notify_unread()
    notification = Notification.objects.get(user=eng.client, kind="messages_unread")
    assert notification.url == f"/consultations/{eng.consultation_id}/#thread"
    assert mail.outbox == []


class TestApi:
    def _api(self, user) -> APIClient:
        api = APIClient()
        api.force_authenticate(user)
        return api

    def test_post_with_a_file_read_it_back_download_it_and_mark_read(self):
        eng = engagement(amounts=(100_000,))
        pk = eng.consultation_id
        engineer_api, client_api = self._api(eng.engineer), self._api(eng.client)
        response = engineer_api.post(
            f"/api/v1/consultations/{pk}/messages/",
            {"body": "Report attached: https://example.com/run/42", "attachments": [upload()]},
            format="multipart",
        )
        assert response.status_code == 201, response.json()
        body = response.json()
        assert body["kind"] == "message" and body["author"]["id"] == eng.engineer.pk
        [attachment] = body["attachments"]
        assert attachment["name"] == "eval-report.md" and attachment["size"] == 15

        inbox = client_api.get("/api/v1/conversations/").json()
        assert inbox["count"] == 1
        row = inbox["results"][0]
        assert (row["id"], row["unread"], row["last_message"]) == (
            pk,
            1,
            "Report attached: https://example.com/run/42",
        )
        download = client_api.get(attachment["download_url"])
        assert download.status_code == 200
        assert b"".join(download.streaming_content) == b"# Eval\nF1 0.91\n"
        assert self._api(EngineerFactory()).get(attachment["download_url"]).status_code == 404

        read = client_api.post(f"/api/v1/consultations/{pk}/read/")
        assert read.status_code == 200 and read.json() == {"read_through": body["id"], "unread": 0}
        assert client_api.get("/api/v1/conversations/").json()["results"][0]["unread"] == 0

    def test_refusals_name_the_field_and_the_reason(self):
        eng = engagement(amounts=(100_000,))
        pk = eng.consultation_id
        api = self._api(eng.client)
        empty = api.post(f"/api/v1/consultations/{pk}/messages/", {"body": ""}, format="json")
        assert empty.status_code == 400 and set(empty.json()["error"]["details"]) == {"body"}
        wrong = api.post(
            f"/api/v1/consultations/{pk}/messages/",
            {"body": "x", "attachments": [upload("weights.exe")]},
            format="multipart",
        )
        assert wrong.status_code == 400
        assert wrong.json()["error"]["message"].startswith("attachments: 'weights.exe'")
        assert self._api(EngineerFactory()).post(f"/api/v1/consultations/{pk}/read/").status_code == 404
        engagement_services.milestone_cancel(actor=eng.client, milestone_id=eng.milestones.get().pk)
        closed = api.post(f"/api/v1/consultations/{pk}/messages/", {"body": "Thanks"}, format="json")
        assert closed.status_code == 409
        events = api.get(f"/api/v1/consultations/{pk}/messages/").json()
        assert events == []  # a cancellation before funding is no conversation event
        assert Milestone.objects.get(engagement=eng).state == "cancelled"
