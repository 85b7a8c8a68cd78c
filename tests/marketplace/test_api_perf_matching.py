"""Cached rankings: the API's matches are always what ranking afresh would give.

Rankings are cached per skill set under the matching version, which database triggers bump on every
write to the engineers' side, whoever makes it. Each test below changes one input of the ranking the way
some code path really does (a service, or a queryset update or bulk insert that no signal sees)
and checks that the API's answer is exactly a fresh, uncached ranking.
"""

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from marketplace.api.serializers import MatchSerializer
from marketplace.matching import engineer_match, install_version_triggers, matching_version
from marketplace.models import EngineerProfile, HiringRequest, Skill, User
from marketplace.services import engagements as engagement_services
from marketplace.services import requests as request_services
from marketplace.services.users import skills_resolve
from tests.factories import EngineerFactory, engagement, open_request, reviewed
from vetting.models import Badge

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    hiring_request = open_request(skills=["LoRA", "Evaluation", "RAG"])
    skills = skills_resolve(names=["LoRA", "Evaluation", "RAG"])
    engineers = []
    for index in range(4):
        engineer = EngineerFactory()
        engineer.engineer_profile.skills.set(skills[: index + 1])
        badge = Badge.objects.create(
            engineer=engineer,
            challenge_slug="ticket-json",
            title="Ticket to JSON",
            band=Badge.Band.STRONG,
            score=0.5 + index / 10,
            awarded_at=timezone.now(),
        )
        badge.skills.set(skills[index % 3 :])
        engineers.append(engineer)
    api = APIClient()
    api.force_authenticate(hiring_request.client)
    return {"request": hiring_request, "engineers": engineers, "skills": skills, "api": api}


def _served(world, limit: int = 20) -> bytes:
    response = world["api"].get(f"/api/v1/requests/{world['request'].pk}/matches/?limit={limit}")
    assert response.status_code == 200, response.content
    return response.content


def _fresh(world, limit: int = 20) -> bytes:
    hiring_request = HiringRequest.objects.get(pk=world["request"].pk)
    return JSONRenderer().render(
        MatchSerializer(engineer_match(hiring_request=hiring_request, limit=limit), many=True).data
    )


def _assert_current(world, limit: int = 20) -> None:
    assert _served(world, limit) == _fresh(world, limit)


def test_a_repeated_ranking_comes_from_the_cache(world, django_assert_max_num_queries):
    _assert_current(world)
    with django_assert_max_num_queries(2):  # The request with its inputs, and the version.
        served = _served(world)
    assert served == _fresh(world)
    _assert_current(world, limit=2)  # Another limit, another entry.


@pytest.mark.parametrize(
    "change",
    [
        "availability_by_update",
        "profile_by_save",
        "skill_added",
        "skill_removed",
        "skill_renamed",
        "badge_revoked_by_update",
        "badge_skill_removed",
        "badge_awarded",
        "engineer_renamed",
        "engineer_deactivated",
        "engineer_bulk_created",
        "rating_by_review",
    ],
)
def test_every_change_to_the_engineers_side_shows_at_once(world, change):
    _assert_current(world)
    before = _served(world)
    engineer = world["engineers"][0]
    profile = EngineerProfile.objects.get(user=engineer)
    skills = world["skills"]
    badge = Badge.objects.get(engineer=engineer)
    if change == "availability_by_update":
        EngineerProfile.objects.filter(pk=profile.pk).update(availability="unavailable")
    elif change == "profile_by_save":
        profile.headline = "Now with DPO"
        profile.save()
    elif change == "skill_added":
        profile.skills.add(skills[2])
    elif change == "skill_removed":
        EngineerProfile.objects.get(user=world["engineers"][3]).skills.remove(skills[0])
    elif change == "skill_renamed":
        Skill.objects.filter(pk=skills[0].pk).update(name="LoRA adapters")
    elif change == "badge_revoked_by_update":
        Badge.objects.filter(pk=Badge.objects.get(engineer=world["engineers"][3]).pk).update(
            revoked_at=timezone.now()
        )
    elif change == "badge_skill_removed":
        badge.skills.clear()
    elif change == "badge_awarded":
        new = Badge.objects.create(
            engineer=engineer,
            challenge_slug="rag-eval",
            title="RAG evaluation",
            band=Badge.Band.EXCEPTIONAL,
            score=0.99,
            awarded_at=timezone.now(),
        )
        new.skills.set(skills)
    elif change == "engineer_renamed":
        User.objects.filter(pk=world["engineers"][3].pk).update(first_name="Grace", last_name="Hopper")
    elif change == "engineer_deactivated":
        User.objects.filter(pk=world["engineers"][3].pk).update(is_active=False)
    elif change == "engineer_bulk_created":
        users = User.objects.bulk_create(
            [User(username="bulk-engineer", email="bulk@example.com", role=User.Role.ENGINEER, password="!")]
        )
        created = EngineerProfile.objects.bulk_create(
            [
                EngineerProfile(
                    user=users[0],
                    headline="Bulk-loaded engineer",
                    bio="Loaded in bulk, with a bio long enough to be listed.",
                    rate_amount=10000,
                    time_zone="UTC",
                    rating_count=9,
                    rating_sum=45,
                )
            ]
        )
        EngineerProfile.skills.through.objects.bulk_create(
            EngineerProfile.skills.through(engineerprofile_id=created[0].pk, skill_id=skill.pk)
            for skill in skills
        )
    elif change == "rating_by_review":
        done = engagement(amounts=(1000,), engineer=engineer)
        milestone = done.milestones.get()
        engagement_services.milestone_mark_funded(milestone_id=milestone.pk)
        engagement_services.milestone_start(actor=engineer, milestone_id=milestone.pk)
        engagement_services.milestone_submit(actor=engineer, milestone_id=milestone.pk, message="Done.")
        engagement_services.milestone_approve(actor=done.client, milestone_id=milestone.pk)
        reviewed(done, rating=5)
    after = _served(world)
    assert after != before, "the change should have changed the ranking"
    assert after == _fresh(world)


def test_who_is_invited_is_read_afresh(world):
    _assert_current(world)
    engineer = world["engineers"][2]
    request_services.consultation_invite(
        actor=world["request"].client, request_id=world["request"].pk, engineer_id=engineer.pk
    )
    rows = world["api"].get(f"/api/v1/requests/{world['request'].pk}/matches/").json()
    assert [row["engineer"]["id"] for row in rows if row["invited"]] == [engineer.pk]
    _assert_current(world)


def test_requests_with_the_same_skills_share_a_ranking_and_its_changes(world):
    twin = open_request(skills=["RAG", "LoRA", "Evaluation"])
    api = APIClient()
    api.force_authenticate(twin.client)
    _assert_current(world)
    assert api.get(f"/api/v1/requests/{twin.pk}/matches/").content == _served(world)
    request_services.request_update(actor=twin.client, request_id=twin.pk, skills=["RAG"])
    twin_rows = api.get(f"/api/v1/requests/{twin.pk}/matches/").json()
    fresh = MatchSerializer(
        engineer_match(hiring_request=HiringRequest.objects.get(pk=twin.pk)), many=True
    ).data
    assert twin_rows == fresh
    _assert_current(world)


def test_the_version_moves_with_writes_and_not_with_logins(world):
    engineer = world["engineers"][0]
    version = matching_version()
    User.objects.filter(pk=engineer.pk).update(last_login=timezone.now(), email="new@example.com")
    assert matching_version() == version
    EngineerProfile.objects.filter(user=engineer).update(rate_amount=1)
    assert matching_version() > version


@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite drops a table's triggers when it rebuilds it"
)
def test_a_lost_trigger_is_put_back_and_nothing_is_cached_meanwhile(world):
    _assert_current(world)
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER matching_version_vetting_badge_update")
    Badge.objects.filter(engineer=world["engineers"][3]).update(revoked_at=timezone.now())  # Not counted.
    assert (
        matching_version() is None
    )  # ...so the ranking is not served from the cache, and the trigger is back:
    _assert_current(world)
    version = matching_version()
    assert version is not None
    Badge.objects.filter(engineer=world["engineers"][2]).update(revoked_at=timezone.now())
    assert matching_version() > version
    _assert_current(world)


def test_the_triggers_can_be_installed_again(world):
    install_version_triggers(connection)
    install_version_triggers(connection)
    _assert_current(world)
    cache.clear()
    _assert_current(world)
