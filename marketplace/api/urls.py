"""The marketplace API, included by config/api_urls.py under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from marketplace.api.views import accounts, engagements, requests

router = SimpleRouter(use_regex_path=False)
router.register("skills", accounts.SkillViewSet, basename="api-skill")
router.register("engineers", accounts.EngineerViewSet, basename="api-engineer")
router.register("notifications", accounts.NotificationViewSet, basename="api-notification")
router.register("requests", requests.RequestViewSet, basename="api-request")
router.register("consultations", requests.ConsultationViewSet, basename="api-consultation")
router.register("proposals", requests.ProposalViewSet, basename="api-proposal")
router.register("engagements", engagements.EngagementViewSet, basename="api-engagement")
router.register("milestones", engagements.MilestoneViewSet, basename="api-milestone")
router.register("attachments", engagements.AttachmentViewSet, basename="api-attachment")

urlpatterns = [
    path("auth/token/", accounts.TokenObtainApi.as_view(), name="api-token"),
    path("auth/signup/", accounts.SignUpApi.as_view(), name="api-signup"),
    path("me/", accounts.MeApi.as_view(), name="api-me"),
    path("me/profile/", accounts.MyProfileApi.as_view(), name="api-my-profile"),
    *router.urls,
]
