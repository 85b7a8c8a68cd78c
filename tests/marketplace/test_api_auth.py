"""Tokens (one per log-in, expiring, rotated, revoked, dying with the password), sign-up, the login
lockout shared with the pages, and 401 for anonymous requests."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from marketplace.models import EngineerProfile, User
from marketplace.services.users import SIGNUP_SENT
from tests.factories import PASSWORD, ClientFactory, EngineerFactory

pytestmark = pytest.mark.django_db
TOKEN_URL = "/api/v1/auth/token/"


def _obtain(api: APIClient, username: str, password: str):
    return api.post(TOKEN_URL, {"username": username, "password": password}, format="json")


def _as(token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


def _token(user) -> str:
    return _obtain(APIClient(), user.username, PASSWORD).json()["token"]


def test_token_obtained_and_used_until_it_expires(settings):
    user = ClientFactory()
    before = timezone.now()
    response = _obtain(APIClient(), user.username, PASSWORD)
    assert response.status_code == 200
    token = response.json()["token"]
    expires_at = timezone.datetime.fromisoformat(response.json()["expires_at"])
    lifetime = settings.REST_KNOX["TOKEN_TTL"]
    assert before + lifetime <= expires_at <= timezone.now() + lifetime
    assert not AuthToken.objects.filter(digest=token).exists()  # Stored hashed, never as sent.
    me = _as(token).get("/api/v1/me/")
    assert me.status_code == 200
    assert (me.json()["username"], me.json()["role"]) == (user.username, "client")
    AuthToken.objects.filter(user=user).update(expiry=timezone.now() - timedelta(seconds=1))
    expired = _as(token).get("/api/v1/me/")
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "authentication_failed"


def test_each_log_in_gets_its_own_token_and_the_oldest_beyond_the_limit_is_revoked(settings):
    settings.API_TOKENS_PER_USER = 2
    user = ClientFactory()
    first, second, third = _token(user), _token(user), _token(user)
    assert len({first, second, third}) == 3
    assert _as(first).get("/api/v1/me/").status_code == 401
    assert _as(second).get("/api/v1/me/").status_code == 200
    assert _as(third).get("/api/v1/me/").status_code == 200


def test_refresh_rotates_the_token_sent():
    user = ClientFactory()
    old = _token(user)
    other_device = _token(user)
    response = _as(old).post("/api/v1/auth/token/refresh/")
    assert response.status_code == 200
    new = response.json()["token"]
    assert new != old
    assert _as(old).get("/api/v1/me/").status_code == 401
    assert _as(new).get("/api/v1/me/").status_code == 200
    assert _as(other_device).get("/api/v1/me/").status_code == 200


def test_refresh_and_logout_need_a_token_not_a_session():
    api = APIClient()
    api.force_login(ClientFactory())
    for url in ("/api/v1/auth/token/refresh/", "/api/v1/auth/logout/"):
        response = api.post(url)
        assert response.status_code == 401, url
        assert response["WWW-Authenticate"] == "Token"


def test_logout_revokes_only_the_token_sent_and_logout_all_revokes_every_one():
    user = ClientFactory()
    phone, laptop, script = _token(user), _token(user), _token(user)
    assert _as(phone).post("/api/v1/auth/logout/").status_code == 204
    assert _as(phone).get("/api/v1/me/").status_code == 401
    assert _as(laptop).get("/api/v1/me/").status_code == 200
    response = _as(laptop).post("/api/v1/auth/logout-all/")
    assert response.status_code == 200 and response.json() == {"revoked": 2}
    assert _as(laptop).get("/api/v1/me/").status_code == 401
    assert _as(script).get("/api/v1/me/").status_code == 401


def test_a_password_changed_by_staff_in_the_admin_revokes_every_token_of_that_user():
    user = ClientFactory()
    token = _token(user)
    bystander_token = _token(ClientFactory())
    admin = APIClient()
    admin.force_login(User.objects.create_superuser("root", "root@example.com", PASSWORD))
    new_password = "an0ther-Long-passphrase"
    response = admin.post(
        f"/admin/marketplace/user/{user.pk}/password/",
        {"password1": new_password, "password2": new_password, "usable_password": "true"},
    )
    assert response.status_code == 302
    assert _as(token).get("/api/v1/me/").status_code == 401
    assert _as(bystander_token).get("/api/v1/me/").status_code == 200
    assert _obtain(APIClient(), user.username, new_password).status_code == 200


def test_resetting_the_password_by_e_mail_revokes_every_token():
    user = ClientFactory()
    token = _token(user)
    APIClient().post("/password-reset/", {"email": user.email})
    link = next(line for line in mail.outbox[-1].body.splitlines() if "/password-reset/" in line).strip()
    page = APIClient()
    form = page.get(link, follow=True)  # The link redirects to the form's own URL.
    new_password = "an0ther-Long-passphrase"
    response = page.post(
        form.redirect_chain[-1][0], {"new_password1": new_password, "new_password2": new_password}
    )
    assert response.status_code == 302
    assert _as(token).get("/api/v1/me/").status_code == 401


def test_anonymous_gets_401_with_a_token_challenge():
    response = APIClient().get("/api/v1/me/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_bad_token_is_401():
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    response = api.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_session_authentication_works_too():
    user = EngineerFactory()
    api = APIClient()
    api.force_login(user)  # A real session cookie (login() would bypass django-axes' request).
    assert api.get("/api/v1/me/").json()["role"] == "engineer"


def test_wrong_password_is_400_without_saying_which_part_was_wrong():
    user = ClientFactory()
    response = _obtain(APIClient(), user.username, "wrong")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_credentials"
    assert response.json() == _obtain(APIClient(), "nobody-at-all", "wrong").json()


def test_missing_credentials_name_the_fields():
    response = APIClient().post(TOKEN_URL, {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"username", "password"}


def test_repeated_failures_lock_the_username_out_even_with_the_right_password(settings):
    user = ClientFactory()
    api = APIClient()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _obtain(api, user.username, "wrong").status_code == 400
    locked = _obtain(api, user.username, "wrong")
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "throttled"
    assert int(locked["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    assert _obtain(api, user.username, PASSWORD).status_code == 429
    # The lockout is per username and address: another account from here still logs in.
    other = ClientFactory()
    assert _obtain(api, other.username, PASSWORD).status_code == 200


def test_lockout_is_shared_with_the_login_page(settings):
    user = ClientFactory()
    page = APIClient()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.post("/login/", {"username": user.username, "password": "wrong"})
    assert _obtain(APIClient(), user.username, PASSWORD).status_code == 429


def test_a_successful_token_login_resets_the_failure_count(settings):
    user = ClientFactory()
    api = APIClient()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _obtain(api, user.username, "wrong")
    assert _obtain(api, user.username, PASSWORD).status_code == 200
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _obtain(api, user.username, "wrong").status_code == 400
    assert _obtain(api, user.username, PASSWORD).status_code == 200


def _confirmation(message) -> dict:
    uid, token = re.search(r"/signup/confirm/([^/]+)/([^/]+)/", message.body).groups()
    return {"uid": uid, "token": token}


def test_signup_creates_an_engineer_with_a_profile_usable_once_confirmed():
    response = APIClient().post(
        "/api/v1/auth/signup/",
        {"username": "ada", "email": "ada@example.com", "password": PASSWORD, "role": "engineer"},
        format="json",
    )
    assert response.status_code == 202
    assert response.json() == {"detail": SIGNUP_SENT}
    user = User.objects.get(username="ada")
    assert EngineerProfile.objects.filter(user=user).exists()
    assert _obtain(APIClient(), "ada", PASSWORD).status_code == 400  # not confirmed yet

    link = _confirmation(mail.outbox[0])
    confirmed = APIClient().post("/api/v1/auth/signup/confirm/", link, format="json")
    assert confirmed.status_code == 200 and confirmed.json()["role"] == "engineer"
    assert "password" not in confirmed.json()
    assert _obtain(APIClient(), "ada", PASSWORD).status_code == 200
    again = APIClient().post("/api/v1/auth/signup/confirm/", link, format="json")
    assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_link"


def test_signup_answers_a_registered_address_like_a_new_one():
    ClientFactory(username="taken", email="taken@example.com")
    body = {"username": "grace", "email": "Taken@example.com", "password": PASSWORD, "role": "client"}
    response = APIClient().post("/api/v1/auth/signup/", body, format="json")
    assert (response.status_code, response.json()) == (202, {"detail": SIGNUP_SENT})
    assert not User.objects.filter(username="grace").exists()
    [note] = mail.outbox
    assert note.to == ["taken@example.com"] and note.subject == "[Tunehire] You already have an account"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"role": "admin"}, "role"),
        ({"password": "123"}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"username": "has spaces!"}, "username"),
        ({"username": "taken"}, "username"),
    ],
)
def test_signup_rejects_bad_input_naming_the_field(overrides, field):
    ClientFactory(username="taken", email="taken@example.com")
    body = {
        "username": "grace",
        "email": "grace@example.com",
        "password": PASSWORD,
        "role": "client",
        **overrides,
    }
    response = APIClient().post("/api/v1/auth/signup/", body, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {field}
    assert not User.objects.filter(username="grace").exists()
