from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from core.errors import InvalidTransitionError, NotFoundError, PermissionDeniedError, ValidationError
from core.models import TransitionLog
from marketplace.matching import engineer_match
from marketplace.models import ClientReview, Engagement, EngineerProfile, Milestone, Notification, Review
from marketplace.services import engagements as services
from marketplace.services import reviews
from marketplace.tasks import milestones_auto_approve, reviews_publish_due
from tests.factories import EngineerFactory, SkillFactory, milestone_in_state, open_request

pytestmark = pytest.mark.django_db


def test_auto_approve_reminds_then_approves(settings, django_capture_on_commit_callbacks):
    settings.AUTO_APPROVE_DAYS = 14
    settings.AUTO_APPROVE_REMINDER_DAYS = 2
    milestone = milestone_in_state(Milestone.State.SUBMITTED)
    submitted_at = milestone.submitted_at
    assert milestone.auto_approve_at == submitted_at + timedelta(days=14)

    assert services.milestones_auto_approve(now=submitted_at + timedelta(days=11)) == {
        "approved": 0,
        "reminded": 0,
    }
    with django_capture_on_commit_callbacks(execute=True):
        result = services.milestones_auto_approve(now=submitted_at + timedelta(days=12, hours=1))
    assert result == {"approved": 0, "reminded": 1}
    reminder = Notification.objects.get(kind="milestone_auto_approve_reminder")
    assert reminder.user == milestone.engagement.client
    assert any("approved automatically" in m.body for m in mail.outbox)
    # A second sweep does not remind twice.
    assert services.milestones_auto_approve(now=submitted_at + timedelta(days=13))["reminded"] == 0

    result = services.milestones_auto_approve(now=submitted_at + timedelta(days=14, minutes=1))
    assert result == {"approved": 1, "reminded": 0}
    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.APPROVED
    log = TransitionLog.objects.filter(object_id=milestone.pk, to_state="approved").get()
    assert log.actor is None and "automatically" in log.note
    assert services.milestones_auto_approve(now=submitted_at + timedelta(days=30))["approved"] == 0


def test_revision_stops_the_auto_approve_clock():
    milestone = milestone_in_state(Milestone.State.SUBMITTED)
    services.milestone_request_revision(
        actor=milestone.engagement.client, milestone_id=milestone.pk, comment="Fix"
    )
    assert services.milestones_auto_approve(now=timezone.now() + timedelta(days=60))["approved"] == 0
    milestone.refresh_from_db()
    assert milestone.state == Milestone.State.IN_PROGRESS and milestone.revision_count == 1


def test_beat_task_runs_the_sweep():
    milestone = milestone_in_state(Milestone.State.SUBMITTED)
    Milestone.objects.filter(pk=milestone.pk).update(auto_approve_at=timezone.now() - timedelta(minutes=1))
    assert milestones_auto_approve.delay().get() == {"approved": 1, "reminded": 0}


class TestReviews:
    def test_both_rate_and_both_reviews_publish_together(self):
        milestone = milestone_in_state(Milestone.State.APPROVED)
        engagement = Engagement.objects.get(pk=milestone.engagement_id)
        review = reviews.review_create(
            actor=engagement.client, engagement_id=engagement.pk, rating=4, text="Good"
        )
        assert (review.rating, review.is_published) == (4, False)
        profile = EngineerProfile.objects.get(user=engagement.engineer)
        assert (profile.rating_count, profile.rating_average) == (0, None)  # not counted before publication
        told = Notification.objects.get(user=engagement.engineer, kind="review_received")
        assert "4" not in told.message  # the rating waits for the engineer's own
        with pytest.raises(InvalidTransitionError):
            reviews.review_create(actor=engagement.client, engagement_id=engagement.pk, rating=5)

        theirs = reviews.review_create(actor=engagement.engineer, engagement_id=engagement.pk, rating=5)
        assert theirs.is_published and isinstance(theirs, ClientReview)
        assert Review.objects.get(pk=review.pk).is_published
        profile.refresh_from_db()
        assert (profile.rating_count, profile.rating_average) == (1, 4.0)
        assert Notification.objects.filter(kind="review_published").count() == 2

        reviews.review_update(actor=engagement.client, engagement_id=engagement.pk, rating=2, text="Late.")
        profile.refresh_from_db()
        assert (profile.rating_count, profile.rating_sum) == (1, 2)  # a published edit moves the average

    def test_the_window_publishes_a_lone_review_and_closes_writing_and_editing(self, settings):
        settings.REVIEW_WINDOW_DAYS = 14
        milestone = milestone_in_state(Milestone.State.APPROVED)
        engagement = Engagement.objects.get(pk=milestone.engagement_id)
        reviews.review_create(actor=engagement.client, engagement_id=engagement.pk, rating=5)
        assert reviews.reviews_publish_due() == {"published": 0}
        later = timezone.now() + timedelta(days=15)
        assert reviews.reviews_publish_due(now=later) == {"published": 1}
        assert EngineerProfile.objects.get(user=engagement.engineer).rating_count == 1
        assert reviews.reviews_publish_due(now=later) == {"published": 0}

        Engagement.objects.filter(pk=engagement.pk).update(completed_at=timezone.now() - timedelta(days=15))
        Review.objects.filter(engagement=engagement).update(created_at=timezone.now() - timedelta(days=15))
        with pytest.raises(InvalidTransitionError) as closed:
            reviews.review_create(actor=engagement.engineer, engagement_id=engagement.pk, rating=3)
        assert closed.value.code == "review_window_closed"
        with pytest.raises(InvalidTransitionError) as closed:
            reviews.review_update(actor=engagement.client, engagement_id=engagement.pk, rating=1)
        assert closed.value.code == "review_edit_closed"

    def test_not_before_completion_not_by_staff_not_out_of_range(self, staff_user):
        milestone = milestone_in_state(Milestone.State.SUBMITTED)
        engagement = milestone.engagement
        with pytest.raises(InvalidTransitionError):
            reviews.review_create(actor=engagement.client, engagement_id=engagement.pk, rating=5)
        services.milestone_approve(actor=engagement.client, milestone_id=milestone.pk)
        with pytest.raises(PermissionDeniedError):
            reviews.review_create(actor=staff_user, engagement_id=engagement.pk, rating=5)
        for bad in (0, 6, "5", 4.5):
            with pytest.raises(ValidationError):
                reviews.review_create(actor=engagement.client, engagement_id=engagement.pk, rating=bad)
        with pytest.raises(NotFoundError):
            reviews.review_update(actor=engagement.engineer, engagement_id=engagement.pk, rating=3)

    def test_the_beat_task_publishes(self):
        assert reviews_publish_due.delay().get() == {"published": 0}


class TestMatching:
    def test_ranks_by_skills_rating_availability_with_reasons(self):
        from vetting.models import Badge

        hiring_request = open_request(skills=["LoRA", "Evaluation", "RAG"])
        strong = EngineerFactory(username="strong")
        strong.engineer_profile.skills.set(hiring_request.skills.all())
        partial = EngineerFactory(username="partial")
        partial.engineer_profile.skills.set(hiring_request.skills.filter(slug="lora"))
        busy = EngineerFactory(username="busy")
        busy.engineer_profile.skills.set(hiring_request.skills.all())
        EngineerProfile.objects.filter(user=busy).update(availability="unavailable")
        unrelated = EngineerFactory(username="unrelated")
        unrelated.engineer_profile.skills.set([SkillFactory(name="Speech")])
        badge = Badge.objects.create(
            engineer=partial,
            challenge_slug="support-ticket-json",
            title="Support ticket JSON",
            band="strong",
            score=0.91,
            awarded_at=timezone.now(),
        )
        badge.skills.set(hiring_request.skills.filter(slug="lora"))

        matches = engineer_match(hiring_request=hiring_request)
        order = [m.profile.user.username for m in matches]
        assert order.index("strong") < order.index("busy") < order.index("unrelated")
        assert order.index("partial") < order.index("unrelated")
        by_name = {m.profile.user.username: m for m in matches}
        assert "Has 3 of 3 requested skills" in by_name["strong"].reasons[0]
        assert "Vetted: Support ticket JSON (strong)" in by_name["partial"].reasons
        assert not any("0.91" in reason for reason in by_name["partial"].reasons)
        assert "Not taking work" in by_name["busy"].reasons
        # A revoked badge no longer counts.
        before = by_name["partial"].score
        Badge.objects.filter(pk=badge.pk).update(revoked_at=timezone.now())
        after = {m.profile.user.username: m for m in engineer_match(hiring_request=hiring_request)}["partial"]
        assert after.score < before
        # The score shown counts the badge by its band: another final-split score, the same figure.
        Badge.objects.filter(pk=badge.pk).update(revoked_at=None, score=0.89)
        again = {m.profile.user.username: m for m in engineer_match(hiring_request=hiring_request)}["partial"]
        assert again.score == before


def test_people_are_not_notified_of_their_own_actions():
    milestone = milestone_in_state(Milestone.State.SUBMITTED)
    client, engineer = milestone.engagement.client, milestone.engagement.engineer
    services.milestone_approve(actor=client, milestone_id=milestone.pk)
    assert Notification.objects.filter(user=engineer, kind="milestone_approve").count() == 1
    assert not Notification.objects.filter(user=client, kind="milestone_approve").exists()

    # Without an actor (the auto-approval), both parties hear of it.
    automatic = milestone_in_state(Milestone.State.SUBMITTED)
    services.milestone_approve(actor=None, milestone_id=automatic.pk)
    parties = (automatic.engagement.client, automatic.engagement.engineer)
    assert all(Notification.objects.filter(user=user, kind="milestone_approve").exists() for user in parties)


def test_matches_name_near_skills_and_the_rate():
    from marketplace.services.users import engineer_profile_update

    hiring_request = open_request(skills=["JSON extraction", "Evaluation"])
    near = EngineerFactory(username="near")
    engineer_profile_update(
        actor=near, headline="Extraction", rate_amount=12_000, skills=["Structured extraction", "Evaluation"]
    )
    [match] = [m for m in engineer_match(hiring_request=hiring_request) if m.profile.user_id == near.pk]
    assert "Has 1 of 2 requested skills: Evaluation" in match.reasons[0]
    assert "Near skills: Structured extraction ≈ JSON extraction" in match.reasons
    # The factory's request budget is 2,000-5,000 USD (minor units 200,000-500,000).
    assert f"Rate {120:,.2f} USD per hour: the maximum budget buys about 41 hours" in match.reasons


def test_a_rate_is_compared_with_the_budget_in_the_requests_currency(settings):
    from marketplace.matching import rate_vs_budget
    from marketplace.services.users import engineer_profile_update

    settings.EXCHANGE_RATES = {"usd": 1, "eur": 0.8, "gbp": 0.75, "jpy": 150}
    engineer = EngineerFactory()
    profile = engineer_profile_update(
        actor=engineer, rate_type="project", rate_amount=400_000, currency="usd"
    )
    request = open_request(skills=["LoRA"])
    request.currency, request.budget_min, request.budget_max = "eur", 200_000, 300_000
    assert rate_vs_budget(profile, request) == (
        "Rate 4,000.00 USD for a typical project (≈ 3,200.00 EUR): above the maximum budget (3,000.00 EUR)"
    )
    request.budget_max = 350_000
    assert rate_vs_budget(profile, request).endswith("(≈ 3,200.00 EUR): within the budget")
    request.currency, request.budget_min, request.budget_max = "jpy", 600_000, 900_000
    assert rate_vs_budget(profile, request).endswith("(≈ 600,000 JPY): within the budget")
    request.budget_min = 700_000
    assert rate_vs_budget(profile, request).endswith(": below the budget's range")


def test_exchange_rates_must_cover_every_currency(settings):
    from core.checks import check_exchange_rates

    assert check_exchange_rates() == []
    settings.EXCHANGE_RATES = {"usd": 1, "eur": 0.9}
    [error] = check_exchange_rates()
    assert error.id == "core.E002" and "gbp, jpy" in error.msg


def test_the_api_hides_a_review_from_the_other_party_until_it_is_published():
    from rest_framework.test import APIClient

    milestone = milestone_in_state(Milestone.State.APPROVED)
    engagement = Engagement.objects.get(pk=milestone.engagement_id)
    client_api, engineer_api = APIClient(), APIClient()
    client_api.force_authenticate(engagement.client)
    engineer_api.force_authenticate(engagement.engineer)
    url = f"/api/v1/engagements/{engagement.pk}/"
    response = client_api.post(f"{url}review/", {"rating": 2, "text": "Slow."}, format="json")
    assert response.status_code == 201 and response.json()["published_at"] is None
    assert client_api.get(url).json()["review"]["rating"] == 2
    assert engineer_api.get(url).json()["review"] is None
    profile = engineer_api.get(f"/api/v1/engineers/{engagement.engineer.username}/").json()
    assert profile["reviews"] == [] and profile["rating_count"] == 0

    response = engineer_api.post(f"{url}review/", {"rating": 4}, format="json")
    assert response.status_code == 201 and response.json()["published_at"] is not None
    assert engineer_api.get(url).json()["review"]["text"] == "Slow."
    assert client_api.get(url).json()["client_review"]["rating"] == 4
    edited = client_api.put(f"{url}review/", {"rating": 3, "text": "Slow, but good."}, format="json")
    assert edited.status_code == 200 and edited.json()["rating"] == 3
    again = engineer_api.post(f"{url}review/", {"rating": 1}, format="json")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_reviewed")
