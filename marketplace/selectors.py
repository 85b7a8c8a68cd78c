"""Every read in the marketplace, and who may see what.

Visibility rules: a client sees their own requests, consultations and engagements; an engineer sees
their own consultation threads and engagements, plus the open requests they are invited to; staff see
everything. Anything outside those sets does not exist for the user (404, never 403).
"""

from django.db.models import Count, Prefetch, Q, QuerySet

from core.errors import NotFoundError, PermissionDeniedError
from core.models import TransitionLog
from marketplace.matching import Match, engineer_match
from marketplace.models import (
    Consultation,
    Delivery,
    Engagement,
    EngineerProfile,
    HiringRequest,
    Message,
    Milestone,
    Notification,
    Proposal,
    Review,
    Skill,
    User,
)
from vetting.models import Badge


def _get_or_404(queryset: QuerySet, pk, label: str):
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise NotFoundError(f"{label} not found.")
    return obj


# --- Requests ---------------------------------------------------------------------------------------


def request_list(*, user: User, state: str | None = None) -> QuerySet[HiringRequest]:
    if user.is_staff:
        queryset = HiringRequest.objects.all()
    elif user.is_client:
        queryset = HiringRequest.objects.filter(client=user)
    else:
        # A subquery, not a join, so the consultation count below counts every thread on the request.
        queryset = HiringRequest.objects.filter(
            pk__in=Consultation.objects.filter(engineer=user).values("request_id")
        )
    if state:
        queryset = queryset.filter(state=state)
    return (
        queryset.select_related("client")
        .prefetch_related("skills")
        .annotate(consultation_count=Count("consultations", distinct=True))
        .order_by("-created_at", "-id")
    )


def request_get(*, user: User, request_id: int) -> HiringRequest:
    queryset = request_list(user=user).prefetch_related(
        Prefetch("consultations", queryset=Consultation.objects.select_related("engineer").order_by("pk"))
    )
    return _get_or_404(queryset, request_id, "Request")


def request_matches(*, user: User, request_id: int, limit: int = 20) -> list[Match]:
    """Ranked engineers for a request: only its client sees them; others who see the request get 403."""
    hiring_request = request_get(user=user, request_id=request_id)
    if hiring_request.client_id != user.pk:
        raise PermissionDeniedError("Only the request's client sees its matches.")
    return engineer_match(hiring_request=hiring_request, limit=limit)


# --- Consultations ----------------------------------------------------------------------------------


def consultation_list(*, user: User, request_id: int | None = None) -> QuerySet[Consultation]:
    if user.is_staff:
        queryset = Consultation.objects.all()
    else:
        queryset = Consultation.objects.filter(Q(engineer=user) | Q(request__client=user))
    if request_id is not None:
        queryset = queryset.filter(request_id=request_id)
    return (
        queryset.select_related("request", "request__client", "engineer")
        .annotate(message_count=Count("messages", distinct=True))
        .order_by("-updated_at", "-id")
    )


def consultation_get(*, user: User, consultation_id: int) -> Consultation:
    queryset = consultation_list(user=user).prefetch_related(
        Prefetch("messages", queryset=Message.objects.select_related("author")),
        Prefetch("proposals", queryset=Proposal.objects.prefetch_related("milestones")),
    )
    return _get_or_404(queryset, consultation_id, "Consultation")


def proposal_get(*, user: User, proposal_id: int) -> Proposal:
    visible = consultation_list(user=user).values("pk")
    queryset = (
        Proposal.objects.filter(consultation__in=visible)
        .select_related("consultation", "consultation__request")
        .prefetch_related("milestones")
    )
    return _get_or_404(queryset, proposal_id, "Proposal")


# --- Engagements ------------------------------------------------------------------------------------


def engagement_list(*, user: User) -> QuerySet[Engagement]:
    if user.is_staff:
        queryset = Engagement.objects.all()
    else:
        queryset = Engagement.objects.filter(Q(client=user) | Q(engineer=user))
    return (
        queryset.select_related("client", "engineer", "request")
        .prefetch_related(Prefetch("milestones", queryset=Milestone.objects.order_by("position")))
        .order_by("-created_at", "-id")
    )


def engagement_get(*, user: User, engagement_id: int) -> Engagement:
    queryset = (
        engagement_list(user=user)
        .select_related("review")
        .prefetch_related(
            Prefetch(
                "milestones__deliveries",
                queryset=Delivery.objects.select_related("author").prefetch_related("attachments"),
            )
        )
    )
    return _get_or_404(queryset, engagement_id, "Engagement")


def milestone_get(*, user: User, milestone_id: int) -> Milestone:
    visible = engagement_list(user=user).values("pk")
    queryset = Milestone.objects.filter(engagement__in=visible).select_related("engagement")
    return _get_or_404(queryset, milestone_id, "Milestone")


def delivery_attachment_get(*, user: User, attachment_id: int):
    from marketplace.models import DeliveryAttachment

    visible = engagement_list(user=user).values("pk")
    queryset = DeliveryAttachment.objects.filter(delivery__milestone__engagement__in=visible)
    return _get_or_404(queryset, attachment_id, "Attachment")


def engagement_timeline(*, engagement: Engagement) -> QuerySet[TransitionLog]:
    """The engagement's own transitions and its milestones', oldest first."""
    return TransitionLog.objects.filter(timeline_key=engagement.timeline_key).select_related(
        "actor", "content_type"
    )


def request_timeline(*, hiring_request: HiringRequest) -> QuerySet[TransitionLog]:
    return TransitionLog.objects.filter(timeline_key=hiring_request.timeline_key).select_related(
        "actor", "content_type"
    )


# --- Engineers --------------------------------------------------------------------------------------


def _active_badges() -> Prefetch:
    return Prefetch(
        "user__badges", queryset=Badge.objects.filter(revoked_at__isnull=True), to_attr="active_badges"
    )


def engineer_list(*, skill: str | None = None) -> QuerySet[EngineerProfile]:
    queryset = EngineerProfile.objects.filter(user__is_active=True, user__role=User.Role.ENGINEER)
    if skill:
        queryset = queryset.filter(skills__slug=skill)
    return (
        queryset.select_related("user")
        .prefetch_related("skills", _active_badges())
        .order_by("-rating_sum", "user__username")
    )


def engineer_get(*, username: str) -> EngineerProfile:
    profile = (
        engineer_list()
        .prefetch_related(
            Prefetch(
                "user__reviews_received",
                queryset=Review.objects.select_related("client", "engagement"),
                to_attr="recent_reviews",
            )
        )
        .filter(user__username=username)
        .first()
    )
    if profile is None:
        raise NotFoundError("Engineer not found.")
    return profile


def skill_list() -> QuerySet[Skill]:
    return Skill.objects.order_by("name")


# --- Notifications ----------------------------------------------------------------------------------


def notification_list(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user).order_by("-created_at", "-id")


def notification_unread_count(*, user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
