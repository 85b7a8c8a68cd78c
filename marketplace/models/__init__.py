from marketplace.models.change_orders import ChangeOrder, ChangeOrderItem
from marketplace.models.consultations import (
    Consultation,
    ConversationRead,
    Message,
    MessageAttachment,
    Proposal,
    ProposalMilestone,
)
from marketplace.models.disputes import Dispute, DisputeEvidence, DisputeStatement
from marketplace.models.engagements import (
    ClientReview,
    Delivery,
    DeliveryAttachment,
    Engagement,
    Milestone,
    Review,
)
from marketplace.models.invite_requests import InviteRequest
from marketplace.models.notifications import Notification, NotificationPreference
from marketplace.models.requests import READINESS_QUESTIONS, HiringRequest, Readiness
from marketplace.models.users import EngineerProfile, Skill, User

__all__ = [
    "READINESS_QUESTIONS",
    "ChangeOrder",
    "ChangeOrderItem",
    "ClientReview",
    "Consultation",
    "ConversationRead",
    "Delivery",
    "DeliveryAttachment",
    "Dispute",
    "DisputeEvidence",
    "DisputeStatement",
    "Engagement",
    "EngineerProfile",
    "HiringRequest",
    "InviteRequest",
    "Message",
    "MessageAttachment",
    "Milestone",
    "Notification",
    "NotificationPreference",
    "Proposal",
    "ProposalMilestone",
    "Readiness",
    "Review",
    "Skill",
    "User",
]
