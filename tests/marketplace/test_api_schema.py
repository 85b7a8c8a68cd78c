"""The OpenAPI document is valid and warning-free; Swagger UI is served without the internet."""

import re

import pytest
import yaml
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from rest_framework.test import APIClient

from marketplace.api.urls import urlpatterns as api_urlpatterns

pytestmark = pytest.mark.django_db


def test_schema_generates_valid_without_warnings(tmp_path):
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    assert schema["openapi"].startswith("3.")


def test_schema_endpoint_documents_every_route_with_its_errors():
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for pattern in api_urlpatterns:
        route = "/api/v1/" + re.sub(
            r"<(?:\w+:)?(\w+)>", lambda m: "{" + ("id" if m[1] == "pk" else m[1]) + "}", str(pattern.pattern)
        )
        assert route in paths, route
    accept = paths["/api/v1/proposals/{id}/accept/"]["post"]
    assert set(accept["responses"]) == {"201", "401", "403", "404", "409"}
    assert (
        accept["responses"]["409"]["content"]["application/json"]["schema"]["$ref"]
        == "#/components/schemas/Error"
    )
    assert paths["/api/v1/requests/{id}/"]["get"]["parameters"][0]["schema"]["type"] == "integer"
    submit = paths["/api/v1/milestones/{id}/submit/"]["post"]["requestBody"]["content"]
    assert set(submit) == {"multipart/form-data"}
    assert (
        schema["components"]["schemas"]["ProposalMilestoneInputRequest"]["properties"]["amount"]["type"]
        == "integer"
    )
    assert paths["/api/v1/auth/token/"]["post"].get("security") in (None, [], [{}])


def test_every_paged_list_documents_the_404_for_a_page_that_does_not_exist():
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paged = [
        (path, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method == "get" and any(p["name"] == "page" for p in operation.get("parameters", []))
    ]
    assert len(paged) >= 8
    for path, operation in paged:
        assert "404" in operation["responses"], path
    response = APIClient().get("/api/v1/engineers/?page=0")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_swagger_ui_is_served_from_our_own_static_files():
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert urls, html
    assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls
    assert not re.search(r"https?://", html), "Swagger UI must not load anything from the internet"
    for url in urls:  # ...and every file it loads ships with the project.
        assert url.startswith(settings.STATIC_URL) and finders.find(url.removeprefix(settings.STATIC_URL)), (
            url
        )
