"""An axe-core sweep over the main pages of each role in Chromium: no serious or critical violation.

axe-core's own script (bundled by axe-playwright-python) is injected into each page as rendered with
realistic data: a request in consultation, an engagement with a funded, a delivered and a disputed
milestone, a conversation, notifications, the challenges."""

from datetime import date

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.management import call_command
from django.urls import reverse

from marketplace.services import conversations as conversation_services
from marketplace.services import engagements as engagement_services
from marketplace.services import requests as request_services
from marketplace.services.change_orders import change_order_propose
from marketplace.services.invite_requests import invite_request_create
from marketplace.services.users import engineer_profile_update
from tests.e2e.test_hiring_flow import log_in
from tests.factories import ClientFactory, EngineerFactory, StaffFactory, engagement, open_request

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SERIOUS = {"serious", "critical"}


@pytest.fixture
def world(settings, monkeypatch):
    settings.VETTING_BOOTSTRAP_RESAMPLES = 200
    monkeypatch.setattr("vetting.pipeline.enqueue_advance", lambda submission_id: None)
    call_command("vetting_seed_challenges", stdout=open("/dev/null", "w"))  # noqa: SIM115
    client = ClientFactory(username="clara", first_name="Clara", last_name="Client")
    engineer = EngineerFactory(username="maya", first_name="Maya", last_name="Engineer")
    engineer_profile_update(
        actor=engineer,
        headline="LoRA fine-tuning for structured extraction",
        bio="Six years of small fine-tuned models for support desks.",
        rate_amount=15_000,
        skills=["LoRA", "Evaluation"],
    )
    StaffFactory(username="sam")
    eng = engagement(amounts=(300_000, 200_000, 100_000), client=client, engineer=engineer)
    first, second, third = eng.milestones.order_by("position")
    for milestone in (first, second, third):
        engagement_services.milestone_mark_funded(milestone_id=milestone.pk)
    engagement_services.milestone_start(actor=engineer, milestone_id=second.pk)
    engagement_services.milestone_submit(actor=engineer, milestone_id=second.pk, message="Adapter attached.")
    engagement_services.milestone_open_dispute(
        actor=client,
        milestone_id=third.pk,
        category="late",
        reason="The work is two weeks late and unanswered.",
    )
    conversation_services.message_post(
        actor=client, consultation_id=eng.consultation_id, body="How is it going?"
    )
    change_order_propose(  # a change order awaiting the client's answer on the engagement page
        actor=engineer,
        engagement_id=eng.pk,
        changes=[
            {"action": "add", "title": "Evaluation report", "amount": 50_000, "due_date": date(2099, 1, 31)}
        ],
        note="The report is its own piece of work.",
    )
    consulting = open_request(client=client)
    consultation = request_services.consultation_invite(
        actor=client, request_id=consulting.pk, engineer_id=engineer.pk, message="Could you look at this?"
    )
    # An ask to be invited waiting on the request page, from a second listed engineer.
    asking = EngineerFactory(username="omar", first_name="Omar", last_name="Asker")
    engineer_profile_update(actor=asking, skills=["RAG"], languages=["English", "Arabic"])
    invite_request_create(actor=asking, request_id=consulting.pk, note="I have shipped two of these.")
    return {"engagement": eng, "request": consulting, "consultation": consultation}


def pages(world) -> dict[str, list[str]]:
    eng, request, consultation = world["engagement"], world["request"], world["consultation"]
    return {
        "": ["/", "/login/", "/signup/", "/password-reset/"],
        "clara": [
            "/dashboard/",
            "/requests/",
            f"/requests/{request.pk}/",
            "/requests/new/",
            f"/consultations/{consultation.pk}/",
            "/engagements/",
            f"/engagements/{eng.pk}/",
            "/messages/",
            "/notifications/",
            "/notifications/settings/",
            f"/acceptance/milestones/{eng.milestones.order_by('position').first().pk}/",
            "/engineers/maya/",
            "/engineers/",
            "/engineers/?q=lora&vetted=on&ordering=rating",
            reverse("payments:history"),
        ],
        "maya": [
            "/dashboard/",
            "/jobs/",
            "/profile/",
            f"/engagements/{eng.pk}/changes/new/",
            "/engineers/maya/",
            f"/consultations/{eng.consultation_id}/",
            f"/engagements/{eng.pk}/",
            reverse("vetting:challenge-list"),
            reverse("vetting:challenge-detail", args=["support-ticket-json"]),
            reverse("payments:payouts"),
            reverse("vetting:submission-list"),
            reverse("vetting:leaderboard", args=["support-ticket-json"]),
            "/messages/",
            "/notifications/",
            reverse("payments:history"),
        ],
        "sam": [
            "/dashboard/",
            reverse("payments:desk"),
            reverse("payments:ledger"),
            reverse("vetting:staff-submissions"),
            f"/engagements/{eng.pk}/",
            "/notifications/",
        ],
    }


def test_the_main_pages_of_each_role_have_no_serious_accessibility_violation(world, new_page):
    axe = Axe()
    found = []
    for username, urls in pages(world).items():
        page = new_page()
        if username:
            log_in(page, username)
        for url in urls:
            response = page.goto(url)
            assert response.status == 200, (username, url, response.status)
            for violation in axe.run(page).response["violations"]:
                if violation["impact"] in SERIOUS:
                    targets = [", ".join(node["target"]) for node in violation["nodes"][:3]]
                    found.append(
                        f"{username or 'anonymous'} {url}: {violation['id']} ({violation['impact']}) {targets}"
                    )
    assert found == [], "\n".join(found)
