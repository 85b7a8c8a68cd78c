"""Bad input and wrong states: every error in the one format, naming the field; 409 for wrong state."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from marketplace.models import Consultation, HiringRequest, Milestone, Proposal
from marketplace.services import requests as request_services
from tests.factories import (
    ClientFactory,
    EngineerFactory,
    HiringRequestFactory,
    milestone_in_state,
    open_request,
    proposal_for,
)

pytestmark = pytest.mark.django_db
S = Milestone.State
TODAY = timezone.localdate


def api_as(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def assert_error(response, status: int, code: str, fields: set[str] | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert error["message"]
    if fields is not None:
        assert set(error["details"]) == fields
        # The message names the first offending field, so a client can show it without the details.
        assert any(error["message"].startswith(f"{name}:") for name in fields), error["message"]
    return error


def _request_body(**overrides) -> dict:
    return {
        "title": "Tune a ticket router",
        "description": "Route tickets to teams.",
        "budget_min": 100_000,
        "budget_max": 300_000,
        "deadline": (TODAY() + timedelta(days=30)).isoformat(),
        "skills": ["LoRA"],
        **overrides,
    }


def _milestones(*amounts, start_days: int = 10) -> list[dict]:
    return [
        {
            "title": f"Step {i + 1}",
            "amount": amount,
            "due_date": (TODAY() + timedelta(days=start_days + i)).isoformat(),
        }
        for i, amount in enumerate(amounts)
    ]


@pytest.fixture
def consultation():
    hiring_request = open_request()
    return request_services.consultation_invite(
        actor=hiring_request.client, request_id=hiring_request.pk, engineer_id=EngineerFactory().pk
    )


# --- Requests -------------------------------------------------------------------------------------


def test_request_create_names_every_missing_field():
    response = api_as(ClientFactory()).post("/api/v1/requests/", {}, format="json")
    assert_error(response, 400, "validation_error", {"title", "description", "budget_min", "budget_max"})


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"budget_min": "a lot"}, "budget_min"),
        ({"budget_min": 100.5}, "budget_min"),
        ({"budget_min": 1000.0}, "budget_min"),  # Money is integer minor units, never floats.
        ({"budget_max": True}, "budget_max"),
        ({"budget_max": -5}, "budget_max"),
        ({"deadline": "next friday"}, "deadline"),
        ({"skills": "LoRA"}, "skills"),
        ({"currency": "btc"}, "currency"),
        ({"tried_prompting": "maybe"}, "tried_prompting"),
        ({"title": ["a", "list"]}, "title"),
        ({"title": "x" * 141}, "title"),
        ({"description": "x" * 240_000}, "description"),  # It once buried the request's page.
        ({"data_description": "x" * 20_001}, "data_description"),
        ({"skills": ["x" * 65]}, "skills[0]"),
    ],
)
def test_request_create_rejects_wrong_types(overrides, field):
    client = ClientFactory()
    response = api_as(client).post("/api/v1/requests/", _request_body(**overrides), format="json")
    assert_error(response, 400, "validation_error", {field})
    assert not HiringRequest.objects.filter(client=client).exists()


def test_single_line_fields_lose_their_control_characters_and_long_text_keeps_its_lines():
    body = _request_body(
        title="\x00Fine-tune\tan\r\ninvoice\x1b[31m parser ",
        description="Line one.\nLine two.",
        skills=["LoRA\n"],
    )
    response = api_as(ClientFactory()).post("/api/v1/requests/", body, format="json")
    assert response.status_code == 201, response.json()
    created = HiringRequest.objects.get(pk=response.json()["id"])
    assert created.title == "Fine-tune an  invoice[31m parser"
    assert created.description == "Line one.\nLine two."
    assert [skill.name for skill in created.skills.all()] == ["LoRA"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"deadline": (TODAY() - timedelta(days=1)).isoformat()}, "deadline"),
        ({"budget_min": 500_000, "budget_max": 100_000}, "budget_max"),
        ({"budget_min": 0, "budget_max": 0}, "budget_max"),
    ],
)
def test_request_rules_from_the_service_name_the_field(overrides, field):
    response = api_as(ClientFactory()).post("/api/v1/requests/", _request_body(**overrides), format="json")
    assert_error(response, 400, "validation_error", {field})


def test_request_list_rejects_an_unknown_state_filter():
    response = api_as(ClientFactory()).get("/api/v1/requests/?state=paused")
    assert_error(response, 400, "validation_error", {"state"})


def test_an_id_beyond_any_database_integer_is_a_400_naming_the_field():
    response = api_as(ClientFactory()).get(f"/api/v1/consultations/?request={10**30}")
    assert_error(response, 400, "validation_error", {"request"})  # was a 500: OverflowError in the query


def test_malformed_json_is_a_400_in_the_same_format():
    response = api_as(ClientFactory()).post(
        "/api/v1/requests/", data="{not json", content_type="application/json"
    )
    assert_error(response, 400, "parse_error")


def test_partial_update_checks_only_what_is_sent_and_keeps_the_rest():
    hiring_request = open_request()
    api = api_as(hiring_request.client)
    response = api.patch(f"/api/v1/requests/{hiring_request.pk}/", {"budget_max": "lots"}, format="json")
    assert_error(response, 400, "validation_error", {"budget_max"})
    response = api.patch(f"/api/v1/requests/{hiring_request.pk}/", {"budget_max": 900_000}, format="json")
    assert response.status_code == 200
    assert (response.json()["budget_max"], response.json()["title"]) == (900_000, hiring_request.title)


def test_invitation_names_the_engineer_field():
    hiring_request = open_request()
    api = api_as(hiring_request.client)
    url = f"/api/v1/requests/{hiring_request.pk}/invitations/"
    assert_error(api.post(url, {}, format="json"), 400, "validation_error", {"engineer"})
    assert_error(api.post(url, {"engineer": "bob"}, format="json"), 400, "validation_error", {"engineer"})
    # A client is not an engineer; the service says so about the same field.
    other = ClientFactory()
    assert_error(api.post(url, {"engineer": other.pk}, format="json"), 400, "validation_error", {"engineer"})


def test_matches_limit_is_checked():
    hiring_request = open_request()
    response = api_as(hiring_request.client).get(f"/api/v1/requests/{hiring_request.pk}/matches/?limit=0")
    assert_error(response, 400, "validation_error", {"limit"})


# --- Proposals --------------------------------------------------------------------------------------


def _propose(consultation, **overrides):
    body = {
        "scope": "Audit and tune.",
        "price": 300_000,
        "milestones": _milestones(100_000, 200_000),
        **overrides,
    }
    return api_as(consultation.engineer).post(
        f"/api/v1/consultations/{consultation.pk}/proposals/", body, format="json"
    )


def test_proposal_created_with_integer_minor_units(consultation):
    response = _propose(consultation)
    assert response.status_code == 201
    body = response.json()
    assert (body["price"], body["currency"], body["state"]) == (300_000, "usd", "submitted")
    assert [m["amount"] for m in body["milestones"]] == [100_000, 200_000]


def test_proposal_milestone_sum_must_match_the_price(consultation):
    error = assert_error(_propose(consultation, price=250_000), 400, "validation_error", {"milestones"})
    assert "300000" in error["details"]["milestones"][0] and "250000" in error["details"]["milestones"][0]
    assert not Proposal.objects.filter(consultation=consultation).exists()


@pytest.mark.parametrize("amount", [2**63, 2**63 - 1, 100_000_000])
def test_amounts_above_the_largest_charge_name_the_field(consultation, amount):
    """Stripe's largest charge is 99,999,999 minor units; 2**63 was an OverflowError and a 500."""
    milestones = _milestones(100_000, amount)
    error = assert_error(
        _propose(consultation, price=100_000 + amount, milestones=milestones),
        400,
        "validation_error",
        {"price", "milestones[1].amount"},
    )
    assert error["details"]["price"] == ["Enter at most 99,999,999 minor units."]
    assert not Proposal.objects.filter(consultation=consultation).exists()


def test_the_largest_charge_itself_is_accepted(consultation):
    response = _propose(consultation, price=99_999_999, milestones=_milestones(99_999_998, 1))
    assert response.status_code == 201, response.json()


def test_proposal_past_due_date_names_the_milestone(consultation):
    milestones = _milestones(100_000, 200_000)
    milestones[1]["due_date"] = (TODAY() - timedelta(days=1)).isoformat()
    assert_error(
        _propose(consultation, milestones=milestones), 400, "validation_error", {"milestones[1].due_date"}
    )


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        (lambda m: m[0].update(amount="ten"), {"milestones[0].amount"}),
        (lambda m: m[0].update(amount=100_000.5), {"milestones[0].amount"}),
        (lambda m: m[1].update(due_date="soon"), {"milestones[1].due_date"}),
        (lambda m: m[0].pop("title"), {"milestones[0].title"}),
        (lambda m: m[0].update(amount=0), {"milestones[0].amount"}),
        (
            lambda m: (m[0].pop("title"), m[1].update(amount=None)),
            {"milestones[0].title", "milestones[1].amount"},
        ),
    ],
)
def test_proposal_milestone_type_errors_are_named_by_path(consultation, change, fields):
    milestones = _milestones(100_000, 200_000)
    change(milestones)
    assert_error(_propose(consultation, milestones=milestones), 400, "validation_error", fields)


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"price": "300000.00"}, {"price"}),
        ({"milestones": "one"}, {"milestones"}),
        ({"milestones": []}, {"milestones"}),
        ({"milestones": ["one"]}, {"milestones[0]"}),
        ({"scope": ""}, {"scope"}),
        ({"currency": "eur"}, {"currency"}),  # The request is priced in USD.
    ],
)
def test_proposal_top_level_errors(consultation, overrides, fields):
    assert_error(_propose(consultation, **overrides), 400, "validation_error", fields)


# --- Delivery ----------------------------------------------------------------------------------------


def _submit(milestone, data):
    return api_as(milestone.engagement.engineer).post(
        f"/api/v1/milestones/{milestone.pk}/submit/", data, format="multipart"
    )


def test_submit_with_attachments_and_links():
    milestone = milestone_in_state(S.IN_PROGRESS)
    response = _submit(
        milestone,
        {
            "message": "Adapter and report.",
            "links": ["https://example.com/report", "https://example.com/adapter"],
            "attachments": [
                SimpleUploadedFile("report.md", b"# Eval\n0.91", content_type="text/markdown"),
                SimpleUploadedFile("metrics.json", b'{"f1": 0.91}', content_type="application/json"),
            ],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["links"] == ["https://example.com/report", "https://example.com/adapter"]
    assert sorted(a["name"] for a in body["attachments"]) == ["metrics.json", "report.md"]
    milestone.refresh_from_db()
    assert milestone.state == S.SUBMITTED


def test_submit_accepts_bracketed_list_names():
    milestone = milestone_in_state(S.IN_PROGRESS)
    response = _submit(
        milestone,
        {
            "message": "Done.",
            "links[]": ["https://example.com/a"],
            "attachments[]": [SimpleUploadedFile("a.txt", b"a")],
        },
    )
    assert response.status_code == 201, response.content
    assert (len(response.json()["links"]), len(response.json()["attachments"])) == (1, 1)


def test_submit_rejects_an_oversized_attachment(settings):
    settings.ATTACHMENT_MAX_BYTES = 16
    milestone = milestone_in_state(S.IN_PROGRESS)
    response = _submit(
        milestone, {"message": "Big file.", "attachments": [SimpleUploadedFile("weights.zip", b"x" * 17)]}
    )
    error = assert_error(response, 400, "validation_error", {"attachments"})
    assert "weights.zip" in error["details"]["attachments"][0]
    milestone.refresh_from_db()
    assert (milestone.state, milestone.deliveries.count()) == (S.IN_PROGRESS, 0)


def test_submit_rejects_a_disallowed_file_type():
    milestone = milestone_in_state(S.IN_PROGRESS)
    response = _submit(
        milestone, {"message": "Run this.", "attachments": [SimpleUploadedFile("setup.exe", b"MZ")]}
    )
    error = assert_error(response, 400, "validation_error", {"attachments"})
    assert ".exe" in error["details"]["attachments"][0]
    milestone.refresh_from_db()
    assert milestone.state == S.IN_PROGRESS


def test_submit_rejects_too_many_files(settings):
    settings.ATTACHMENT_MAX_FILES = 1
    milestone = milestone_in_state(S.IN_PROGRESS)
    files = [SimpleUploadedFile("a.txt", b"a"), SimpleUploadedFile("b.txt", b"b")]
    assert_error(
        _submit(milestone, {"message": "Two.", "attachments": files}),
        400,
        "validation_error",
        {"attachments"},
    )


def test_submit_names_the_bad_link_and_the_missing_message():
    milestone = milestone_in_state(S.IN_PROGRESS)
    response = _submit(
        milestone, {"message": "See link.", "links": ["https://ok.example.com", "javascript:alert(1)"]}
    )
    assert_error(response, 400, "validation_error", {"links[1]"})
    assert_error(
        _submit(milestone, {"links": ["https://ok.example.com"]}), 400, "validation_error", {"message"}
    )


def test_submit_as_json_is_refused_as_unsupported_media():
    milestone = milestone_in_state(S.IN_PROGRESS)
    response = api_as(milestone.engagement.engineer).post(
        f"/api/v1/milestones/{milestone.pk}/submit/", {"message": "Done."}, format="json"
    )
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("state", "action", "user", "body", "field"),
    [
        (S.SUBMITTED, "request-revision", "client", {"comment": "  "}, "comment"),
        (S.SUBMITTED, "request-revision", "client", {}, "comment"),
        (S.FUNDED, "dispute", "engineer", {"category": "late"}, "reason"),
        (S.FUNDED, "dispute", "engineer", {"category": "late", "reason": "Too late."}, "reason"),
        (
            S.FUNDED,
            "dispute",
            "engineer",
            {"reason": "The client stopped answering two weeks ago."},
            "category",
        ),
    ],
)
def test_milestone_actions_name_missing_notes(state, action, user, body, field):
    milestone = milestone_in_state(state)
    actor = getattr(milestone.engagement, user)
    response = api_as(actor).post(f"/api/v1/milestones/{milestone.pk}/{action}/", body, format="json")
    assert_error(response, 400, "validation_error", {field})
    milestone.refresh_from_db()
    assert milestone.state == state


@pytest.mark.parametrize(
    ("body", "field"),
    [({"rating": 6}, "rating"), ({"rating": "five"}, "rating"), ({"rating": 4.5}, "rating"), ({}, "rating")],
)
def test_review_rating_is_a_whole_number_from_1_to_5(body, field):
    engagement = milestone_in_state(S.APPROVED).engagement
    response = api_as(engagement.client).post(
        f"/api/v1/engagements/{engagement.pk}/review/", body, format="json"
    )
    assert_error(response, 400, "validation_error", {field})


def test_message_body_is_required(consultation):
    response = api_as(consultation.engineer).post(
        f"/api/v1/consultations/{consultation.pk}/messages/", {"body": "   "}, format="json"
    )
    assert_error(response, 400, "validation_error", {"body"})


def test_profile_update_names_bad_fields():
    engineer = EngineerFactory()
    api = api_as(engineer)
    response = api.patch(
        "/api/v1/me/profile/", {"rate_amount": "cheap", "availability": "always"}, format="json"
    )
    assert_error(response, 400, "validation_error", {"rate_amount", "availability"})
    response = api.patch(
        "/api/v1/me/profile/",
        {"headline": "QLoRA for extraction", "skills": ["QLoRA", "Evaluation"]},
        format="json",
    )
    assert response.status_code == 200
    assert (response.json()["headline"], response.json()["skills"]) == (
        "QLoRA for extraction",
        ["Evaluation", "QLoRA"],
    )
    response = api.patch(
        "/api/v1/me/profile/",
        {"time_zone": "Nowhere/City", "portfolio_links": ["not a link"], "languages": ["x"] * 9},
        format="json",
    )
    assert_error(response, 400, "validation_error", {"time_zone", "portfolio_links[0]", "languages"})
    response = api.patch(
        "/api/v1/me/profile/",
        {"time_zone": "Asia/Tokyo", "languages": ["Japanese"], "portfolio_links": ["https://example.com/a"]},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["time_zone"], body["languages"], body["portfolio_links"]) == (
        "Asia/Tokyo",
        ["Japanese"],
        ["https://example.com/a"],
    )
    assert body["track_record"]["completed_engagements"] == 0
    assert body["track_record"]["on_time_rate"] is None


def test_mark_read_ids_must_be_integers():
    response = api_as(ClientFactory()).post("/api/v1/notifications/mark-read/", {"ids": ["x"]}, format="json")
    assert_error(response, 400, "validation_error", {"ids[0]"})
    response = api_as(ClientFactory()).post(
        "/api/v1/notifications/mark-read/", {"ids": [2**63]}, format="json"
    )
    assert_error(response, 400, "validation_error", {"ids[0]"})


# --- Wrong state: 409 -------------------------------------------------------------------------------


def test_publishing_an_open_request_is_409():
    hiring_request = open_request()
    response = api_as(hiring_request.client).post(f"/api/v1/requests/{hiring_request.pk}/publish/")
    error = assert_error(response, 409, "invalid_state")
    assert error["details"]["state"] == "open"


def test_editing_a_withdrawn_request_is_409():
    hiring_request = open_request()
    request_services.request_withdraw(actor=hiring_request.client, request_id=hiring_request.pk)
    response = api_as(hiring_request.client).patch(
        f"/api/v1/requests/{hiring_request.pk}/", {"title": "Again"}, format="json"
    )
    assert_error(response, 409, "invalid_state")


def test_inviting_to_a_draft_or_twice_is_409():
    draft = HiringRequestFactory()
    engineer = EngineerFactory()
    api = api_as(draft.client)
    response = api.post(f"/api/v1/requests/{draft.pk}/invitations/", {"engineer": engineer.pk}, format="json")
    assert_error(response, 409, "invalid_state")
    hiring_request = open_request(client=draft.client)
    url = f"/api/v1/requests/{hiring_request.pk}/invitations/"
    assert api.post(url, {"engineer": engineer.pk}, format="json").status_code == 201
    assert_error(api.post(url, {"engineer": engineer.pk}, format="json"), 409, "already_invited")


def test_messaging_a_declined_consultation_is_409(consultation):
    request_services.consultation_decline(actor=consultation.engineer, consultation_id=consultation.pk)
    response = api_as(consultation.request.client).post(
        f"/api/v1/consultations/{consultation.pk}/messages/", {"body": "Please reconsider."}, format="json"
    )
    assert_error(response, 409, "invalid_state")


def test_accepting_a_second_proposal_on_a_hired_request_is_409():
    hiring_request = open_request()
    _, first = proposal_for(hiring_request=hiring_request)
    second_consultation, second = proposal_for(hiring_request=hiring_request)
    api = api_as(hiring_request.client)
    assert api.post(f"/api/v1/proposals/{first.pk}/accept/").status_code == 201
    assert_error(api.post(f"/api/v1/proposals/{second.pk}/accept/"), 409, "invalid_state")
    second_consultation.refresh_from_db()
    assert second_consultation.state == Consultation.State.CLOSED


def test_withdrawing_a_proposal_twice_is_409():
    consultation, proposal = proposal_for(hiring_request=open_request())
    api = api_as(consultation.engineer)
    assert api.post(f"/api/v1/proposals/{proposal.pk}/withdraw/").status_code == 200
    assert_error(api.post(f"/api/v1/proposals/{proposal.pk}/withdraw/"), 409, "invalid_state")


@pytest.mark.parametrize(
    ("state", "action", "user", "body"),
    [
        (S.PENDING_FUNDING, "start", "engineer", None),
        (S.IN_PROGRESS, "start", "engineer", None),
        (S.PENDING_FUNDING, "approve", "client", {}),
        (S.APPROVED, "approve", "client", {}),
        (S.IN_PROGRESS, "request-revision", "client", {"comment": "More."}),
        (
            S.PENDING_FUNDING,
            "dispute",
            "client",
            {"category": "late", "reason": "The work is three weeks late now."},
        ),
        (S.FUNDED, "cancel", "client", {}),
        (S.PAID, "dispute", "engineer", {"category": "late", "reason": "The work is three weeks late now."}),
    ],
)
def test_milestone_action_in_the_wrong_state_is_409(state, action, user, body):
    milestone = milestone_in_state(state)
    actor = getattr(milestone.engagement, user)
    response = api_as(actor).post(f"/api/v1/milestones/{milestone.pk}/{action}/", body, format="json")
    error = assert_error(response, 409, "invalid_state")
    assert error["details"]["state"] == state
    milestone.refresh_from_db()
    assert milestone.state == state


def test_submitting_a_funded_milestone_is_409_and_stores_nothing():
    milestone = milestone_in_state(S.FUNDED)
    response = _submit(milestone, {"message": "Early.", "attachments": [SimpleUploadedFile("a.txt", b"a")]})
    assert_error(response, 409, "invalid_state")
    assert milestone.deliveries.count() == 0


def test_reviewing_an_active_engagement_or_twice_is_409():
    engagement = milestone_in_state(S.FUNDED).engagement
    api = api_as(engagement.client)
    assert_error(
        api.post(f"/api/v1/engagements/{engagement.pk}/review/", {"rating": 4}, format="json"),
        409,
        "invalid_state",
    )
    done = milestone_in_state(S.APPROVED).engagement
    api = api_as(done.client)
    assert api.post(f"/api/v1/engagements/{done.pk}/review/", {"rating": 4}, format="json").status_code == 201
    assert_error(
        api.post(f"/api/v1/engagements/{done.pk}/review/", {"rating": 5}, format="json"),
        409,
        "already_reviewed",
    )


def test_proposing_after_the_request_was_withdrawn_is_409(consultation):
    request_services.request_withdraw(actor=consultation.request.client, request_id=consultation.request_id)
    assert_error(_propose(consultation), 409, "invalid_state")
