"""Disputes people can follow: a reason from the fixed list and a description of at least a sentence,
evidence files, staff told at once, the other party's response, both sides kept until staff settle."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from core.errors import InvalidTransitionError, PermissionDeniedError, ValidationError
from marketplace.models import Dispute, DisputeEvidence, Message, Milestone, Notification
from marketplace.services import engagements as services
from tests.factories import EngineerFactory, StaffFactory, milestone_in_state

pytestmark = pytest.mark.django_db
S = Milestone.State


def evidence(name: str = "chat-log.txt", content: bytes = b"14:02 no reply\n") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/plain")


def open_dispute(milestone, **overrides):
    arguments = {
        "actor": milestone.engagement.client,
        "milestone_id": milestone.pk,
        "category": "below_target",
        "reason": "The F1 on the held-out tickets is 0.71, the proposal promised 0.85.",
        "files": [evidence()],
    }
    return services.milestone_open_dispute(**(arguments | overrides))


def test_opening_keeps_the_reason_the_words_and_the_evidence_and_tells_staff_at_once():
    staff = StaffFactory()
    milestone = milestone_in_state(S.FUNDED)
    open_dispute(milestone)
    milestone.refresh_from_db()
    assert milestone.state == S.DISPUTED
    dispute = milestone.disputes.get()
    assert (dispute.category, dispute.opened_by, dispute.settled_at) == (
        "below_target",
        milestone.engagement.client,
        None,
    )
    assert dispute.description.startswith("The F1 on the held-out tickets is 0.71")
    assert dispute.evidence.get().original_name == "chat-log.txt"
    told = Notification.objects.get(user=staff, kind="dispute_opened")
    assert "results are below the agreed target" in told.message
    assert told.url.endswith(f"#milestone-{milestone.pk}")
    event = Message.objects.filter(consultation_id=milestone.engagement.consultation_id).last()
    assert event.kind == "event" and "the results are below the agreed target" in event.body


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"category": None}, "category"),
        ({"category": "card_chargeback"}, "category"),  # the platform's, not a party's
        ({"reason": "Bad."}, "reason"),
        ({"reason": "x" * 25}, "reason"),  # one word is not a sentence
        ({"files": [evidence("payload.exe")]}, "evidence"),
        ({"files": [evidence("empty.txt", b"")]}, "evidence"),
    ],
)
def test_a_dispute_without_a_listed_reason_a_sentence_or_with_bad_files_is_refused(overrides, field):
    milestone = milestone_in_state(S.FUNDED)
    with pytest.raises(ValidationError) as refused:
        open_dispute(milestone, **overrides)
    assert set(refused.value.details) == {field}
    milestone.refresh_from_db()
    assert milestone.state == S.FUNDED
    assert not Dispute.objects.exists() and not DisputeEvidence.objects.exists()


def test_the_other_party_responds_with_evidence_and_staff_settle():
    staff = StaffFactory()
    milestone = milestone_in_state(S.FUNDED)
    engagement = milestone.engagement
    open_dispute(milestone)
    statement = services.dispute_respond(
        actor=engagement.engineer,
        milestone_id=milestone.pk,
        body="The 0.85 was on the validation split we agreed on; see the report.",
        files=[evidence("report.md", b"# F1 0.86 on validation\n")],
    )
    assert statement.evidence.get().original_name == "report.md"
    assert Notification.objects.filter(user=engagement.client, kind="milestone_dispute_statement").exists()
    assert Notification.objects.filter(user=staff, kind="dispute_statement").exists()
    with pytest.raises(PermissionDeniedError):
        services.dispute_respond(actor=staff, milestone_id=milestone.pk, body="Staff do not take sides.")
    with pytest.raises(ValidationError):
        services.dispute_respond(actor=engagement.client, milestone_id=milestone.pk, body="  ")
    services.milestone_resolve_dispute(actor=None, milestone_id=milestone.pk, note="Split 50/50.")
    assert Dispute.objects.get().settled_at is not None
    with pytest.raises(InvalidTransitionError):
        services.dispute_respond(actor=engagement.engineer, milestone_id=milestone.pk, body="One more thing.")
    thread = list(
        Message.objects.filter(consultation_id=engagement.consultation_id, kind="event").values_list(
            "body", flat=True
        )
    )
    assert [line.split("\n")[0] for line in thread[-3:]] == [
        "Opened a dispute on “Milestone 1”: the results are below the agreed target. Payouts on it are "
        "frozen while staff mediate.",
        "Added to the dispute on “Milestone 1”.",
        "The dispute on “Milestone 1” was settled.",
    ]


def test_the_api_shows_both_sides_and_serves_the_evidence_to_the_parties_and_staff_only():
    milestone = milestone_in_state(S.IN_PROGRESS)
    engagement = milestone.engagement
    client_api, engineer_api = APIClient(), APIClient()
    client_api.force_authenticate(engagement.client)
    engineer_api.force_authenticate(engagement.engineer)
    assert client_api.get(f"/api/v1/milestones/{milestone.pk}/dispute/").status_code == 404
    opened = engineer_api.post(
        f"/api/v1/milestones/{milestone.pk}/dispute/",
        {
            "category": "unresponsive",
            "reason": "The client has not answered for three weeks.",
            "evidence": [evidence()],
        },
        format="multipart",
    )
    assert opened.status_code == 200, opened.json()
    answered = client_api.post(
        f"/api/v1/milestones/{milestone.pk}/dispute/statements/",
        {"body": "I was on leave; the data is now in the bucket."},
        format="json",
    )
    assert answered.status_code == 201
    dispute = client_api.get(f"/api/v1/milestones/{milestone.pk}/dispute/").json()
    assert dispute["category"] == "unresponsive"
    assert dispute["category_label"] == "The other party stopped responding"
    assert dispute["opened_by"]["id"] == engagement.engineer.pk
    [file] = dispute["evidence"]
    assert file["name"] == "chat-log.txt"
    [statement] = dispute["statements"]
    assert (statement["author"]["id"], statement["evidence"]) == (engagement.client.pk, [])
    assert b"".join(client_api.get(file["download_url"]).streaming_content) == b"14:02 no reply\n"
    outsider = APIClient()
    outsider.force_authenticate(EngineerFactory())
    assert outsider.get(file["download_url"]).status_code == 404
    staff = APIClient()
    staff.force_authenticate(StaffFactory())
    assert staff.get(file["download_url"]).status_code == 200


def test_disputes_opened_before_their_records_get_one_from_the_timeline():
    """The data migration: a milestone already disputed gets a record with the opener's words."""
    from importlib import import_module

    from django.apps import apps

    milestone = milestone_in_state(S.FUNDED)
    services.milestone_open_dispute(
        actor=None, milestone_id=milestone.pk, reason="Card chargeback du_1: fraudulent."
    )
    Dispute.objects.all().delete()
    import_module("marketplace.migrations.0006_disputes").disputes_from_timeline(apps, None)
    dispute = Dispute.objects.get()
    assert (dispute.milestone, dispute.category, dispute.opened_by) == (milestone, "other", None)
    assert dispute.description == "Card chargeback du_1: fraudulent."


def test_staff_see_open_disputes_on_their_dashboard_and_the_payout_desk(client):
    staff = StaffFactory()
    milestone = milestone_in_state(S.FUNDED)
    open_dispute(milestone)
    client.force_login(staff)
    dashboard = client.get("/dashboard/").content.decode()
    assert "Disputes to settle" in dashboard and f"#dispute-{milestone.pk}" in dashboard
    assert "The results are below the agreed target" in dashboard
    desk = client.get(reverse("payments:desk")).content.decode()
    assert "The results are below the agreed target" in desk and "1 evidence file" in desk
