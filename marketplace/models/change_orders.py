"""Change orders: after the hire, either party proposes adding, editing or removing milestones that are
not funded yet; the other accepts or declines; each step is on the engagement's timeline."""

from django.db import models
from django_fsm import FSMField, FSMModelMixin, transition

from core.models import TimeStampedModel
from marketplace.models.engagements import Engagement, Milestone
from marketplace.models.users import User


def _is_other_party(change_order, user) -> bool:
    engagement = change_order.engagement
    return (
        user.pk in (engagement.client_id, engagement.engineer_id) and user.pk != change_order.proposed_by_id
    )


def _is_proposer(change_order, user) -> bool:
    return user.pk == change_order.proposed_by_id


class ChangeOrder(FSMModelMixin, TimeStampedModel):
    class State(models.TextChoices):
        PROPOSED = "proposed", "Awaiting answer"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        WITHDRAWN = "withdrawn", "Withdrawn"

    engagement = models.ForeignKey(Engagement, on_delete=models.CASCADE, related_name="change_orders")
    proposed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    note = models.TextField(help_text="Why the plan changes.")
    state = FSMField(default=State.PROPOSED, choices=State.choices, protected=True, db_index=True)
    answered_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    answered_at = models.DateTimeField(null=True, blank=True)
    answer_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One open proposal at a time: the second would be written against a plan about to change.
            models.UniqueConstraint(
                fields=["engagement"],
                condition=models.Q(state="proposed"),
                name="change_order_one_open",
            )
        ]

    def __str__(self) -> str:
        return f"Change order {self.pk} on {self.engagement}"

    @property
    def reference(self) -> str:
        return f"CO-{self.pk}"

    @property
    def total_change(self) -> int:
        """How the engagement's total moves if accepted (minor units; reads prefetched items)."""
        return sum(item.delta for item in self.items.all())

    @transition(field=state, source=State.PROPOSED, target=State.ACCEPTED, permission=_is_other_party)
    def accept(self):
        pass

    @transition(field=state, source=State.PROPOSED, target=State.DECLINED, permission=_is_other_party)
    def decline(self):
        pass

    @transition(field=state, source=State.PROPOSED, target=State.WITHDRAWN, permission=_is_proposer)
    def withdraw(self):
        pass


class ChangeOrderItem(models.Model):
    class Action(models.TextChoices):
        ADD = "add", "Add"
        EDIT = "edit", "Change"
        REMOVE = "remove", "Remove"

    change_order = models.ForeignKey(ChangeOrder, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveSmallIntegerField()
    action = models.CharField(max_length=8, choices=Action.choices)
    # The milestone changed or removed; for an added one, the milestone it became once accepted.
    milestone = models.ForeignKey(
        Milestone, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    title = models.CharField(max_length=140, blank=True)
    amount = models.PositiveIntegerField(null=True, blank=True, help_text="Minor units.")
    due_date = models.DateField(null=True, blank=True)
    # What an edited or removed milestone was when proposed, so the answer is given on what was shown.
    was_title = models.CharField(max_length=140, blank=True)
    was_amount = models.PositiveIntegerField(null=True, blank=True)
    was_due_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["change_order_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["change_order", "position"], name="change_order_item_position"),
            models.CheckConstraint(
                condition=models.Q(amount__isnull=True) | models.Q(amount__gt=0),
                name="change_order_item_amount_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.title or self.was_title}"

    @property
    def delta(self) -> int:
        """How much the engagement's total moves by this item."""
        if self.action == self.Action.ADD:
            return self.amount or 0
        if self.action == self.Action.REMOVE:
            return -(self.was_amount or 0)
        return (self.amount or 0) - (self.was_amount or 0)
