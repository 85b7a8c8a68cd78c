"""Included by config/api_urls.py under /api/v1/."""

from django.urls import path

from sandbox.api import views

urlpatterns = [
    path("sandbox/jobs/<int:pk>/", views.JobDetailApi.as_view(), name="api-sandbox-job"),
    path("sandbox/jobs/<int:pk>/progress/", views.JobProgressApi.as_view(), name="api-sandbox-job-progress"),
    path("sandbox/jobs/<int:pk>/cancel/", views.JobCancelApi.as_view(), name="api-sandbox-job-cancel"),
]
