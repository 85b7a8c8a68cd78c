"""Test data. Users and drafts come from factory-boy; later states are reached through the real
services (so a test's engagement is one the product could actually have produced)."""

from datetime import timedelta

import factory
from django.utils import timezone

from marketplace.models import EngineerProfile, HiringRequest, Skill, User
from marketplace.services import engagements as engagement_services
from marketplace.services import requests as request_services
from marketplace.services import users as user_services

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"client{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    role = User.Role.CLIENT
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ClientFactory(UserFactory):
    pass


class EngineerFactory(UserFactory):
    username = factory.Sequence(lambda n: f"engineer{n}")
    role = User.Role.ENGINEER
    profile = factory.RelatedFactory("tests.factories.EngineerProfileFactory", factory_related_name="user")


def listed_engineer(*, skills=("LoRA",), **fields) -> User:
    """An engineer whose profile the directory lists (the factory's profile lacks only skills);
    `profile__<field>` keywords set profile fields."""
    profile_fields = {
        name.removeprefix("profile__"): fields.pop(name)
        for name in list(fields)
        if name.startswith("profile__")
    }
    engineer = EngineerFactory(**fields)
    profile = engineer.engineer_profile
    for name, value in profile_fields.items():
        setattr(profile, name, value)
    profile.save()
    profile.skills.set(user_services.skills_resolve(names=list(skills)))
    return engineer


class StaffFactory(UserFactory):
    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True
    is_superuser = True


class SkillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Skill
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Skill {n}")
    slug = factory.LazyAttribute(lambda s: s.name.lower().replace(" ", "-"))


class EngineerProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EngineerProfile

    user = factory.SubFactory(EngineerFactory, profile=None)
    headline = "LoRA fine-tuning for structured extraction"
    bio = "I fine-tune small models for production."
    rate_amount = 12000
    time_zone = "Europe/Berlin"
    availability = EngineerProfile.Availability.AVAILABLE


class HiringRequestFactory(factory.django.DjangoModelFactory):
    """A draft request."""

    class Meta:
        model = HiringRequest

    client = factory.SubFactory(ClientFactory)
    title = factory.Sequence(lambda n: f"Fine-tune a ticket classifier #{n}")
    description = "We need a small model that turns support tickets into JSON."
    budget_min = 200_000
    budget_max = 500_000
    deadline = factory.LazyFunction(lambda: timezone.localdate() + timedelta(days=60))
    data_description = "12k labelled tickets in CSV."


def open_request(*, client: User | None = None, skills: list[str] | None = None) -> HiringRequest:
    client = client or ClientFactory()
    hiring_request = request_services.request_create(
        actor=client,
        title="Fine-tune a support-ticket extractor",
        description="Turn customer messages into JSON for routing.",
        budget_min=200_000,
        budget_max=500_000,
        currency="usd",
        deadline=timezone.localdate() + timedelta(days=60),
        skills=skills or ["LoRA", "Evaluation"],
    )
    return request_services.request_publish(actor=client, request_id=hiring_request.pk)


def milestone_plan(*amounts: int) -> list[dict]:
    due = timezone.localdate() + timedelta(days=14)
    return [
        {"title": f"Milestone {index + 1}", "amount": amount, "due_date": due + timedelta(days=7 * index)}
        for index, amount in enumerate(amounts)
    ]


def proposal_for(*, hiring_request: HiringRequest, engineer: User | None = None, amounts=(100_000, 150_000)):
    """Invite an engineer to the request and have them propose; returns (consultation, proposal)."""
    engineer = engineer or EngineerFactory()
    consultation = request_services.consultation_invite(
        actor=hiring_request.client, request_id=hiring_request.pk, engineer_id=engineer.pk
    )
    proposal = request_services.proposal_submit(
        actor=engineer,
        consultation_id=consultation.pk,
        scope="Data audit, LoRA fine-tune, evaluation report.",
        price=sum(amounts),
        milestones=milestone_plan(*amounts),
    )
    return consultation, proposal


def engagement(*, amounts=(100_000, 150_000), client: User | None = None, engineer: User | None = None):
    hiring_request = open_request(client=client)
    _, proposal = proposal_for(hiring_request=hiring_request, engineer=engineer, amounts=amounts)
    return request_services.proposal_accept(actor=hiring_request.client, proposal_id=proposal.pk)


def milestone_in_state(state: str, *, amounts=(100_000,)):
    """A milestone driven through the real services into `state`."""
    from marketplace.models import Milestone

    eng = engagement(amounts=amounts)
    milestone = eng.milestones.first()
    client, engineer = eng.client, eng.engineer
    steps = {
        Milestone.State.PENDING_FUNDING: [],
        Milestone.State.FUNDED: ["fund"],
        Milestone.State.IN_PROGRESS: ["fund", "start"],
        Milestone.State.SUBMITTED: ["fund", "start", "submit"],
        Milestone.State.APPROVED: ["fund", "start", "submit", "approve"],
        Milestone.State.PAYOUT_PENDING: ["fund", "start", "submit", "approve", "payout"],
        Milestone.State.PAID: ["fund", "start", "submit", "approve", "payout", "paid"],
        Milestone.State.DISPUTED: ["fund", "dispute"],
        Milestone.State.RESOLVED: ["fund", "dispute", "resolve"],
        Milestone.State.CANCELLED: ["cancel"],
        Milestone.State.REFUND_PENDING: ["fund", "refund"],
        Milestone.State.REFUNDED: ["fund", "refund", "refunded"],
    }[state]
    pk = milestone.pk
    actions = {
        "fund": lambda: engagement_services.milestone_mark_funded(milestone_id=pk),
        "start": lambda: engagement_services.milestone_start(actor=engineer, milestone_id=pk),
        "submit": lambda: engagement_services.milestone_submit(
            actor=engineer, milestone_id=pk, message="Adapter and eval report attached."
        ),
        "approve": lambda: engagement_services.milestone_approve(actor=client, milestone_id=pk),
        "payout": lambda: engagement_services.milestone_request_payout(milestone_id=pk),
        "paid": lambda: engagement_services.milestone_mark_paid(milestone_id=pk),
        "dispute": lambda: engagement_services.milestone_open_dispute(
            actor=client,
            milestone_id=pk,
            category="scope_not_met",
            reason="Scope not met: the delivery does not match the agreed scope.",
        ),
        "resolve": lambda: engagement_services.milestone_resolve_dispute(
            actor=None, milestone_id=pk, note="Split 50/50."
        ),
        "cancel": lambda: engagement_services.milestone_cancel(actor=client, milestone_id=pk),
        "refund": lambda: engagement_services.milestone_request_refund(
            actor=None, milestone_id=pk, reason="Both agreed to stop."
        ),
        "refunded": lambda: engagement_services.milestone_mark_refunded(milestone_id=pk),
    }
    for step in steps:
        actions[step]()
    milestone.refresh_from_db()
    return milestone


def reviewed(engagement, *, rating: int, text: str = "", client_rating: int = 5):
    """Both parties rate a completed engagement, so both reviews are published; the client's review."""
    from marketplace.services import reviews

    review = reviews.review_create(
        actor=engagement.client, engagement_id=engagement.pk, rating=rating, text=text
    )
    reviews.review_create(actor=engagement.engineer, engagement_id=engagement.pk, rating=client_rating)
    review.refresh_from_db()
    return review
