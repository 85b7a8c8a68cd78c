"""The project's URLs with the payments API mounted under /api/v1/, for tests that run before
config/api_urls.py includes `payments.api.urls` (see `payments_api` in test_api_permissions.py)."""

from django.urls import include, path

from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [path("api/v1/", include("payments.api.urls")), *project_urlpatterns]
