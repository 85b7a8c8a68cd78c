"""Change orders: either party proposes adding, editing or removing milestones not funded yet; the other
accepts (the plan changes at once, whole) or declines; the proposer may withdraw."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import InvalidTransitionError, NotFoundError, PermissionDeniedError, ValidationError
from core.models import TransitionLog
from marketplace.models import ChangeOrder, Engagement, Message, Milestone, Notification
from marketplace.services import change_orders as services
from marketplace.services import engagements as engagement_services
from tests.factories import ClientFactory, EngineerFactory, engagement

pytestmark = pytest.mark.django_db


def _plan(eng: Engagement) -> list[tuple[str, int, str]]:
    return [(m.title, m.amount, m.state) for m in eng.milestones.order_by("position")]


def _later(days: int):
    return timezone.localdate() + timedelta(days=days)


def test_the_engineer_proposes_and_the_client_accepts_every_kind_of_change():
    eng = engagement(amounts=(100_000, 150_000, 50_000))
    first, second, third = eng.milestones.order_by("position")
    engagement_services.milestone_mark_funded(milestone_id=first.pk)

    proposal = services.change_order_propose(
        actor=eng.engineer,
        engagement_id=eng.pk,
        note="The client asked for an evaluation report as well.",
        changes=[
            {"action": "add", "title": "Evaluation report", "amount": 40_000, "due_date": _later(30)},
            {"action": "edit", "milestone": second.pk, "amount": 170_000, "due_date": _later(20)},
            {"action": "remove", "milestone": third.pk},
        ],
    )
    assert proposal.state == ChangeOrder.State.PROPOSED and proposal.reference == f"CO-{proposal.pk}"
    assert _plan(eng)[1:] == [  # nothing changes before the answer
        (second.title, 150_000, "pending_funding"),
        (third.title, 50_000, "pending_funding"),
    ]
    told = Notification.objects.get(user=eng.client, kind="change_order_proposed")
    assert "Add “Evaluation report” (400.00 USD" in told.message
    assert "1,500.00 USD → 1,700.00 USD" in told.message
    assert "remove “" in told.message and "Total +100.00 USD." in told.message

    accepted = services.change_order_accept(actor=eng.client, change_order_id=proposal.pk, note="Agreed.")
    assert accepted.state == ChangeOrder.State.ACCEPTED and accepted.answered_by == eng.client
    eng.refresh_from_db()
    assert _plan(eng) == [
        (first.title, 100_000, "funded"),
        (second.title, 170_000, "pending_funding"),
        (third.title, 50_000, "cancelled"),
        ("Evaluation report", 40_000, "pending_funding"),
    ]
    added = eng.milestones.get(title="Evaluation report")
    assert (added.position, added.currency, added.due_date) == (4, eng.currency, _later(30))
    assert eng.milestones.get(pk=second.pk).due_date == _later(20)
    assert eng.total == 300_000 + 40_000 + 20_000 - 50_000
    assert accepted.items.get(action="add").milestone == added

    timeline = list(
        TransitionLog.objects.filter(timeline_key=eng.timeline_key).values_list("transition", "to_state")
    )
    assert ("propose", "proposed") in timeline and ("accept", "accepted") in timeline
    assert ("cancel", "cancelled") in timeline
    events = list(
        Message.objects.filter(consultation=eng.consultation, kind="event").values_list("body", flat=True)
    )
    assert any(f"proposed a change order ({proposal.reference})" in body for body in events)
    assert any(f"accepted change order {proposal.reference}.\n\nAgreed." in body for body in events)
    assert Notification.objects.filter(user=eng.engineer, kind="change_order_accepted").exists()


def test_the_other_party_declines_and_the_proposer_withdraws():
    eng = engagement(amounts=(100_000,))
    milestone = eng.milestones.get()
    change = [{"action": "edit", "milestone": milestone.pk, "title": "Smaller scope"}]
    proposal = services.change_order_propose(
        actor=eng.client, engagement_id=eng.pk, changes=change, note="Less."
    )
    with pytest.raises(PermissionDeniedError):
        services.change_order_accept(actor=eng.client, change_order_id=proposal.pk)
    with pytest.raises(PermissionDeniedError):
        services.change_order_withdraw(actor=eng.engineer, change_order_id=proposal.pk)
    with pytest.raises(NotFoundError):
        services.change_order_decline(actor=EngineerFactory(), change_order_id=proposal.pk)
    services.change_order_decline(actor=eng.engineer, change_order_id=proposal.pk, note="Scope is fixed.")
    assert ChangeOrder.objects.get(pk=proposal.pk).state == ChangeOrder.State.DECLINED
    assert eng.milestones.get().title == milestone.title
    with pytest.raises(InvalidTransitionError):
        services.change_order_accept(actor=eng.engineer, change_order_id=proposal.pk)

    again = services.change_order_propose(
        actor=eng.client, engagement_id=eng.pk, changes=change, note="Again."
    )
    services.change_order_withdraw(actor=eng.client, change_order_id=again.pk)
    assert ChangeOrder.objects.get(pk=again.pk).state == ChangeOrder.State.WITHDRAWN
    assert Notification.objects.filter(user=eng.engineer, kind="change_order_withdrawn").exists()


def test_one_proposal_at_a_time_and_only_on_an_active_engagement_between_its_parties():
    eng = engagement(amounts=(100_000,))
    milestone = eng.milestones.get()
    change = [{"action": "edit", "milestone": milestone.pk, "amount": 90_000}]
    services.change_order_propose(actor=eng.client, engagement_id=eng.pk, changes=change, note="Cheaper.")
    with pytest.raises(InvalidTransitionError) as refused:
        services.change_order_propose(actor=eng.engineer, engagement_id=eng.pk, changes=change, note="Mine.")
    assert refused.value.code == "change_order_open"
    with pytest.raises(NotFoundError):
        services.change_order_propose(actor=ClientFactory(), engagement_id=eng.pk, changes=change, note="x")

    done = engagement(amounts=(100_000,))
    only = done.milestones.get()
    engagement_services.milestone_cancel(actor=done.client, milestone_id=only.pk)
    done.refresh_from_db()
    assert done.state == Engagement.State.COMPLETED
    with pytest.raises(InvalidTransitionError) as refused:
        services.change_order_propose(
            actor=done.client,
            engagement_id=done.pk,
            changes=[{"action": "add", "title": "More", "amount": 1_000, "due_date": _later(3)}],
            note="More work.",
        )
    assert refused.value.code == "engagement_finished"


def test_bad_changes_are_named_all_at_once_and_nothing_is_written():
    eng = engagement(amounts=(100_000, 150_000))
    funded, pending = eng.milestones.order_by("position")
    engagement_services.milestone_mark_funded(milestone_id=funded.pk)
    other = engagement(amounts=(10_000,)).milestones.get()
    with pytest.raises(ValidationError) as refused:
        services.change_order_propose(
            actor=eng.engineer,
            engagement_id=eng.pk,
            note="Several problems.",
            changes=[
                {"action": "edit", "milestone": funded.pk, "amount": 1},
                {"action": "remove", "milestone": other.pk},
                {
                    "action": "add",
                    "title": "",
                    "amount": -5,
                    "due_date": timezone.localdate() - timedelta(days=1),
                },
                {"action": "edit", "milestone": pending.pk},
                {"action": "remove", "milestone": pending.pk},
                {"action": "rename"},
            ],
        )
    details = refused.value.details
    assert "is funded: only milestones not funded yet can change" in details["changes[0].milestone"][0]
    assert details["changes[1].milestone"] == ["Choose a milestone of this engagement."]
    assert set(details) >= {"changes[2].title", "changes[2].amount", "changes[2].due_date"}
    assert details["changes[3].milestone"] == [f"Nothing about “{pending.title}” changes."]
    assert details["changes[4].milestone"] == [f"“{pending.title}” is already changed above."]
    assert details["changes[5].action"] == ["Choose one of: add, edit, remove."]
    with pytest.raises(ValidationError) as refused:
        services.change_order_propose(actor=eng.engineer, engagement_id=eng.pk, changes=[], note=" ")
    assert set(refused.value.details) == {"note"}
    with pytest.raises(ValidationError) as refused:
        services.change_order_propose(actor=eng.engineer, engagement_id=eng.pk, changes=[], note="Why.")
    assert refused.value.details == {"changes": ["Propose at least one change."]}
    assert not ChangeOrder.objects.exists()


def test_removing_every_remaining_milestone_is_a_cancellation_not_a_change():
    eng = engagement(amounts=(100_000,))
    with pytest.raises(ValidationError) as refused:
        services.change_order_propose(
            actor=eng.client,
            engagement_id=eng.pk,
            changes=[{"action": "remove", "milestone": eng.milestones.get().pk}],
            note="Stop.",
        )
    assert "leave no milestone" in refused.value.details["changes"][0]


def test_a_milestone_funded_after_the_proposal_makes_the_answer_refused_and_changes_nothing():
    eng = engagement(amounts=(100_000, 150_000))
    first, second = eng.milestones.order_by("position")
    proposal = services.change_order_propose(
        actor=eng.engineer,
        engagement_id=eng.pk,
        note="Rebalance.",
        changes=[
            {"action": "add", "title": "Docs", "amount": 10_000, "due_date": _later(9)},
            {"action": "edit", "milestone": second.pk, "amount": 140_000},
            {"action": "edit", "milestone": first.pk, "amount": 90_000},
        ],
    )
    engagement_services.milestone_mark_funded(milestone_id=first.pk)
    with pytest.raises(InvalidTransitionError) as refused:
        services.change_order_accept(actor=eng.client, change_order_id=proposal.pk)
    assert refused.value.code == "change_order_stale"
    assert f"“{first.title}” changed since this was proposed (it is funded)" in refused.value.message
    eng.refresh_from_db()
    assert _plan(eng) == [(first.title, 100_000, "funded"), (second.title, 150_000, "pending_funding")]
    assert eng.total == 250_000
    assert ChangeOrder.objects.get(pk=proposal.pk).state == ChangeOrder.State.PROPOSED
    services.change_order_decline(actor=eng.client, change_order_id=proposal.pk)


def test_a_removed_milestone_is_cancelled_with_the_reference_on_the_timeline():
    eng = engagement(amounts=(100_000, 150_000))
    _, second = eng.milestones.order_by("position")
    proposal = services.change_order_propose(
        actor=eng.client,
        engagement_id=eng.pk,
        changes=[{"action": "remove", "milestone": second.pk}],
        note="Cut.",
    )
    services.change_order_accept(actor=eng.engineer, change_order_id=proposal.pk)
    second.refresh_from_db()
    assert second.state == Milestone.State.CANCELLED
    log = TransitionLog.objects.get(object_id=second.pk, transition="cancel")
    assert log.note == f"Removed by change order {proposal.reference}." and log.actor is None
    assert Engagement.objects.get(pk=eng.pk).total == 100_000


def test_the_api_names_bad_fields_and_answers_with_the_change_order():
    from rest_framework.test import APIClient

    eng = engagement(amounts=(100_000,))
    milestone = eng.milestones.get()
    api = APIClient()
    api.force_authenticate(eng.engineer)
    url = f"/api/v1/engagements/{eng.pk}/change-orders/"
    response = api.post(
        url,
        {
            "note": "x",
            "changes": [{"action": "add", "title": "Report", "amount": "lots", "due_date": "soon"}],
        },
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"changes[0].amount", "changes[0].due_date"}
    response = api.post(
        url,
        {
            "note": "Past date",
            "changes": [{"action": "add", "title": "R", "amount": 100, "due_date": "2001-01-01"}],
        },
        format="json",
    )
    assert response.json()["error"]["details"] == {"changes[0].due_date": ["The due date is in the past."]}
    response = api.post(
        url,
        {"note": "Cheaper.", "changes": [{"action": "edit", "milestone": milestone.pk, "amount": 90_000}]},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["state"], body["total_change"], body["reference"]) == (
        "proposed",
        -10_000,
        f"CO-{body['id']}",
    )
    assert body["items"][0]["was_amount"] == 100_000 and body["items"][0]["amount"] == 90_000
    assert body["summary"].endswith("Total \u2212100.00 USD.")
    again = api.post(
        url, {"note": "More.", "changes": [{"action": "remove", "milestone": milestone.pk}]}, format="json"
    )
    assert (again.status_code, again.json()["error"]["code"]) == (409, "change_order_open")

    client_api = APIClient()
    client_api.force_authenticate(eng.client)
    accepted = client_api.post(
        f"/api/v1/change-orders/{body['id']}/accept/", {"note": "Fine."}, format="json"
    )
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"
    assert client_api.get(url).json()[0]["answer_note"] == "Fine."
    assert eng.milestones.get().amount == 90_000


def test_the_page_proposes_from_the_plan_edited_in_place_and_keeps_bad_input():
    from django.test import Client
    from django.urls import reverse

    eng = engagement(amounts=(100_000, 150_000))
    first, second = eng.milestones.order_by("position")
    engagement_services.milestone_mark_funded(milestone_id=first.pk)
    page = Client()
    page.force_login(eng.engineer)
    url = reverse("change-order-create", args=[eng.pk])
    response = page.get(url)
    assert response.status_code == 200
    form = response.context["form"]
    assert [row["milestone"] for row in response.context["existing"]] == [
        second
    ]  # the funded one is not offered
    assert form[f"m{second.pk}_amount"].value() == "1500"

    bad = {
        "note": "Split the evaluation out.",
        f"m{second.pk}_title": second.title,
        f"m{second.pk}_amount": "1,200",
        f"m{second.pk}_due_date": second.due_date.isoformat(),
        "new0_title": "Evaluation",
        "new0_amount": "three hundred",
        "new0_due_date": (timezone.localdate() - timedelta(days=1)).isoformat(),
    }
    response = page.post(url, bad)
    assert response.status_code == 400
    form = response.context["form"]
    assert "Enter an amount such as" in form.errors["new0_amount"][0]
    assert form["new0_amount"].value() == "three hundred" and form["new0_title"].value() == "Evaluation"
    assert not ChangeOrder.objects.exists()

    response = page.post(
        url, {**bad, "new0_amount": "300"}
    )  # the date is still in the past: the service says so
    assert response.status_code == 400
    assert response.context["form"].errors["new0_due_date"] == ["The due date is in the past."]

    response = page.post(url, {**bad, "new0_amount": "300", "new0_due_date": _later(40).isoformat()})
    assert response.status_code == 302 and response["Location"].endswith("#change-orders")
    proposal = ChangeOrder.objects.get()
    assert [(i.action, i.milestone_id, i.amount) for i in proposal.items.all()] == [
        ("edit", second.pk, 120_000),
        ("add", None, 30_000),
    ]

    page.force_login(eng.client)
    detail = page.get(reverse("engagement-detail", args=[eng.pk])).content.decode()
    assert proposal.reference in detail and "Accept change" in detail
    assert "Total ±0.00 USD" in detail  # 300 USD moved from the second milestone to a new one
    response = page.post(reverse("change-order-answer", args=[proposal.pk, "accept"]), {"note": "Yes."})
    assert response.status_code == 302
    assert ChangeOrder.objects.get().state == ChangeOrder.State.ACCEPTED
    assert page.post(reverse("change-order-answer", args=[proposal.pk, "explode"])).status_code == 404


def test_only_the_parties_open_the_change_page():
    from django.test import Client
    from django.urls import reverse

    from tests.factories import StaffFactory

    eng = engagement(amounts=(100_000,))
    page = Client()
    page.force_login(StaffFactory())
    assert page.get(reverse("change-order-create", args=[eng.pk])).status_code == 403
    page.force_login(ClientFactory())
    assert page.get(reverse("change-order-create", args=[eng.pk])).status_code == 404
