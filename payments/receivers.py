"""What payments does when the marketplace moves a milestone: marketplace knows nothing of payments and
announces its transitions (django-fsm's post_transition), the way vetting listens for sandbox jobs."""

from __future__ import annotations

from django.db import transaction
from django.dispatch import receiver
from django_fsm.signals import post_transition

from marketplace.models import Milestone


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
