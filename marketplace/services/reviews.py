"""Two-way reviews: once an engagement is complete, the client rates the engineer and the engineer rates
the client, each within REVIEW_WINDOW_DAYS of completion. Neither sees the other's rating before writing
their own: both are published together when the second is written, or when the window closes (the beat
task `reviews_publish_due`). A review can be edited for REVIEW_WINDOW_DAYS after it is written.

Only published reviews are shown to others and counted: the engineer's rating average lives on the
profile (rating_count, rating_sum), which matching reads without an aggregate; it moves at publication and
when a published review is edited.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from core.errors import InvalidTransitionError, NotFoundError, PermissionDeniedError, ValidationError
from marketplace.models import ClientReview, Engagement, EngineerProfile, Review, User
from marketplace.services.notifications import notify

MAX_TEXT = 5000


def window() -> timedelta:
    return timedelta(days=settings.REVIEW_WINDOW_DAYS)


@dataclass(frozen=True)
class Side:
    """One direction of review on an engagement, seen from its author."""

    model: type[Review] | type[ClientReview]
    attr: str  # the engagement's reverse accessor
    other_attr: str
    subject_label: str


CLIENT_SIDE = Side(Review, "review", "client_review", "the engineer")
ENGINEER_SIDE = Side(ClientReview, "client_review", "review", "the client")


def _side(engagement: Engagement, actor: User) -> Side:
    if actor.pk == engagement.client_id:
        return CLIENT_SIDE
    if actor.pk == engagement.engineer_id:
        return ENGINEER_SIDE
    if actor.is_staff:
        raise PermissionDeniedError("Only the client and the engineer rate each other.")
    raise NotFoundError("Engagement not found.")


def _existing(engagement: Engagement, attr: str):
    model = Review if attr == "review" else ClientReview
    return model.objects.select_for_update().filter(engagement=engagement).first()


def _clean(rating, text: str) -> tuple[int, str]:
    errors = {}
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        errors["rating"] = ["Choose a rating from 1 to 5 stars."]
    text = str(text or "").strip()
    if len(text) > MAX_TEXT:
        errors["text"] = [f"Keep reviews under {MAX_TEXT:,} characters."]
    if errors:
        field, messages = next(iter(errors.items()))
        raise ValidationError(f"{field}: {messages[0]}", details=errors)
    return rating, text


def _engagement_locked(engagement_id: int) -> Engagement:
    engagement = (
        Engagement.objects.select_for_update(of=("self",))
        .select_related("client", "engineer")
        .filter(pk=engagement_id)
        .first()
    )
    if engagement is None:
        raise NotFoundError("Engagement not found.")
    return engagement


def review_window_closes(engagement: Engagement) -> datetime | None:
    return engagement.completed_at + window() if engagement.completed_at else None


def _count(review: Review, sign: int, rating: int | None = None) -> None:
    """Move the engineer's rating aggregates by one published review (sign +1) or a rating change."""
    if rating is None:
        EngineerProfile.objects.filter(user_id=review.engineer_id).update(
            rating_count=F("rating_count") + sign, rating_sum=F("rating_sum") + sign * review.rating
        )
    else:
        EngineerProfile.objects.filter(user_id=review.engineer_id).update(
            rating_sum=F("rating_sum") + (rating - review.rating)
        )


def _publish(engagement: Engagement, now: datetime) -> int:
    """Publish both reviews of the engagement that exist and are not yet (the caller holds its lock)."""
    published = 0
    for model in (Review, ClientReview):
        review = model.objects.select_for_update().filter(engagement=engagement, published_at=None).first()
        if review is None:
            continue
        review.published_at = now
        review.save(update_fields=["published_at"])
        if model is Review:
            _count(review, +1)
        published += 1
    if published:
        for user in (engagement.client, engagement.engineer):
            notify(
                user=user,
                kind="review_published",
                message=f"The reviews of “{engagement.title}” are published.",
                url=reverse("engagement-detail", args=[engagement.pk]) + "#review",
            )
    return published


@transaction.atomic
def review_create(*, actor: User, engagement_id: int, rating: int, text: str = "") -> Review | ClientReview:
    """The client rates the engineer, or the engineer the client, once, within the window."""
    engagement = _engagement_locked(engagement_id)
    side = _side(engagement, actor)
    if engagement.state != Engagement.State.COMPLETED:
        raise InvalidTransitionError(
            f"You can rate {side.subject_label} once the engagement is complete.",
            details={"state": engagement.state},
        )
    now = timezone.now()
    if now > review_window_closes(engagement):
        raise InvalidTransitionError(
            f"Reviews close {settings.REVIEW_WINDOW_DAYS} days after the engagement completes.",
            code="review_window_closed",
        )
    if _existing(engagement, side.attr) is not None:
        raise InvalidTransitionError("You already rated this engagement.", code="already_reviewed")
    rating, text = _clean(rating, text)
    subject = engagement.engineer if side is CLIENT_SIDE else engagement.client
    review = side.model.objects.create(
        engagement=engagement,
        client=engagement.client,
        engineer=engagement.engineer,
        rating=rating,
        text=text,
    )
    if _existing(engagement, side.other_attr) is not None:
        _publish(engagement, now)
        review.refresh_from_db()
    else:
        notify(
            user=subject,
            kind="review_received",
            message=f"{actor.display_name} rated “{engagement.title}”. Rate them too to see it: both reviews "
            f"are published together, or on {review_window_closes(engagement):%b %-d}.",
            url=reverse("engagement-detail", args=[engagement.pk]) + "#review",
        )
    return review


@transaction.atomic
def review_update(*, actor: User, engagement_id: int, rating: int, text: str = "") -> Review | ClientReview:
    """The author changes their review within REVIEW_WINDOW_DAYS of writing it."""
    engagement = _engagement_locked(engagement_id)
    side = _side(engagement, actor)
    review = _existing(engagement, side.attr)
    if review is None:
        raise NotFoundError("You have not rated this engagement yet.")
    if timezone.now() > review.created_at + window():
        raise InvalidTransitionError(
            f"A review can be edited for {settings.REVIEW_WINDOW_DAYS} days after it is written.",
            code="review_edit_closed",
        )
    rating, text = _clean(rating, text)
    if review.is_published and side is CLIENT_SIDE and rating != review.rating:
        _count(review, 0, rating=rating)
    review.rating, review.text = rating, text
    review.save(update_fields=["rating", "text", "updated_at"])
    return review


def reviews_publish_due(*, now: datetime | None = None) -> dict[str, int]:
    """Publish the reviews of engagements whose window has closed (beat, hourly)."""
    now = now or timezone.now()
    closed = now - window()
    due = (
        Engagement.objects.filter(completed_at__lte=closed)
        .filter(
            Q(review__published_at=None, review__isnull=False)
            | Q(client_review__published_at=None, client_review__isnull=False)
        )
        .values_list("pk", flat=True)
        .distinct()
    )
    published = 0
    for engagement_id in list(due):
        with transaction.atomic():
            published += _publish(_engagement_locked(engagement_id), now)
    return {"published": published}
