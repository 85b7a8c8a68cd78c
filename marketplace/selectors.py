"""Every read in the marketplace, and who may see what.

Visibility rules: a client sees their own requests, consultations and engagements; an engineer sees
their own consultation threads and engagements, plus the open requests they are invited to; staff see
everything. Anything outside those sets does not exist for the user (404, never 403).
"""

import statistics
from dataclasses import dataclass
from datetime import date

from django.db.models import (
    CharField,
    Count,
    F,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce, JSONObject
from django.utils import timezone

from core.db.prepared import (
    ListOf,
    Param,
    PreparedQuery,
    Row,
    RowList,
    count_of,
    count_subquery,
    one,
    row_of,
)
from core.errors import NotFoundError, PermissionDeniedError
from core.models import TransitionLog
from marketplace.models import (
    ChangeOrder,
    Consultation,
    ConversationRead,
    Delivery,
    DeliveryAttachment,
    Dispute,
    DisputeEvidence,
    DisputeStatement,
    Engagement,
    EngineerProfile,
    HiringRequest,
    InviteRequest,
    Message,
    MessageAttachment,
    Milestone,
    Notification,
    NotificationPreference,
    Proposal,
    Review,
    Skill,
    User,
)
from marketplace.models.notifications import TOPICS
from marketplace.verified_skills import ACTIVE_BADGES, USER_BADGES, active_badges_prefetch, verified_skills


def _get_or_404(queryset: QuerySet, pk, label: str):
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise NotFoundError(f"{label} not found.")
    return obj


def _role(user: User) -> str:
    """Which visibility rule applies to the user (the branches of the _visible_* functions)."""
    return "staff" if user.is_staff else "client" if user.is_client else "engineer"


# --- Requests ---------------------------------------------------------------------------------------


def _user_columns(relation: str) -> list[str]:
    return [f"{relation}__{name}" for name in ("id", "username", "first_name", "last_name")]


def _visible_requests(role: str, user_id) -> QuerySet[HiringRequest]:
    if role == "staff":
        return HiringRequest.objects.all()
    if role == "client":
        return HiringRequest.objects.filter(client_id=user_id)
    return HiringRequest.objects.filter(
        pk__in=Consultation.objects.filter(engineer_id=user_id).values("request_id")
    )


def _skill_names(through) -> ListOf:
    """The names of the skills linked to the outer row through `through`, by name (as `skills.all()`)."""
    field = next(f for f in through._meta.get_fields() if f.many_to_one and f.related_model is not Skill)
    links = through.objects.filter(**{field.attname: OuterRef("pk")}).order_by("skill__name")
    return ListOf(links.values(item=F("skill__name")))


def _requests(user: User, state: str | None) -> QuerySet[HiringRequest]:
    queryset = _visible_requests(_role(user), user.pk)
    if state:
        queryset = queryset.filter(state=state)
    return queryset.order_by("-created_at", "-id")


def request_list(*, user: User, state: str | None = None) -> QuerySet[HiringRequest]:
    """What the list pages show: whole requests, their skills and how many consultations each has."""
    return (
        _requests(user, state)
        .select_related("client")
        .prefetch_related("skills")
        .annotate(consultation_count=count_subquery(Consultation.objects.filter(request=OuterRef("pk"))))
    )


def _summaries(role: str, by_state: bool) -> tuple[PreparedQuery, PreparedQuery]:
    def visible() -> QuerySet[HiringRequest]:
        queryset = _visible_requests(role, Param("user"))
        return queryset.filter(state=Param("state", CharField())) if by_state else queryset

    columns = ["id", "title", "state", "currency", "budget_min", "budget_max", "deadline", "created_at"]
    rows = PreparedQuery(
        lambda: (
            visible()
            .order_by("-created_at", "-id")
            .values(*columns, "published_at", *_user_columns("client"))
            .annotate(
                skill_names=_skill_names(HiringRequest.skills.through),
                total=Subquery(count_of(visible())),
            )
        ),
        users=("client",),
    )
    return rows, PreparedQuery(lambda: count_of(visible()))


_SUMMARIES = {
    (role, by_state): _summaries(role, by_state)
    for role in ("staff", "client", "engineer")
    for by_state in (False, True)
}


def request_summaries(*, user: User, state: str | None = None) -> RowList:
    """What the API's request list shows, and only that, newest first: the columns it renders, the
    client in brief, and the skills' names as one column (`skill_names`)."""
    rows, count = _SUMMARIES[_role(user), bool(state)]
    return RowList(rows, count, user=user.pk, state=state)


def request_get(*, user: User, request_id: int) -> HiringRequest:
    queryset = request_list(user=user).prefetch_related(
        Prefetch("consultations", queryset=Consultation.objects.select_related("engineer").order_by("pk"))
    )
    return _get_or_404(queryset, request_id, "Request")


def _for_matching(role: str) -> PreparedQuery:
    links = HiringRequest.skills.through.objects.filter(hiringrequest_id=OuterRef("pk")).order_by("skill_id")
    invited = Consultation.objects.filter(request_id=OuterRef("pk")).order_by("engineer_id")
    return PreparedQuery(
        lambda: (
            _visible_requests(role, Param("user"))
            .filter(pk=Param("request"))
            .values(
                "id",
                "client_id",
                "currency",
                "budget_min",
                "budget_max",
                skill_ids=ListOf(links.values(item=F("skill_id"))),
                invited_ids=ListOf(invited.values(item=F("engineer_id"))),
            )
        )
    )


_FOR_MATCHING = {role: _for_matching(role) for role in ("staff", "client", "engineer")}


def request_for_matching(*, user: User, request_id: int) -> Row:
    """The request whose matches its client asks for (others who see the request get 403), with the
    inputs of its ranking, in one query: `skill_ids`, the budget and the engineers already invited
    (`invited_ids`)."""
    hiring_request = one(_FOR_MATCHING[_role(user)], "Request", user=user.pk, request=request_id)
    if hiring_request.client_id != user.pk:
        raise PermissionDeniedError("Only the request's client sees its matches.")
    return hiring_request


# --- Asks to be invited -------------------------------------------------------------------------------


def invite_request_list(*, user: User, request_id: int) -> QuerySet[InviteRequest]:
    """The asks to be invited on a request: all of them for its client and staff, an engineer's own for
    an engineer (the request is on the job board, or they asked while it was); newest first. A request
    the user may not see does not exist."""
    hiring_request = HiringRequest.objects.filter(pk=request_id).first()
    asks = InviteRequest.objects.filter(request_id=request_id)
    if hiring_request is None:
        raise NotFoundError("Request not found.")
    if user.is_engineer:
        asks = asks.filter(engineer=user)
        if hiring_request.published_at is None and not asks.exists():
            raise NotFoundError("Request not found.")
    elif not user.is_staff and hiring_request.client_id != user.pk:
        raise NotFoundError("Request not found.")
    return asks.select_related("engineer", "request").order_by("-created_at", "-id")


def invite_requests_pending(*, hiring_request: HiringRequest) -> list[InviteRequest]:
    """The asks a request's client has yet to answer, oldest first, with each engineer's profile, skills
    and badges (for the request page; the caller shows them to the client only)."""
    profiles = EngineerProfile.objects.prefetch_related("skills")
    return list(
        InviteRequest.objects.filter(request=hiring_request, state=InviteRequest.State.REQUESTED)
        .select_related("engineer")
        .prefetch_related(
            Prefetch("engineer__engineer_profile", queryset=profiles),
            Prefetch(f"engineer__{USER_BADGES}", queryset=verified_skills().active(), to_attr=ACTIVE_BADGES),
        )
        .order_by("created_at", "id")
    )


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
        Prefetch(
            "messages", queryset=Message.objects.select_related("author").prefetch_related("attachments")
        ),
        Prefetch("proposals", queryset=Proposal.objects.prefetch_related("milestones")),
    )
    return _get_or_404(queryset, consultation_id, "Consultation")


# --- Conversations ----------------------------------------------------------------------------------


def _read_through(user: User) -> Coalesce:
    """How far the user has read each consultation's conversation (0: nothing yet)."""
    mark = ConversationRead.objects.filter(consultation=OuterRef("pk"), user=user).values("read_through")[:1]
    return Coalesce(Subquery(mark), 0)


def conversation_inbox(*, user: User) -> QuerySet[Consultation]:
    """Every conversation the user takes part in, the latest activity first, each with its unread
    count (messages and events by others after the user's read mark), its last entry's time and a
    preview of it."""
    last = Message.objects.filter(consultation=OuterRef("pk")).order_by("-id")
    return (
        Consultation.objects.filter(Q(engineer=user) | Q(request__client=user))
        .select_related("request", "request__client", "engineer")
        .annotate(read_through=_read_through(user), last_message_at=Max("messages__created_at"))
        .annotate(
            unread=Count(
                "messages",
                filter=Q(messages__id__gt=F("read_through")) & ~Q(messages__author=user),
            ),
            last_body=Subquery(last.values("body")[:1]),
            last_kind=Subquery(last.values("kind")[:1]),
            activity=Coalesce("last_message_at", "created_at"),
        )
        .order_by("-activity", "-id")
    )


def conversation_unread_total(*, user: User, consultation_id: int | None = None) -> int:
    """Messages and events by others, in all the user's conversations (or the one given), after the
    user's read marks."""
    mine = Consultation.objects.filter(Q(engineer=user) | Q(request__client=user))
    if consultation_id is not None:
        mine = mine.filter(pk=consultation_id)
    mark = ConversationRead.objects.filter(consultation=OuterRef("consultation"), user=user).values(
        "read_through"
    )[:1]
    return (
        Message.objects.filter(consultation__in=mine)
        .exclude(author=user)
        .filter(id__gt=Coalesce(Subquery(mark), 0))
        .count()
    )


def message_attachment_get(*, user: User, attachment_id: int) -> MessageAttachment:
    """An attachment in a conversation the user takes part in (staff: any, to mediate disputes)."""
    visible = consultation_list(user=user).values("pk")
    queryset = MessageAttachment.objects.filter(message__consultation__in=visible)
    return _get_or_404(queryset, attachment_id, "Attachment")


def proposal_get(*, user: User, proposal_id: int) -> Proposal:
    visible = consultation_list(user=user).values("pk")
    queryset = (
        Proposal.objects.filter(consultation__in=visible)
        .select_related("consultation", "consultation__request")
        .prefetch_related("milestones")
    )
    return _get_or_404(queryset, proposal_id, "Proposal")


# --- Engagements ------------------------------------------------------------------------------------


def _visible_engagements(role: str, user_id) -> QuerySet[Engagement]:
    if role == "staff":
        return Engagement.objects.all()
    return Engagement.objects.filter(Q(client_id=user_id) | Q(engineer_id=user_id))


def engagement_list(*, user: User) -> QuerySet[Engagement]:
    return (
        _visible_engagements(_role(user), user.pk)
        .select_related("client", "engineer", "request")
        .prefetch_related(Prefetch("milestones", queryset=Milestone.objects.order_by("position")))
        .order_by("-created_at", "-id")
    )


def engagement_get(*, user: User, engagement_id: int) -> Engagement:
    queryset = (
        engagement_list(user=user)
        .select_related("review", "client_review")
        .prefetch_related(
            Prefetch(
                "milestones__deliveries",
                queryset=Delivery.objects.select_related("author").prefetch_related("attachments"),
            ),
            Prefetch(
                "milestones__disputes",
                queryset=Dispute.objects.select_related("opened_by").prefetch_related(
                    Prefetch("evidence", queryset=DisputeEvidence.objects.select_related("uploaded_by")),
                    Prefetch("statements", queryset=DisputeStatement.objects.select_related("author")),
                ),
            ),
        )
    )
    return _get_or_404(queryset, engagement_id, "Engagement")


REVIEW_COLUMNS = ("id", "rating", "text", "created_at", "published_at")


def _engagement_detail(role: str) -> tuple[PreparedQuery, ...]:
    engagement = Param("engagement")
    attachments = DeliveryAttachment.objects.filter(delivery_id=OuterRef("pk")).order_by("id")
    file = JSONObject(id="id", original_name="original_name", size="size", content_type="content_type")
    columns = ["id", "title", "state", "request_id", "consultation_id", "proposal_id", "currency", "total"]
    return (
        PreparedQuery(
            lambda: (
                _visible_engagements(role, Param("user"))
                .filter(pk=engagement)
                .values(
                    *columns,
                    "created_at",
                    "completed_at",
                    *_user_columns("client"),
                    *_user_columns("engineer"),
                    *(f"review__{name}" for name in REVIEW_COLUMNS),
                    *(f"client_review__{name}" for name in REVIEW_COLUMNS),
                )
            ),
            users=("client", "engineer"),
        ),
        PreparedQuery(
            lambda: (
                Milestone.objects.filter(engagement_id=engagement)
                .order_by("position")
                .values(
                    *("id", "position", "title", "amount", "currency", "due_date", "state", "funded_at"),
                    *("submitted_at", "auto_approve_at", "approved_at", "revision_count"),
                )
            )
        ),
        PreparedQuery(  # In Delivery's own order, newest first.
            lambda: Delivery.objects.filter(milestone__engagement_id=engagement).values(
                *("id", "milestone_id", "message", "links", "review", "review_comment", "reviewed_at"),
                "created_at",
                *_user_columns("author"),
                files=ListOf(attachments.values(item=file), objects=True),
            ),
            users=("author",),
        ),
    )


_ENGAGEMENT_DETAIL = {role: _engagement_detail(role) for role in ("staff", "client", "engineer")}


def engagement_detail(*, user: User, engagement_id: int) -> Row:
    """What the API's engagement detail renders, and only that: the engagement with the parties in
    brief and its review, its milestones, their deliveries with the authors in brief and the attachments;
    three prepared queries, or fewer when there is nothing further down."""
    query, milestones, deliveries = _ENGAGEMENT_DETAIL[_role(user)]
    engagement = one(query, "Engagement", user=user.pk, engagement=engagement_id)
    engagement.milestones = milestones.rows(engagement=engagement_id)
    by_milestone = {milestone.pk: milestone for milestone in engagement.milestones}
    for milestone in engagement.milestones:
        milestone.deliveries = []
    for delivery in deliveries.rows(engagement=engagement_id) if engagement.milestones else []:
        delivery.attachments = [row_of(file.items()) for file in delivery.files]
        del delivery.files
        by_milestone[delivery.milestone_id].deliveries.append(delivery)
    return engagement


def change_orders_of(*, engagement: Engagement) -> QuerySet[ChangeOrder]:
    """The engagement's change orders, newest first (the caller has checked who sees the engagement)."""
    return engagement.change_orders.select_related(
        "proposed_by", "answered_by", "engagement"
    ).prefetch_related("items")


def change_order_get(*, user: User, change_order_id: int) -> ChangeOrder:
    """A change order of an engagement the user may see (404 otherwise)."""
    change_order = ChangeOrder.objects.filter(pk=change_order_id).first()
    if change_order is None or not engagement_list(user=user).filter(pk=change_order.engagement_id).exists():
        raise NotFoundError("Change order not found.")
    return change_order


def milestone_get(*, user: User, milestone_id: int) -> Milestone:
    visible = engagement_list(user=user).values("pk")
    queryset = Milestone.objects.filter(engagement__in=visible).select_related("engagement")
    return _get_or_404(queryset, milestone_id, "Milestone")


def dispute_get(*, user: User, milestone_id: int) -> Dispute:
    """The milestone's latest dispute, with its statements and evidence."""
    milestone = milestone_get(user=user, milestone_id=milestone_id)
    dispute = (
        milestone.disputes.select_related("opened_by")
        .prefetch_related(
            Prefetch("evidence", queryset=DisputeEvidence.objects.order_by("id")),
            Prefetch(
                "statements",
                queryset=DisputeStatement.objects.select_related("author").prefetch_related("evidence"),
            ),
        )
        .first()
    )
    if dispute is None:
        raise NotFoundError("This milestone was never disputed.")
    return dispute


def disputes_open() -> QuerySet[Dispute]:
    """Disputes staff have yet to settle, the oldest first (staff only; the caller checks)."""
    return (
        Dispute.objects.filter(settled_at=None, milestone__state=Milestone.State.DISPUTED)
        .select_related("milestone", "milestone__engagement", "opened_by")
        .order_by("created_at", "id")
    )


def dispute_evidence_get(*, user: User, attachment_id: int) -> DisputeEvidence:
    """Evidence in a dispute on an engagement the user may see (its parties, and staff who settle it)."""
    visible = engagement_list(user=user).values("pk")
    queryset = DisputeEvidence.objects.filter(dispute__milestone__engagement__in=visible)
    return _get_or_404(queryset, attachment_id, "Evidence")


def delivery_attachment_get(*, user: User, attachment_id: int):
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


# --- Engineers ------------------------------------------------------------------------------------


def vetting_figures() -> dict[str, int]:
    """What the landing page may claim, measured: engineers on the platform, how many hold a vetting
    badge now."""
    engineers = EngineerProfile.objects.filter(user__is_active=True, user__role=User.Role.ENGINEER).count()
    badged = verified_skills().active().values("engineer_id").distinct().count()
    return {"engineers": engineers, "badged": badged}


def engineer_list() -> QuerySet[EngineerProfile]:
    """Every active engineer's profile, complete or not (a profile page is reachable by its link; the
    directory, `marketplace.directory`, lists only complete ones)."""
    queryset = EngineerProfile.objects.filter(user__is_active=True, user__role=User.Role.ENGINEER)
    return (
        queryset.select_related("user")
        .prefetch_related("skills", active_badges_prefetch())
        .order_by("-rating_sum", "user__username")
    )


def engineer_get(*, username: str) -> EngineerProfile:
    profile = (
        engineer_list()
        .prefetch_related(
            Prefetch(
                "user__reviews_received",
                queryset=Review.objects.filter(published_at__isnull=False).select_related(
                    "client", "engagement"
                ),
                to_attr="recent_reviews",
            )
        )
        .filter(user__username=username)
        .first()
    )
    if profile is None:
        raise NotFoundError("Engineer not found.")
    return profile


def engineer_detail(*, username: str) -> EngineerProfile:
    """The public profile with its `track_record` (engineer_track_record)."""
    profile = engineer_get(username=username)
    profile.track_record = engineer_track_record(engineer=profile.user)
    return profile


@dataclass(frozen=True)
class TrackRecord:
    """What a client judges an engineer's reliability by, from the engineer's history on the platform."""

    member_since: date
    completed_engagements: int
    delivered_milestones: int  # milestones with at least one delivery
    on_time_rate: float | None  # share of those whose first delivery came by the due date
    response_hours: float | None  # median hours from an invitation to the engineer's first reply
    responses: int


# How far back the response time looks: recent behaviour is what a client is buying.
RESPONSE_SAMPLE = 50


def engineer_track_record(*, engineer: User) -> TrackRecord:
    """Three queries whatever the history's length (aggregates in the database, a bounded sample for the
    median)."""
    completed = Engagement.objects.filter(engineer=engineer, state=Engagement.State.COMPLETED).count()
    first_delivery = (
        Delivery.objects.filter(milestone=OuterRef("pk")).order_by("created_at").values("created_at")[:1]
    )
    delivered = list(
        Milestone.objects.filter(engagement__engineer=engineer)
        .annotate(first_delivery=Subquery(first_delivery))
        .filter(first_delivery__isnull=False)
        .values_list("due_date", "first_delivery")
    )
    on_time = sum(1 for due, at in delivered if timezone.localdate(at) <= due)
    first_reply = (
        Message.objects.filter(consultation=OuterRef("pk"), author=engineer, kind=Message.Kind.MESSAGE)
        .order_by("created_at")
        .values("created_at")[:1]
    )
    replies = list(
        Consultation.objects.filter(engineer=engineer)
        .annotate(first_reply=Subquery(first_reply))
        .filter(first_reply__isnull=False)
        .order_by("-created_at")
        .values_list("created_at", "first_reply")[:RESPONSE_SAMPLE]
    )
    hours = [max((reply - invited).total_seconds(), 0) / 3600 for invited, reply in replies]
    return TrackRecord(
        member_since=timezone.localdate(engineer.date_joined),
        completed_engagements=completed,
        delivered_milestones=len(delivered),
        on_time_rate=round(on_time / len(delivered), 3) if delivered else None,
        response_hours=round(statistics.median(hours), 1) if hours else None,
        responses=len(hours),
    )


def skill_list() -> QuerySet[Skill]:
    return Skill.objects.order_by("name")


# --- Notifications ----------------------------------------------------------------------------------


def notification_list(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user).order_by("-created_at", "-id")


def notification_unread_count(*, user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notification_preferences(*, user: User) -> list[dict]:
    """Every topic the user can hear about with their channels for it (both on where they have not
    chosen)."""
    chosen = {pref.topic: pref for pref in NotificationPreference.objects.filter(user=user)}
    return [
        {
            "topic": topic,
            "label": label,
            "description": description,
            "in_app": chosen[topic].in_app if topic in chosen else True,
            "email": chosen[topic].email if topic in chosen else True,
        }
        for topic, (label, description, _) in TOPICS.items()
        if topic != "staff" or user.is_staff  # staff alerts go to staff only
    ]
