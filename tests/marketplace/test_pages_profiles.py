"""Pages: engineer public profile, profile editing, notifications."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from marketplace import selectors
from marketplace.models import EngineerProfile, Message, Notification
from marketplace.services import engagements as engagement_services
from tests.factories import ClientFactory, EngineerFactory, engagement, milestone_in_state, reviewed
from vetting.models import Badge

pytestmark = pytest.mark.django_db


def _badge(engineer, title, **kwargs):
    return Badge.objects.create(
        engineer=engineer,
        challenge_slug=title.lower().replace(" ", "-"),
        title=title,
        band=kwargs.pop("band", "strong"),
        score=kwargs.pop("score", 0.9),
        awarded_at=timezone.now(),
        **kwargs,
    )


def test_public_profile_shows_badges_reviews_and_rating(client):
    milestone = milestone_in_state("approved")
    eng = milestone.engagement
    reviewed(eng, rating=4, text="Clear <reports>.")
    _badge(eng.engineer, "Ticket to JSON", band="exceptional", score=0.97)
    _badge(eng.engineer, "Old challenge", revoked_at=timezone.now())
    response = client.get(reverse("engineer-detail", args=[eng.engineer.username]))
    assert response.status_code == 200
    content = response.content.decode()
    profile = eng.engineer.engineer_profile
    assert profile.headline in content
    assert "Ticket to JSON" in content
    # The band is public; the final-split score behind it never is.
    assert "Exceptional · " in content
    assert "0.97" not in content
    assert "Old challenge" not in content
    assert "Clear &lt;reports&gt;." in content
    assert "★★★★☆ 4.0 (1 review)" in content
    assert eng.client.display_name in content
    assert "120.00 USD per hour" in content


def test_unknown_or_client_username_is_404(client, client_user):
    assert client.get(reverse("engineer-detail", args=["nobody"])).status_code == 404
    assert client.get(reverse("engineer-detail", args=[client_user.username])).status_code == 404


def test_profile_query_count_does_not_grow_with_reviews(client):
    def profile_queries(engineer):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("engineer-detail", args=[engineer.username])).status_code == 200
        return len(queries)

    few = milestone_in_state("approved").engagement
    reviewed(few, rating=5)
    many = EngineerFactory()
    for _ in range(5):
        eng = engagement(engineer=many, amounts=(10_000,))
        milestone = eng.milestones.get()
        engagement_services.milestone_mark_funded(milestone_id=milestone.pk)
        engagement_services.milestone_start(actor=many, milestone_id=milestone.pk)
        engagement_services.milestone_submit(actor=many, milestone_id=milestone.pk, message="Done")
        engagement_services.milestone_approve(actor=eng.client, milestone_id=milestone.pk)
        reviewed(eng, rating=4)
    assert profile_queries(few.engineer) == profile_queries(many)


def test_engineer_edits_profile(client, engineer_user):
    client.force_login(engineer_user)
    response = client.get(reverse("profile-edit"))
    assert response.status_code == 200
    assert response.context["form"].initial["rate_amount"] == "120"
    response = client.post(
        reverse("profile-edit"),
        {
            "headline": "QLoRA on a budget",
            "bio": "I make small models good.",
            "skills": "QLoRA, Evaluation",
            "rate_type": "project",
            "rate_amount": "4,500",
            "currency": "eur",
            "availability": "limited",
        },
    )
    assert response.status_code == 302
    profile = EngineerProfile.objects.get(user=engineer_user)
    assert (profile.headline, profile.rate_amount, profile.currency) == ("QLoRA on a budget", 450_000, "eur")
    assert sorted(s.name for s in profile.skills.all()) == ["Evaluation", "QLoRA"]
    content = client.get(reverse("engineer-detail", args=[engineer_user.username])).content.decode()
    assert "4,500.00 EUR typical project" in content


def test_engineer_adds_time_zone_languages_and_portfolio(client, engineer_user):
    client.force_login(engineer_user)
    data = {"rate_type": "hourly", "rate_amount": "120", "currency": "usd", "availability": "available"}
    response = client.post(
        reverse("profile-edit"),
        {
            **data,
            "time_zone": "America/Sao_Paulo",
            "languages": "Portuguese,  english , English",
            "portfolio_links": "https://example.com/paper\n\nhttps://github.com/someone/lora-evals",
        },
    )
    assert response.status_code == 302
    profile = EngineerProfile.objects.get(user=engineer_user)
    assert profile.time_zone == "America/Sao_Paulo"
    assert profile.languages == ["Portuguese", "english"]
    assert profile.portfolio_links == ["https://example.com/paper", "https://github.com/someone/lora-evals"]
    content = client.get(reverse("engineer-detail", args=[engineer_user.username])).content.decode()
    assert "America/Sao Paulo" in content and "Portuguese, english" in content
    assert 'href="https://github.com/someone/lora-evals" rel="nofollow noopener ugc"' in content
    form = client.get(reverse("profile-edit")).context["form"]
    assert form.initial["languages"] == "Portuguese, english"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone", "Select a valid choice."),
        (
            {"portfolio_links": "https://ok.example.com\njavascript:alert(1)"},
            "portfolio_links",
            "is not a web address",
        ),
        (
            {"portfolio_links": "\n".join(f"https://e.com/{n}" for n in range(6))},
            "portfolio_links",
            "At most 5",
        ),
        ({"languages": ",".join(f"Lang{n}" for n in range(9))}, "languages", "At most 8 languages"),
    ],
)
def test_profile_details_bad_input_names_the_field_and_keeps_the_text(
    client, engineer_user, overrides, field, message
):
    client.force_login(engineer_user)
    data = {"rate_type": "hourly", "currency": "usd", "availability": "available", **overrides}
    response = client.post(reverse("profile-edit"), data)
    assert response.status_code == 400
    form = response.context["form"]
    assert any(message in error for error in form.errors[field]), form.errors
    assert form[field].value() == overrides[field]
    assert EngineerProfile.objects.get(user=engineer_user).portfolio_links == []


def test_track_record_counts_completions_on_time_deliveries_and_reply_time(client):
    engineer = EngineerFactory()
    late = engagement(engineer=engineer, amounts=(10_000, 20_000))
    first, second = late.milestones.order_by("position")
    for milestone in (first, second):
        engagement_services.milestone_mark_funded(milestone_id=milestone.pk)
        engagement_services.milestone_start(actor=engineer, milestone_id=milestone.pk)
        engagement_services.milestone_submit(actor=engineer, milestone_id=milestone.pk, message="Done")
    # The second milestone was due before it was delivered.
    type(second).objects.filter(pk=second.pk).update(due_date=timezone.localdate() - timedelta(days=2))
    for milestone in (first, second):
        engagement_services.milestone_approve(actor=late.client, milestone_id=milestone.pk)
    consultation = late.consultation
    Message.objects.filter(consultation=consultation).delete()
    type(consultation).objects.filter(pk=consultation.pk).update(
        created_at=timezone.now() - timedelta(hours=5)
    )
    Message.objects.create(consultation=consultation, author=engineer, body="Happy to help.")

    record = selectors.engineer_track_record(engineer=engineer)
    assert record.completed_engagements == 1
    assert (record.delivered_milestones, record.on_time_rate) == (2, 0.5)
    assert record.responses == 1 and 4.9 < record.response_hours < 5.1
    content = client.get(reverse("engineer-detail", args=[engineer.username])).content.decode()
    assert "50% <span" in content and "of 2 milestones" in content
    assert "about 5 hours" in content
    assert f"{timezone.localdate(engineer.date_joined):%B %Y}" in content

    newcomer = EngineerFactory()
    record = selectors.engineer_track_record(engineer=newcomer)
    assert (record.completed_engagements, record.on_time_rate, record.response_hours) == (0, None, None)
    content = client.get(reverse("engineer-detail", args=[newcomer.username])).content.decode()
    assert "No deliveries yet" in content and "No replies yet" in content


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"rate_amount": "lots"}, "rate_amount", "Enter an amount such as"),
        ({"availability": "always"}, "availability", "Select a valid choice."),
        ({"headline": "x" * 141}, "headline", "at most 140 characters"),
    ],
)
def test_profile_bad_input_shows_field_error(client, engineer_user, overrides, field, message):
    client.force_login(engineer_user)
    data = {"rate_type": "hourly", "currency": "usd", "availability": "available", **overrides}
    response = client.post(reverse("profile-edit"), data)
    assert response.status_code == 400
    assert any(message in error for error in response.context["form"].errors[field])


def test_clients_have_no_profile_to_edit(client, client_user):
    client.force_login(client_user)
    assert client.get(reverse("profile-edit")).status_code == 403


def test_notifications_list_and_mark_all_read(client, client_user):
    Notification.objects.create(user=client_user, kind="x", message="First <i>news</i>", url="/dashboard/")
    Notification.objects.create(user=ClientFactory(), kind="x", message="Someone else's news")
    client.force_login(client_user)
    response = client.get(reverse("notification-list"))
    content = response.content.decode()
    assert "First &lt;i&gt;news&lt;/i&gt;" in content
    assert "Someone else" not in content
    assert response.context["unread_notifications"] == 1
    response = client.post(reverse("notification-read-all"), follow=True)
    assert b"Marked 1 notification as read." in response.content
    assert response.context["unread_notifications"] == 0


def test_opening_a_notification_marks_it_read_and_follows_its_link(client, client_user):
    mine = Notification.objects.create(user=client_user, kind="x", message="Go", url="/engagements/")
    evil = Notification.objects.create(
        user=client_user, kind="x", message="Off-site", url="https://evil.test/"
    )
    theirs = Notification.objects.create(user=ClientFactory(), kind="x", message="Theirs", url="/")
    client.force_login(client_user)
    response = client.post(reverse("notification-open", args=[mine.pk]))
    assert response.url == "/engagements/"
    mine.refresh_from_db()
    assert mine.read_at is not None
    assert client.post(reverse("notification-open", args=[evil.pk])).url == reverse("notification-list")
    assert client.post(reverse("notification-open", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_notification_list_query_count_does_not_grow_with_rows(client, client_user):
    def make(count):
        Notification.objects.bulk_create(
            Notification(user=client_user, kind="x", message=f"News {i}", url="/dashboard/")
            for i in range(count)
        )

    make(1)
    client.force_login(client_user)
    with CaptureQueriesContext(connection) as one:
        assert client.get(reverse("notification-list")).status_code == 200
    make(49)
    with CaptureQueriesContext(connection) as fifty:
        assert client.get(reverse("notification-list")).status_code == 200
    assert len(one) == len(fifty)
