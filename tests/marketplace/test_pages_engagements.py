"""Pages: engagement detail with per-role milestone actions, deliveries and attachments, the timeline,
and the client's review."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.money import format_money
from marketplace.models import Delivery, Engagement, Milestone, Review
from marketplace.services import engagements as engagement_services
from tests.factories import ClientFactory, EngineerFactory, StaffFactory, engagement, milestone_in_state

pytestmark = pytest.mark.django_db
S = Milestone.State


def action_url(milestone, action):
    return reverse("milestone-action", args=[milestone.pk, action])


def detail_url(milestone):
    return reverse("engagement-detail", args=[milestone.engagement_id])


def actions_for(client, milestone, user) -> set[str]:
    client.force_login(user)
    response = client.get(detail_url(milestone))
    assert response.status_code == 200
    panel = next(p for p in response.context["panels"] if p.milestone.pk == milestone.pk)
    return set(panel.actions)


def test_parties_see_the_engagement_and_others_get_404(client):
    eng = engagement()
    url = reverse("engagement-detail", args=[eng.pk])
    for user in (eng.client, eng.engineer):
        client.force_login(user)
        assert client.get(url).status_code == 200
    milestone = eng.milestones.first()
    for user in (ClientFactory(), EngineerFactory()):
        client.force_login(user)
        assert client.get(url).status_code == 404
        assert client.post(action_url(milestone, "cancel")).status_code == 404
        assert client.post(reverse("engagement-review", args=[eng.pk]), {"rating": 5}).status_code in (
            403,
            404,
        )
    milestone.refresh_from_db()
    assert milestone.state == S.PENDING_FUNDING


@pytest.mark.parametrize(
    ("state", "client_actions", "engineer_actions"),
    [
        (S.PENDING_FUNDING, {"cancel"}, set()),
        (S.FUNDED, {"dispute"}, {"start", "dispute"}),
        (S.IN_PROGRESS, {"dispute"}, {"submit", "dispute"}),
        (S.SUBMITTED, {"approve", "revision", "dispute"}, {"dispute"}),
        (S.APPROVED, set(), set()),
        (S.DISPUTED, set(), set()),
    ],
)
def test_each_role_sees_the_actions_it_may_take_now(client, state, client_actions, engineer_actions):
    milestone = milestone_in_state(state)
    assert actions_for(client, milestone, milestone.engagement.client) == client_actions
    assert actions_for(client, milestone, milestone.engagement.engineer) == engineer_actions


def test_pending_funding_says_awaiting_funding(client):
    milestone = milestone_in_state(S.PENDING_FUNDING)
    client.force_login(milestone.engagement.client)
    content = client.get(detail_url(milestone)).content.decode()
    assert "Awaiting funding." in content
    assert "Cancel milestone" in content
    assert "Approve delivery" not in content


def test_engineer_starts_and_submits_with_an_attachment(client):
    milestone = milestone_in_state(S.FUNDED)
    engineer, owner = milestone.engagement.engineer, milestone.engagement.client
    client.force_login(engineer)
    response = client.post(action_url(milestone, "start"))
    assert response.status_code == 302
    assert response.url == detail_url(milestone) + f"#milestone-{milestone.pk}"
    prefix = f"m{milestone.pk}"
    upload = SimpleUploadedFile("eval report.md", b"# Eval\naccuracy 0.98\n", content_type="text/markdown")
    # What an ML engineer delivers: configs, weights and data files are accepted as they are.
    weights = SimpleUploadedFile("adapter_model.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    config = SimpleUploadedFile("train.yaml", b"lora_r: 16\n")
    data = SimpleUploadedFile("eval.parquet", b"PAR1....PAR1")
    response = client.post(
        action_url(milestone, "submit"),
        {
            f"{prefix}-message": "Adapter and report.",
            f"{prefix}-links": "https://example.com/model\n\nhttps://example.com/report",
            f"{prefix}-attachments": [upload, weights, config, data],
        },
    )
    assert response.status_code == 302
    milestone.refresh_from_db()
    assert milestone.state == S.SUBMITTED
    delivery = Delivery.objects.get(milestone=milestone)
    assert delivery.links == ["https://example.com/model", "https://example.com/report"]
    names = sorted(delivery.attachments.values_list("original_name", flat=True))
    assert names == ["adapter_model.safetensors", "eval.parquet", "eval_report.md", "train.yaml"]
    attachment = delivery.attachments.get(original_name="eval_report.md")

    client.force_login(owner)
    content = client.get(detail_url(milestone)).content.decode()
    download = reverse("attachment-download", args=[attachment.pk])
    assert download in content
    assert "/media/" not in content
    response = client.get(download)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"# Eval\naccuracy 0.98\n"
    assert response["Content-Disposition"].startswith("attachment;")
    client.force_login(ClientFactory())
    assert client.get(download).status_code == 404
    client.logout()
    assert client.get(download).status_code == 302


@pytest.mark.parametrize(
    ("files", "message", "field", "error"),
    [
        ([("run.exe", b"MZ")], "Done", "attachments", "run.exe: file type .exe is not allowed."),
        ([("empty.txt", b"")], "Done", "attachments", "The submitted file is empty."),
        ([], "", "message", "This field is required."),
    ],
)
def test_bad_delivery_shows_the_field_error(client, files, message, field, error):
    milestone = milestone_in_state(S.IN_PROGRESS)
    client.force_login(milestone.engagement.engineer)
    prefix = f"m{milestone.pk}"
    data = {f"{prefix}-message": message, f"{prefix}-links": ""}
    if files:
        data[f"{prefix}-attachments"] = [SimpleUploadedFile(name, content) for name, content in files]
    response = client.post(action_url(milestone, "submit"), data)
    assert response.status_code == 400
    panel = next(p for p in response.context["panels"] if p.milestone.pk == milestone.pk)
    assert error in panel.actions["submit"].errors[field]
    assert error.encode() in response.content
    milestone.refresh_from_db()
    assert milestone.state == S.IN_PROGRESS


def test_bad_link_names_the_field(client):
    milestone = milestone_in_state(S.IN_PROGRESS)
    client.force_login(milestone.engagement.engineer)
    prefix = f"m{milestone.pk}"
    response = client.post(
        action_url(milestone, "submit"),
        {f"{prefix}-message": "Done", f"{prefix}-links": "javascript:alert(1)"},
    )
    assert response.status_code == 400
    assert b"Enter an http or https URL." in response.content
    assert b"Link 1: &#x27;javascript:alert(1)&#x27; is not an http(s) URL." in response.content


def test_attachment_limits_come_from_settings(client, settings):
    settings.ATTACHMENT_MAX_BYTES = 10
    milestone = milestone_in_state(S.IN_PROGRESS)
    client.force_login(milestone.engagement.engineer)
    prefix = f"m{milestone.pk}"
    response = client.post(
        action_url(milestone, "submit"),
        {f"{prefix}-message": "Done", f"{prefix}-attachments": [SimpleUploadedFile("big.txt", b"x" * 11)]},
    )
    assert response.status_code == 400
    assert b"big.txt: larger than" in response.content


def test_client_approves(client):
    milestone = milestone_in_state(S.SUBMITTED)
    client.force_login(milestone.engagement.client)
    page = client.get(detail_url(milestone)).content.decode()
    amount = format_money(milestone.amount, milestone.currency)
    engineer = milestone.engagement.engineer.display_name
    assert f"<strong>Release {amount} to {engineer}?</strong>" in page  # a confirm step names the money
    assert f'type="submit">Release {amount}</button>' in page
    response = client.post(action_url(milestone, "approve"), {f"m{milestone.pk}-note": ""}, follow=True)
    assert b"Milestone approved." in response.content
    milestone.refresh_from_db()
    assert milestone.state == S.APPROVED
    # Approving again: the service's 409 message on the page, no 500.
    response = client.post(action_url(milestone, "approve"))
    assert response.status_code == 409
    assert b"Cannot approve: the milestone is approved." in response.content


def test_revision_needs_a_comment(client):
    milestone = milestone_in_state(S.SUBMITTED)
    client.force_login(milestone.engagement.client)
    prefix = f"m{milestone.pk}"
    response = client.post(action_url(milestone, "revision"), {f"{prefix}-comment": ""})
    assert response.status_code == 400
    panel = next(p for p in response.context["panels"] if p.milestone.pk == milestone.pk)
    assert panel.actions["revision"].errors["comment"] == ["This field is required."]
    assert b'<details class="popover" open>' in response.content
    client.post(action_url(milestone, "revision"), {f"{prefix}-comment": "Add the confusion matrix."})
    milestone.refresh_from_db()
    assert milestone.state == S.IN_PROGRESS
    assert b"Add the confusion matrix." in client.get(detail_url(milestone)).content


def test_either_party_opens_a_dispute_with_a_reason(client):
    milestone = milestone_in_state(S.IN_PROGRESS)
    client.force_login(milestone.engagement.engineer)
    prefix = f"m{milestone.pk}"
    assert client.post(action_url(milestone, "dispute"), {f"{prefix}-reason": " "}).status_code == 400
    short = client.post(
        action_url(milestone, "dispute"),
        {f"{prefix}-category": "scope_not_met", f"{prefix}-reason": "Changed."},
    )
    assert short.status_code == 400  # at least a sentence; what was typed is kept
    assert "at least a sentence" in short.content.decode() and "Changed." in short.content.decode()
    milestone.refresh_from_db()
    assert milestone.state == S.IN_PROGRESS
    client.post(
        action_url(milestone, "dispute"),
        {f"{prefix}-category": "scope_not_met", f"{prefix}-reason": "The scope changed after we started."},
    )
    milestone.refresh_from_db()
    assert milestone.state == S.DISPUTED
    dispute = milestone.disputes.get()
    assert (dispute.category, dispute.opened_by) == ("scope_not_met", milestone.engagement.engineer)


def test_client_cancels_unfunded_and_engineer_cannot(client):
    milestone = milestone_in_state(S.PENDING_FUNDING)
    client.force_login(milestone.engagement.engineer)
    response = client.post(action_url(milestone, "cancel"))
    assert response.status_code == 403
    assert b"You may not cancel this milestone." in response.content
    client.force_login(milestone.engagement.client)
    client.post(action_url(milestone, "cancel"), {f"m{milestone.pk}-reason": "Scope cut."})
    milestone.refresh_from_db()
    assert milestone.state == S.CANCELLED


def test_client_cannot_start_work(client):
    milestone = milestone_in_state(S.FUNDED)
    client.force_login(milestone.engagement.client)
    response = client.post(action_url(milestone, "start"))
    assert response.status_code == 403
    milestone.refresh_from_db()
    assert milestone.state == S.FUNDED


def test_unknown_action_is_404(client):
    milestone = milestone_in_state(S.FUNDED)
    client.force_login(milestone.engagement.engineer)
    assert client.post(action_url(milestone, "mark_funded")).status_code == 404
    assert client.get(action_url(milestone, "start")).status_code == 405


def test_timeline_lists_every_transition(client):
    milestone = milestone_in_state(S.SUBMITTED)
    engagement_services.milestone_request_revision(
        actor=milestone.engagement.client, milestone_id=milestone.pk, comment="More <b>tests</b>"
    )
    client.force_login(milestone.engagement.engineer)
    response = client.get(detail_url(milestone))
    entries = response.context["timeline"]
    assert [(e["from_label"], e["to_label"]) for e in entries] == [
        ("Awaiting funding", "Funded"),
        ("Funded", "In progress"),
        ("In progress", "Submitted for review"),
        ("Submitted for review", "In progress"),
    ]
    assert entries[0]["actor"] == "Tunehire (automatic)"
    assert entries[1]["actor"] == milestone.engagement.engineer.display_name
    content = response.content.decode()
    assert "More &lt;b&gt;tests&lt;/b&gt;" in content
    assert f"Milestone 1: {milestone.title}" in content


def test_both_parties_review_after_completion_and_see_each_other_once_both_have(client):
    milestone = milestone_in_state(S.APPROVED)
    eng = milestone.engagement
    eng.refresh_from_db()
    assert eng.state == Engagement.State.COMPLETED
    client.force_login(eng.client)
    assert client.get(detail_url(milestone)).context["review_form"] is not None
    response = client.post(reverse("engagement-review", args=[eng.pk]), {"rating": "9", "text": "x"})
    assert response.status_code == 400
    assert "Select a valid choice." in response.context["review_form"].errors["rating"][0]
    assert response.context["review_form"]["text"].value() == "x"
    response = client.post(
        reverse("engagement-review", args=[eng.pk]), {"rating": "4", "text": "Solid <work>"}
    )
    assert response.status_code == 302
    review = Review.objects.get(engagement=eng)
    assert (review.rating, review.text, review.is_published) == (4, "Solid <work>", False)
    content = client.get(detail_url(milestone)).content.decode()
    assert "Solid &lt;work&gt;" in content and "Not published yet" in content
    profile = client.get(reverse("engineer-detail", args=[eng.engineer.username])).content.decode()
    assert "Solid &lt;work&gt;" not in profile

    client.force_login(eng.engineer)
    page = client.get(detail_url(milestone))
    assert page.context["review_form"] is not None and page.context["other_review"] is None
    assert "Solid &lt;work&gt;" not in page.content.decode()
    response = client.post(
        reverse("engagement-review", args=[eng.pk]), {"rating": "5", "text": "Clear brief."}
    )
    assert response.status_code == 302
    assert "Solid &lt;work&gt;" in client.get(detail_url(milestone)).content.decode()
    profile = client.get(reverse("engineer-detail", args=[eng.engineer.username])).content.decode()
    assert "Solid &lt;work&gt;" in profile

    client.force_login(eng.client)
    response = client.post(
        reverse("engagement-review", args=[eng.pk]), {"rating": "5", "text": "Even better."}
    )
    assert response.status_code == 302  # an edit, within the window
    assert Review.objects.get(engagement=eng).rating == 5
    client.force_login(StaffFactory())
    assert client.post(reverse("engagement-review", args=[eng.pk]), {"rating": "5"}).status_code == 403


def test_review_not_offered_before_completion(client):
    milestone = milestone_in_state(S.SUBMITTED)
    client.force_login(milestone.engagement.client)
    assert client.get(detail_url(milestone)).context["review_form"] is None
    response = client.post(reverse("engagement-review", args=[milestone.engagement_id]), {"rating": "5"})
    assert response.status_code == 409
    assert b"You can rate the engineer once the engagement is complete." in response.content


def _list_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_engagement_list_query_count_does_not_grow_with_rows(client):
    owner = ClientFactory()
    engagement(client=owner, amounts=(100_000, 50_000, 25_000))
    client.force_login(owner)
    one = _list_queries(client, reverse("engagement-list"))
    for _ in range(49):
        engagement(client=owner, amounts=(100_000, 50_000))
    assert _list_queries(client, reverse("engagement-list")) == one


def test_engagement_detail_query_count_does_not_grow_with_milestones(client):
    small = engagement(amounts=(100_000,))
    large = engagement(amounts=tuple([10_000] * 12))
    for eng in (small, large):
        for milestone in eng.milestones.all():
            engagement_services.milestone_mark_funded(milestone_id=milestone.pk)
    client.force_login(small.client)
    one = _list_queries(client, reverse("engagement-detail", args=[small.pk]))
    client.force_login(large.client)
    assert _list_queries(client, reverse("engagement-detail", args=[large.pk])) == one
