"""The marketplace API, included by config/api_urls.py under /api/v1/: one view class per URL."""

from django.urls import path

from marketplace.api.views import accounts, conversations, engagements, requests

urlpatterns = [
    path("auth/token/", accounts.TokenObtainApi.as_view(), name="api-token"),
    path("auth/token/refresh/", accounts.TokenRefreshApi.as_view(), name="api-token-refresh"),
    path("auth/logout/", accounts.LogoutApi.as_view(), name="api-logout"),
    path("auth/logout-all/", accounts.LogoutAllApi.as_view(), name="api-logout-all"),
    path("auth/signup/", accounts.SignUpApi.as_view(), name="api-signup"),
    path("auth/signup/confirm/", accounts.SignUpConfirmApi.as_view(), name="api-signup-confirm"),
    path("auth/signup/resend/", accounts.SignUpResendApi.as_view(), name="api-signup-resend"),
    path("me/", accounts.MeApi.as_view(), name="api-me"),
    path("me/profile/", accounts.MyProfileApi.as_view(), name="api-my-profile"),
    path("skills/", accounts.SkillListApi.as_view(), name="api-skill-list"),
    path("engineers/", accounts.EngineerListApi.as_view(), name="api-engineer-list"),
    path("engineers/<str:username>/", accounts.EngineerDetailApi.as_view(), name="api-engineer-detail"),
    path("notifications/", accounts.NotificationListApi.as_view(), name="api-notification-list"),
    path(
        "notifications/preferences/",
        accounts.NotificationPreferencesApi.as_view(),
        name="api-notification-preferences",
    ),
    path(
        "notifications/mark-read/",
        accounts.NotificationMarkReadApi.as_view(),
        name="api-notification-mark-read",
    ),
    path("requests/", requests.RequestListApi.as_view(), name="api-request-list"),
    path("requests/<int:pk>/", requests.RequestDetailApi.as_view(), name="api-request-detail"),
    path("requests/<int:pk>/publish/", requests.RequestPublishApi.as_view(), name="api-request-publish"),
    path("requests/<int:pk>/withdraw/", requests.RequestWithdrawApi.as_view(), name="api-request-withdraw"),
    path("requests/<int:pk>/matches/", requests.RequestMatchesApi.as_view(), name="api-request-matches"),
    path(
        "requests/<int:pk>/invitations/",
        requests.RequestInvitationsApi.as_view(),
        name="api-request-invitations",
    ),
    path(
        "requests/<int:pk>/invite-requests/",
        requests.RequestInviteRequestsApi.as_view(),
        name="api-request-invite-requests",
    ),
    path(
        "invite-requests/<int:pk>/accept/",
        requests.InviteRequestAcceptApi.as_view(),
        name="api-invite-request-accept",
    ),
    path(
        "invite-requests/<int:pk>/decline/",
        requests.InviteRequestDeclineApi.as_view(),
        name="api-invite-request-decline",
    ),
    path(
        "invite-requests/<int:pk>/withdraw/",
        requests.InviteRequestWithdrawApi.as_view(),
        name="api-invite-request-withdraw",
    ),
    path("consultations/", requests.ConsultationListApi.as_view(), name="api-consultation-list"),
    path("consultations/<int:pk>/", requests.ConsultationDetailApi.as_view(), name="api-consultation-detail"),
    path("conversations/", conversations.ConversationInboxApi.as_view(), name="api-conversation-inbox"),
    path(
        "consultations/<int:pk>/messages/",
        conversations.ConsultationMessagesApi.as_view(),
        name="api-consultation-messages",
    ),
    path(
        "consultations/<int:pk>/read/",
        conversations.ConsultationReadApi.as_view(),
        name="api-consultation-read",
    ),
    path(
        "message-attachments/<int:pk>/download/",
        conversations.MessageAttachmentDownloadApi.as_view(),
        name="api-message-attachment-download",
    ),
    path(
        "consultations/<int:pk>/decline/",
        requests.ConsultationDeclineApi.as_view(),
        name="api-consultation-decline",
    ),
    path(
        "consultations/<int:pk>/proposals/",
        requests.ConsultationProposalsApi.as_view(),
        name="api-consultation-proposals",
    ),
    path("proposals/<int:pk>/", requests.ProposalDetailApi.as_view(), name="api-proposal-detail"),
    path(
        "proposals/<int:pk>/withdraw/", requests.ProposalWithdrawApi.as_view(), name="api-proposal-withdraw"
    ),
    path("proposals/<int:pk>/accept/", requests.ProposalAcceptApi.as_view(), name="api-proposal-accept"),
    path("engagements/", engagements.EngagementListApi.as_view(), name="api-engagement-list"),
    path("engagements/<int:pk>/", engagements.EngagementDetailApi.as_view(), name="api-engagement-detail"),
    path(
        "engagements/<int:pk>/timeline/",
        engagements.EngagementTimelineApi.as_view(),
        name="api-engagement-timeline",
    ),
    path(
        "engagements/<int:pk>/review/",
        engagements.EngagementReviewApi.as_view(),
        name="api-engagement-review",
    ),
    path(
        "engagements/<int:pk>/change-orders/",
        engagements.ChangeOrderListApi.as_view(),
        name="api-change-order-list",
    ),
    path(
        "change-orders/<int:pk>/accept/",
        engagements.ChangeOrderAcceptApi.as_view(),
        name="api-change-order-accept",
    ),
    path(
        "change-orders/<int:pk>/decline/",
        engagements.ChangeOrderDeclineApi.as_view(),
        name="api-change-order-decline",
    ),
    path(
        "change-orders/<int:pk>/withdraw/",
        engagements.ChangeOrderWithdrawApi.as_view(),
        name="api-change-order-withdraw",
    ),
    path("milestones/<int:pk>/", engagements.MilestoneDetailApi.as_view(), name="api-milestone-detail"),
    path("milestones/<int:pk>/start/", engagements.MilestoneStartApi.as_view(), name="api-milestone-start"),
    path(
        "milestones/<int:pk>/submit/", engagements.MilestoneSubmitApi.as_view(), name="api-milestone-submit"
    ),
    path(
        "milestones/<int:pk>/request-revision/",
        engagements.MilestoneRequestRevisionApi.as_view(),
        name="api-milestone-request-revision",
    ),
    path(
        "milestones/<int:pk>/approve/",
        engagements.MilestoneApproveApi.as_view(),
        name="api-milestone-approve",
    ),
    path(
        "milestones/<int:pk>/dispute/",
        engagements.MilestoneDisputeApi.as_view(),
        name="api-milestone-dispute",
    ),
    path(
        "milestones/<int:pk>/dispute/statements/",
        engagements.DisputeStatementsApi.as_view(),
        name="api-dispute-statements",
    ),
    path(
        "dispute-evidence/<int:pk>/download/",
        engagements.DisputeEvidenceDownloadApi.as_view(),
        name="api-dispute-evidence-download",
    ),
    path(
        "milestones/<int:pk>/cancel/", engagements.MilestoneCancelApi.as_view(), name="api-milestone-cancel"
    ),
    path(
        "attachments/<int:pk>/download/",
        engagements.AttachmentDownloadApi.as_view(),
        name="api-attachment-download",
    ),
]
