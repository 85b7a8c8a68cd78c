"""What payments does when the marketplace moves a milestone: marketplace knows nothing of payments and
announces its transitions (django-fsm's post_transition), the way vetting listens for sandbox jobs."""

from __future__ import annotations

from django.db import transaction
from django.dispatch import receiver
from django_fsm.signals import post_transition

from marketplace.models import Milestone
from marketplace.signals import milestone_changing


@receiver(post_transition, sender=Milestone, dispatch_uid="payments.receivers.milestone_approved")
def _milestone_transitioned(
    sender, instance: Milestone, name: str, source: str, target: str, **kwargs
) -> None:
    if target != Milestone.State.APPROVED:
        return
    milestone_id = instance.pk
    # After the approval commits, the payout opens awaiting staff approval; a lost message is caught by
    # the payments sweep (payouts_open_missing).
    transaction.on_commit(lambda: _payout_open(milestone_id), robust=True)


def _payout_open(milestone_id: int) -> None:
    from payments.tasks import payout_create_for_milestone

    payout_create_for_milestone.delay(milestone_id)


@receiver(milestone_changing, sender=Milestone, dispatch_uid="payments.receivers.milestone_changing")
def _milestone_changing(
    sender, milestone: Milestone, action: str, amount: int | None = None, **kwargs
) -> None:
    """A change order changes a milestone's amount: a card payment the client started at the old amount
    is cancelled first (or the change refused while it is being paid). A removal needs nothing: a
    payment that lands on a cancelled milestone goes back to the card."""
    if action != "edit" or amount == milestone.amount:
        return
    from payments.services.funding import funding_cancel_open

    funding_cancel_open(milestone=milestone)
