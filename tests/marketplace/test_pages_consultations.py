"""Pages: consultation threads, messages, decline, proposals and accepting one."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from marketplace.models import Consultation, Engagement, HiringRequest, Message, Proposal
from marketplace.services import conversations as conversation_services
from marketplace.services import requests as request_services
from tests.factories import ClientFactory, EngineerFactory, open_request, proposal_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def consultation():
    hiring_request = open_request()
    return request_services.consultation_invite(
        actor=hiring_request.client, request_id=hiring_request.pk, engineer_id=EngineerFactory().pk
    )


def proposal_data(**overrides):
    due = timezone.localdate() + timedelta(days=10)
    data = {
        "scope": "Audit the data, fine-tune with LoRA, report on a held-out set.",
        "price": "3000",
        "milestones-TOTAL_FORMS": "2",
        "milestones-INITIAL_FORMS": "0",
        "milestones-MIN_NUM_FORMS": "1",
        "milestones-MAX_NUM_FORMS": "20",
        "milestones-0-title": "Data audit",
        "milestones-0-amount": "1000",
        "milestones-0-due_date": due.isoformat(),
        "milestones-1-title": "Adapter and report",
        "milestones-1-amount": "2000",
        "milestones-1-due_date": (due + timedelta(days=14)).isoformat(),
    }
    data.update(overrides)
    return data


def test_both_parties_see_the_thread_and_others_get_404(client, consultation):
    url = reverse("consultation-detail", args=[consultation.pk])
    for user in (consultation.request.client, consultation.engineer):
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == 200
        assert consultation.request.title in response.content.decode()
    for user in (ClientFactory(), EngineerFactory()):
        client.force_login(user)
        assert client.get(url).status_code == 404
        assert (
            client.post(reverse("consultation-message", args=[consultation.pk]), {"body": "hi"}).status_code
            == 404
        )
    assert not Message.objects.exists()


def test_engineer_sees_proposal_form_and_client_does_not(client, consultation):
    client.force_login(consultation.engineer)
    content = client.get(reverse("consultation-detail", args=[consultation.pk])).content.decode()
    assert 'id="proposal-form"' in content
    assert "Decline" in content
    client.force_login(consultation.request.client)
    content = client.get(reverse("consultation-detail", args=[consultation.pk])).content.decode()
    assert 'id="proposal-form"' not in content


def test_post_a_message_plain_and_with_htmx(client, consultation):
    client.force_login(consultation.engineer)
    url = reverse("consultation-message", args=[consultation.pk])
    response = client.post(url, {"body": "Which labels do you use?"})
    assert response.status_code == 302
    response = client.post(url, {"body": "<script>alert(1)</script>"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    content = response.content.decode()
    assert "<html" not in content
    assert 'id="thread"' in content
    assert "Which labels do you use?" in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "<script>alert(1)" not in content
    assert Message.objects.filter(consultation=consultation).count() == 2


def test_empty_message_shows_the_field_error(client, consultation):
    client.force_login(consultation.engineer)
    url = reverse("consultation-message", args=[consultation.pk])
    response = client.post(url, {"body": "   "})
    assert response.status_code == 400
    assert response.context["message_form"].errors["body"] == ["Write a message or attach a file."]
    response = client.post(url, {"body": ""}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "Write a message or attach a file." in response.content.decode()


def test_engineer_declines(client, consultation):
    client.force_login(consultation.request.client)
    assert client.post(reverse("consultation-decline", args=[consultation.pk])).status_code == 403
    client.force_login(consultation.engineer)
    response = client.post(
        reverse("consultation-decline", args=[consultation.pk]), {"reason": "Booked."}, follow=True
    )
    assert b"You declined this consultation." in response.content
    consultation.refresh_from_db()
    assert consultation.state == Consultation.State.DECLINED
    # No more messages on a declined thread; the service's reason is shown.
    response = client.post(reverse("consultation-message", args=[consultation.pk]), {"body": "Wait"})
    assert response.status_code == 409
    assert b"This consultation is declined by engineer; no new messages." in response.content


def test_engineer_sends_a_proposal_with_two_milestones(client, consultation):
    client.force_login(consultation.engineer)
    response = client.post(reverse("proposal-create", args=[consultation.pk]), proposal_data())
    assert response.status_code == 302
    proposal = Proposal.objects.get(consultation=consultation)
    assert proposal.price == 300_000
    assert [(m.title, m.amount) for m in proposal.milestones.all()] == [
        ("Data audit", 100_000),
        ("Adapter and report", 200_000),
    ]
    client.force_login(consultation.request.client)
    content = client.get(reverse("consultation-detail", args=[consultation.pk])).content.decode()
    assert "3,000.00 USD" in content
    assert "Accept proposal and hire" in content


def test_blank_extra_milestone_rows_are_ignored(client, consultation):
    client.force_login(consultation.engineer)
    data = proposal_data(
        **{
            "price": "1000",
            "milestones-TOTAL_FORMS": "3",
            "milestones-1-title": "",
            "milestones-1-amount": "",
            "milestones-1-due_date": "",
        }
    )
    assert client.post(reverse("proposal-create", args=[consultation.pk]), data).status_code == 302
    assert Proposal.objects.get().milestones.count() == 1


@pytest.mark.parametrize(
    ("overrides", "where", "message"),
    [
        ({"price": "3500"}, "group", "The milestones add up to 3,000.00 USD, but the price is 3,500.00 USD."),
        (
            {"milestones-1-due_date": "2001-01-01"},
            ("milestones", 1, "due_date"),
            "The due date is in the past.",
        ),
        ({"milestones-0-amount": "ten"}, ("milestones", 0, "amount"), "Enter an amount such as 2000"),
        ({"milestones-0-amount": "0"}, ("milestones", 0, "amount"), "Enter an amount above zero."),
        ({"milestones-0-title": ""}, ("milestones", 0, "title"), "This field is required."),
        ({"milestones-1-due_date": "soon"}, ("milestones", 1, "due_date"), "Enter a valid date."),
        ({"scope": ""}, ("form", "scope"), "This field is required."),
        ({"price": "1e3"}, ("form", "price"), "Enter an amount such as 2000"),
        (
            {"milestones-TOTAL_FORMS": "1", "price": "1000", "milestones-0-title": ""},
            ("milestones", 0, "title"),
            "required",
        ),
    ],
)
def test_bad_proposal_shows_errors_next_to_fields(client, consultation, overrides, where, message):
    client.force_login(consultation.engineer)
    response = client.post(reverse("proposal-create", args=[consultation.pk]), proposal_data(**overrides))
    assert response.status_code == 400
    form, formset = response.context["proposal_form"], response.context["milestone_formset"]
    if where == "group":
        errors = formset.group_errors()
    elif where[0] == "form":
        errors = form.errors[where[1]]
    else:
        errors = formset.forms[where[1]].errors[where[2]]
    assert any(message in error for error in errors), errors
    assert message.split(".")[0].encode() in response.content
    assert not Proposal.objects.exists()


def test_management_form_tampering_is_a_clean_error(client, consultation):
    client.force_login(consultation.engineer)
    data = proposal_data()
    del data["milestones-TOTAL_FORMS"]
    response = client.post(reverse("proposal-create", args=[consultation.pk]), data)
    assert response.status_code == 400
    assert not Proposal.objects.exists()


def test_only_the_invited_engineer_proposes(client, consultation):
    client.force_login(consultation.request.client)
    assert client.post(reverse("proposal-create", args=[consultation.pk]), proposal_data()).status_code == 403
    client.force_login(EngineerFactory())
    assert client.post(reverse("proposal-create", args=[consultation.pk]), proposal_data()).status_code == 404


def test_client_accepts_a_proposal(client):
    hiring_request = open_request()
    consultation, proposal = proposal_for(hiring_request=hiring_request)
    other, _ = proposal_for(hiring_request=hiring_request)
    client.force_login(ClientFactory())
    assert client.post(reverse("proposal-accept", args=[proposal.pk])).status_code == 404
    client.force_login(consultation.engineer)
    assert client.post(reverse("proposal-accept", args=[proposal.pk])).status_code == 403
    client.force_login(hiring_request.client)
    response = client.post(reverse("proposal-accept", args=[proposal.pk]))
    engagement = Engagement.objects.get(request=hiring_request)
    assert response.status_code == 302
    assert response.url == reverse("engagement-detail", args=[engagement.pk])
    hiring_request.refresh_from_db()
    other.refresh_from_db()
    assert hiring_request.state == HiringRequest.State.HIRED
    assert other.state == Consultation.State.CLOSED
    # Accepting again shows the service's message instead of failing.
    response = client.post(reverse("proposal-accept", args=[proposal.pk]), follow=True)
    assert b"The request is hired; it cannot hire again." in response.content
    content = client.get(reverse("consultation-detail", args=[consultation.pk])).content.decode()
    assert reverse("engagement-detail", args=[engagement.pk]) in content


def test_engineer_withdraws_a_proposal(client):
    consultation, proposal = proposal_for(hiring_request=open_request())
    client.force_login(consultation.engineer)
    response = client.post(reverse("proposal-withdraw", args=[proposal.pk]), follow=True)
    assert b"Proposal withdrawn." in response.content
    proposal.refresh_from_db()
    assert proposal.state == Proposal.State.WITHDRAWN


def _list_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("role", ["client", "engineer"])
def test_consultation_list_query_count_does_not_grow_with_rows(client, role):
    owner, engineer = ClientFactory(), EngineerFactory()

    def add():
        hiring_request = open_request(client=owner)
        consultation = request_services.consultation_invite(
            actor=owner, request_id=hiring_request.pk, engineer_id=engineer.pk, message="Hello"
        )
        conversation_services.message_post(actor=engineer, consultation_id=consultation.pk, body="Hi")

    add()
    client.force_login(owner if role == "client" else engineer)
    one = _list_queries(client, reverse("consultation-list"))
    for _ in range(49):
        add()
    assert _list_queries(client, reverse("consultation-list")) == one


def test_payout_readiness_comes_before_the_proposal(client, consultation):
    from payments.models import ConnectedAccount
    from tests.factories import milestone_plan

    engineer = consultation.engineer
    client.force_login(engineer)
    page = client.get(reverse("consultation-detail", args=[consultation.pk])).content.decode()
    assert 'data-testid="payout-warning"' in page and reverse("payments:payouts") in page
    hiring_request = consultation.request
    request_services.proposal_submit(
        actor=engineer,
        consultation_id=consultation.pk,
        scope="Data audit and a LoRA fine-tune.",
        price=100_000,
        milestones=milestone_plan(100_000),
    )
    client.force_login(hiring_request.client)
    page = client.get(reverse("consultation-detail", args=[consultation.pk])).content.decode()
    assert "Payouts not set up yet" in page
    ConnectedAccount.objects.create(
        user=engineer,
        stripe_account_id="acct_ready",
        details_submitted=True,
        charges_enabled=True,
        payouts_enabled=True,
        transfers_active=True,
    )
    page = client.get(reverse("consultation-detail", args=[consultation.pk])).content.decode()
    assert "Payouts ready" in page
    client.force_login(engineer)
    page = client.get(reverse("consultation-detail", args=[consultation.pk])).content.decode()
    assert 'data-testid="payout-warning"' not in page
