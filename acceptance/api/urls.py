from django.urls import path

from acceptance.api import views

urlpatterns = [
    path(
        "milestones/<int:pk>/acceptance/", views.AcceptanceTermsApi.as_view(), name="api-milestone-acceptance"
    ),
    path(
        "milestones/<int:pk>/acceptance/runs/",
        views.AcceptanceRunListApi.as_view(),
        name="api-milestone-acceptance-runs",
    ),
    path("requests/<int:pk>/baseline/", views.RequestBaselineApi.as_view(), name="api-request-baseline"),
]
