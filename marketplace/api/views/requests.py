"""Requests, matching and invitations; consultations, their messages; proposals."""

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api import ApiViewSet, errors
from marketplace import selectors
from marketplace.api import serializers as s
from marketplace.api.pagination import RowPagination
from marketplace.matching import cached_ranking
from marketplace.services import requests as services


class RequestViewSet(ApiViewSet):
    """A client's hiring requests: draft, edit, publish, withdraw, match and invite."""

    pagination_class = RowPagination

    @extend_schema(
        tags=["requests"],
        parameters=[s.RequestFilterInput],
        responses={200: s.RequestSerializer, **errors(400)},
        description="Your requests (clients), or the requests you are invited to (engineers).",
    )
    def list(self, request):
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
    def create(self, request):
        hiring_request = services.request_create(actor=request.user, **self.parse(s.RequestInput))
        return self.created(s.RequestDetailSerializer, hiring_request)

    @extend_schema(tags=["requests"], responses={200: s.RequestDetailSerializer, **errors(404)})
    def retrieve(self, request, pk: int):
        return self.render(s.RequestDetailSerializer, selectors.request_get(user=request.user, request_id=pk))

    @extend_schema(
        tags=["requests"],
        request=s.RequestInput(partial=True),
        responses={200: s.RequestDetailSerializer, **errors(400, 404, 409)},
        description="Edit a draft, open or consulting request; send only the fields to change.",
    )
    def partial_update(self, request, pk: int):
        fields = self.parse(s.RequestInput, partial=True)
        hiring_request = services.request_update(actor=request.user, request_id=pk, **fields)
        return self.render(s.RequestDetailSerializer, hiring_request)

    @extend_schema(
        tags=["requests"], request=None, responses={200: s.RequestDetailSerializer, **errors(400, 404, 409)}
    )
    @action(detail=True, methods=["post"])
    def publish(self, request, pk: int):
        return self.render(
            s.RequestDetailSerializer, services.request_publish(actor=request.user, request_id=pk)
        )

    @extend_schema(
        tags=["requests"],
        request=s.ReasonInput,
        responses={200: s.RequestDetailSerializer, **errors(400, 404, 409)},
        description="Withdraw the request; its open consultations are closed with a notice.",
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk: int):
        reason = self.parse(s.ReasonInput)["reason"]
        hiring_request = services.request_withdraw(actor=request.user, request_id=pk, reason=reason)
        return self.render(s.RequestDetailSerializer, hiring_request)

    @extend_schema(
        tags=["requests"],
        parameters=[s.MatchFilterInput],
        responses={200: s.MatchSerializer(many=True), **errors(400, 403, 404)},
        description="Engineers ranked for this request, best first, with the reasons (its client only).",
    )
    @action(detail=True, methods=["get"])
    def matches(self, request, pk: int):
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

    @extend_schema(
        tags=["requests"],
        request=s.InvitationInput,
        responses={201: s.ConsultationDetailSerializer, **errors(400, 404, 409)},
        description="Invite an engineer to consult on an open request; opens a consultation thread.",
    )
    @action(detail=True, methods=["post"])
    def invitations(self, request, pk: int):
        data = self.parse(s.InvitationInput)
        consultation = services.consultation_invite(
            actor=request.user, request_id=pk, engineer_id=data["engineer"], message=data["message"]
        )
        return self.created(s.ConsultationDetailSerializer, consultation)


class ConsultationViewSet(ApiViewSet):
    """Threads between a request's client and one invited engineer."""

    @extend_schema(
        tags=["consultations"],
        parameters=[s.ConsultationFilterInput],
        responses={200: s.ConsultationSerializer, **errors(400)},
    )
    def list(self, request):
        request_id = self.parse_query(s.ConsultationFilterInput).get("request")
        consultations = selectors.consultation_list(user=request.user, request_id=request_id)
        return self.render_page(s.ConsultationSerializer, consultations)

    @extend_schema(tags=["consultations"], responses={200: s.ConsultationDetailSerializer, **errors(404)})
    def retrieve(self, request, pk: int):
        consultation = selectors.consultation_get(user=request.user, consultation_id=pk)
        return self.render(s.ConsultationDetailSerializer, consultation)

    @extend_schema(tags=["consultations"], responses={200: s.MessageSerializer(many=True), **errors(404)})
    @action(detail=True, methods=["get"])
    def messages(self, request, pk: int):
        consultation = selectors.consultation_get(user=request.user, consultation_id=pk)
        return self.render_many(s.MessageSerializer, consultation.messages.all())

    @extend_schema(
        tags=["consultations"],
        request=s.MessageInput,
        responses={201: s.MessageSerializer, **errors(400, 404, 409)},
    )
    @messages.mapping.post
    def message_create(self, request, pk: int):
        body = self.parse(s.MessageInput)["body"]
        message = services.message_post(actor=request.user, consultation_id=pk, body=body)
        return self.created(s.MessageSerializer, message)

    @extend_schema(
        tags=["consultations"],
        request=s.ReasonInput,
        responses={200: s.ConsultationDetailSerializer, **errors(400, 403, 404, 409)},
        description="The invited engineer declines to consult.",
    )
    @action(detail=True, methods=["post"])
    def decline(self, request, pk: int):
        reason = self.parse(s.ReasonInput)["reason"]
        consultation = services.consultation_decline(actor=request.user, consultation_id=pk, reason=reason)
        return self.render(s.ConsultationDetailSerializer, consultation)

    @extend_schema(
        tags=["proposals"],
        request=s.ProposalInput,
        responses={201: s.ProposalSerializer, **errors(400, 403, 404, 409)},
        description="The engineer proposes scope, price and milestones (amounts in minor units, summing "
        "to the price); a new proposal supersedes their earlier one.",
    )
    @action(detail=True, methods=["post"])
    def proposals(self, request, pk: int):
        proposal = services.proposal_submit(
            actor=request.user, consultation_id=pk, **self.parse(s.ProposalInput)
        )
        return self.created(s.ProposalSerializer, proposal)


class ProposalViewSet(ApiViewSet):
    @extend_schema(tags=["proposals"], responses={200: s.ProposalSerializer, **errors(404)})
    def retrieve(self, request, pk: int):
        return self.render(s.ProposalSerializer, selectors.proposal_get(user=request.user, proposal_id=pk))

    @extend_schema(
        tags=["proposals"], request=None, responses={200: s.ProposalSerializer, **errors(403, 404, 409)}
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk: int):
        return self.render(
            s.ProposalSerializer, services.proposal_withdraw(actor=request.user, proposal_id=pk)
        )

    @extend_schema(
        tags=["proposals"],
        request=None,
        responses={201: s.EngagementDetailSerializer, **errors(403, 404, 409)},
        description="The client hires: the request becomes hired, an engagement with the proposal's "
        "milestones is created and the other consultations are closed.",
    )
    @action(detail=True, methods=["post"])
    def accept(self, request, pk: int):
        engagement = services.proposal_accept(actor=request.user, proposal_id=pk)
        return self.created(s.EngagementDetailSerializer, engagement)
