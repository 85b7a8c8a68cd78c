from django.db import models
from django_fsm import FSMField, FSMModelMixin, transition

from core.models import TimeStampedModel
from marketplace.models.requests import HiringRequest
from marketplace.models.users import User

MAX_NOTE = 1000


def _is_client(instance, user) -> bool:
    return user.pk == instance.request.client_id


def _is_engineer(instance, user) -> bool:
    return user.pk == instance.engineer_id


class InviteRequest(FSMModelMixin, TimeStampedModel):
    """An engineer's ask to be invited to consult on an open request; the client invites or declines."""

    class State(models.TextChoices):
        REQUESTED = "requested", "Asked"
        ACCEPTED = "accepted", "Invited"
        DECLINED = "declined", "Declined"
        WITHDRAWN = "withdrawn", "Withdrawn"

    engineer = models.ForeignKey(User, on_delete=models.CASCADE, related_name="invite_requests")
    request = models.ForeignKey(HiringRequest, on_delete=models.CASCADE, related_name="invite_requests")
    note = models.TextField(max_length=MAX_NOTE, blank=True)
    state = FSMField(default=State.REQUESTED, choices=State.choices, protected=True, db_index=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "ask to be invited"
        verbose_name_plural = "asks to be invited"
        constraints = [
            models.UniqueConstraint(
                fields=["engineer", "request"],
                condition=models.Q(state="requested"),
                name="one_pending_invite_request",
            )
        ]

    def __str__(self) -> str:
        return f"{self.engineer} asks to consult on {self.request}"

    @transition(field=state, source=State.REQUESTED, target=State.ACCEPTED, permission=_is_client)
    def accept(self):
        pass

    @transition(field=state, source=State.REQUESTED, target=State.DECLINED, permission=_is_client)
    def decline(self):
        pass

    @transition(field=state, source=State.REQUESTED, target=State.WITHDRAWN, permission=_is_engineer)
    def withdraw(self):
        pass
