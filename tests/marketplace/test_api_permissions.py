"""Every /api/v1/ endpoint x every kind of user: the exact status each one gets.

The parties are the client who owns the object and the engineer who takes part in it; "other" users
are strangers to the object (404: its existence must not leak); users who can see an object but may
not act on it (staff, an invited engineer on the client's request) get 403; staff act only where a
transition allows staff. Each cell is its own test on fresh objects built through services.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.test import APIClient

from marketplace.api.urls import urlpatterns as api_urlpatterns
from marketplace.models import Milestone
from marketplace.services import change_orders as change_order_services
from marketplace.services import conversations as conversation_services
from marketplace.services import engagements as engagement_services
from marketplace.services import invite_requests as invite_request_services
from marketplace.services import notifications as notification_services
from marketplace.services import requests as request_services
from marketplace.services import reviews as review_services
from tests.api_matrix import Call, answer, assert_status, cells, routes_and_methods, rows
from tests.factories import (
    PASSWORD,
    ClientFactory,
    EngineerFactory,
    HiringRequestFactory,
    StaffFactory,
    engagement,
    listed_engineer,
    milestone_in_state,
    milestone_plan,
    open_request,
    proposal_for,
)

pytestmark = pytest.mark.django_db

S = Milestone.State


def _parties():
    return ClientFactory(), EngineerFactory()


def _consulting_request():
    """An open request the engineer is invited to (so it is in consulting)."""
    client, engineer = _parties()
    hiring_request = open_request(client=client)
    consultation = request_services.consultation_invite(
        actor=client, request_id=hiring_request.pk, engineer_id=engineer.pk, message="Can you help?"
    )
    return hiring_request, consultation


def _proposal():
    hiring_request = open_request()
    consultation, proposal = proposal_for(hiring_request=hiring_request)
    return consultation, proposal


def _milestone(state):
    milestone = milestone_in_state(state)
    return milestone, milestone.engagement


def _delivered_attachment():
    milestone, engagement = _milestone(S.IN_PROGRESS)
    delivery = engagement_services.milestone_submit(
        actor=engagement.engineer,
        milestone_id=milestone.pk,
        message="Report attached.",
        files=[SimpleUploadedFile("report.txt", b"eval: 0.91\n", content_type="text/plain")],
    )
    return delivery.attachments.get(), engagement


# --- Endpoints ---------------------------------------------------------------------------------------


def token():
    client, engineer = _parties()
    return Call(
        "post",
        "/api/v1/auth/token/",
        client,
        engineer,
        data=lambda actor: {"username": (actor or client).username, "password": PASSWORD},
    )


def signup_confirm():
    from marketplace.services.users import signup_tokens

    client, engineer = _parties()
    pending = ClientFactory(is_active=False)
    uid = urlsafe_base64_encode(force_bytes(pending.pk))
    body = {"uid": uid, "token": signup_tokens.make_token(pending)}
    return Call("post", "/api/v1/auth/signup/confirm/", client, engineer, data=body)


def signup_resend():
    return Call("post", "/api/v1/auth/signup/resend/", *_parties(), data={"email": "nobody@example.com"})


def signup():
    client, engineer = _parties()
    return Call(
        "post",
        "/api/v1/auth/signup/",
        client,
        engineer,
        data={
            "username": "newcomer",
            "email": "newcomer@example.com",
            "password": PASSWORD,
            "role": "client",
        },
    )


def me():
    return Call("get", "/api/v1/me/", *_parties())


def _token_action(action: str):
    def setup():
        return Call("post", f"/api/v1/auth/{action}/", *_parties(), with_token=True)

    return setup


def my_profile():
    return Call("patch", "/api/v1/me/profile/", *_parties(), data={"headline": "QLoRA on small budgets"})


def skills():
    return Call("get", "/api/v1/skills/", *_parties())


def engineers():
    return Call("get", "/api/v1/engineers/", *_parties())


def engineer_detail():
    client, engineer = _parties()
    return Call("get", f"/api/v1/engineers/{engineer.username}/", client, engineer)


def request_list():
    return Call("get", "/api/v1/requests/", *_parties())


def request_create():
    return Call(
        "post",
        "/api/v1/requests/",
        *_parties(),
        data={
            "title": "Tune a router",
            "description": "Intent routing.",
            "budget_min": 1000,
            "budget_max": 2000,
        },
    )


def request_detail():
    hiring_request, consultation = _consulting_request()
    return Call("get", f"/api/v1/requests/{hiring_request.pk}/", hiring_request.client, consultation.engineer)


def request_update():
    hiring_request, consultation = _consulting_request()
    return Call(
        "patch",
        f"/api/v1/requests/{hiring_request.pk}/",
        hiring_request.client,
        consultation.engineer,
        data={"title": "Sharper title"},
    )


def request_publish():
    # A draft has no invited engineer yet; the "engineer" is one with a thread on another request.
    client, engineer = _parties()
    draft = HiringRequestFactory(client=client)
    return Call("post", f"/api/v1/requests/{draft.pk}/publish/", client, engineer)


def request_withdraw():
    hiring_request, consultation = _consulting_request()
    return Call(
        "post",
        f"/api/v1/requests/{hiring_request.pk}/withdraw/",
        hiring_request.client,
        consultation.engineer,
        data={"reason": "Budget moved."},
    )


def request_matches():
    hiring_request, consultation = _consulting_request()
    return Call(
        "get", f"/api/v1/requests/{hiring_request.pk}/matches/", hiring_request.client, consultation.engineer
    )


def request_invite():
    hiring_request, consultation = _consulting_request()
    invitee = EngineerFactory()
    return Call(
        "post",
        f"/api/v1/requests/{hiring_request.pk}/invitations/",
        hiring_request.client,
        consultation.engineer,
        data={"engineer": invitee.pk, "message": "Would you consult?"},
    )


def consultation_list():
    return Call("get", "/api/v1/consultations/", *_parties())


def consultation_detail():
    hiring_request, consultation = _consulting_request()
    return Call(
        "get", f"/api/v1/consultations/{consultation.pk}/", hiring_request.client, consultation.engineer
    )


def message_list():
    hiring_request, consultation = _consulting_request()
    return Call(
        "get",
        f"/api/v1/consultations/{consultation.pk}/messages/",
        hiring_request.client,
        consultation.engineer,
    )


def message_create():
    hiring_request, consultation = _consulting_request()
    return Call(
        "post",
        f"/api/v1/consultations/{consultation.pk}/messages/",
        hiring_request.client,
        consultation.engineer,
        data={"body": "What data do you have?"},
    )


def conversation_inbox():
    return Call("get", "/api/v1/conversations/", *_parties())


def conversation_read():
    hiring_request, consultation = _consulting_request()
    return Call(
        "post", f"/api/v1/consultations/{consultation.pk}/read/", hiring_request.client, consultation.engineer
    )


def message_attachment_download():
    hiring_request, consultation = _consulting_request()
    message = conversation_services.message_post(
        actor=consultation.engineer,
        consultation_id=consultation.pk,
        body="The label set",
        files=[SimpleUploadedFile("labels.csv", b"label\nbilling\n", content_type="text/csv")],
    )
    return Call(
        "get",
        f"/api/v1/message-attachments/{message.attachments.get().pk}/download/",
        hiring_request.client,
        consultation.engineer,
    )


def consultation_decline():
    hiring_request, consultation = _consulting_request()
    return Call(
        "post",
        f"/api/v1/consultations/{consultation.pk}/decline/",
        hiring_request.client,
        consultation.engineer,
        data={"reason": "Fully booked."},
    )


def proposal_create():
    hiring_request, consultation = _consulting_request()
    plan = milestone_plan(100_000, 50_000)
    return Call(
        "post",
        f"/api/v1/consultations/{consultation.pk}/proposals/",
        hiring_request.client,
        consultation.engineer,
        data={
            "scope": "Audit, tune, evaluate.",
            "price": 150_000,
            "milestones": [{**item, "due_date": item["due_date"].isoformat()} for item in plan],
        },
    )


def proposal_detail():
    consultation, proposal = _proposal()
    return Call(
        "get", f"/api/v1/proposals/{proposal.pk}/", consultation.request.client, consultation.engineer
    )


def proposal_withdraw():
    consultation, proposal = _proposal()
    return Call(
        "post",
        f"/api/v1/proposals/{proposal.pk}/withdraw/",
        consultation.request.client,
        consultation.engineer,
    )


def proposal_accept():
    consultation, proposal = _proposal()
    return Call(
        "post", f"/api/v1/proposals/{proposal.pk}/accept/", consultation.request.client, consultation.engineer
    )


def engagement_list():
    return Call("get", "/api/v1/engagements/", *_parties())


def engagement_detail():
    _, engagement = _milestone(S.FUNDED)
    return Call("get", f"/api/v1/engagements/{engagement.pk}/", engagement.client, engagement.engineer)


def engagement_timeline():
    _, engagement = _milestone(S.FUNDED)
    return Call(
        "get", f"/api/v1/engagements/{engagement.pk}/timeline/", engagement.client, engagement.engineer
    )


def engagement_review():
    _, engagement = _milestone(S.APPROVED)  # Its only milestone approved: the engagement is complete.
    return Call(
        "post",
        f"/api/v1/engagements/{engagement.pk}/review/",
        engagement.client,
        engagement.engineer,
        data={"rating": 5, "text": "Clear reports."},
    )


def engagement_review_edit():
    """The client's review, written: the client edits it; the engineer has none of their own to edit."""
    _, engagement = _milestone(S.APPROVED)
    review_services.review_create(actor=engagement.client, engagement_id=engagement.pk, rating=4)
    return Call(
        "put",
        f"/api/v1/engagements/{engagement.pk}/review/",
        engagement.client,
        engagement.engineer,
        data={"rating": 5, "text": "Better than I first said."},
    )


def milestone_detail():
    milestone, engagement = _milestone(S.FUNDED)
    return Call("get", f"/api/v1/milestones/{milestone.pk}/", engagement.client, engagement.engineer)


def _milestone_action(state, action, data=None, format="json"):
    def setup():
        milestone, engagement = _milestone(state)
        return Call(
            "post",
            f"/api/v1/milestones/{milestone.pk}/{action}/",
            engagement.client,
            engagement.engineer,
            data=data,
            format=format,
        )

    return setup


def attachment_download():
    attachment, engagement = _delivered_attachment()
    return Call(
        "get", f"/api/v1/attachments/{attachment.pk}/download/", engagement.client, engagement.engineer
    )


def _disputed_with_evidence():
    milestone, engagement = _milestone(S.FUNDED)
    engagement_services.milestone_open_dispute(
        actor=engagement.client,
        milestone_id=milestone.pk,
        category="not_delivered",
        reason="Nothing arrived by the due date.",
        files=[SimpleUploadedFile("emails.txt", b"no answer\n", content_type="text/plain")],
    )
    return milestone, engagement


def dispute_get():
    milestone, engagement = _disputed_with_evidence()
    return Call("get", f"/api/v1/milestones/{milestone.pk}/dispute/", engagement.client, engagement.engineer)


def dispute_statement():
    milestone, engagement = _disputed_with_evidence()
    return Call(
        "post",
        f"/api/v1/milestones/{milestone.pk}/dispute/statements/",
        engagement.client,
        engagement.engineer,
        data={"body": "The adapter was shared on the 3rd."},
    )


def dispute_evidence_download():
    milestone, engagement = _disputed_with_evidence()
    evidence = milestone.disputes.get().evidence.get()
    return Call(
        "get", f"/api/v1/dispute-evidence/{evidence.pk}/download/", engagement.client, engagement.engineer
    )


def _active_engagement():
    return engagement(amounts=(100_000, 50_000))


def _change_order_proposed():
    engagement = _active_engagement()
    milestone = engagement.milestones.first()
    change_order = change_order_services.change_order_propose(
        actor=engagement.engineer,
        engagement_id=engagement.pk,
        changes=[{"action": "edit", "milestone": milestone.pk, "title": "A clearer title"}],
        note="Clearer.",
    )
    return change_order, engagement


def change_order_list():
    _, engagement = _change_order_proposed()
    return Call(
        "get", f"/api/v1/engagements/{engagement.pk}/change-orders/", engagement.client, engagement.engineer
    )


def change_order_propose():
    engagement = _active_engagement()
    data = {
        "note": "One more milestone.",
        "changes": [{"action": "add", "title": "Report", "amount": 5_000, "due_date": "2099-01-31"}],
    }
    return Call(
        "post",
        f"/api/v1/engagements/{engagement.pk}/change-orders/",
        engagement.client,
        engagement.engineer,
        data=data,
    )


def _change_order_answer(answer: str):
    def setup():
        change_order, engagement = _change_order_proposed()
        return Call(
            "post",
            f"/api/v1/change-orders/{change_order.pk}/{answer}/",
            engagement.client,
            engagement.engineer,
            data={},
        )

    return setup


def notification_list():
    return Call("get", "/api/v1/notifications/", *_parties())


def notification_mark_read():
    client, engineer = _parties()
    notification_services.notify(user=client, kind="test", message="Hello")
    return Call("post", "/api/v1/notifications/mark-read/", client, engineer, data={})


def notification_preferences_get():
    return Call("get", "/api/v1/notifications/preferences/", *_parties())


def notification_preferences_put():
    data = {"preferences": {"payments": {"in_app": True, "email": False}}}
    return Call("put", "/api/v1/notifications/preferences/", *_parties(), data=data)


def _asked():
    """An open request and a listed engineer's ask to be invited to it."""
    hiring_request = open_request()
    engineer = listed_engineer()
    ask = invite_request_services.invite_request_create(
        actor=engineer, request_id=hiring_request.pk, note="I built this for a bank."
    )
    return hiring_request, engineer, ask


def invite_requests_get():
    hiring_request, engineer, _ = _asked()
    return Call(
        "get", f"/api/v1/requests/{hiring_request.pk}/invite-requests/", hiring_request.client, engineer
    )


def invite_request_create():
    hiring_request = open_request()
    return Call(
        "post",
        f"/api/v1/requests/{hiring_request.pk}/invite-requests/",
        hiring_request.client,
        listed_engineer(),
        data={"note": "Happy to help."},
    )


def _invite_request_action(action: str):
    def setup():
        hiring_request, engineer, ask = _asked()
        return Call("post", f"/api/v1/invite-requests/{ask.pk}/{action}/", hiring_request.client, engineer)

    return setup


# (route name, method, setup, expected status for each of ROLES)
MATRIX = [
    ("api-token", "post", token, (200, 200, 200, 200, 200, 200)),
    ("api-signup", "post", signup, (202, 202, 202, 202, 202, 202)),
    ("api-signup-confirm", "post", signup_confirm, (200, 200, 200, 200, 200, 200)),
    ("api-signup-resend", "post", signup_resend, (202, 202, 202, 202, 202, 202)),
    ("api-me", "get", me, (401, 200, 200, 200, 200, 200)),
    ("api-token-refresh", "post", _token_action("token/refresh"), (401, 200, 200, 200, 200, 200)),
    ("api-logout", "post", _token_action("logout"), (401, 204, 204, 204, 204, 204)),
    ("api-logout-all", "post", _token_action("logout-all"), (401, 200, 200, 200, 200, 200)),
    ("api-my-profile", "patch", my_profile, (401, 403, 403, 200, 200, 403)),
    # Engineers' profiles are public, like the profile pages.
    ("api-skill-list", "get", skills, (200, 200, 200, 200, 200, 200)),
    ("api-engineer-list", "get", engineers, (200, 200, 200, 200, 200, 200)),
    ("api-engineer-detail", "get", engineer_detail, (200, 200, 200, 200, 200, 200)),
    ("api-request-list", "get", request_list, (401, 200, 200, 200, 200, 200)),
    ("api-request-list", "post", request_create, (401, 201, 201, 403, 403, 403)),
    ("api-request-detail", "get", request_detail, (401, 200, 404, 200, 404, 200)),
    # Writes on a request are its client's alone: for everyone else it is not theirs to find.
    ("api-request-detail", "patch", request_update, (401, 200, 404, 403, 404, 403)),
    ("api-request-publish", "post", request_publish, (401, 200, 404, 404, 404, 403)),
    ("api-request-withdraw", "post", request_withdraw, (401, 200, 404, 403, 404, 403)),
    ("api-request-matches", "get", request_matches, (401, 200, 404, 403, 404, 403)),
    ("api-request-invitations", "post", request_invite, (401, 201, 404, 403, 404, 403)),
    # Any engineer may see a published request's asks (their own: none for a stranger to it).
    ("api-request-invite-requests", "get", invite_requests_get, (401, 200, 404, 200, 200, 200)),
    # Only engineers ask; one whose profile is incomplete (the factory's lacks skills) is refused (409).
    ("api-request-invite-requests", "post", invite_request_create, (401, 403, 403, 201, 409, 403)),
    ("api-invite-request-accept", "post", _invite_request_action("accept"), (401, 201, 404, 403, 404, 403)),
    ("api-invite-request-decline", "post", _invite_request_action("decline"), (401, 200, 404, 403, 404, 403)),
    (
        "api-invite-request-withdraw",
        "post",
        _invite_request_action("withdraw"),
        (401, 403, 404, 200, 404, 403),
    ),
    ("api-consultation-list", "get", consultation_list, (401, 200, 200, 200, 200, 200)),
    ("api-consultation-detail", "get", consultation_detail, (401, 200, 404, 200, 404, 200)),
    ("api-consultation-messages", "get", message_list, (401, 200, 404, 200, 404, 200)),
    ("api-consultation-messages", "post", message_create, (401, 201, 404, 201, 404, 403)),
    ("api-conversation-inbox", "get", conversation_inbox, (401, 200, 200, 200, 200, 200)),
    ("api-consultation-read", "post", conversation_read, (401, 200, 404, 200, 404, 403)),
    ("api-message-attachment-download", "get", message_attachment_download, (401, 200, 404, 200, 404, 200)),
    ("api-consultation-decline", "post", consultation_decline, (401, 403, 404, 200, 404, 403)),
    ("api-consultation-proposals", "post", proposal_create, (401, 403, 404, 201, 404, 403)),
    ("api-proposal-detail", "get", proposal_detail, (401, 200, 404, 200, 404, 200)),
    ("api-proposal-withdraw", "post", proposal_withdraw, (401, 403, 404, 200, 404, 403)),
    ("api-proposal-accept", "post", proposal_accept, (401, 201, 404, 403, 404, 403)),
    ("api-engagement-list", "get", engagement_list, (401, 200, 200, 200, 200, 200)),
    ("api-engagement-detail", "get", engagement_detail, (401, 200, 404, 200, 404, 200)),
    ("api-engagement-timeline", "get", engagement_timeline, (401, 200, 404, 200, 404, 200)),
    ("api-engagement-review", "post", engagement_review, (401, 201, 404, 201, 404, 403)),
    ("api-engagement-review", "put", engagement_review_edit, (401, 200, 404, 404, 404, 403)),
    ("api-milestone-detail", "get", milestone_detail, (401, 200, 404, 200, 404, 200)),
    ("api-milestone-start", "post", _milestone_action(S.FUNDED, "start"), (401, 403, 404, 200, 404, 403)),
    (
        "api-milestone-submit",
        "post",
        _milestone_action(S.IN_PROGRESS, "submit", {"message": "Adapter attached."}, "multipart"),
        (401, 403, 404, 201, 404, 403),
    ),
    (
        "api-milestone-request-revision",
        "post",
        _milestone_action(S.SUBMITTED, "request-revision", {"comment": "Add the eval report."}),
        (401, 200, 404, 403, 404, 403),
    ),
    (
        "api-milestone-approve",
        "post",
        _milestone_action(S.SUBMITTED, "approve", {}),
        (401, 200, 404, 403, 404, 200),
    ),
    (
        "api-milestone-dispute",
        "post",
        _milestone_action(
            S.FUNDED,
            "dispute",
            {"category": "not_delivered", "reason": "Nothing was delivered by the due date."},
        ),
        (401, 200, 404, 200, 404, 403),
    ),
    (
        "api-milestone-cancel",
        "post",
        _milestone_action(S.PENDING_FUNDING, "cancel", {}),
        (401, 200, 404, 403, 404, 200),
    ),
    ("api-attachment-download", "get", attachment_download, (401, 200, 404, 200, 404, 200)),
    ("api-milestone-dispute", "get", dispute_get, (401, 200, 404, 200, 404, 200)),
    ("api-dispute-statements", "post", dispute_statement, (401, 201, 404, 201, 404, 403)),
    ("api-dispute-evidence-download", "get", dispute_evidence_download, (401, 200, 404, 200, 404, 200)),
    ("api-change-order-list", "get", change_order_list, (401, 200, 404, 200, 404, 200)),
    ("api-change-order-list", "post", change_order_propose, (401, 201, 404, 201, 404, 403)),
    # Proposed by the engineer: the client answers; the engineer may withdraw.
    ("api-change-order-accept", "post", _change_order_answer("accept"), (401, 200, 404, 403, 404, 403)),
    ("api-change-order-decline", "post", _change_order_answer("decline"), (401, 200, 404, 403, 404, 403)),
    ("api-change-order-withdraw", "post", _change_order_answer("withdraw"), (401, 403, 404, 200, 404, 403)),
    ("api-notification-list", "get", notification_list, (401, 200, 200, 200, 200, 200)),
    ("api-notification-mark-read", "post", notification_mark_read, (401, 200, 200, 200, 200, 200)),
    ("api-notification-preferences", "get", notification_preferences_get, (401, 200, 200, 200, 200, 200)),
    ("api-notification-preferences", "put", notification_preferences_put, (401, 200, 200, 200, 200, 200)),
]

CELLS = cells(MATRIX, prefix="api-")


@pytest.mark.parametrize(("route", "method", "setup", "role", "expected"), CELLS)
def test_permission_matrix(route, method, setup, role, expected):
    assert_status(answer(setup(), route=route, method=method, role=role), expected)


def test_matrix_covers_every_api_route_and_method():
    """A new endpoint, or a new method on one, without its row in the matrix fails here."""
    assert routes_and_methods(api_urlpatterns) == rows(MATRIX)


@pytest.mark.parametrize(
    ("url", "make_row"),
    [
        ("/api/v1/requests/", _consulting_request),
        ("/api/v1/consultations/", _consulting_request),
        ("/api/v1/engagements/", lambda: _milestone(S.FUNDED)),
        (
            "/api/v1/notifications/",
            lambda: notification_services.notify(user=ClientFactory(), kind="x", message="Hi"),
        ),
    ],
)
def test_lists_leave_out_other_users_rows(url, make_row):
    make_row()
    for user in (ClientFactory(), EngineerFactory()):
        api = APIClient()
        api.force_authenticate(user)
        body = api.get(url).json()
        assert (body["count"], body["results"]) == (0, [])
    staff = APIClient()
    staff.force_authenticate(StaffFactory())
    expected = 0 if url == "/api/v1/notifications/" else 1  # Notifications are personal, even for staff.
    assert staff.get(url).json()["count"] == expected


def test_request_detail_shows_consultations_to_its_client_only():
    hiring_request, consultation = _consulting_request()
    url = f"/api/v1/requests/{hiring_request.pk}/"
    api = APIClient()
    api.force_authenticate(hiring_request.client)
    owner_view = api.get(url).json()
    assert [c["engineer"]["id"] for c in owner_view["consultations"]] == [consultation.engineer_id]
    api.force_authenticate(consultation.engineer)
    engineer_view = api.get(url).json()
    assert engineer_view["consultations"] is None
    assert engineer_view["readiness_summary"] == owner_view["readiness_summary"]
