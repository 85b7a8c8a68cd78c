"""The vetting API, included by config/api_urls.py under /api/v1/."""

from django.urls import path

from vetting.api import views

urlpatterns = [
    path("vetting/challenges/", views.ChallengeListApi.as_view(), name="api-vetting-challenges"),
    path("vetting/challenges/<slug:slug>/", views.ChallengeDetailApi.as_view(), name="api-vetting-challenge"),
    path(
        "vetting/challenges/<slug:slug>/leaderboard/",
        views.LeaderboardApi.as_view(),
        name="api-vetting-leaderboard",
    ),
    path(
        "vetting/challenges/<slug:slug>/leaderboard/opt-in/",
        views.LeaderboardOptInApi.as_view(),
        name="api-vetting-leaderboard-opt-in",
    ),
    path("vetting/submissions/", views.SubmissionListCreateApi.as_view(), name="api-vetting-submissions"),
    path("vetting/submissions/<int:pk>/", views.SubmissionDetailApi.as_view(), name="api-vetting-submission"),
    path(
        "vetting/submissions/<int:pk>/report/",
        views.SubmissionReportApi.as_view(),
        name="api-vetting-submission-report",
    ),
    path("vetting/badges/<int:pk>/revoke/", views.BadgeRevokeApi.as_view(), name="api-vetting-badge-revoke"),
]
