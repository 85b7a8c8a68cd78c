"""What /api/v1/ reads and writes.

Input serializers check shapes and types only; the services own the rules (budgets, deadlines,
milestone sums, attachment limits) and raise core errors that name the field. Input errors are
reported by path (`milestones[0].amount`), the same way the services name nested fields.
Output serializers read only what the selectors prefetched, so lists cost the same for 1 and 50 rows.

The output serializers on the busiest read paths (requests, matches, engagements) declare their fields
as usual, which is what the OpenAPI document describes, and render them by hand (`render`): DRF's generic
per-field walk costs more than the queries behind those endpoints. They render model instances and the
rows of the selectors' prepared queries alike, exactly as the declared fields would
(tests/marketplace/test_api_perf_serializers.py checks each against DRF's generic rendering).
"""

from django.db.models.manager import BaseManager
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.settings import api_settings
from rest_framework.utils import html

from core.money import CURRENCY_CHOICES, MAX_AMOUNT_MINOR, too_large_message
from core.text import LongTextField, SingleLineField
from marketplace.directory import ORDERINGS, REGIONS, EngineerFilters
from marketplace.models import (
    READINESS_QUESTIONS,
    ChangeOrder,
    ChangeOrderItem,
    Consultation,
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
    Proposal,
    ProposalMilestone,
    Readiness,
    Review,
    Skill,
    User,
)
from marketplace.models.attachments import Attachment
from marketplace.models.disputes import PARTY_CATEGORIES
from marketplace.models.invite_requests import MAX_NOTE
from marketplace.models.users import MAX_LANGUAGES, MAX_PORTFOLIO_LINKS, validate_time_zone
from marketplace.verified_skills import BANDS

NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY
_DATETIME = serializers.DateTimeField()


def _datetime(value, tz) -> str | None:
    """As DRF's DateTimeField renders it: ISO 8601 in the current time zone `tz`, `Z` for UTC."""
    if value is None:
        return None
    if isinstance(value, str) or timezone.is_naive(value):  # Not from the database (USE_TZ): DRF's way.
        return _DATETIME.to_representation(value)
    text = value.astimezone(tz).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _date(value) -> str | None:
    return None if value is None else value.isoformat()


def _all(related):
    """The objects of a relation: its related manager's (prefetched), or the list a selector made."""
    return related.all() if isinstance(related, BaseManager) else related


class RenderedList(serializers.ListSerializer):
    """Many objects, each rendered by the child's `render`, with the time zone looked up once."""

    def to_representation(self, data) -> list:
        render, tz = self.child.render, timezone.get_current_timezone()
        return [render(item, tz) for item in _all(data)]


# An output serializer rendered by hand: `render(obj, tz)` makes what its declared fields would (which the
# OpenAPI document describes); its Meta has `list_serializer_class = RenderedList`. (A comment, not a
# docstring: drf-spectacular would describe every such serializer with it.)
class Rendered:
    def to_representation(self, instance) -> dict:
        return self.render(instance, timezone.get_current_timezone())


def _skill_names_of(instance) -> list[str]:
    """The names of the skills, from the `skill_names` column where the selector added one."""
    names = getattr(instance, "skill_names", None)
    return [skill.name for skill in instance.skills.all()] if names is None else names


def _user_brief(user: User) -> dict:
    return {"id": user.pk, "username": user.username, "display_name": user.display_name}


def flatten_errors(detail, prefix: str = "") -> dict[str, list]:
    """{"milestones": [{}, {"amount": [...]}]} -> {"milestones[1].amount": [...]}."""
    if isinstance(detail, dict):
        flat: dict[str, list] = {}
        for key, value in detail.items():
            if key == NON_FIELD:
                path = prefix or NON_FIELD
            elif isinstance(key, int):
                path = f"{prefix}[{key}]"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten_errors(value, path))
        return flat
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        flat = {}
        for index, item in enumerate(detail):
            flat.update(flatten_errors(item, f"{prefix}[{index}]"))
        return flat
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or NON_FIELD: messages} if messages else {}


class Input(serializers.Serializer):
    def run_validation(self, data=empty):
        try:
            return super().run_validation(data)
        except serializers.ValidationError as exc:
            if self.parent is not None:  # The outermost input names the whole path.
                raise
            raise serializers.ValidationError(flatten_errors(exc.detail)) from exc


class WholeNumberField(serializers.IntegerField):
    """An integer, strictly: no booleans, no fractions (12.5 or 12.0), no non-digit strings; and at most
    what a database integer holds (an id of 10**30 is a 400, not an overflow in the query)."""

    default_error_messages = {"invalid": "A whole number is required."}
    DATABASE_MAX = 2**63 - 1

    def __init__(self, **kwargs):
        kwargs.setdefault("max_value", self.DATABASE_MAX)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool | float) or (isinstance(data, str) and not data.strip().isdigit()):
            self.fail("invalid")
        return super().to_internal_value(data)


class MinorUnitsField(WholeNumberField):
    """Money in integer minor units of the currency: 125000 is 1,250.00 USD."""

    default_error_messages = {
        "invalid": "A whole number of minor units (e.g. cents) is required.",
        "max_value": too_large_message(),
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", MAX_AMOUNT_MINOR)
        super().__init__(**kwargs)


class FormListField(serializers.ListField):
    """A list that multipart forms may also send as repeated `name` or `name[]` parts."""

    def get_value(self, dictionary):
        if html.is_html_input(dictionary) and f"{self.field_name}[]" in dictionary:
            return dictionary.getlist(f"{self.field_name}[]")
        return super().get_value(dictionary)


def _skill_names():
    return serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)


def _skills_input():
    return serializers.ListField(
        child=SingleLineField(max_length=64), required=False, help_text="Skill tags by name."
    )


# --- Users ------------------------------------------------------------------------------------------


class UserBriefSerializer(Rendered, serializers.ModelSerializer):
    display_name = serializers.CharField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "display_name"]
        list_serializer_class = RenderedList

    def render(self, user: User, tz) -> dict:
        return _user_brief(user)


class MeSerializer(serializers.ModelSerializer):
    display_name = serializers.CharField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name", "display_name", "role", "is_staff"]
        read_only_fields = fields


class TokenInput(Input):
    username = serializers.CharField()
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`; shown only once.")
    expires_at = serializers.DateTimeField(help_text="After this the token answers 401; rotate it before.")


class RevokedSerializer(serializers.Serializer):
    revoked = serializers.IntegerField(help_text="How many tokens stopped working.")


class SignUpInput(Input):
    username = serializers.CharField(max_length=150, validators=[User.username_validator])
    email = serializers.EmailField()
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})
    role = serializers.ChoiceField(choices=User.Role.choices)
    first_name = SingleLineField(max_length=150, required=False, allow_blank=True)
    last_name = SingleLineField(max_length=150, required=False, allow_blank=True)


class SignUpAcceptedSerializer(serializers.Serializer):
    detail = serializers.CharField()


class SignUpConfirmInput(Input):
    uid = serializers.CharField(
        max_length=64, help_text="From the confirmation link: /signup/confirm/<uid>/<token>/."
    )
    token = serializers.CharField(max_length=128)


class ResendConfirmationInput(Input):
    email = serializers.EmailField()


class SkillSerializer(serializers.ModelSerializer):
    class Meta:
        model = Skill
        fields = ["id", "name", "slug"]


# --- Engineers --------------------------------------------------------------------------------------


def _badge(badge, tz) -> dict:
    return {
        "id": badge.pk,
        "challenge_slug": badge.challenge_slug,
        "title": badge.title,
        "band": str(badge.band),
        "awarded_at": _datetime(badge.awarded_at, tz),
    }


class BadgeSerializer(Rendered, serializers.Serializer):
    """A vetting badge as the marketplace shows it (read through marketplace.verified_skills).

    The band only: a badge's score is its final-split score, which nobody outside staff sees."""

    id = serializers.IntegerField(read_only=True)
    challenge_slug = serializers.SlugField(read_only=True)
    title = serializers.CharField(read_only=True)
    band = serializers.ChoiceField(choices=["pass", "strong", "exceptional"], read_only=True)
    awarded_at = serializers.DateTimeField(read_only=True)

    class Meta:
        list_serializer_class = RenderedList

    def render(self, badge, tz) -> dict:
        return _badge(badge, tz)


def _engineer(profile: EngineerProfile, tz) -> dict:
    user = profile.user
    rating_average = profile.rating_average
    return {
        "id": profile.user_id,
        "username": user.username,
        "display_name": user.display_name,
        "headline": profile.headline,
        "skills": [skill.name for skill in profile.skills.all()],
        "rate_type": str(profile.rate_type),
        "rate_amount": profile.rate_amount,
        "currency": str(profile.currency),
        "availability": str(profile.availability),
        "time_zone": profile.time_zone,
        "languages": [str(language) for language in profile.languages],
        "rating_average": None if rating_average is None else float(rating_average),
        "rating_count": profile.rating_count,
        "badges": [_badge(badge, tz) for badge in user.active_badges],
    }


class EngineerSerializer(Rendered, serializers.ModelSerializer):
    """An engineer's public profile; `id` is the user id that invitations take."""

    id = serializers.IntegerField(source="user_id", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    display_name = serializers.CharField(source="user.display_name", read_only=True)
    skills = _skill_names()
    languages = serializers.ListField(child=serializers.CharField(), read_only=True)
    rating_average = serializers.FloatField(read_only=True, allow_null=True)
    badges = BadgeSerializer(source="user.active_badges", many=True, read_only=True)

    class Meta:
        model = EngineerProfile
        fields = [
            "id",
            "username",
            "display_name",
            "headline",
            "skills",
            "rate_type",
            "rate_amount",
            "currency",
            "availability",
            "time_zone",
            "languages",
            "rating_average",
            "rating_count",
            "badges",
        ]
        list_serializer_class = RenderedList

    def render(self, profile: EngineerProfile, tz) -> dict:
        return _engineer(profile, tz)


def _review(review: Review, tz) -> dict:
    return {
        "rating": review.rating,
        "text": review.text,
        "created_at": _datetime(review.created_at, tz),
        "published_at": _datetime(review.published_at, tz),
    }


class ReviewSerializer(Rendered, serializers.ModelSerializer):
    class Meta:
        model = Review
        fields = ["rating", "text", "created_at", "published_at"]
        list_serializer_class = RenderedList

    def render(self, review: Review, tz) -> dict:
        return _review(review, tz)


class TrackRecordSerializer(serializers.Serializer):
    member_since = serializers.DateField()
    completed_engagements = serializers.IntegerField()
    delivered_milestones = serializers.IntegerField()
    on_time_rate = serializers.FloatField(
        allow_null=True, help_text="Share of delivered milestones first delivered by their due date."
    )
    response_hours = serializers.FloatField(
        allow_null=True, help_text="Median hours from an invitation to the engineer's first reply."
    )
    responses = serializers.IntegerField()


def _track_record(record) -> dict:
    return {
        "member_since": record.member_since.isoformat(),
        "completed_engagements": record.completed_engagements,
        "delivered_milestones": record.delivered_milestones,
        "on_time_rate": record.on_time_rate,
        "response_hours": record.response_hours,
        "responses": record.responses,
    }


class EngineerDetailSerializer(EngineerSerializer):
    """A profile from selectors.engineer_detail (with its track record)."""

    reviews = ReviewSerializer(source="user.recent_reviews", many=True, read_only=True)
    portfolio_links = serializers.ListField(child=serializers.URLField(), read_only=True)
    track_record = TrackRecordSerializer(read_only=True)

    class Meta(EngineerSerializer.Meta):
        fields = [*EngineerSerializer.Meta.fields, "bio", "portfolio_links", "track_record", "reviews"]

    def render(self, profile: EngineerProfile, tz) -> dict:
        data = _engineer(profile, tz)
        data["bio"] = profile.bio
        data["portfolio_links"] = [str(link) for link in profile.portfolio_links]
        data["track_record"] = _track_record(profile.track_record)
        data["reviews"] = [_review(review, tz) for review in profile.user.recent_reviews]
        return data


class ProfileInput(Input):
    headline = SingleLineField(max_length=140, required=False, allow_blank=True)
    bio = LongTextField(required=False, allow_blank=True)
    skills = _skills_input()
    rate_type = serializers.ChoiceField(choices=EngineerProfile.RateType.choices, required=False)
    rate_amount = MinorUnitsField(required=False)
    currency = serializers.ChoiceField(choices=CURRENCY_CHOICES, required=False)
    availability = serializers.ChoiceField(choices=EngineerProfile.Availability.choices, required=False)
    time_zone = SingleLineField(
        max_length=64,
        required=False,
        allow_blank=True,
        validators=[validate_time_zone],
        help_text="IANA name, e.g. Europe/Berlin.",
    )
    languages = serializers.ListField(
        child=SingleLineField(max_length=40), required=False, max_length=MAX_LANGUAGES
    )
    portfolio_links = serializers.ListField(
        child=serializers.URLField(max_length=300), required=False, max_length=MAX_PORTFOLIO_LINKS
    )


class EngineerFilterInput(Input):
    """The directory's filters; every one is optional and they combine (AND)."""

    q = SingleLineField(
        required=False, max_length=200, help_text="Words to find in the name, headline, bio or skills."
    )
    skill = serializers.ListField(
        child=serializers.SlugField(),
        required=False,
        help_text="Engineers with any of these skills (slugs); repeat the parameter for more than one.",
    )
    vetted = serializers.BooleanField(required=False, help_text="Only engineers holding an active badge.")
    band = serializers.ChoiceField(
        choices=list(BANDS), required=False, help_text="Only engineers with a badge of at least this band."
    )
    rate_min = MinorUnitsField(
        required=False, help_text="Lowest rate, in minor units of each engineer's own currency."
    )
    rate_max = MinorUnitsField(
        required=False, help_text="Highest rate, in minor units of each engineer's own currency."
    )
    availability = serializers.ChoiceField(choices=EngineerProfile.Availability.choices, required=False)
    time_zone = serializers.ChoiceField(
        choices=list(REGIONS),
        required=False,
        help_text="An IANA region: engineers whose time zone is in it (`Europe` for Europe/Berlin).",
    )
    language = SingleLineField(required=False, max_length=40, help_text="A language the engineer speaks.")
    ordering = serializers.ChoiceField(
        choices=list(ORDERINGS),
        required=False,
        default="relevance",
        help_text="`relevance` (search words, badge band, rating, availability), `rating`, `rate` "
        "(lowest first) or `-rate`.",
    )

    def validate(self, data):
        low, high = data.get("rate_min"), data.get("rate_max")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"rate_max": ["Must not be below rate_min."]})
        return data

    def filters(self) -> EngineerFilters:
        data = self.validated_data
        return EngineerFilters(
            q=data.get("q", ""),
            skills=data.get("skill", []),
            vetted=data.get("vetted", False),
            band=data.get("band", ""),
            rate_min=data.get("rate_min"),
            rate_max=data.get("rate_max"),
            availability=data.get("availability", ""),
            region=data.get("time_zone", ""),
            language=data.get("language", ""),
            ordering=data["ordering"],
        )


class MatchSerializer(Rendered, serializers.Serializer):
    engineer = EngineerSerializer(source="profile")
    score = serializers.FloatField(
        help_text="0-100: skills 45, vetting badge 25, rating 20, availability 10."
    )
    matched_skills = serializers.ListField(child=serializers.CharField())
    reasons = serializers.ListField(child=serializers.CharField())
    invited = serializers.BooleanField()

    class Meta:
        list_serializer_class = RenderedList

    def render(self, match, tz) -> dict:
        return {
            "engineer": _engineer(match.profile, tz),
            "score": float(match.score),
            "matched_skills": [str(name) for name in match.matched_skills],
            "reasons": [str(reason) for reason in match.reasons],
            "invited": bool(match.invited),
        }


# --- Requests ---------------------------------------------------------------------------------------


class RequestBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = HiringRequest
        fields = ["id", "title", "state"]


class RequestSerializer(Rendered, serializers.ModelSerializer):
    client = UserBriefSerializer(read_only=True)
    skills = _skill_names()

    class Meta:
        model = HiringRequest
        fields = [
            "id",
            "title",
            "state",
            "client",
            "skills",
            "currency",
            "budget_min",
            "budget_max",
            "deadline",
            "created_at",
            "published_at",
        ]
        list_serializer_class = RenderedList

    def render(self, hiring_request: HiringRequest, tz) -> dict:
        return {
            "id": hiring_request.pk,
            "title": hiring_request.title,
            "state": str(hiring_request.state),
            "client": _user_brief(hiring_request.client),
            "skills": _skill_names_of(hiring_request),
            "currency": str(hiring_request.currency),
            "budget_min": hiring_request.budget_min,
            "budget_max": hiring_request.budget_max,
            "deadline": _date(hiring_request.deadline),
            "created_at": _datetime(hiring_request.created_at, tz),
            "published_at": _datetime(hiring_request.published_at, tz),
        }


class ReadinessAnswerSerializer(serializers.Serializer):
    field = serializers.CharField()
    question = serializers.CharField()
    answer = serializers.ChoiceField(choices=Readiness.choices)
    answer_label = serializers.CharField()
    advice = serializers.CharField(help_text="Empty when the answer is yes.")


class RequestConsultationSerializer(serializers.ModelSerializer):
    engineer = UserBriefSerializer(read_only=True)

    class Meta:
        model = Consultation
        fields = ["id", "engineer", "state", "closed_reason", "created_at"]


class RequestDetailSerializer(RequestSerializer):
    readiness = serializers.SerializerMethodField()
    readiness_score = serializers.IntegerField(read_only=True, help_text="0-10.")
    readiness_summary = serializers.CharField(read_only=True)
    consultations = serializers.SerializerMethodField(
        help_text="The engineers invited; shown to the request's client only (null for others)."
    )

    class Meta(RequestSerializer.Meta):
        fields = [
            *RequestSerializer.Meta.fields,
            "description",
            "data_description",
            *(field for field, _, _ in READINESS_QUESTIONS),
            "readiness",
            "readiness_score",
            "readiness_summary",
            "consultations",
        ]

    def render(self, hiring_request: HiringRequest, tz) -> dict:
        # One request at a time, off the busy paths: DRF's generic rendering of the declared fields.
        return serializers.ModelSerializer.to_representation(self, hiring_request)

    @extend_schema_field(ReadinessAnswerSerializer(many=True))
    def get_readiness(self, hiring_request: HiringRequest) -> list[dict]:
        return [
            {
                "field": field,
                "question": question,
                "answer": getattr(hiring_request, field),
                "answer_label": Readiness(getattr(hiring_request, field)).label,
                "advice": "" if getattr(hiring_request, field) == Readiness.YES else advice,
            }
            for field, question, advice in READINESS_QUESTIONS
        ]

    @extend_schema_field(RequestConsultationSerializer(many=True, allow_null=True))
    def get_consultations(self, hiring_request: HiringRequest) -> list[dict] | None:
        user = self.context["request"].user
        if hiring_request.client_id != user.pk:
            return None
        return RequestConsultationSerializer(hiring_request.consultations.all(), many=True).data


class RequestInput(Input):
    title = SingleLineField(max_length=140)
    description = LongTextField()
    skills = _skills_input()
    currency = serializers.ChoiceField(choices=CURRENCY_CHOICES, required=False)
    budget_min = MinorUnitsField()
    budget_max = MinorUnitsField()
    deadline = serializers.DateField(required=False, allow_null=True)
    data_description = LongTextField(required=False, allow_blank=True)
    tried_prompting = serializers.ChoiceField(choices=Readiness.choices, required=False)
    has_enough_data = serializers.ChoiceField(choices=Readiness.choices, required=False)
    has_success_metric = serializers.ChoiceField(choices=Readiness.choices, required=False)
    lowers_long_term_cost = serializers.ChoiceField(choices=Readiness.choices, required=False)
    deployment_ready = serializers.ChoiceField(choices=Readiness.choices, required=False)


class RequestFilterInput(Input):
    state = serializers.ChoiceField(choices=HiringRequest.State.choices, required=False)


class ConsultationFilterInput(Input):
    request = WholeNumberField(min_value=1, required=False, help_text="Only threads on this request (id).")


class ReasonInput(Input):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class InvitationInput(Input):
    engineer = WholeNumberField(min_value=1, help_text="The engineer's user id (`id` in /engineers/).")
    message = serializers.CharField(max_length=10_000, required=False, allow_blank=True, default="")


class InviteRequestInput(Input):
    note = LongTextField(
        max_length=MAX_NOTE, required=False, allow_blank=True, default="", help_text="Why you are a good fit."
    )


class InviteRequestSerializer(serializers.ModelSerializer):
    """An engineer's ask to be invited to consult on a request."""

    request = RequestBriefSerializer(read_only=True)
    engineer = UserBriefSerializer(read_only=True)

    class Meta:
        model = InviteRequest
        fields = ["id", "request", "engineer", "note", "state", "created_at", "decided_at"]
        read_only_fields = fields


class MatchFilterInput(Input):
    limit = WholeNumberField(min_value=1, max_value=50, required=False, default=20)


# --- Consultations and proposals --------------------------------------------------------------------


class ConsultationSerializer(serializers.ModelSerializer):
    request = RequestBriefSerializer(read_only=True)
    client = UserBriefSerializer(source="request.client", read_only=True)
    engineer = UserBriefSerializer(read_only=True)
    message_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Consultation
        fields = [
            "id",
            "state",
            "request",
            "client",
            "engineer",
            "message_count",
            "closed_reason",
            "created_at",
            "updated_at",
        ]


class MessageAttachmentSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="original_name", read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = MessageAttachment
        fields = ["id", "name", "size", "content_type", "download_url"]

    def get_download_url(self, attachment: MessageAttachment) -> str:
        return _download_url(attachment, self.context.get("request"), "api-message-attachment-download")


class MessageSerializer(serializers.ModelSerializer):
    author = UserBriefSerializer(
        read_only=True, allow_null=True, help_text="None for the platform's own events."
    )
    attachments = MessageAttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = Message
        fields = ["id", "kind", "author", "body", "link", "attachments", "created_at"]
        extra_kwargs = {
            "kind": {
                "help_text": "message: written by a party; event: a delivery, revision, dispute or its "
                "settlement, written by the platform as it happened."
            },
            "link": {"help_text": "For events: the page of the milestone it happened on."},
        }


class ConversationSerializer(serializers.ModelSerializer):
    """One row of the inbox."""

    request = RequestBriefSerializer(read_only=True)
    client = UserBriefSerializer(source="request.client", read_only=True)
    engineer = UserBriefSerializer(read_only=True)
    unread = serializers.IntegerField(read_only=True, help_text="Entries by others after your read mark.")
    last_message_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_message = serializers.CharField(
        source="last_body",
        read_only=True,
        allow_null=True,
        help_text="The newest entry, cut to 140 characters.",
    )

    class Meta:
        model = Consultation
        fields = ["id", "state", "request", "client", "engineer", "unread", "last_message_at", "last_message"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if data["last_message"] and len(data["last_message"]) > 140:
            data["last_message"] = data["last_message"][:139] + "…"
        return data


class ReadMarkSerializer(serializers.Serializer):
    read_through = serializers.IntegerField(help_text="The id of the newest message now read (0: none yet).")
    unread = serializers.IntegerField(help_text="Unread entries left in this conversation (0).")


class ProposalMilestoneSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProposalMilestone
        fields = ["position", "title", "amount", "due_date"]


class ProposalSerializer(serializers.ModelSerializer):
    milestones = ProposalMilestoneSerializer(many=True, read_only=True)

    class Meta:
        model = Proposal
        fields = ["id", "consultation", "state", "scope", "price", "currency", "milestones", "created_at"]


class ConsultationRequestSerializer(RequestBriefSerializer):
    readiness_summary = serializers.CharField(read_only=True)

    class Meta(RequestBriefSerializer.Meta):
        fields = [*RequestBriefSerializer.Meta.fields, "currency", "readiness_summary"]


class ConsultationDetailSerializer(serializers.ModelSerializer):
    request = ConsultationRequestSerializer(read_only=True)
    client = UserBriefSerializer(source="request.client", read_only=True)
    engineer = UserBriefSerializer(read_only=True)
    messages = MessageSerializer(many=True, read_only=True)
    proposals = ProposalSerializer(many=True, read_only=True)

    class Meta:
        model = Consultation
        fields = [
            "id",
            "state",
            "request",
            "client",
            "engineer",
            "closed_reason",
            "messages",
            "proposals",
            "created_at",
            "updated_at",
        ]


class MessageInput(Input):
    body = serializers.CharField(
        max_length=10_000, required=False, allow_blank=True, default="", help_text="May be empty with files."
    )
    attachments = FormListField(
        child=serializers.FileField(allow_empty_file=True, use_url=False),
        required=False,
        default=list,
        help_text="Files (multipart); size, count and type limits are the server's ATTACHMENT_* settings.",
    )


class ProposalMilestoneInput(Input):
    title = SingleLineField(max_length=140)
    amount = MinorUnitsField(min_value=1)
    due_date = serializers.DateField()


class ProposalInput(Input):
    scope = LongTextField()
    price = MinorUnitsField(min_value=1, help_text="Minor units; must equal the sum of the milestones.")
    currency = serializers.ChoiceField(
        choices=CURRENCY_CHOICES, required=False, help_text="Defaults to the request's currency."
    )
    milestones = serializers.ListField(child=ProposalMilestoneInput())


# --- Engagements ------------------------------------------------------------------------------------


def _milestone(milestone: Milestone, tz) -> dict:
    return {
        "id": milestone.pk,
        "position": milestone.position,
        "title": milestone.title,
        "amount": milestone.amount,
        "currency": str(milestone.currency),
        "due_date": _date(milestone.due_date),
        "state": str(milestone.state),
        "funded_at": _datetime(milestone.funded_at, tz),
        "submitted_at": _datetime(milestone.submitted_at, tz),
        "auto_approve_at": _datetime(milestone.auto_approve_at, tz),
        "approved_at": _datetime(milestone.approved_at, tz),
        "revision_count": milestone.revision_count,
    }


class MilestoneSerializer(Rendered, serializers.ModelSerializer):
    class Meta:
        model = Milestone
        fields = [
            "id",
            "position",
            "title",
            "amount",
            "currency",
            "due_date",
            "state",
            "funded_at",
            "submitted_at",
            "auto_approve_at",
            "approved_at",
            "revision_count",
        ]
        list_serializer_class = RenderedList

    def render(self, milestone: Milestone, tz) -> dict:
        return _milestone(milestone, tz)


class AttachmentSerializer(Rendered, serializers.ModelSerializer):
    name = serializers.CharField(source="original_name", read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = DeliveryAttachment
        fields = ["id", "name", "size", "content_type", "download_url"]
        list_serializer_class = RenderedList

    def get_download_url(self, attachment: DeliveryAttachment) -> str:
        return _download_url(attachment, self.context.get("request"))

    def render(self, attachment: DeliveryAttachment, tz) -> dict:
        return _attachment(attachment, self.context.get("request"))


def _download_url(attachment: Attachment, request, route: str = "api-attachment-download") -> str:
    """The API address a stored file is downloaded from (absolute when there is a request)."""
    path = reverse(route, args=[attachment.pk])
    return request.build_absolute_uri(path) if request is not None else path


def _attachment(attachment: DeliveryAttachment, request) -> dict:
    return {
        "id": attachment.pk,
        "name": attachment.original_name,
        "size": attachment.size,
        "content_type": attachment.content_type,
        "download_url": _download_url(attachment, request),
    }


def _delivery(delivery: Delivery, request, tz) -> dict:
    return {
        "id": delivery.pk,
        "milestone": delivery.milestone_id,
        "author": _user_brief(delivery.author),
        "message": delivery.message,
        "links": [None if link is None else str(link) for link in delivery.links],
        "attachments": [_attachment(attachment, request) for attachment in _all(delivery.attachments)],
        "review": str(delivery.review),
        "review_comment": delivery.review_comment,
        "reviewed_at": _datetime(delivery.reviewed_at, tz),
        "created_at": _datetime(delivery.created_at, tz),
    }


def _milestone_detail(milestone: Milestone, request, tz) -> dict:
    data = _milestone(milestone, tz)
    data["deliveries"] = [_delivery(delivery, request, tz) for delivery in _all(milestone.deliveries)]
    return data


class DeliverySerializer(Rendered, serializers.ModelSerializer):
    author = UserBriefSerializer(read_only=True)
    links = serializers.ListField(child=serializers.URLField(), read_only=True)
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "milestone",
            "author",
            "message",
            "links",
            "attachments",
            "review",
            "review_comment",
            "reviewed_at",
            "created_at",
        ]
        list_serializer_class = RenderedList

    def render(self, delivery: Delivery, tz) -> dict:
        return _delivery(delivery, self.context.get("request"), tz)


class MilestoneDetailSerializer(MilestoneSerializer):
    deliveries = DeliverySerializer(many=True, read_only=True)

    class Meta(MilestoneSerializer.Meta):
        fields = [*MilestoneSerializer.Meta.fields, "deliveries"]

    def render(self, milestone: Milestone, tz) -> dict:
        return _milestone_detail(milestone, self.context.get("request"), tz)


def _engagement(engagement: Engagement, milestones: list[dict], tz) -> dict:
    return {
        "id": engagement.pk,
        "title": engagement.title,
        "state": str(engagement.state),
        "request": engagement.request_id,
        "client": _user_brief(engagement.client),
        "engineer": _user_brief(engagement.engineer),
        "currency": str(engagement.currency),
        "total": engagement.total,
        "milestones": milestones,
        "created_at": _datetime(engagement.created_at, tz),
        "completed_at": _datetime(engagement.completed_at, tz),
    }


class EngagementSerializer(Rendered, serializers.ModelSerializer):
    client = UserBriefSerializer(read_only=True)
    engineer = UserBriefSerializer(read_only=True)
    milestones = MilestoneSerializer(many=True, read_only=True)

    class Meta:
        model = Engagement
        fields = [
            "id",
            "title",
            "state",
            "request",
            "client",
            "engineer",
            "currency",
            "total",
            "milestones",
            "created_at",
            "completed_at",
        ]
        list_serializer_class = RenderedList

    def render(self, engagement: Engagement, tz) -> dict:
        return _engagement(
            engagement, [_milestone(milestone, tz) for milestone in _all(engagement.milestones)], tz
        )


def _party_id(engagement, party: str) -> int:
    return getattr(engagement, f"{party}_id", None) or getattr(engagement, party).id


class EngagementDetailSerializer(EngagementSerializer):
    """`review` is the client's of the engineer, `client_review` the engineer's of the client; each shows
    to the other party (and on profiles) only once published: both have rated, or the window closed."""

    milestones = MilestoneDetailSerializer(many=True, read_only=True)
    review = serializers.SerializerMethodField()
    client_review = serializers.SerializerMethodField()

    class Meta(EngagementSerializer.Meta):
        fields = [*EngagementSerializer.Meta.fields, "consultation", "proposal", "review", "client_review"]

    def _visible(self, engagement, attr: str, author: str) -> dict | None:
        review = getattr(engagement, attr, None)  # The reverse one-to-one raises when absent.
        if review is None:
            return None
        user = getattr(self.context.get("request"), "user", None)
        if review.published_at is None and not (
            user is not None and (user.is_staff or user.pk == _party_id(engagement, author))
        ):
            return None
        return _review(review, timezone.get_current_timezone())

    @extend_schema_field(ReviewSerializer(allow_null=True))
    def get_review(self, engagement: Engagement) -> dict | None:
        return self._visible(engagement, "review", "client")

    @extend_schema_field(ReviewSerializer(allow_null=True))
    def get_client_review(self, engagement: Engagement) -> dict | None:
        return self._visible(engagement, "client_review", "engineer")

    def render(self, engagement: Engagement, tz) -> dict:
        request = self.context.get("request")
        milestones = [_milestone_detail(milestone, request, tz) for milestone in _all(engagement.milestones)]
        data = _engagement(engagement, milestones, tz)
        data["consultation"] = engagement.consultation_id
        data["proposal"] = engagement.proposal_id
        data["review"] = self.get_review(engagement)
        data["client_review"] = self.get_client_review(engagement)
        return data


class TimelineEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    time = serializers.DateTimeField(source="created_at")
    actor = UserBriefSerializer(allow_null=True, help_text="Null for the platform (timers, payments).")
    subject = serializers.CharField(
        source="content_type.model", help_text="engagement, milestone or changeorder"
    )
    subject_id = serializers.IntegerField(source="object_id")
    transition = serializers.CharField()
    note = serializers.CharField()

    def get_fields(self):
        fields = super().get_fields()
        # `from` is a Python keyword, so these two are added here rather than declared above.
        fields["from"] = serializers.CharField(source="from_state")
        fields["to"] = serializers.CharField(source="to_state")
        return fields


class CommentInput(Input):
    comment = serializers.CharField(max_length=5000)


class DisputeInput(Input):
    category = serializers.ChoiceField(choices=PARTY_CATEGORIES, help_text="What the dispute is about.")
    reason = serializers.CharField(max_length=5000, help_text="What went wrong, in at least a sentence.")
    evidence = FormListField(
        child=serializers.FileField(allow_empty_file=True, use_url=False),
        required=False,
        default=list,
        help_text="Files (multipart); the ATTACHMENT_* limits.",
    )


class DisputeStatementInput(Input):
    body = serializers.CharField(max_length=5000, help_text="Your side, for staff and the other party.")
    evidence = FormListField(
        child=serializers.FileField(allow_empty_file=True, use_url=False),
        required=False,
        default=list,
        help_text="Files (multipart); the ATTACHMENT_* limits.",
    )


class DisputeEvidenceSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="original_name", read_only=True)
    uploaded_by = serializers.IntegerField(source="uploaded_by_id", read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = DisputeEvidence
        fields = ["id", "name", "size", "content_type", "uploaded_by", "download_url"]

    def get_download_url(self, evidence: DisputeEvidence) -> str:
        return _download_url(evidence, self.context.get("request"), "api-dispute-evidence-download")


class DisputeStatementSerializer(serializers.ModelSerializer):
    author = UserBriefSerializer(read_only=True)
    evidence = DisputeEvidenceSerializer(many=True, read_only=True)

    class Meta:
        model = DisputeStatement
        fields = ["id", "author", "body", "evidence", "created_at"]


class DisputeSerializer(serializers.ModelSerializer):
    opened_by = UserBriefSerializer(
        read_only=True, allow_null=True, help_text="None: opened by the platform."
    )
    category_label = serializers.CharField(source="get_category_display", read_only=True)
    evidence = serializers.SerializerMethodField(help_text="The files given with the opening.")
    statements = DisputeStatementSerializer(many=True, read_only=True)

    class Meta:
        model = Dispute
        fields = [
            "id",
            "milestone",
            "category",
            "category_label",
            "opened_by",
            "description",
            "evidence",
            "statements",
            "created_at",
            "settled_at",
        ]

    @extend_schema_field(DisputeEvidenceSerializer(many=True))
    def get_evidence(self, dispute: Dispute) -> list[dict]:
        opening = [item for item in dispute.evidence.all() if item.statement_id is None]
        return DisputeEvidenceSerializer(opening, many=True, context=self.context).data


class CancelInput(Input):
    reason = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class SubmitInput(Input):
    message = LongTextField()
    links = FormListField(child=serializers.CharField(max_length=2000), required=False, default=list)
    attachments = FormListField(
        child=serializers.FileField(allow_empty_file=True, use_url=False),
        required=False,
        default=list,
        help_text="Files; size, count and type limits are the server's ATTACHMENT_* settings.",
    )
    adapter_config = serializers.FileField(
        required=False,
        use_url=False,
        help_text="The delivered LoRA adapter's adapter_config.json: required, with adapter_model, when "
        "the milestone has an acceptance test (which then runs on it).",
    )
    adapter_model = serializers.FileField(
        required=False, use_url=False, help_text="The delivered LoRA adapter's adapter_model.safetensors."
    )
    dataset = serializers.FileField(
        required=False,
        use_url=False,
        help_text="Instead of an adapter, where the acceptance test's terms grant a training budget: a "
        "chat-format JSONL training set the platform trains on.",
    )
    hyperparameters = serializers.CharField(
        required=False,
        max_length=16 * 1024,
        help_text="With `dataset`: the training's hyperparameters as a JSON object (the vetting schema).",
    )


class ApproveInput(Input):
    note = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    approve_anyway = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Approve although the delivery's acceptance test did not pass (or has not finished); "
        "the note is then required: the reason, kept on the timeline.",
    )


class ReviewInput(Input):
    rating = WholeNumberField(min_value=1, max_value=5)
    text = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


# --- Notifications ----------------------------------------------------------------------------------


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "message", "url", "created_at", "read_at"]


class MarkReadInput(Input):
    ids = serializers.ListField(
        child=WholeNumberField(min_value=1),
        required=False,
        allow_null=True,
        default=None,
        help_text="Notification ids; omit to mark all read.",
    )


class MarkReadSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many notifications changed from unread to read.")


class NotificationPreferenceSerializer(serializers.Serializer):
    topic = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
    in_app = serializers.BooleanField(help_text="Shown in the app (off: kept, already read).")
    email = serializers.BooleanField(help_text="Sent by e-mail.")


class ChannelsInput(Input):
    in_app = serializers.BooleanField()
    email = serializers.BooleanField()


class NotificationPreferencesInput(Input):
    preferences = serializers.DictField(
        child=ChannelsInput(),
        help_text='By topic: {"payments": {"in_app": true, "email": false}}; topics not given keep '
        "their setting.",
    )


# --- Change orders ----------------------------------------------------------------------------------


class ChangeOrderItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChangeOrderItem
        fields = [
            "action",
            "milestone",
            "title",
            "amount",
            "due_date",
            "was_title",
            "was_amount",
            "was_due_date",
        ]
        extra_kwargs = {
            "milestone": {"help_text": "The milestone changed or removed; for an added one, once accepted."},
        }


class ChangeOrderSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    proposed_by = UserBriefSerializer(read_only=True)
    answered_by = UserBriefSerializer(read_only=True, allow_null=True)
    items = ChangeOrderItemSerializer(many=True, read_only=True)
    total_change = serializers.IntegerField(
        read_only=True, help_text="How the engagement's total moves (minor units)."
    )
    summary = serializers.SerializerMethodField()

    class Meta:
        model = ChangeOrder
        fields = [
            "id",
            "reference",
            "engagement",
            "state",
            "proposed_by",
            "note",
            "items",
            "total_change",
            "summary",
            "created_at",
            "answered_by",
            "answered_at",
            "answer_note",
        ]

    def get_summary(self, change_order: ChangeOrder) -> str:
        from marketplace.services.change_orders import change_order_summary

        return change_order_summary(change_order)


class ChangeInput(Input):
    action = serializers.ChoiceField(choices=ChangeOrderItem.Action.choices)
    milestone = serializers.IntegerField(required=False, help_text="For edit and remove: the milestone's id.")
    title = SingleLineField(max_length=140, required=False)
    amount = MinorUnitsField(required=False)
    due_date = serializers.DateField(required=False)


class ChangeOrderInput(Input):
    note = LongTextField(max_length=2000, help_text="Why the plan changes.")
    changes = ChangeInput(many=True, help_text="Add, edit or remove milestones not funded yet.")


class ChangeOrderAnswerInput(Input):
    note = LongTextField(max_length=2000, required=False, allow_blank=True, default="")
