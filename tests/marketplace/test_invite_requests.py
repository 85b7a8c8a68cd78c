"""Asking to be invited: the job board, each rule of asking and answering, the notifications, and the
pages (the ask from the board, the client's Invite and Decline on the request page, with htmx)."""

import pytest

from core.errors import InvalidTransitionError, NotFoundError, PermissionDeniedError, ValidationError
from marketplace.directory import job_board
from marketplace.models import Consultation, EngineerProfile, InviteRequest, Notification
from marketplace.services import invite_requests as services
from marketplace.services import requests as request_services
from tests.factories import (
    ClientFactory,
    EngineerFactory,
    HiringRequestFactory,
    StaffFactory,
    listed_engineer,
    open_request,
    proposal_for,
)

pytestmark = pytest.mark.django_db


def _ask(engineer=None, hiring_request=None, note="I shipped a ticket extractor last year."):
    engineer = engineer or listed_engineer()
    hiring_request = hiring_request or open_request()
    return services.invite_request_create(actor=engineer, request_id=hiring_request.pk, note=note)


# --- Job board ---------------------------------------------------------------------------------------


def test_the_board_lists_open_requests_matching_skills_first_and_leaves_out_own_consultations():
    engineer = listed_engineer(skills=["LoRA", "Evaluation"])
    full = open_request(skills=["LoRA", "Evaluation"])
    half = open_request(skills=["LoRA", "RAG"])
    none = open_request(skills=["DPO"])
    HiringRequestFactory()  # a draft
    withdrawn = open_request()
    request_services.request_withdraw(actor=withdrawn.client, request_id=withdrawn.pk)
    consulting = open_request(skills=["LoRA", "Evaluation"])
    request_services.consultation_invite(
        actor=consulting.client, request_id=consulting.pk, engineer_id=engineer.pk
    )
    someone_elses = open_request(skills=["DPO"])
    request_services.consultation_invite(
        actor=someone_elses.client, request_id=someone_elses.pk, engineer_id=listed_engineer().pk
    )  # consulting with another engineer: still open to asks
    rows = list(job_board(engineer=engineer))
    assert [row.pk for row in rows] == [full.pk, half.pk, someone_elses.pk, none.pk]
    assert [row.skill_share for row in rows] == [1.0, 0.5, 0.0, 0.0]


def test_the_board_searches_and_filters_by_skill():
    engineer = listed_engineer()
    first = open_request(skills=["RAG"])
    second = open_request(skills=["DPO"])
    assert [row.pk for row in job_board(engineer=engineer, skill="rag")] == [first.pk]
    assert {row.pk for row in job_board(engineer=engineer, q="support-ticket")} == {first.pk, second.pk}
    assert [row.pk for row in job_board(engineer=engineer, q="dpo")] == [second.pk]
    assert list(job_board(engineer=engineer, q="nonexistent")) == []


def test_the_board_marks_the_engineers_pending_ask():
    ask = _ask()
    (row,) = job_board(engineer=ask.engineer)
    assert row.my_ask == ask.pk


# --- Asking ------------------------------------------------------------------------------------------


def test_an_ask_notifies_the_client():
    ask = _ask()
    assert ask.state == InviteRequest.State.REQUESTED and ask.note.startswith("I shipped")
    notification = Notification.objects.get(user=ask.request.client)
    assert notification.kind == "invite_requested"
    assert ask.engineer.display_name in notification.message
    assert notification.url == f"/requests/{ask.request_id}/#invite-requests"


def test_an_engineer_not_taking_work_may_not_ask():
    engineer = listed_engineer(profile__availability=EngineerProfile.Availability.UNAVAILABLE)
    with pytest.raises(InvalidTransitionError) as error:
        _ask(engineer)
    assert error.value.code == "not_taking_work"


def test_an_incomplete_profile_may_not_ask_and_is_told_what_is_missing():
    with pytest.raises(InvalidTransitionError) as error:
        _ask(EngineerFactory())  # no skills
    assert error.value.code == "profile_incomplete"
    assert error.value.details == {"missing": ["your skills"]}


@pytest.mark.parametrize("user_factory", [ClientFactory, StaffFactory])
def test_only_engineers_ask(user_factory):
    with pytest.raises(PermissionDeniedError):
        _ask(user_factory())


def test_a_request_that_is_not_open_is_refused_and_a_draft_does_not_exist():
    hiring_request = open_request()
    request_services.request_withdraw(actor=hiring_request.client, request_id=hiring_request.pk)
    with pytest.raises(InvalidTransitionError) as error:
        _ask(hiring_request=hiring_request)
    assert error.value.code == "request_not_open"
    with pytest.raises(NotFoundError):
        _ask(hiring_request=HiringRequestFactory())


def test_one_pending_ask_per_request_and_none_once_invited():
    ask = _ask()
    with pytest.raises(InvalidTransitionError) as error:
        _ask(ask.engineer, ask.request)
    assert error.value.code == "already_asked"
    services.invite_request_withdraw(actor=ask.engineer, invite_request_id=ask.pk)
    again = _ask(ask.engineer, ask.request)  # a withdrawn ask may be made again
    services.invite_request_accept(actor=ask.request.client, invite_request_id=again.pk)
    with pytest.raises(InvalidTransitionError) as error:
        _ask(ask.engineer, ask.request)
    assert error.value.code == "already_invited"


def test_a_note_is_at_most_a_thousand_characters():
    with pytest.raises(ValidationError) as error:
        _ask(note="x" * 1001)
    assert "note" in error.value.details
    assert len(_ask(note="y" * 1000).note) == 1000


# --- Answering ---------------------------------------------------------------------------------------


def test_accepting_invites_through_the_invite_service_with_the_note_first():
    ask = _ask()
    consultation = services.invite_request_accept(actor=ask.request.client, invite_request_id=ask.pk)
    ask.refresh_from_db()
    assert ask.state == InviteRequest.State.ACCEPTED and ask.decided_at is not None
    assert consultation.engineer == ask.engineer and consultation.request == ask.request
    assert [(m.author, m.body) for m in consultation.messages.all()] == [(ask.engineer, ask.note)]
    assert ask.request.__class__.objects.get(pk=ask.request_id).state == "consulting"
    assert Notification.objects.get(user=ask.engineer).kind == "consultation_invited"


def test_accepting_keeps_the_invite_rules_an_engineer_who_stopped_taking_work_is_refused():
    ask = _ask()
    EngineerProfile.objects.filter(user=ask.engineer).update(
        availability=EngineerProfile.Availability.UNAVAILABLE
    )
    with pytest.raises(InvalidTransitionError) as error:
        services.invite_request_accept(actor=ask.request.client, invite_request_id=ask.pk)
    assert error.value.code == "not_taking_work"
    ask.refresh_from_db()
    assert ask.state == InviteRequest.State.REQUESTED
    assert not Consultation.objects.exists()


def test_inviting_from_the_matches_answers_a_pending_ask():
    ask = _ask()
    request_services.consultation_invite(
        actor=ask.request.client, request_id=ask.request_id, engineer_id=ask.engineer_id
    )
    ask.refresh_from_db()
    assert ask.state == InviteRequest.State.ACCEPTED


def test_declining_notifies_the_engineer_and_an_answered_ask_stays_answered():
    ask = _ask()
    services.invite_request_decline(actor=ask.request.client, invite_request_id=ask.pk)
    ask.refresh_from_db()
    assert ask.state == InviteRequest.State.DECLINED
    assert Notification.objects.get(user=ask.engineer).kind == "invite_request_declined"
    for answer in (services.invite_request_accept, services.invite_request_decline):
        with pytest.raises(InvalidTransitionError) as error:
            answer(actor=ask.request.client, invite_request_id=ask.pk)
        assert error.value.code == "already_answered"


def test_pending_asks_close_when_the_request_is_withdrawn_or_filled():
    withdrawn = _ask()
    request_services.request_withdraw(actor=withdrawn.request.client, request_id=withdrawn.request_id)
    withdrawn.refresh_from_db()
    assert withdrawn.state == InviteRequest.State.DECLINED and withdrawn.decided_at is not None
    told = Notification.objects.get(user=withdrawn.engineer, kind="invite_request_declined")
    assert "withdrew the request" in told.message

    hiring_request = open_request()
    waiting = _ask(hiring_request=hiring_request)
    _, proposal = proposal_for(hiring_request=hiring_request)
    request_services.proposal_accept(actor=hiring_request.client, proposal_id=proposal.pk)
    waiting.refresh_from_db()
    assert waiting.state == InviteRequest.State.DECLINED


def test_someone_elses_request_does_not_exist_for_them_and_parties_keep_to_their_side():
    ask = _ask()
    for stranger in (ClientFactory(), listed_engineer()):
        for answer in (
            services.invite_request_accept,
            services.invite_request_decline,
            services.invite_request_withdraw,
        ):
            with pytest.raises(NotFoundError):
                answer(actor=stranger, invite_request_id=ask.pk)
    with pytest.raises(PermissionDeniedError):
        services.invite_request_accept(actor=ask.engineer, invite_request_id=ask.pk)
    with pytest.raises(PermissionDeniedError):
        services.invite_request_withdraw(actor=ask.request.client, invite_request_id=ask.pk)
    with pytest.raises(PermissionDeniedError):
        services.invite_request_decline(actor=StaffFactory(), invite_request_id=ask.pk)


# --- Pages -------------------------------------------------------------------------------------------


def test_the_board_reads_clients_trust_in_the_same_queries_for_one_row_or_many(client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    engineer = listed_engineer(skills=["LoRA"])
    client.force_login(engineer)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/jobs/").status_code == 200
        return len(captured)

    open_request(skills=["LoRA"])
    one = queries()
    for _ in range(4):
        open_request(skills=["LoRA"])  # each from another client
    assert queries() == one


def test_the_board_page_highlights_matched_skills_and_asks_with_htmx(client):
    engineer = listed_engineer(skills=["LoRA"])
    hiring_request = open_request(skills=["LoRA", "Evaluation"])
    client.force_login(engineer)
    html = client.get("/jobs/").content.decode()
    assert hiring_request.title in html and "Ask to be invited" in html
    assert 'class="tag tag-match"' in html and "You have 1 of 2 skills" in html
    assert "past hire" in html  # the client's trust signals
    response = client.post(f"/jobs/{hiring_request.pk}/ask/", {"note": "Pick me."}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Asked" in response.content.decode()
    assert InviteRequest.objects.get().note == "Pick me."
    again = client.post(f"/jobs/{hiring_request.pk}/ask/", {"note": ""}, HTTP_HX_REQUEST="true")
    assert "You have already asked" in again.content.decode()


def test_an_unlisted_engineer_sees_what_is_missing_and_no_ask_button(client):
    open_request()
    client.force_login(EngineerFactory())
    html = client.get("/jobs/").content.decode()
    assert "add your skills" in html and "Complete your profile" in html
    assert "Send ask" not in html


def test_clients_do_not_reach_the_board(client):
    client.force_login(ClientFactory())
    assert client.get("/jobs/").status_code == 403


def test_the_client_sees_pending_asks_and_answers_them_without_a_reload(client):
    ask = _ask()
    declined = _ask(hiring_request=ask.request)
    client.force_login(ask.request.client)
    html = client.get(f"/requests/{ask.request_id}/").content.decode()
    assert "Engineers asking to be invited" in html and ask.note in html
    accept = client.post(f"/invite-requests/{ask.pk}/accept/", HTTP_HX_REQUEST="true")
    assert accept.status_code == 200 and "Invited" in accept.content.decode()
    decline = client.post(f"/invite-requests/{declined.pk}/decline/", HTTP_HX_REQUEST="true")
    assert "Declined" in decline.content.decode()
    html = client.get(f"/requests/{ask.request_id}/").content.decode()
    assert "Engineers asking to be invited" not in html


def test_the_client_page_answer_without_scripts_redirects_with_a_message(client):
    ask = _ask()
    client.force_login(ask.request.client)
    response = client.post(f"/invite-requests/{ask.pk}/decline/")
    assert response.status_code == 302 and response["Location"].endswith("#invite-requests")
    assert client.post(f"/invite-requests/{ask.pk}/nonsense/").status_code == 404
