"""Requests, matching and invitations; consultations, their messages; proposals."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from core.api import PAGED, ApiView, errors
from core.db.prepared import RowPagination
from marketplace import selectors
from marketplace.api import serializers as s
from marketplace.matching import cached_ranking
from marketplace.services import invite_requests as invite_request_services
from marketplace.services import requests as services


class RequestListApi(ApiView):
    """Your hiring requests (a page of them), and new drafts."""

    pagination_class = RowPagination

    @extend_schema(
        tags=["requests"],
        parameters=[s.RequestFilterInput],
        responses={200: s.RequestSerializer(many=True), **errors(400)},
        description="Your requests (clients), or the requests you are invited to (engineers).",
    )
    def get(self, request):
        state = self.parse_query(s.RequestFilterInput).get("state")
        return self.render_page(
            s.RequestSerializer, selectors.request_summaries(user=request.user, state=state)
        )

    @extend_schema(
        tags=["requests"],
        request=s.RequestInput,
        responses={201: s.RequestDetailSerializer, **errors(400, 403)},
        description="Create a draft request (clients only).",
    )
    def post(self, request):
        hiring_request = services.request_create(actor=request.user, **self.parse(s.RequestInput))
        return self.created(s.RequestDetailSerializer, hiring_request)


class RequestDetailApi(ApiView):
    @extend_schema(tags=["requests"], responses={200: s.RequestDetailSerializer, **errors(404)})
    def get(self, request, pk: int):
        return self.render(s.RequestDetailSerializer, selectors.request_get(user=request.user, request_id=pk))

    @extend_schema(
        tags=["requests"],
        request=s.RequestInput(partial=True),
        responses={200: s.RequestDetailSerializer, **errors(400, 403, 404, 409)},
        description="Edit a draft, open or consulting request; send only the fields to change.",
    )
    def patch(self, request, pk: int):
        fields = self.parse(s.RequestInput, partial=True)
        hiring_request = services.request_update(actor=request.user, request_id=pk, **fields)
        return self.render(s.RequestDetailSerializer, hiring_request)


class RequestPublishApi(ApiView):
    @extend_schema(
        tags=["requests"],
        request=None,
        responses={200: s.RequestDetailSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request, pk: int):
        return self.render(
            s.RequestDetailSerializer, services.request_publish(actor=request.user, request_id=pk)
        )


class RequestWithdrawApi(ApiView):
    @extend_schema(
        tags=["requests"],
        request=s.ReasonInput,
        responses={200: s.RequestDetailSerializer, **errors(400, 403, 404, 409)},
        description="Withdraw the request; its open consultations are closed with a notice.",
    )
    def post(self, request, pk: int):
        reason = self.parse(s.ReasonInput)["reason"]
        hiring_request = services.request_withdraw(actor=request.user, request_id=pk, reason=reason)
        return self.render(s.RequestDetailSerializer, hiring_request)


class RequestMatchesApi(ApiView):
    @extend_schema(
        tags=["requests"],
        parameters=[s.MatchFilterInput],
        responses={200: s.MatchSerializer(many=True), **errors(400, 403, 404)},
        description="Engineers ranked for this request, best first, with the reasons (its client only).",
    )
    def get(self, request, pk: int):
        limit = self.parse_query(s.MatchFilterInput)["limit"]
        hiring_request = selectors.request_for_matching(user=request.user, request_id=pk)
        rows = cached_ranking(
            hiring_request=hiring_request,
            limit=limit,
            render=lambda matches: s.MatchSerializer(matches, many=True, context=self.context()).data,
        )
        invited = set(hiring_request.invited_ids)
        for row in rows:
            row["invited"] = row["engineer"]["id"] in invited
        return Response(rows)


class RequestInvitationsApi(ApiView):
    @extend_schema(
        tags=["requests"],
        request=s.InvitationInput,
        responses={201: s.ConsultationDetailSerializer, **errors(400, 403, 404, 409)},
        description="Invite an engineer to consult on an open request; opens a consultation thread.",
    )
    def post(self, request, pk: int):
        data = self.parse(s.InvitationInput)
        consultation = services.consultation_invite(
            actor=request.user, request_id=pk, engineer_id=data["engineer"], message=data["message"]
        )
        return self.created(s.ConsultationDetailSerializer, consultation)


class RequestInviteRequestsApi(ApiView):
    pagination_class = PAGED

    @extend_schema(
        tags=["requests"],
        responses={200: s.InviteRequestSerializer(many=True), **errors(404)},
        description="Engineers' asks to be invited to consult on the request: all of them for its client, "
        "your own for an engineer; newest first.",
    )
    def get(self, request, pk: int):
        return self.render_page(
            s.InviteRequestSerializer, selectors.invite_request_list(user=request.user, request_id=pk)
        )

    @extend_schema(
        tags=["requests"],
        request=s.InviteRequestInput,
        responses={201: s.InviteRequestSerializer, **errors(400, 403, 404, 409)},
        description="Ask to be invited to consult on an open request (engineers with a complete profile "
        "who are taking work). The client is notified. 409 codes: `profile_incomplete`, `not_taking_work`, "
        "`request_not_open`, `already_invited`, `already_asked`.",
    )
    def post(self, request, pk: int):
        note = self.parse(s.InviteRequestInput)["note"]
        ask = invite_request_services.invite_request_create(actor=request.user, request_id=pk, note=note)
        return self.created(s.InviteRequestSerializer, ask)


class InviteRequestAcceptApi(ApiView):
    @extend_schema(
        tags=["requests"],
        request=None,
        responses={201: s.ConsultationDetailSerializer, **errors(403, 404, 409)},
        description="Invite the engineer who asked (the request's client): opens the consultation, with "
        "the engineer's note as its first message. Every rule of inviting applies (409 `not_taking_work`, "
        "`already_invited`, the request no longer open); an answered ask is 409 `already_answered`.",
    )
    def post(self, request, pk: int):
        consultation = invite_request_services.invite_request_accept(actor=request.user, invite_request_id=pk)
        return self.created(
            s.ConsultationDetailSerializer,
            selectors.consultation_get(user=request.user, consultation_id=consultation.pk),
        )


class InviteRequestDeclineApi(ApiView):
    @extend_schema(
        tags=["requests"],
        request=None,
        responses={200: s.InviteRequestSerializer, **errors(403, 404, 409)},
        description="Decline an engineer's ask (the request's client); the engineer is notified.",
    )
    def post(self, request, pk: int):
        ask = invite_request_services.invite_request_decline(actor=request.user, invite_request_id=pk)
        return self.render(s.InviteRequestSerializer, ask)


class InviteRequestWithdrawApi(ApiView):
    @extend_schema(
        tags=["requests"],
        request=None,
        responses={200: s.InviteRequestSerializer, **errors(403, 404, 409)},
        description="Withdraw your ask to be invited (the engineer who asked) while it is unanswered.",
    )
    def post(self, request, pk: int):
        ask = invite_request_services.invite_request_withdraw(actor=request.user, invite_request_id=pk)
        return self.render(s.InviteRequestSerializer, ask)


class ConsultationListApi(ApiView):
    """Threads between a request's client and one invited engineer."""

    pagination_class = PAGED

    @extend_schema(
        tags=["consultations"],
        parameters=[s.ConsultationFilterInput],
        responses={200: s.ConsultationSerializer(many=True), **errors(400)},
    )
    def get(self, request):
        request_id = self.parse_query(s.ConsultationFilterInput).get("request")
        consultations = selectors.consultation_list(user=request.user, request_id=request_id)
        return self.render_page(s.ConsultationSerializer, consultations)


class ConsultationDetailApi(ApiView):
    @extend_schema(tags=["consultations"], responses={200: s.ConsultationDetailSerializer, **errors(404)})
    def get(self, request, pk: int):
        consultation = selectors.consultation_get(user=request.user, consultation_id=pk)
        return self.render(s.ConsultationDetailSerializer, consultation)


class ConsultationDeclineApi(ApiView):
    @extend_schema(
        tags=["consultations"],
        request=s.ReasonInput,
        responses={200: s.ConsultationDetailSerializer, **errors(400, 403, 404, 409)},
        description="The invited engineer declines to consult.",
    )
    def post(self, request, pk: int):
        reason = self.parse(s.ReasonInput)["reason"]
        consultation = services.consultation_decline(actor=request.user, consultation_id=pk, reason=reason)
        return self.render(s.ConsultationDetailSerializer, consultation)


class ConsultationProposalsApi(ApiView):
    @extend_schema(
        tags=["proposals"],
        request=s.ProposalInput,
        responses={201: s.ProposalSerializer, **errors(400, 403, 404, 409)},
        description="The engineer proposes scope, price and milestones (amounts in minor units, summing "
        "to the price); a new proposal supersedes their earlier one.",
    )
    def post(self, request, pk: int):
        proposal = services.proposal_submit(
            actor=request.user, consultation_id=pk, **self.parse(s.ProposalInput)
        )
        return self.created(s.ProposalSerializer, proposal)


class ProposalDetailApi(ApiView):
    @extend_schema(tags=["proposals"], responses={200: s.ProposalSerializer, **errors(404)})
    def get(self, request, pk: int):
        return self.render(s.ProposalSerializer, selectors.proposal_get(user=request.user, proposal_id=pk))


class ProposalWithdrawApi(ApiView):
    @extend_schema(
        tags=["proposals"], request=None, responses={200: s.ProposalSerializer, **errors(403, 404, 409)}
    )
    def post(self, request, pk: int):
        return self.render(
            s.ProposalSerializer, services.proposal_withdraw(actor=request.user, proposal_id=pk)
        )


class ProposalAcceptApi(ApiView):
    @extend_schema(
        tags=["proposals"],
        request=None,
        responses={201: s.EngagementDetailSerializer, **errors(403, 404, 409)},
        description="The client hires: the request becomes hired, an engagement with the proposal's "
        "milestones is created and the other consultations are closed.",
    )
    def post(self, request, pk: int):
        engagement = services.proposal_accept(actor=request.user, proposal_id=pk)
        return self.created(s.EngagementDetailSerializer, engagement)
