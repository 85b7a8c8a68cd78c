"""Request, consultation and proposal services: every transition, allowed and refused, per role."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from core.errors import InvalidTransitionError, NotFoundError, PermissionDeniedError, ValidationError
from marketplace.models import Consultation, Engagement, HiringRequest, Milestone, Notification, Proposal
from marketplace.services import conversations as conversation_services
from marketplace.services import requests as services
from tests.factories import (
    ClientFactory,
    EngineerFactory,
    HiringRequestFactory,
    StaffFactory,
    milestone_plan,
    open_request,
    proposal_for,
)

pytestmark = pytest.mark.django_db
R = HiringRequest.State


def _request_in(state):
    if state == R.DRAFT:
        return HiringRequestFactory()
    hiring_request = open_request()
    if state == R.OPEN:
        return hiring_request
    _, proposal = proposal_for(hiring_request=hiring_request)
    if state == R.CONSULTING:
        return HiringRequest.objects.get(pk=hiring_request.pk)
    if state == R.WITHDRAWN:
        return services.request_withdraw(actor=hiring_request.client, request_id=hiring_request.pk)
    services.proposal_accept(actor=hiring_request.client, proposal_id=proposal.pk)
    return HiringRequest.objects.get(pk=hiring_request.pk)


class TestRequestLifecycle:
    def test_create_update_publish(self, client_user):
        hiring_request = services.request_create(
            actor=client_user,
            title="Tune a classifier",
            description="Tickets to labels.",
            budget_min=100_000,
            budget_max=200_000,
            currency="usd",
            skills=["LoRA", "lora", "Evaluation"],
            tried_prompting="yes",
            has_enough_data="partly",
        )
        assert hiring_request.state == R.DRAFT
        assert sorted(s.slug for s in hiring_request.skills.all()) == ["evaluation", "lora"]
        services.request_update(actor=client_user, request_id=hiring_request.pk, title="Tune a router")
        published = services.request_publish(actor=client_user, request_id=hiring_request.pk)
        assert published.state == R.OPEN and published.published_at is not None
        assert published.title == "Tune a router"
        assert "Gaps:" in published.readiness_summary

    def test_readiness_summary_all_yes(self, client_user):
        answers = dict.fromkeys(
            [
                "tried_prompting",
                "has_enough_data",
                "has_success_metric",
                "lowers_long_term_cost",
                "deployment_ready",
            ],
            "yes",
        )
        hiring_request = services.request_create(
            actor=client_user, title="T", description="D", budget_min=1, budget_max=2, **answers
        )
        assert hiring_request.readiness_summary == "Ready to fine-tune (10/10)."

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"budget_min": 500, "budget_max": 100}, "budget_max"),
            ({"deadline": timezone.localdate() - timedelta(days=1)}, "deadline"),
            ({"title": ""}, "title"),
            ({"tried_prompting": "maybe"}, "tried_prompting"),
            ({"colour": "red"}, "colour"),
        ],
    )
    def test_bad_input_names_the_field_and_writes_nothing(self, client_user, fields, field):
        base = {"title": "T", "description": "D", "budget_min": 100, "budget_max": 200}
        with pytest.raises(ValidationError) as excinfo:
            services.request_create(actor=client_user, **{**base, **fields})
        assert field in excinfo.value.details
        assert not HiringRequest.objects.exists()

    def test_engineers_cannot_create_requests(self, engineer_user):
        with pytest.raises(PermissionDeniedError):
            services.request_create(
                actor=engineer_user, title="T", description="D", budget_min=1, budget_max=2
            )

    @pytest.mark.parametrize("state", list(R))
    def test_publish_only_from_draft(self, state):
        hiring_request = _request_in(state)
        if state == R.DRAFT:
            assert (
                services.request_publish(actor=hiring_request.client, request_id=hiring_request.pk).state
                == R.OPEN
            )
        else:
            with pytest.raises(InvalidTransitionError):
                services.request_publish(actor=hiring_request.client, request_id=hiring_request.pk)

    @pytest.mark.parametrize("state", list(R))
    def test_withdraw_from_draft_open_consulting_only(self, state):
        hiring_request = _request_in(state)
        if state in (R.DRAFT, R.OPEN, R.CONSULTING):
            result = services.request_withdraw(actor=hiring_request.client, request_id=hiring_request.pk)
            assert result.state == R.WITHDRAWN
            assert not hiring_request.consultations.filter(state=Consultation.State.OPEN).exists()
        else:
            with pytest.raises(InvalidTransitionError):
                services.request_withdraw(actor=hiring_request.client, request_id=hiring_request.pk)

    @pytest.mark.parametrize("state", list(R))
    def test_edit_only_before_hiring(self, state):
        hiring_request = _request_in(state)
        if state in HiringRequest.EDITABLE_STATES:
            services.request_update(actor=hiring_request.client, request_id=hiring_request.pk, title="New")
        else:
            with pytest.raises(InvalidTransitionError):
                services.request_update(
                    actor=hiring_request.client, request_id=hiring_request.pk, title="New"
                )

    @pytest.mark.parametrize("who", ["other_client", "engineer", "staff"])
    def test_others_cannot_touch_a_request(self, who):
        hiring_request = HiringRequestFactory()
        actor = {"other_client": ClientFactory, "engineer": EngineerFactory, "staff": StaffFactory}[who]()
        # Staff can see every request, so they are told they may not act (403); strangers get 404.
        expected = PermissionDeniedError if who == "staff" else NotFoundError
        for call in (services.request_publish, services.request_withdraw):
            with pytest.raises(expected):
                call(actor=actor, request_id=hiring_request.pk)
        hiring_request.refresh_from_db()
        assert hiring_request.state == R.DRAFT


class TestConsultations:
    def test_invite_moves_request_to_consulting_and_notifies(self, django_capture_on_commit_callbacks):
        hiring_request = open_request()
        engineer = EngineerFactory()
        with django_capture_on_commit_callbacks(execute=True):
            consultation = services.consultation_invite(
                actor=hiring_request.client,
                request_id=hiring_request.pk,
                engineer_id=engineer.pk,
                message="Hi!",
            )
        hiring_request.refresh_from_db()
        assert hiring_request.state == R.CONSULTING
        assert consultation.messages.get().body == "Hi!"
        assert Notification.objects.filter(user=engineer, kind="consultation_invited").exists()
        assert [m.to for m in mail.outbox] == [[engineer.email]]
        assert "invited you to consult" in mail.outbox[0].body
        assert Notification.objects.get(user=engineer).emailed_at is not None

    def test_an_engineer_not_taking_work_cannot_be_invited_and_a_note_travels_with_the_invitation(self):
        from marketplace.models import EngineerProfile

        hiring_request = open_request()
        busy = EngineerFactory()
        EngineerProfile.objects.filter(user=busy).update(availability="unavailable")
        with pytest.raises(InvalidTransitionError) as refused:
            services.consultation_invite(
                actor=hiring_request.client, request_id=hiring_request.pk, engineer_id=busy.pk
            )
        assert refused.value.code == "not_taking_work"
        assert not Consultation.objects.filter(engineer=busy).exists()
        free = EngineerFactory()
        consultation = services.consultation_invite(
            actor=hiring_request.client,
            request_id=hiring_request.pk,
            engineer_id=free.pk,
            message="We have 12k labelled tickets; could you look this week?",
        )
        assert consultation.messages.get().body == "We have 12k labelled tickets; could you look this week?"

    def test_invite_twice_is_refused(self):
        hiring_request = open_request()
        engineer = EngineerFactory()
        services.consultation_invite(
            actor=hiring_request.client, request_id=hiring_request.pk, engineer_id=engineer.pk
        )
        with pytest.raises(InvalidTransitionError):
            services.consultation_invite(
                actor=hiring_request.client, request_id=hiring_request.pk, engineer_id=engineer.pk
            )

    def test_invite_a_draft_or_a_client_is_refused(self):
        draft = HiringRequestFactory()
        with pytest.raises(InvalidTransitionError):
            services.consultation_invite(
                actor=draft.client, request_id=draft.pk, engineer_id=EngineerFactory().pk
            )
        hiring_request = open_request()
        with pytest.raises(ValidationError) as excinfo:
            services.consultation_invite(
                actor=hiring_request.client, request_id=hiring_request.pk, engineer_id=ClientFactory().pk
            )
        assert "engineer" in excinfo.value.details

    def test_engineer_declines_and_client_cannot(self):
        hiring_request = open_request()
        consultation, _ = proposal_for(hiring_request=hiring_request)
        with pytest.raises(PermissionDeniedError):
            services.consultation_decline(actor=hiring_request.client, consultation_id=consultation.pk)
        services.consultation_decline(
            actor=consultation.engineer, consultation_id=consultation.pk, reason="Busy"
        )
        consultation.refresh_from_db()
        assert consultation.state == Consultation.State.DECLINED
        with pytest.raises(InvalidTransitionError):
            conversation_services.message_post(
                actor=hiring_request.client, consultation_id=consultation.pk, body="Sure?"
            )

    def test_messages_between_parties_only(self):
        hiring_request = open_request()
        consultation, _ = proposal_for(hiring_request=hiring_request)
        conversation_services.message_post(
            actor=consultation.engineer, consultation_id=consultation.pk, body="Question"
        )
        conversation_services.message_post(
            actor=hiring_request.client, consultation_id=consultation.pk, body="Answer"
        )
        assert list(consultation.messages.values_list("body", flat=True)) == ["Question", "Answer"]
        with pytest.raises(NotFoundError):
            conversation_services.message_post(
                actor=EngineerFactory(), consultation_id=consultation.pk, body="Hi"
            )
        with pytest.raises(ValidationError):
            conversation_services.message_post(
                actor=hiring_request.client, consultation_id=consultation.pk, body="   "
            )


class TestProposals:
    def _consultation(self):
        hiring_request = open_request()
        engineer = EngineerFactory()
        return services.consultation_invite(
            actor=hiring_request.client, request_id=hiring_request.pk, engineer_id=engineer.pk
        )

    def test_milestones_must_sum_to_the_price(self):
        consultation = self._consultation()
        with pytest.raises(ValidationError) as excinfo:
            services.proposal_submit(
                actor=consultation.engineer,
                consultation_id=consultation.pk,
                scope="S",
                price=300,
                milestones=milestone_plan(100, 150),
            )
        assert "milestones" in excinfo.value.details
        assert not Proposal.objects.exists()

    @pytest.mark.parametrize(
        ("milestones", "field"),
        [
            ([], "milestones"),
            ([{"title": "", "amount": 100, "due_date": timezone.localdate()}], "milestones[0].title"),
            ([{"title": "A", "amount": -5, "due_date": timezone.localdate()}], "milestones[0].amount"),
            ([{"title": "A", "amount": "100", "due_date": timezone.localdate()}], "milestones[0].amount"),
            (
                [{"title": "A", "amount": 100, "due_date": timezone.localdate() - timedelta(days=1)}],
                "milestones[0].due_date",
            ),
            ([{"title": "A", "amount": 100, "due_date": "2030-01-01"}], "milestones[0].due_date"),
        ],
    )
    def test_bad_milestones_name_the_field(self, milestones, field):
        consultation = self._consultation()
        with pytest.raises(ValidationError) as excinfo:
            services.proposal_submit(
                actor=consultation.engineer,
                consultation_id=consultation.pk,
                scope="S",
                price=100,
                milestones=milestones,
            )
        assert field in excinfo.value.details

    def test_only_the_engineer_proposes_and_a_new_proposal_supersedes(self):
        consultation = self._consultation()
        with pytest.raises(PermissionDeniedError):
            services.proposal_submit(
                actor=consultation.request.client,
                consultation_id=consultation.pk,
                scope="S",
                price=100,
                milestones=milestone_plan(100),
            )
        first = services.proposal_submit(
            actor=consultation.engineer,
            consultation_id=consultation.pk,
            scope="S",
            price=100,
            milestones=milestone_plan(100),
        )
        second = services.proposal_submit(
            actor=consultation.engineer,
            consultation_id=consultation.pk,
            scope="S2",
            price=300,
            milestones=milestone_plan(100, 200),
        )
        first.refresh_from_db()
        assert first.state == Proposal.State.WITHDRAWN
        assert second.state == Proposal.State.SUBMITTED
        assert [m.amount for m in second.milestones.all()] == [100, 200]

    def test_accept_hires_creates_engagement_and_closes_other_threads(self):
        hiring_request = open_request()
        chosen, proposal = proposal_for(hiring_request=hiring_request, amounts=(100_000, 150_000))
        other, other_proposal = proposal_for(hiring_request=hiring_request, amounts=(90_000,))
        engagement = services.proposal_accept(actor=hiring_request.client, proposal_id=proposal.pk)

        hiring_request.refresh_from_db()
        chosen.refresh_from_db()
        other.refresh_from_db()
        other_proposal.refresh_from_db()
        assert hiring_request.state == R.HIRED
        assert chosen.state == Consultation.State.HIRED
        assert other.state == Consultation.State.CLOSED and "hired another engineer" in other.closed_reason
        assert other_proposal.state == Proposal.State.DECLINED
        assert Notification.objects.filter(user=other.engineer, kind="consultation_closed").exists()
        assert engagement.total == 250_000 and engagement.engineer == chosen.engineer
        assert [(m.amount, m.state) for m in engagement.milestones.all()] == [
            (100_000, Milestone.State.PENDING_FUNDING),
            (150_000, Milestone.State.PENDING_FUNDING),
        ]
        with pytest.raises(InvalidTransitionError):
            services.proposal_accept(actor=hiring_request.client, proposal_id=other_proposal.pk)
        assert Engagement.objects.count() == 1

    @pytest.mark.parametrize("who", ["engineer", "other_client", "other_engineer"])
    def test_accept_refused_for_others(self, who):
        hiring_request = open_request()
        consultation, proposal = proposal_for(hiring_request=hiring_request)
        actor = {
            "engineer": consultation.engineer,
            "other_client": ClientFactory(),
            "other_engineer": EngineerFactory(),
        }[who]
        expected = PermissionDeniedError if who == "engineer" else NotFoundError
        with pytest.raises(expected):
            services.proposal_accept(actor=actor, proposal_id=proposal.pk)
        assert not Engagement.objects.exists()

    def test_withdrawn_proposal_cannot_be_accepted(self):
        hiring_request = open_request()
        consultation, proposal = proposal_for(hiring_request=hiring_request)
        services.proposal_withdraw(actor=consultation.engineer, proposal_id=proposal.pk)
        with pytest.raises(InvalidTransitionError):
            services.proposal_accept(actor=hiring_request.client, proposal_id=proposal.pk)
        assert not Engagement.objects.exists()
