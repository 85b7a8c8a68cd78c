"""Every app's API under /api/v1/."""

from django.urls import include, path

from core.api import PingView

urlpatterns = [
    path("ping/", PingView.as_view(), name="api-ping"),
    path("", include("marketplace.api.urls")),
    path("", include("sandbox.api.urls")),
    path("", include("payments.api.urls")),
    path("", include("vetting.api.urls")),
    path("", include("acceptance.api.urls")),
]
