"""Engagements, their timeline and review; the milestone actions of the parties; attachments."""

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.parsers import FormParser, MultiPartParser

from core.api import PAGED, ApiView, errors
from core.errors import NotFoundError
from marketplace import selectors
from marketplace.api import serializers as s
from marketplace.services import change_orders as change_order_services
from marketplace.services import engagements as services
from marketplace.services import reviews as review_services


class EngagementListApi(ApiView):
    pagination_class = PAGED

    @extend_schema(tags=["engagements"], responses={200: s.EngagementSerializer(many=True), **errors()})
    def get(self, request):
        return self.render_page(s.EngagementSerializer, selectors.engagement_list(user=request.user))


class EngagementDetailApi(ApiView):
    @extend_schema(
        tags=["engagements"],
        responses={200: s.EngagementDetailSerializer, **errors(404)},
        description="The engagement with its milestones, their deliveries (attachments with download "
        "URLs) and the client's review.",
    )
    def get(self, request, pk: int):
        engagement = selectors.engagement_detail(user=request.user, engagement_id=pk)
        return self.render(s.EngagementDetailSerializer, engagement)


class EngagementTimelineApi(ApiView):
    @extend_schema(
        tags=["engagements"],
        responses={200: s.TimelineEntrySerializer(many=True), **errors(404)},
        description="Every transition of the engagement and its milestones, oldest first.",
    )
    def get(self, request, pk: int):
        engagement = selectors.engagement_get(user=request.user, engagement_id=pk)
        return self.render_many(
            s.TimelineEntrySerializer, selectors.engagement_timeline(engagement=engagement)
        )


class EngagementReviewApi(ApiView):
    @extend_schema(
        tags=["engagements"],
        request=s.ReviewInput,
        responses={201: s.ReviewSerializer, **errors(400, 403, 404, 409)},
        description="Once the engagement is complete, the client rates the engineer and the engineer rates the "
        "client (1-5), once each, within REVIEW_WINDOW_DAYS. Both reviews are published together when the "
        "second is written, or when the window closes; until then only their author sees them.",
    )
    def post(self, request, pk: int):
        review = review_services.review_create(
            actor=request.user, engagement_id=pk, **self.parse(s.ReviewInput)
        )
        return self.created(s.ReviewSerializer, review)

    @extend_schema(
        tags=["engagements"],
        request=s.ReviewInput,
        responses={200: s.ReviewSerializer, **errors(400, 403, 404, 409)},
        description="Edit your review within REVIEW_WINDOW_DAYS of writing it (409 `review_edit_closed` after).",
    )
    def put(self, request, pk: int):
        review = review_services.review_update(
            actor=request.user, engagement_id=pk, **self.parse(s.ReviewInput)
        )
        return self.render(s.ReviewSerializer, review)


MILESTONE_ERRORS = errors(400, 403, 404, 409)


# The parties' milestone actions. Funding, payouts, refunds and dispute resolution are not here: the
# payments app and staff drive those.


class MilestoneDetailApi(ApiView):
    @extend_schema(tags=["milestones"], responses={200: s.MilestoneDetailSerializer, **errors(404)})
    def get(self, request, pk: int):
        return self.render(
            s.MilestoneDetailSerializer, selectors.milestone_get(user=request.user, milestone_id=pk)
        )


class MilestoneStartApi(ApiView):
    @extend_schema(
        tags=["milestones"],
        request=None,
        responses={200: s.MilestoneDetailSerializer, **MILESTONE_ERRORS},
        description="The engineer starts work on a funded milestone.",
    )
    def post(self, request, pk: int):
        milestone = services.milestone_start(actor=request.user, milestone_id=pk)
        return self.render(s.MilestoneDetailSerializer, milestone)


class MilestoneSubmitApi(ApiView):
    parser_classes = [MultiPartParser, FormParser]

    @staticmethod
    def upload_limit() -> int:  # core/uploads.py: refused while it streams past this
        return (
            settings.ATTACHMENT_MAX_BYTES * settings.ATTACHMENT_MAX_FILES
            + settings.ADAPTER_MAX_BYTES
            + settings.ACCEPTANCE_MAX_DATASET_BYTES
        )

    @extend_schema(
        tags=["milestones"],
        request={"multipart/form-data": s.SubmitInput},
        responses={201: s.DeliverySerializer, **MILESTONE_ERRORS},
        description="The engineer delivers: a message, links and file attachments (multipart), and the "
        "LoRA adapter when the milestone has an acceptance test (refused with 400, nothing kept, when it "
        "does not fit the test's base model or the adapter rules; the test then runs on it), or, where "
        "its terms grant a training budget, a training set and hyperparameters the platform trains first. "
        "The client "
        "then approves or asks for a revision; silence approves it after AUTO_APPROVE_DAYS.",
    )
    def post(self, request, pk: int):
        data = self.parse(s.SubmitInput)
        adapter = {
            name: data[name] for name in ("adapter_config", "adapter_model") if data.get(name) is not None
        }
        training = {name: data[name] for name in ("dataset", "hyperparameters") if data.get(name) is not None}
        delivery = services.milestone_submit(
            actor=request.user,
            milestone_id=pk,
            message=data["message"],
            links=data["links"],
            files=data["attachments"],
            adapter=adapter,
            training=training,
        )
        return self.created(s.DeliverySerializer, delivery)


class MilestoneRequestRevisionApi(ApiView):
    @extend_schema(
        tags=["milestones"],
        request=s.CommentInput,
        responses={200: s.MilestoneDetailSerializer, **MILESTONE_ERRORS},
        description="The client sends a submitted milestone back to work, saying what must change.",
    )
    def post(self, request, pk: int):
        comment = self.parse(s.CommentInput)["comment"]
        milestone = services.milestone_request_revision(actor=request.user, milestone_id=pk, comment=comment)
        return self.render(s.MilestoneDetailSerializer, milestone)


class MilestoneApproveApi(ApiView):
    @extend_schema(
        tags=["milestones"],
        request=s.ApproveInput,
        responses={200: s.MilestoneDetailSerializer, **MILESTONE_ERRORS},
        description="The client accepts the delivery; the payout to the engineer follows. With an "
        "acceptance test that has not passed (or is still running), approving needs `approve_anyway` "
        "and a note giving the reason (400 `acceptance_not_passed` otherwise).",
    )
    def post(self, request, pk: int):
        data = self.parse(s.ApproveInput)
        milestone = services.milestone_approve(actor=request.user, milestone_id=pk, **data)
        return self.render(s.MilestoneDetailSerializer, milestone)


class MilestoneDisputeApi(ApiView):
    @extend_schema(
        tags=["milestones"],
        responses={200: s.DisputeSerializer, **errors(404)},
        description="The milestone's latest dispute: the opener's reason and description, every statement "
        "since, and the evidence files (404 when it was never disputed).",
    )
    def get(self, request, pk: int):
        return self.render(s.DisputeSerializer, selectors.dispute_get(user=request.user, milestone_id=pk))

    @extend_schema(
        tags=["milestones"],
        request={"application/json": s.DisputeInput, "multipart/form-data": s.DisputeInput},
        responses={200: s.MilestoneDetailSerializer, **MILESTONE_ERRORS},
        description="Either party opens a dispute: a category from the fixed list, a description of at least "
        "a sentence (`reason`) and evidence files (multipart). The payout is frozen, staff are told at once, "
        "and the other party can respond (…/dispute/statements/) until staff settle it.",
    )
    def post(self, request, pk: int):
        data = self.parse(s.DisputeInput)
        milestone = services.milestone_open_dispute(
            actor=request.user,
            milestone_id=pk,
            reason=data["reason"],
            category=data["category"],
            files=data["evidence"],
        )
        return self.render(s.MilestoneDetailSerializer, milestone)


class DisputeStatementsApi(ApiView):
    @extend_schema(
        tags=["milestones"],
        request={"application/json": s.DisputeStatementInput, "multipart/form-data": s.DisputeStatementInput},
        responses={201: s.DisputeStatementSerializer, **MILESTONE_ERRORS},
        description="A party adds their side to the open dispute, with evidence; the other party and staff "
        "are told (409 when no dispute is open).",
    )
    def post(self, request, pk: int):
        data = self.parse(s.DisputeStatementInput)
        statement = services.dispute_respond(
            actor=request.user, milestone_id=pk, body=data["body"], files=data["evidence"]
        )
        return self.created(s.DisputeStatementSerializer, statement)


class MilestoneCancelApi(ApiView):
    @extend_schema(
        tags=["milestones"],
        request=s.CancelInput,
        responses={200: s.MilestoneDetailSerializer, **MILESTONE_ERRORS},
        description="The client cancels a milestone that is not funded yet.",
    )
    def post(self, request, pk: int):
        reason = self.parse(s.CancelInput)["reason"]
        milestone = services.milestone_cancel(actor=request.user, milestone_id=pk, reason=reason)
        return self.render(s.MilestoneDetailSerializer, milestone)


class AttachmentDownloadApi(ApiView):
    selector = staticmethod(selectors.delivery_attachment_get)

    @extend_schema(
        tags=["engagements"],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The file."),
            **errors(404),
        },
    )
    def get(self, request, pk: int):
        attachment = self.selector(user=request.user, attachment_id=pk)
        try:
            handle = attachment.file.open("rb")
        except FileNotFoundError as exc:
            raise NotFoundError("The file is no longer available.") from exc
        # Always a download, never rendered inline: the name and type came from the uploader.
        return FileResponse(
            handle,
            as_attachment=True,
            filename=attachment.original_name,
            content_type="application/octet-stream",
        )


class DisputeEvidenceDownloadApi(AttachmentDownloadApi):
    selector = staticmethod(selectors.dispute_evidence_get)


class ChangeOrderListApi(ApiView):
    @extend_schema(
        tags=["engagements"],
        responses={200: s.ChangeOrderSerializer(many=True), **errors(404)},
        description="The engagement's change orders, newest first.",
    )
    def get(self, request, pk: int):
        engagement = selectors.engagement_get(user=request.user, engagement_id=pk)
        return self.render_many(s.ChangeOrderSerializer, selectors.change_orders_of(engagement=engagement))

    @extend_schema(
        tags=["engagements"],
        request=s.ChangeOrderInput,
        responses={201: s.ChangeOrderSerializer, **errors(400, 403, 404, 409)},
        description="Either party proposes adding, editing or removing milestones not funded yet; the other "
        "party accepts or declines. 409 while another change order awaits an answer "
        "(`change_order_open`) or once the engagement is finished (`engagement_finished`).",
    )
    def post(self, request, pk: int):
        data = self.parse(s.ChangeOrderInput)
        change_order = change_order_services.change_order_propose(
            actor=request.user, engagement_id=pk, changes=data["changes"], note=data["note"]
        )
        return self.created(s.ChangeOrderSerializer, change_order)


ANSWER = {
    "tags": ["engagements"],
    "request": s.ChangeOrderAnswerInput,
    "responses": {200: s.ChangeOrderSerializer, **errors(400, 403, 404, 409)},
}


class ChangeOrderAcceptApi(ApiView):
    @extend_schema(
        **ANSWER,
        description="The other party accepts: the milestones change at once, all or nothing (409 "
        "`change_order_stale` when one of them was funded or changed since; `payment_in_progress` while a "
        "card payment for it is being made).",
    )
    def post(self, request, pk: int):
        change_order = change_order_services.change_order_accept(
            actor=request.user, change_order_id=pk, **self.parse(s.ChangeOrderAnswerInput)
        )
        return self.render(s.ChangeOrderSerializer, change_order)


class ChangeOrderDeclineApi(ApiView):
    @extend_schema(**ANSWER, description="The other party declines, with an optional note.")
    def post(self, request, pk: int):
        change_order = change_order_services.change_order_decline(
            actor=request.user, change_order_id=pk, **self.parse(s.ChangeOrderAnswerInput)
        )
        return self.render(s.ChangeOrderSerializer, change_order)


class ChangeOrderWithdrawApi(ApiView):
    @extend_schema(
        tags=["engagements"],
        request=None,
        responses={200: s.ChangeOrderSerializer, **errors(403, 404, 409)},
        description="The proposer withdraws it before the answer.",
    )
    def post(self, request, pk: int):
        change_order = change_order_services.change_order_withdraw(actor=request.user, change_order_id=pk)
        return self.render(s.ChangeOrderSerializer, change_order)
