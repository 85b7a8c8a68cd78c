"""Tokens, sign-up, the login lockout shared with the pages, and 401 for anonymous requests."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from marketplace.models import EngineerProfile, User
from tests.factories import PASSWORD, ClientFactory, EngineerFactory

pytestmark = pytest.mark.django_db
TOKEN_URL = "/api/v1/auth/token/"


def _obtain(api: APIClient, username: str, password: str):
    return api.post(TOKEN_URL, {"username": username, "password": password}, format="json")


def test_token_obtained_and_used():
    user = ClientFactory()
    api = APIClient()
    response = _obtain(api, user.username, PASSWORD)
    assert response.status_code == 200
    token = response.json()["token"]
    assert Token.objects.get(user=user).key == token
    assert _obtain(api, user.username, PASSWORD).json()["token"] == token  # Stable, not rotated.
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = api.get("/api/v1/me/")
    assert me.status_code == 200
    assert (me.json()["username"], me.json()["role"]) == (user.username, "client")


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


def test_signup_creates_an_engineer_with_a_profile():
    response = APIClient().post(
        "/api/v1/auth/signup/",
        {"username": "ada", "email": "ada@example.com", "password": PASSWORD, "role": "engineer"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["role"] == "engineer"
    assert "password" not in response.json()
    user = User.objects.get(username="ada")
    assert EngineerProfile.objects.filter(user=user).exists()
    assert _obtain(APIClient(), "ada", PASSWORD).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"role": "admin"}, "role"),
        ({"password": "123"}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"username": "has spaces!"}, "username"),
        ({"username": "taken"}, "username"),
        ({"email": "taken@example.com"}, "email"),
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
