from django.urls import path

from vetting.views import challenges, staff, submissions

app_name = "vetting"
urlpatterns = [
    path("", challenges.challenge_list, name="challenge-list"),
    path("challenges/<slug:slug>/", challenges.challenge_detail, name="challenge-detail"),
    path("challenges/<slug:slug>/submit/", submissions.submission_create, name="submission-create"),
    path("challenges/<slug:slug>/leaderboard/", challenges.leaderboard, name="leaderboard"),
    path(
        "challenges/<slug:slug>/leaderboard/opt-in/", challenges.leaderboard_opt_in, name="leaderboard-opt-in"
    ),
    path("submissions/", submissions.submission_list, name="submission-list"),
    path("submissions/<int:pk>/", submissions.submission_detail, name="submission-detail"),
    path("submissions/<int:pk>/status/", submissions.submission_status, name="submission-status"),
    path("submissions/<int:pk>/validation/", submissions.submission_validation, name="submission-validation"),
    path("submissions/<int:pk>/result/", submissions.submission_result, name="submission-result"),
    path("staff/submissions/", staff.submissions, name="staff-submissions"),
    path("staff/submissions/<int:pk>/", staff.submission_report, name="staff-submission"),
    path("staff/badges/", staff.badges, name="staff-badges"),
    path("staff/badges/<int:pk>/revoke/", staff.badge_revoke, name="staff-badge-revoke"),
]
