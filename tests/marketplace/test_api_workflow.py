"""The whole hiring workflow through /api/v1/ with tokens: request -> consult -> propose -> accept ->
(funded by the payments side) -> deliver -> revise -> approve -> review, and what each side sees."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from marketplace.models import READINESS_QUESTIONS
from marketplace.services import engagements as engagement_services
from marketplace.services.users import skills_resolve
from tests.factories import PASSWORD, ClientFactory, EngineerFactory

pytestmark = pytest.mark.django_db


def _login(user) -> APIClient:
    api = APIClient()
    token = api.post("/api/v1/auth/token/", {"username": user.username, "password": PASSWORD}).json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


def _ok(response, status: int = 200) -> dict | list:
    assert response.status_code == status, response.content
    return response.json()


def test_hiring_workflow_end_to_end():
    client, engineer, bystander = ClientFactory(), EngineerFactory(), EngineerFactory()
    engineer.engineer_profile.skills.set(skills_resolve(names=["LoRA", "Evaluation"]))
    as_client, as_engineer, as_bystander = _login(client), _login(engineer), _login(bystander)
    due = timezone.localdate() + timedelta(days=20)

    # The client drafts, edits and publishes a request with its readiness answers.
    draft = _ok(
        as_client.post(
            "/api/v1/requests/",
            {
                "title": "Ticket router",
                "description": "Route support tickets to teams as JSON.",
                "skills": ["LoRA", "Evaluation"],
                "budget_min": 200_000,
                "budget_max": 400_000,
                "deadline": (due + timedelta(days=30)).isoformat(),
                "tried_prompting": "yes",
                "has_enough_data": "partly",
                "has_success_metric": "yes",
                "lowers_long_term_cost": "yes",
                "deployment_ready": "no",
            },
            format="json",
        ),
        201,
    )
    request_id = draft["id"]
    assert (draft["state"], draft["skills"]) == ("draft", ["Evaluation", "LoRA"])
    assert draft["readiness_score"] == 7
    assert [a["field"] for a in draft["readiness"]] == [field for field, _, _ in READINESS_QUESTIONS]
    assert draft["readiness"][4]["advice"] and not draft["readiness"][0]["advice"]
    assert (
        _ok(as_client.patch(f"/api/v1/requests/{request_id}/", {"title": "Ticket router v2"}, format="json"))[
            "title"
        ]
        == "Ticket router v2"
    )
    assert _ok(as_client.post(f"/api/v1/requests/{request_id}/publish/"))["state"] == "open"
    assert [r["id"] for r in _ok(as_client.get("/api/v1/requests/?state=open"))["results"]] == [request_id]
    assert _ok(as_client.get("/api/v1/requests/?state=draft"))["count"] == 0

    # Matching ranks the skilled engineer first, with reasons; the client invites them.
    matches = _ok(as_client.get(f"/api/v1/requests/{request_id}/matches/"))
    assert matches[0]["engineer"]["id"] == engineer.pk
    assert matches[0]["matched_skills"] == ["Evaluation", "LoRA"] and not matches[0]["invited"]
    assert any("2 of 2 requested skills" in reason for reason in matches[0]["reasons"])
    consultation = _ok(
        as_client.post(
            f"/api/v1/requests/{request_id}/invitations/",
            {"engineer": engineer.pk, "message": "Can you help?"},
            format="json",
        ),
        201,
    )
    consultation_id = consultation["id"]
    assert _ok(as_client.get(f"/api/v1/requests/{request_id}/matches/"))[0]["invited"] is True

    # The engineer sees the thread and the request's readiness summary, and proposes.
    assert [c["id"] for c in _ok(as_engineer.get("/api/v1/consultations/"))["results"]] == [consultation_id]
    assert "Gaps:" in _ok(as_engineer.get(f"/api/v1/requests/{request_id}/"))["readiness_summary"]
    _ok(
        as_engineer.post(
            f"/api/v1/consultations/{consultation_id}/messages/", {"body": "Yes, 12k tickets is plenty."}
        ),
        201,
    )
    proposal = _ok(
        as_engineer.post(
            f"/api/v1/consultations/{consultation_id}/proposals/",
            {
                "scope": "Audit, LoRA fine-tune, evaluation report.",
                "price": 300_000,
                "milestones": [
                    {"title": "Data audit", "amount": 100_000, "due_date": due.isoformat()},
                    {
                        "title": "Fine-tune",
                        "amount": 200_000,
                        "due_date": (due + timedelta(days=7)).isoformat(),
                    },
                ],
            },
            format="json",
        ),
        201,
    )
    thread = _ok(as_client.get(f"/api/v1/consultations/{consultation_id}/"))
    assert [m["body"] for m in thread["messages"]] == ["Can you help?", "Yes, 12k tickets is plenty."]
    assert [p["id"] for p in thread["proposals"]] == [proposal["id"]]
    assert _ok(as_bystander.get("/api/v1/consultations/"))["count"] == 0

    # The client accepts: an engagement with the proposal's milestones.
    engagement = _ok(as_client.post(f"/api/v1/proposals/{proposal['id']}/accept/"), 201)
    engagement_id = engagement["id"]
    assert (engagement["state"], engagement["total"], engagement["currency"]) == ("active", 300_000, "usd")
    milestones = engagement["milestones"]
    assert [(m["title"], m["amount"], m["state"]) for m in milestones] == [
        ("Data audit", 100_000, "pending_funding"),
        ("Fine-tune", 200_000, "pending_funding"),
    ]
    first, second = milestones[0]["id"], milestones[1]["id"]
    assert _ok(as_client.get(f"/api/v1/requests/{request_id}/"))["state"] == "hired"

    # Funding is the payments app's; here the service it will call stands in. The second is cancelled.
    engagement_services.milestone_mark_funded(milestone_id=first)
    assert _ok(as_client.post(f"/api/v1/milestones/{second}/cancel/", {"reason": "Out of scope."}))[
        "state"
    ] == ("cancelled")

    # Work, delivery with an attachment, a revision, a second delivery, approval.
    assert _ok(as_engineer.post(f"/api/v1/milestones/{first}/start/"))["state"] == "in_progress"
    delivery = _ok(
        as_engineer.post(
            f"/api/v1/milestones/{first}/submit/",
            {
                "message": "Audit report attached.",
                "links": ["https://example.com/audit"],
                "attachments": [SimpleUploadedFile("audit.md", b"# Audit\nLabels are clean.")],
            },
            format="multipart",
        ),
        201,
    )
    download = as_client.get(delivery["attachments"][0]["download_url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"# Audit\nLabels are clean."
    assert 'attachment; filename="audit.md"' in download["Content-Disposition"]
    assert as_bystander.get(delivery["attachments"][0]["download_url"]).status_code == 404
    revised = _ok(
        as_client.post(f"/api/v1/milestones/{first}/request-revision/", {"comment": "Add label stats."})
    )
    assert (revised["state"], revised["revision_count"]) == ("in_progress", 1)
    assert revised["deliveries"][0]["review"] == "revision_requested"
    _ok(as_engineer.post(f"/api/v1/milestones/{first}/submit/", {"message": "Stats added."}), 201)
    approved = _ok(as_client.post(f"/api/v1/milestones/{first}/approve/", {"note": "Great."}))
    assert approved["state"] == "approved"

    # All milestones settled: the engagement is complete and the client reviews the engineer.
    detail = _ok(as_engineer.get(f"/api/v1/engagements/{engagement_id}/"))
    assert (detail["state"], detail["review"]) == ("completed", None)
    assert [d["message"] for d in detail["milestones"][0]["deliveries"]] == [
        "Stats added.",
        "Audit report attached.",
    ]
    review = _ok(
        as_client.post(f"/api/v1/engagements/{engagement_id}/review/", {"rating": 5, "text": "Clear, fast."}),
        201,
    )
    assert review["rating"] == 5
    assert _ok(as_client.get(f"/api/v1/engagements/{engagement_id}/"))["review"]["text"] == "Clear, fast."
    profile = _ok(as_bystander.get(f"/api/v1/engineers/{engineer.username}/"))
    assert (profile["rating_average"], profile["rating_count"]) == (None, 0)  # until both have rated
    _ok(as_engineer.post(f"/api/v1/engagements/{engagement_id}/review/", {"rating": 5}), 201)
    profile = _ok(as_bystander.get(f"/api/v1/engineers/{engineer.username}/"))
    assert (profile["rating_average"], profile["rating_count"]) == (5.0, 1)
    assert profile["reviews"][0]["text"] == "Clear, fast."

    # The timeline records every transition, oldest first, with who did it.
    timeline = _ok(as_client.get(f"/api/v1/engagements/{engagement_id}/timeline/"))
    steps = [(e["subject"], e["from"], e["to"]) for e in timeline]
    assert steps == [
        ("milestone", "pending_funding", "funded"),
        ("milestone", "pending_funding", "cancelled"),
        ("milestone", "funded", "in_progress"),
        ("milestone", "in_progress", "submitted"),
        ("milestone", "submitted", "in_progress"),
        ("milestone", "in_progress", "submitted"),
        ("milestone", "submitted", "approved"),
        ("engagement", "active", "completed"),
    ]
    assert timeline[0]["actor"] is None  # The payments side acts as the platform.
    assert timeline[4]["actor"]["id"] == client.pk and timeline[4]["note"] == "Add label stats."
    assert timeline[4]["transition"] == "request_revision"

    # Notifications: the engineer was told about each step and marks them read.
    notifications = _ok(as_engineer.get("/api/v1/notifications/"))
    kinds = {n["kind"] for n in notifications["results"]}
    assert {
        "consultation_invited",
        "proposal_accepted",
        "milestone_request_revision",
        "review_received",
    } <= kinds
    first_id = notifications["results"][0]["id"]
    assert _ok(as_engineer.post("/api/v1/notifications/mark-read/", {"ids": [first_id]}, format="json")) == {
        "marked": 1
    }
    assert _ok(as_engineer.post("/api/v1/notifications/mark-read/", {}, format="json"))["marked"] == (
        notifications["count"] - 1
    )
    assert all(n["read_at"] for n in _ok(as_engineer.get("/api/v1/notifications/"))["results"])


def test_declining_and_withdrawing():
    client, engineer = ClientFactory(), EngineerFactory()
    as_client, as_engineer = _login(client), _login(engineer)
    hiring_request = _ok(
        as_client.post(
            "/api/v1/requests/",
            {"title": "Classifier", "description": "Intent.", "budget_min": 1000, "budget_max": 5000},
            format="json",
        ),
        201,
    )
    _ok(as_client.post(f"/api/v1/requests/{hiring_request['id']}/publish/"))
    consultation = _ok(
        as_client.post(f"/api/v1/requests/{hiring_request['id']}/invitations/", {"engineer": engineer.pk}),
        201,
    )
    declined = _ok(
        as_engineer.post(f"/api/v1/consultations/{consultation['id']}/decline/", {"reason": "Booked."})
    )
    assert (declined["state"], declined["closed_reason"]) == ("declined", "Booked.")
    withdrawn = _ok(
        as_client.post(f"/api/v1/requests/{hiring_request['id']}/withdraw/", {"reason": "Later."})
    )
    assert withdrawn["state"] == "withdrawn"
    assert withdrawn["consultations"][0]["state"] == "declined"


def test_engineer_profile_and_skills():
    engineer = EngineerFactory()
    api = _login(engineer)
    profile = _ok(
        api.patch(
            "/api/v1/me/profile/",
            {"skills": ["QLoRA"], "rate_amount": 15_000, "availability": "limited"},
            format="json",
        )
    )
    assert (profile["skills"], profile["rate_amount"], profile["availability"]) == (
        ["QLoRA"],
        15_000,
        "limited",
    )
    assert [s["slug"] for s in _ok(api.get("/api/v1/skills/"))["results"]] == ["qlora"]
    assert [e["username"] for e in _ok(api.get("/api/v1/engineers/?skill=qlora"))["results"]] == [
        engineer.username
    ]
    assert _ok(api.get("/api/v1/engineers/?skill=rag"))["count"] == 0
    assert _ok(api.get("/api/v1/me/"))["username"] == engineer.username
