from marketplace.models.consultations import Consultation, Message, Proposal, ProposalMilestone
from marketplace.models.engagements import Delivery, DeliveryAttachment, Engagement, Milestone, Review
from marketplace.models.notifications import Notification, NotificationPreference
from marketplace.models.requests import READINESS_QUESTIONS, HiringRequest, Readiness
from marketplace.models.users import EngineerProfile, Skill, User

__all__ = [
    "READINESS_QUESTIONS",
    "Consultation",
    "Delivery",
    "DeliveryAttachment",
    "Engagement",
    "EngineerProfile",
    "HiringRequest",
    "Message",
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
