"""Conversations: the inbox, a conversation's messages (with files), read marks, attachments."""

from drf_spectacular.utils import extend_schema

from core.api import PAGED, ApiView, errors
from marketplace import selectors
from marketplace.api import serializers as s
from marketplace.api.views.engagements import AttachmentDownloadApi
from marketplace.services import conversations as services


class ConversationInboxApi(ApiView):
    """Every conversation the user takes part in, the latest activity first, with unread counts."""

    pagination_class = PAGED

    @extend_schema(tags=["conversations"], responses={200: s.ConversationSerializer(many=True), **errors()})
    def get(self, request):
        return self.render_page(s.ConversationSerializer, selectors.conversation_inbox(user=request.user))


class ConsultationMessagesApi(ApiView):
    @extend_schema(
        tags=["conversations"],
        responses={200: s.MessageSerializer(many=True), **errors(404)},
        description="The conversation, oldest first: messages and the engagement's events (deliveries, "
        "revision requests, disputes and their settlement) in the order they happened. Reading it here "
        "does not move the read mark; POST …/read/ does.",
    )
    def get(self, request, pk: int):
        consultation = selectors.consultation_get(user=request.user, consultation_id=pk)
        return self.render_many(s.MessageSerializer, consultation.messages.all())

    @extend_schema(
        tags=["conversations"],
        request={"application/json": s.MessageInput, "multipart/form-data": s.MessageInput},
        responses={201: s.MessageSerializer, **errors(400, 403, 404, 409)},
        description="A party writes: text, files (multipart), or both. Open while consulting and, after "
        "the hire, while the engagement is active (409 after).",
    )
    def post(self, request, pk: int):
        data = self.parse(s.MessageInput)
        message = services.message_post(
            actor=request.user, consultation_id=pk, body=data["body"], files=data["attachments"]
        )
        return self.created(s.MessageSerializer, message)


class ConsultationReadApi(ApiView):
    @extend_schema(
        tags=["conversations"],
        request=None,
        responses={200: s.ReadMarkSerializer, **errors(403, 404)},
        description="Mark the conversation read to its newest entry.",
    )
    def post(self, request, pk: int):
        newest = services.conversation_mark_read(actor=request.user, consultation_id=pk)
        return self.render(s.ReadMarkSerializer, {"read_through": newest, "unread": 0})


class MessageAttachmentDownloadApi(AttachmentDownloadApi):
    selector = staticmethod(selectors.message_attachment_get)
