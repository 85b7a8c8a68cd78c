"""Pages: a client's requests (list, draft, edit, publish, withdraw) and the matching panel."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from marketplace.models import Consultation, HiringRequest, Milestone
from marketplace.services import users as user_services
from tests.factories import ClientFactory, EngineerFactory, HiringRequestFactory, engagement, open_request

pytestmark = pytest.mark.django_db


def request_data(**overrides):
    data = {
        "title": "Fine-tune an invoice parser",
        "description": "Extract line items from PDF invoices into JSON.",
        "skills": "LoRA, Evaluation , ,Structured extraction",
        "currency": "usd",
        "budget_min": "2000",
        "budget_max": "5,000.50",
        "deadline": (timezone.localdate() + timedelta(days=45)).isoformat(),
        "data_description": "3k annotated invoices.",
        "tried_prompting": "yes",
        "has_enough_data": "partly",
        "has_success_metric": "yes",
        "lowers_long_term_cost": "no",
        "deployment_ready": "unsure",
    }
    data.update(overrides)
    return data


def test_create_draft_converts_major_units_and_tags(client, client_user):
    client.force_login(client_user)
    assert client.get(reverse("request-create")).status_code == 200
    response = client.post(reverse("request-create"), request_data())
    hiring_request = HiringRequest.objects.get(client=client_user)
    assert response.status_code == 302
    assert response.url == reverse("request-detail", args=[hiring_request.pk])
    assert hiring_request.state == HiringRequest.State.DRAFT
    assert (hiring_request.budget_min, hiring_request.budget_max) == (200_000, 500_050)
    assert sorted(s.name for s in hiring_request.skills.all()) == [
        "Evaluation",
        "LoRA",
        "Structured extraction",
    ]
    assert hiring_request.has_enough_data == "partly"

    page = client.get(response.url).content.decode()
    assert "2,000.00 USD \u2013 5,000.50 USD" in page
    assert hiring_request.readiness_summary.split(" Gaps:")[0] in page
    assert "Is there enough good, representative data?" in page
    assert "This request is a draft" in page


def test_save_and_publish(client, client_user):
    client.force_login(client_user)
    client.post(reverse("request-create"), request_data(publish="1"))
    assert HiringRequest.objects.get(client=client_user).state == HiringRequest.State.OPEN


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"budget_min": "abc"}, "budget_min", "Enter an amount such as 2000 or 2000.55."),
        ({"budget_max": "10.123"}, "budget_max", "Enter an amount such as 2000 or 2000.55."),
        ({"budget_min": "-5"}, "budget_min", "Enter an amount such as 2000 or 2000.55."),
        ({"budget_min": "0"}, "budget_min", "Enter an amount above zero."),
        ({"budget_min": "1e3"}, "budget_min", "Enter an amount such as 2000 or 2000.55."),
        ({"budget_max": "1000000"}, "budget_max", "Enter at most 999,999.99 USD."),
        ({"budget_max": "1000"}, "budget_max", "The maximum budget must not be below the minimum."),
        ({"deadline": "2001-01-01"}, "deadline", "The deadline is in the past."),
        ({"deadline": "next week"}, "deadline", "Enter a valid date."),
        ({"title": ""}, "title", "This field is required."),
        ({"title": "x" * 141}, "title", "Ensure this value has at most 140 characters"),
        ({"description": "x" * 240_000}, "description", "Ensure this value has at most 20000 characters"),
        ({"tried_prompting": "maybe"}, "tried_prompting", "Select a valid choice."),
        ({"currency": "xyz"}, "currency", "Select a valid choice."),
    ],
)
def test_bad_input_shows_the_field_error(client, client_user, overrides, field, message):
    client.force_login(client_user)
    response = client.post(reverse("request-create"), request_data(**overrides))
    assert response.status_code == 400
    assert any(message in error for error in response.context["form"].errors[field])
    assert not HiringRequest.objects.exists()


def test_only_clients_create_requests(client, engineer_user):
    client.force_login(engineer_user)
    assert client.get(reverse("request-create")).status_code == 403
    assert client.post(reverse("request-create"), request_data()).status_code == 403


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("request-list"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_edit_prefills_and_updates(client):
    hiring_request = HiringRequestFactory(budget_min=150_050)
    client.force_login(hiring_request.client)
    response = client.get(reverse("request-edit", args=[hiring_request.pk]))
    assert response.status_code == 200
    assert response.context["form"].initial["budget_min"] == "1500.50"
    response = client.post(
        reverse("request-edit", args=[hiring_request.pk]), request_data(title="Renamed", budget_min="100")
    )
    assert response.status_code == 302
    hiring_request.refresh_from_db()
    assert (hiring_request.title, hiring_request.budget_min) == ("Renamed", 10_000)


def test_other_clients_request_is_404_everywhere(client):
    hiring_request = open_request()
    client.force_login(ClientFactory())
    for name in ("request-detail", "request-edit"):
        assert client.get(reverse(name, args=[hiring_request.pk])).status_code == 404
    for name in ("request-publish", "request-withdraw", "request-invite"):
        assert client.post(reverse(name, args=[hiring_request.pk]), {"engineer": 1}).status_code == 404
    response = client.post(reverse("request-edit", args=[hiring_request.pk]), request_data())
    assert response.status_code == 404
    hiring_request.refresh_from_db()
    assert hiring_request.state == HiringRequest.State.OPEN


def test_hired_request_cannot_be_edited(client):
    eng = engagement()
    client.force_login(eng.client)
    response = client.get(reverse("request-edit", args=[eng.request_id]), follow=True)
    assert b"A hired request can no longer be edited." in response.content
    detail = client.get(reverse("request-detail", args=[eng.request_id])).content.decode()
    assert reverse("engagement-detail", args=[eng.pk]) in detail


def test_publish_and_withdraw(client):
    hiring_request = HiringRequestFactory()
    client.force_login(hiring_request.client)
    response = client.post(reverse("request-publish", args=[hiring_request.pk]), follow=True)
    assert b"Your request is published." in response.content
    hiring_request.refresh_from_db()
    assert hiring_request.state == HiringRequest.State.OPEN
    client.post(reverse("request-withdraw", args=[hiring_request.pk]), {"reason": "Budget cut."})
    hiring_request.refresh_from_db()
    assert hiring_request.state == HiringRequest.State.WITHDRAWN
    # A transition from the wrong state shows the service's message.
    response = client.post(reverse("request-publish", args=[hiring_request.pk]), follow=True)
    assert b"Cannot publish: the request is withdrawn." in response.content


def test_publish_with_past_deadline_shows_the_reason(client):
    hiring_request = HiringRequestFactory(deadline=timezone.localdate() - timedelta(days=1))
    client.force_login(hiring_request.client)
    response = client.post(reverse("request-publish", args=[hiring_request.pk]), follow=True)
    assert b"Deadline: The deadline is in the past." in response.content
    hiring_request.refresh_from_db()
    assert hiring_request.state == HiringRequest.State.DRAFT


def test_matching_panel_ranks_engineers_with_reasons(client):
    hiring_request = open_request(skills=["LoRA", "Evaluation"])
    strong = EngineerFactory(first_name="Ada", last_name="Lovelace")
    user_services.engineer_profile_update(actor=strong, skills=["LoRA", "Evaluation"])
    weak = EngineerFactory(first_name="Grace", last_name="Hopper")
    user_services.engineer_profile_update(actor=weak, skills=["RAG"])
    client.force_login(hiring_request.client)
    response = client.get(reverse("request-detail", args=[hiring_request.pk]))
    matches = response.context["matches"]
    assert [m.profile.user for m in matches[:2]] == [strong, weak]
    content = response.content.decode()
    assert "Has 2 of 2 requested skills: Evaluation, LoRA" in content
    assert "None of the requested skills" in content
    assert content.index("Ada Lovelace") < content.index("Grace Hopper")
    assert "Invite to consult" in content


def test_draft_has_no_matching_panel(client):
    hiring_request = HiringRequestFactory()
    client.force_login(hiring_request.client)
    response = client.get(reverse("request-detail", args=[hiring_request.pk]))
    assert "matches" not in response.context


def test_invite_with_htmx_returns_the_updated_card(client):
    hiring_request = open_request()
    engineer = EngineerFactory()
    client.force_login(hiring_request.client)
    url = reverse("request-invite", args=[hiring_request.pk])
    response = client.post(url, {"engineer": engineer.pk}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    consultation = Consultation.objects.get(request=hiring_request, engineer=engineer)
    content = response.content.decode()
    assert "<html" not in content
    assert "Invited" in content
    assert reverse("consultation-detail", args=[consultation.pk]) in content
    response = client.post(url, {"engineer": engineer.pk}, headers={"HX-Request": "true"})
    assert "is already invited to this request." in response.content.decode()
    assert Consultation.objects.filter(request=hiring_request).count() == 1


def test_invite_without_htmx_redirects_with_a_message(client):
    hiring_request = open_request()
    engineer = EngineerFactory()
    client.force_login(hiring_request.client)
    url = reverse("request-invite", args=[hiring_request.pk])
    response = client.post(url, {"engineer": engineer.pk}, follow=True)
    assert f"{engineer.display_name} is invited to consult.".encode() in response.content
    response = client.post(url, {"engineer": "not-a-number"}, follow=True)
    assert b"Choose an engineer to invite." in response.content
    response = client.post(url, {"engineer": hiring_request.client.pk}, follow=True)
    assert b"Engineer: No such engineer." in response.content


def test_invited_engineer_sees_the_request_without_matches(client):
    hiring_request = open_request()
    engineer = EngineerFactory()
    client.force_login(hiring_request.client)
    client.post(reverse("request-invite", args=[hiring_request.pk]), {"engineer": engineer.pk})
    client.force_login(engineer)
    response = client.get(reverse("request-detail", args=[hiring_request.pk]))
    assert response.status_code == 200
    assert "matches" not in response.context
    assert b"Withdraw" not in response.content
    client.force_login(EngineerFactory())
    assert client.get(reverse("request-detail", args=[hiring_request.pk])).status_code == 404


def test_user_text_is_escaped(client, client_user):
    client.force_login(client_user)
    client.post(
        reverse("request-create"),
        request_data(title="<script>alert('x')</script>", description="<img src=x onerror=alert(1)>"),
    )
    hiring_request = HiringRequest.objects.get()
    for url in (reverse("request-detail", args=[hiring_request.pk]), reverse("request-list")):
        content = client.get(url).content.decode()
        assert "<script>alert(" not in content
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in content
        assert "<img src=x" not in content


def _list_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_request_list_query_count_does_not_grow_with_rows(client, client_user):
    open_request(client=client_user)
    client.force_login(client_user)
    one = _list_queries(client, reverse("request-list"))
    for _ in range(49):
        open_request(client=client_user)
    fifty = _list_queries(client, reverse("request-list"))
    assert one == fifty
    assert _list_queries(client, reverse("request-list") + "?state=open&page=2") == fifty


def test_invited_engineers_see_the_clients_trust_signals(client):
    from marketplace.services import requests as request_services
    from tests.factories import milestone_in_state

    funded = milestone_in_state(Milestone.State.PENDING_FUNDING)
    hiring_request = open_request(client=funded.engagement.client)
    engineer = EngineerFactory()
    request_services.consultation_invite(
        actor=hiring_request.client, request_id=hiring_request.pk, engineer_id=engineer.pk
    )
    client.force_login(engineer)
    page = client.get(reverse("request-detail", args=[hiring_request.pk])).content.decode()
    assert "No payment made on Tunehire yet" in page and "1 past hire (0 completed)" in page
    assert "Member since" in page
    client.force_login(hiring_request.client)
    assert (
        'data-testid="client-trust"'
        not in client.get(reverse("request-detail", args=[hiring_request.pk])).content.decode()
    )
