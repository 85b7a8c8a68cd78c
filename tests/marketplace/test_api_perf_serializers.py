"""The hand-written renderings of the busy output serializers say exactly what their declared fields say.

Each output serializer on a hot read path renders by hand; its declared fields are what the OpenAPI
document describes. These tests render the same objects both ways, the hand-written one and DRF's generic
field-by-field walk (all the way down the nested serializers), and compare the JSON byte for byte, so that
a field added to a declaration and not to its rendering (or the reverse) fails. Where the API reads rows of
a prepared query (the request list, the engagement detail), those rows are what the fast side renders,
against the models the pages' selectors return.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.utils import timezone
from rest_framework import serializers
from rest_framework.relations import PKOnlyObject
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIRequestFactory

from marketplace import selectors
from marketplace.api import serializers as s
from marketplace.matching import engineer_match
from marketplace.models import EngineerProfile
from marketplace.services import engagements as engagement_services
from marketplace.services import requests as request_services
from marketplace.services.users import skills_resolve
from tests.factories import EngineerFactory, HiringRequestFactory, engagement, open_request, reviewed
from vetting.models import Badge

pytestmark = pytest.mark.django_db


def _generic(serializer, instance):
    """DRF's Serializer.to_representation over the declared fields, never the hand-written one."""
    data = {}
    for field in serializer._readable_fields:
        attribute = field.get_attribute(instance)
        if (attribute.pk if isinstance(attribute, PKOnlyObject) else attribute) is None:
            data[field.field_name] = None
        elif isinstance(field, serializers.ListSerializer):
            items = attribute.all() if isinstance(attribute, models.manager.BaseManager) else attribute
            data[field.field_name] = [_generic(field.child, item) for item in items]
        elif isinstance(field, serializers.BaseSerializer):
            data[field.field_name] = _generic(field, attribute)
        else:
            data[field.field_name] = field.to_representation(attribute)
    return data


def _assert_same(serializer_class, instances, rows=None, user=None) -> None:
    """Each instance rendered the generic way is what the serializer makes of it, or of its row (as
    `user` sees it, where that matters)."""
    instances = list(instances)
    rows = instances if rows is None else list(rows)
    assert instances and len(rows) == len(instances)
    request = APIRequestFactory().get("/api/v1/")
    if user is not None:
        request.user = user
    context = {"request": request}
    many = serializer_class(rows, many=True, context=context).data
    for index, (instance, row) in enumerate(zip(instances, rows, strict=True)):
        fast = serializer_class(row, context=context).data
        generic = _generic(serializer_class(instance, context=context), instance)
        assert JSONRenderer().render(fast) == JSONRenderer().render(generic)
        assert JSONRenderer().render(many[index]) == JSONRenderer().render(generic)


@pytest.fixture
def world():
    """A finished engagement with a review, one in progress with deliveries (links, attachments, a
    revision), vetted and rated engineers, and requests in several states."""
    done = engagement(amounts=(1000,))
    milestone = done.milestones.get()
    engagement_services.milestone_mark_funded(milestone_id=milestone.pk)
    engagement_services.milestone_start(actor=done.engineer, milestone_id=milestone.pk)
    engagement_services.milestone_submit(actor=done.engineer, milestone_id=milestone.pk, message="Here.")
    engagement_services.milestone_approve(actor=done.client, milestone_id=milestone.pk)
    reviewed(done, rating=4, text="Good <b>work</b>")

    active = engagement(amounts=(1000, 2500, 700))
    first, second, _ = active.milestones.order_by("position")
    for milestone in (first, second):
        engagement_services.milestone_mark_funded(milestone_id=milestone.pk)
        engagement_services.milestone_start(actor=active.engineer, milestone_id=milestone.pk)
    engagement_services.milestone_submit(
        actor=active.engineer,
        milestone_id=first.pk,
        message="Adapter and report.",
        links=["https://example.com/report", "https://example.com/adapter"],
        files=[
            SimpleUploadedFile("report.txt", b"accuracy 0.93", content_type="text/plain"),
            SimpleUploadedFile("eval.json", b"{}", content_type="application/json"),
        ],
    )
    engagement_services.milestone_request_revision(actor=active.client, milestone_id=first.pk, comment="More")
    engagement_services.milestone_submit(actor=active.engineer, milestone_id=first.pk, message="Again.")

    hiring_request = open_request(client=active.client, skills=["LoRA", "Evaluation", "RAG"])
    HiringRequestFactory(client=active.client, deadline=None)  # A draft: no deadline, never published.
    skills = skills_resolve(names=["LoRA", "Evaluation"])
    engineers = []
    for index, availability in enumerate(EngineerProfile.Availability.values):
        engineer = EngineerFactory(first_name="" if index else "Ada", last_name="")
        engineers.append(engineer)
        engineer.engineer_profile.skills.set(skills[: index + 1])
        EngineerProfile.objects.filter(user=engineer).update(availability=availability)
        badge = Badge.objects.create(
            engineer=engineer,
            challenge_slug="ticket-json",
            title="Ticket to JSON",
            band=Badge.Band.values[index],
            score=0.5 + index / 10,
            awarded_at=timezone.now(),
        )
        badge.skills.set(skills[index:])
    request_services.consultation_invite(  # one taking work (an engineer who is not cannot be invited)
        actor=active.client, request_id=hiring_request.pk, engineer_id=engineers[0].pk
    )
    return {"done": done, "active": active, "request": hiring_request}


def test_request_list(world, staff_user):
    client = world["active"].client
    for user in (client, world["active"].engineer, staff_user):
        for state in (None, "open", "draft"):
            requests = list(selectors.request_list(user=user, state=state))
            if requests:
                summaries = selectors.request_summaries(user=user, state=state)
                assert summaries.count() == len(requests)
                _assert_same(s.RequestSerializer, requests, summaries[0 : len(requests)])
    _assert_same(s.UserBriefSerializer, [client, world["active"].engineer])


def test_matches(world):
    client = world["active"].client
    hiring_request = selectors.request_for_matching(user=client, request_id=world["request"].pk)
    matches = engineer_match(hiring_request=hiring_request, limit=50)
    assert {match.invited for match in matches} == {True, False}
    assert any(match.profile.user.active_badges for match in matches)
    _assert_same(s.MatchSerializer, matches)
    _assert_same(s.EngineerSerializer, [match.profile for match in matches])


def test_engineers(world):
    profiles = selectors.engineer_list()
    _assert_same(s.EngineerSerializer, profiles)
    _assert_same(s.BadgeSerializer, Badge.objects.all())
    rated = world["done"].engineer.username
    _assert_same(s.EngineerDetailSerializer, [selectors.engineer_detail(username=rated)])


def test_engagements(world, staff_user):
    for key in ("done", "active"):
        for user in (world[key].client, world[key].engineer, staff_user):
            _assert_same(s.EngagementSerializer, selectors.engagement_list(user=user))
            detail = selectors.engagement_get(user=user, engagement_id=world[key].pk)
            _assert_same(s.EngagementDetailSerializer, [detail], user=user)
            row = selectors.engagement_detail(user=user, engagement_id=world[key].pk)
            _assert_same(s.EngagementDetailSerializer, [detail], [row], user=user)
            milestones = list(detail.milestones.all())
            _assert_same(s.MilestoneSerializer, milestones)
            _assert_same(s.MilestoneDetailSerializer, milestones)
    active = selectors.engagement_get(user=world["active"].client, engagement_id=world["active"].pk)
    deliveries = [
        delivery for milestone in active.milestones.all() for delivery in milestone.deliveries.all()
    ]
    assert len(deliveries) == 2 and any(delivery.attachments.all() for delivery in deliveries)
    _assert_same(s.DeliverySerializer, deliveries)
    _assert_same(s.AttachmentSerializer, [a for delivery in deliveries for a in delivery.attachments.all()])
    _assert_same(s.ReviewSerializer, [world["done"].review])
