"""Pages: home, sign-up, log-in with lockout, password reset, dashboards, CSRF."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from marketplace.models import EngineerProfile, Notification, User
from tests.factories import PASSWORD, ClientFactory, EngineerFactory, StaffFactory, engagement, open_request
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


def test_signup_as_client_logs_in(client):
    response = client.post(reverse("signup"), _signup_data())
    assert response.status_code == 302
    assert response.url == reverse("dashboard")
    user = User.objects.get(username="clara")
    assert user.is_client
    assert client.get(reverse("dashboard")).context["user"] == user


def test_signup_as_engineer_creates_profile(client):
    response = client.post(reverse("signup"), _signup_data(role="engineer", username="ada", email="ada@x.io"))
    assert response.status_code == 302
    assert response.url == reverse("profile-edit")
    assert EngineerProfile.objects.filter(user__username="ada").exists()


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


def test_engineer_dashboard_shows_completeness_and_badges(client):
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
    assert "Profile completeness" in content
    assert response.context["missing"] == ["your skills"]


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
