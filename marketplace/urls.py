from django.contrib.auth import views as auth_views
from django.urls import path

from marketplace.views import (
    accounts,
    consultations,
    directory,
    engagements,
    notifications,
    profiles,
    requests,
)

urlpatterns = [
    path("", accounts.home, name="home"),
    path("dashboard/", accounts.dashboard, name="dashboard"),
    # Accounts
    path("signup/", accounts.signup, name="signup"),
    path("signup/sent/", accounts.signup_sent, name="signup-sent"),
    path("signup/resend/", accounts.signup_resend, name="signup-resend"),
    path("signup/confirm/<uidb64>/<token>/", accounts.signup_confirm, name="signup-confirm"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    # Requests
    path("requests/", requests.request_list, name="request-list"),
    path("requests/new/", requests.request_create, name="request-create"),
    path("requests/<int:pk>/", requests.request_detail, name="request-detail"),
    path("requests/<int:pk>/edit/", requests.request_edit, name="request-edit"),
    path("requests/<int:pk>/publish/", requests.request_publish, name="request-publish"),
    path("requests/<int:pk>/withdraw/", requests.request_withdraw, name="request-withdraw"),
    path("requests/<int:pk>/invite/", requests.request_invite, name="request-invite"),
    # Consultations and proposals
    path("consultations/", consultations.consultation_list, name="consultation-list"),
    path("consultations/<int:pk>/", consultations.consultation_detail, name="consultation-detail"),
    path("consultations/<int:pk>/messages/", consultations.consultation_message, name="consultation-message"),
    path("messages/", consultations.conversation_inbox, name="conversation-inbox"),
    path(
        "messages/attachments/<int:pk>/",
        consultations.message_attachment_download,
        name="message-attachment-download",
    ),
    path("consultations/<int:pk>/decline/", consultations.consultation_decline, name="consultation-decline"),
    path("consultations/<int:pk>/proposals/", consultations.proposal_create, name="proposal-create"),
    path("proposals/<int:pk>/accept/", consultations.proposal_accept, name="proposal-accept"),
    path("proposals/<int:pk>/withdraw/", consultations.proposal_withdraw, name="proposal-withdraw"),
    # Engagements
    path("engagements/", engagements.engagement_list, name="engagement-list"),
    path("engagements/<int:pk>/", engagements.engagement_detail, name="engagement-detail"),
    path("engagements/<int:pk>/review/", engagements.engagement_review, name="engagement-review"),
    path("engagements/<int:pk>/changes/new/", engagements.change_order_create, name="change-order-create"),
    path(
        "change-orders/<int:pk>/<slug:answer>/", engagements.change_order_answer, name="change-order-answer"
    ),
    path("milestones/<int:pk>/dispute/statements/", engagements.dispute_statement, name="dispute-statement"),
    path(
        "disputes/evidence/<int:pk>/", engagements.dispute_evidence_download, name="dispute-evidence-download"
    ),
    path("milestones/<int:pk>/<slug:action>/", engagements.milestone_action, name="milestone-action"),
    path("attachments/<int:pk>/", engagements.attachment_download, name="attachment-download"),
    # Directory, job board and asking to be invited
    path("engineers/", directory.engineer_directory, name="engineer-directory"),
    path("jobs/", directory.job_board, name="job-board"),
    path("jobs/<int:pk>/ask/", directory.invite_request_create, name="invite-request-create"),
    path(
        "invite-requests/<int:pk>/<slug:action>/",
        directory.invite_request_answer,
        name="invite-request-answer",
    ),
    # Profiles and notifications
    path("engineers/<str:username>/", profiles.engineer_detail, name="engineer-detail"),
    path("profile/", profiles.profile_edit, name="profile-edit"),
    path("notifications/", notifications.notification_list, name="notification-list"),
    path("notifications/read-all/", notifications.notification_read_all, name="notification-read-all"),
    path("notifications/settings/", notifications.notification_settings, name="notification-settings"),
    path("notifications/<int:pk>/open/", notifications.notification_open, name="notification-open"),
]
