"""Pages: home, sign-up, log-in with lockout, password reset, dashboards, CSRF."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from marketplace.models import EngineerProfile, Notification, User
from marketplace.services import users as user_services
from tests.factories import (
    PASSWORD,
    ClientFactory,
    EngineerFactory,
    StaffFactory,
    UserFactory,
    engagement,
    open_request,
)
from vetting.models import Badge

pytestmark = pytest.mark.django_db


def test_home_for_visitors_and_users(client, client_user):
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert b"Hire an expert" in response.content
    assert reverse("dashboard").encode() not in response.content

    client.force_login(client_user)
    response = client.get(reverse("home"))
    assert b"Go to your dashboard" in response.content


def _signup_data(**overrides):
    data = {
        "role": "client",
        "first_name": "Clara",
        "last_name": "Client",
        "username": "clara",
        "email": "clara@example.com",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    data.update(overrides)
    return data


def _link_in(message) -> str:
    return re.search(r"https?://[^/\s]+(/\S+)", message.body).group(1)


def test_signup_as_client_confirms_the_address_then_is_logged_in(client):
    response = client.post(reverse("signup"), _signup_data())
    assert response.status_code == 302 and response.url == reverse("signup-sent")
    user = User.objects.get(username="clara")
    assert user.is_client and not user.is_active
    assert not client.post(
        reverse("login"), {"username": "clara", "password": PASSWORD}
    ).wsgi_request.user.is_authenticated
    [message] = mail.outbox
    assert (
        message.to == ["clara@example.com"]
        and message.subject == "[Tunehire] Confirm your e-mail to finish signing up"
    )
    link = _link_in(message)
    assert link.startswith("/signup/confirm/")

    page = client.get(link)  # opening the link (or a mail scanner doing so) confirms nothing yet
    assert page.status_code == 200 and b"Confirm and log in" in page.content
    user.refresh_from_db()
    assert not user.is_active

    response = client.post(link)
    assert response.status_code == 302 and response.url == reverse("dashboard")
    user.refresh_from_db()
    assert user.is_active
    assert client.get(reverse("dashboard")).context["user"] == user
    assert client.post(link).status_code == 400  # a link works once


def test_signup_as_engineer_creates_profile(client):
    response = client.post(reverse("signup"), _signup_data(role="engineer", username="ada", email="ada@x.io"))
    assert response.url == reverse("signup-sent")
    assert EngineerProfile.objects.filter(user__username="ada").exists()
    assert client.post(_link_in(mail.outbox[0])).url == reverse("profile-edit")


def test_signup_does_not_tell_whether_an_address_has_an_account(client, client_user):
    new = client.post(reverse("signup"), _signup_data(username="newcomer", email="fresh@example.com"))
    taken = client.post(reverse("signup"), _signup_data(username="other", email=client_user.email.upper()))

    assert (new.status_code, new.url) == (taken.status_code, taken.url) == (302, reverse("signup-sent"))
    assert not User.objects.filter(username="other").exists()
    assert [m.to for m in mail.outbox] == [["fresh@example.com"], [client_user.email]]
    note = mail.outbox[1]
    assert note.subject == "[Tunehire] You already have an account"
    assert (
        client_user.username in note.body
        and "/password-reset/" in note.body
        and "/signup/confirm/" not in note.body
    )
    sent = client.get(reverse("signup-sent"))
    assert b"Check your e-mail" in sent.content


def test_an_unconfirmed_address_gets_a_new_link_and_nothing_else_does(client, client_user):
    client.post(reverse("signup"), _signup_data())
    mail.outbox.clear()
    for email in ("clara@example.com", client_user.email, "nobody@example.com"):
        response = client.post(reverse("signup-resend"), {"email": email}, follow=True)
        assert b"If that address has an account waiting for confirmation" in response.content
    [message] = mail.outbox
    assert message.to == ["clara@example.com"] and _link_in(message).startswith("/signup/confirm/")
    bad = client.post(reverse("signup-resend"), {"email": "not-an-email"})
    assert bad.status_code == 400 and b"Enter a valid email address." in bad.content


def test_a_broken_confirmation_link_says_so(client):
    for link in ("/signup/confirm/zzz/abc/", "/signup/confirm/MQ/1-2/"):
        page = client.get(link)
        assert page.status_code == 400 and b"This link does not work" in page.content


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"password_confirm": "something-else-entirely"}, "password_confirm", "The passwords do not match."),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"role": "admin"}, "role", "Select a valid choice."),
        ({"username": "has space"}, "username", "Use letters, digits"),
        ({"password": "123", "password_confirm": "123"}, "password", "This password is too short."),
    ],
)
def test_signup_bad_input_shows_field_error(client, overrides, field, message):
    response = client.post(reverse("signup"), _signup_data(**overrides))
    assert response.status_code == 400
    errors = response.context["form"].errors[field]
    assert any(message in error for error in errors)
    assert message.encode() in response.content.replace(b"&#x27;", b"'")
    assert not User.objects.filter(username=_signup_data(**overrides)["username"]).exists()


def test_signup_shows_the_password_rules_first_and_every_problem_at_once(client):
    page = client.get(reverse("signup")).content.decode()
    assert "Your password must contain at least 8 characters." in page

    response = client.post(
        reverse("signup"), _signup_data(email="not-an-email", password="clara", password_confirm="clara")
    )
    errors = response.context["form"].errors
    assert errors["email"] == ["Enter a valid email address."]
    assert "This password is too short. It must contain at least 8 characters." in errors["password"]
    assert "The password is too similar to the username." in errors["password"]


def test_signup_taken_username_comes_back_from_the_service(client, client_user):
    response = client.post(reverse("signup"), _signup_data(username=client_user.username.upper()))
    assert response.status_code == 400
    assert response.context["form"].errors["username"] == ["That username is taken."]


def test_login_and_logout(client, client_user):
    response = client.post(reverse("login"), {"username": client_user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("dashboard")
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 302


def test_login_wrong_password_shows_error(client, client_user):
    response = client.post(reverse("login"), {"username": client_user.username, "password": "wrong"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_login_locks_out_after_repeated_failures(client, client_user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": client_user.username, "password": "wrong"})
    # Even the right password is refused now, with a clear page.
    response = client.post(reverse("login"), {"username": client_user.username, "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed log-in attempts" in response.content
    assert f"after {settings.AXES_FAILURE_LIMIT} failed attempts".encode() in response.content
    assert "_auth_user_id" not in client.session


def test_password_reset_by_email(client, client_user):
    response = client.post(reverse("password_reset"), {"email": client_user.email})
    assert response.status_code == 302
    assert client.get(response.url).status_code == 200
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/password-reset/\S+/)", mail.outbox[0].body).group(1)
    response = client.get(link, follow=True)
    assert response.status_code == 200
    assert b"Choose a new password" in response.content
    new_password = "a-brand-new-passphrase-42"
    response = client.post(
        response.redirect_chain[-1][0], {"new_password1": new_password, "new_password2": new_password}
    )
    assert response.status_code == 302
    client_user.refresh_from_db()
    assert client_user.check_password(new_password)


def test_password_reset_bad_link(client):
    response = client.get(reverse("password_reset_confirm", args=["Mg", "bad-token"]))
    assert response.status_code == 200
    assert b"This link no longer works" in response.content


def test_dashboard_requires_login(client):
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_client_dashboard(client):
    eng = engagement()
    draft = open_request(client=eng.client)
    Notification.objects.create(user=eng.client, kind="x", message="Something <b>happened</b>")
    client.force_login(eng.client)
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    assert response.templates[0].name == "marketplace/dashboard_client.html"
    assert draft in response.context["active_requests"]
    assert list(response.context["engagements"]) == [eng]
    assert "Something &lt;b&gt;happened&lt;/b&gt;" in response.content.decode()


def test_engineer_dashboard_shows_the_getting_started_checklist_and_badges(client):
    engineer = EngineerFactory()
    Badge.objects.create(
        engineer=engineer,
        challenge_slug="json",
        title="Ticket-to-JSON",
        band="strong",
        score=0.9,
        awarded_at=timezone.now(),
    )
    Badge.objects.create(
        engineer=engineer,
        challenge_slug="old",
        title="Revoked challenge",
        band="pass",
        score=0.7,
        awarded_at=timezone.now(),
        revoked_at=timezone.now(),
    )
    client.force_login(engineer)
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    assert response.templates[0].name == "marketplace/dashboard_engineer.html"
    content = response.content.decode()
    assert "Ticket-to-JSON" in content
    assert "Revoked challenge" not in content
    assert "Getting started" in content
    assert response.context["missing"] == ["your skills"]
    assert "Clients cannot find you in matches until you add your skills." in content
    assert "Needed before you send a proposal" in content  # no payouts account yet
    assert "Your badge ranks you higher in matches." in content


def test_a_new_engineer_is_listed_once_the_checklist_profile_step_is_done(client):
    engineer = UserFactory(role=User.Role.ENGINEER)
    EngineerProfile.objects.create(user=engineer)
    profile = engineer.engineer_profile
    assert profile.listing_missing() == [
        "a headline",
        "a bio of a few sentences",
        "your skills",
        "your rate",
        "your time zone",
    ]
    assert not EngineerProfile.objects.listed().filter(pk=profile.pk).exists()
    user_services.engineer_profile_update(
        actor=engineer,
        headline="Evaluation harnesses",
        bio="I build evaluation harnesses and fine-tune small models.",
        skills=["Evaluation"],
        rate_amount=9000,
    )
    profile = EngineerProfile.objects.get(pk=profile.pk)
    assert profile.listing_missing() == ["your time zone"]
    assert not EngineerProfile.objects.listed().filter(pk=profile.pk).exists()
    user_services.engineer_profile_update(actor=engineer, time_zone="America/New_York")
    profile = EngineerProfile.objects.get(pk=profile.pk)
    assert profile.listing_missing() == []
    assert EngineerProfile.objects.listed().filter(pk=profile.pk).exists()
    client.force_login(engineer)
    content = client.get(reverse("dashboard")).content.decode()
    assert "Clients find you in matches." in content


def test_staff_dashboard(client):
    client.force_login(StaffFactory())
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    assert b"Open the payout desk" in response.content


def test_csrf_is_enforced_on_forms():
    user = ClientFactory()
    browser = Client(enforce_csrf_checks=True)
    assert browser.post(reverse("signup"), _signup_data()).status_code == 403
    browser.force_login(user)
    response = browser.post(reverse("request-create"), {"title": "x"})
    assert response.status_code == 403
    hiring_request = open_request(client=user)
    assert browser.post(reverse("request-withdraw", args=[hiring_request.pk])).status_code == 403
    hiring_request.refresh_from_db()
    assert hiring_request.state == hiring_request.State.OPEN


def test_htmx_requests_carry_the_csrf_token(client, client_user):
    client.force_login(client_user)
    content = client.get(reverse("dashboard")).content.decode()
    token = re.search(r"hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'", content)
    assert token and len(token.group(1)) > 20


def test_the_landing_page_claims_only_what_the_data_shows(client):
    from django.utils import timezone

    from vetting.models import Badge

    EngineerFactory()
    first = client.get("/").content.decode()
    assert "Every engineer on Tunehire passes" not in first
    assert "No engineer holds a vetting badge yet" in first
    badged = EngineerFactory()
    Badge.objects.create(
        engineer=badged,
        challenge_slug="support-ticket-json",
        title="Support ticket JSON",
        band="pass",
        score=0.8,
        awarded_at=timezone.now(),
    )
    assert "1 of 2 engineers on Tunehire holds a vetting badge today" in client.get("/").content.decode()
