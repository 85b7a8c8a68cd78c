"""Engineer onboarding: a Stripe Connect Express account, Stripe's hosted onboarding through an
Account Link, and the payout eligibility `account.updated` keeps current."""

import uuid
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from core.errors import PermissionDeniedError
from marketplace.models import User
from marketplace.services.notifications import notify
from payments import stripe_client
from payments.models import ConnectedAccount
from payments.stripe_client import AccountInfo

# Stripe's requirement names, as an engineer would say them.
REQUIREMENT_LABELS = {
    "external_account": "a bank account for payouts",
    "tos_acceptance.date": "acceptance of Stripe's terms",
    "tos_acceptance.ip": "acceptance of Stripe's terms",
    "business_type": "your business type",
    "business_profile.url": "a website or profile URL",
    "business_profile.mcc": "your industry",
    "individual.dob.day": "your date of birth",
    "individual.dob.month": "your date of birth",
    "individual.dob.year": "your date of birth",
    "individual.first_name": "your name",
    "individual.last_name": "your name",
    "individual.email": "your e-mail address",
}


@dataclass(frozen=True)
class PayoutEligibility:
    ready: bool
    reasons: tuple[str, ...]  # what stands between the engineer and a transfer, said to the engineer
    # The same, said about them to staff (who cannot fix an engineer's payout settings, only wait).
    staff_reasons: tuple[str, ...] = ()


def payout_eligibility(*, engineer: User) -> PayoutEligibility:
    account = ConnectedAccount.objects.filter(user=engineer).first()
    if account is None or not account.stripe_account_id:
        return PayoutEligibility(
            False,
            ("Set up payouts: connect a Stripe account from your payout settings.",),
            ("They still have to connect a Stripe account.",),
        )
    if account.payouts_ready:
        return PayoutEligibility(True, ())
    reasons, staff_reasons = [], []
    if not account.details_submitted:
        reasons.append("Finish Stripe onboarding from your payout settings.")
        staff_reasons.append("They have not finished Stripe onboarding.")
    if account.requirements_due:
        missing = dict.fromkeys(REQUIREMENT_LABELS.get(item, item) for item in account.requirements_due)
        reasons.append("Stripe still needs " + ", ".join(missing) + ".")
        staff_reasons.append("Stripe still needs " + ", ".join(missing) + " from them.")
    if not reasons:
        disabled = f" ({account.disabled_reason})." if account.disabled_reason else "."
        reasons.append("Stripe has not enabled transfers to your account yet" + disabled)
        staff_reasons.append("Stripe has not enabled transfers to their account yet" + disabled)
    return PayoutEligibility(False, tuple(reasons), tuple(staff_reasons))


def _account_apply(account: ConnectedAccount, info: AccountInfo) -> bool:
    """Copy Stripe's view onto the row; True when the account just became able to receive payouts."""
    was_ready = account.payouts_ready
    account.stripe_account_id = info.id
    account.details_submitted = info.details_submitted
    account.charges_enabled = info.charges_enabled
    account.payouts_enabled = info.payouts_enabled
    account.transfers_active = info.transfers_active
    account.requirements_due = list(info.requirements_due)
    account.disabled_reason = info.disabled_reason[:100]
    account.synced_at = timezone.now()
    account.save()
    return account.payouts_ready and not was_ready


def connected_account_onboarding_link(*, actor: User, return_url: str, refresh_url: str) -> str:
    """The URL of Stripe's hosted onboarding for the engineer, creating their account the first time."""
    if not actor.is_engineer:
        raise PermissionDeniedError("Only engineers receive payouts.")
    with transaction.atomic():
        account, _ = ConnectedAccount.objects.select_for_update().get_or_create(user=actor)
    if not account.stripe_account_id:
        info = stripe_client.account_create(
            email=actor.email,
            metadata={"user": str(actor.pk)},
            idempotency_key=f"account:{actor.pk}",
        )
        with transaction.atomic():
            account = ConnectedAccount.objects.select_for_update().get(pk=account.pk)
            _account_apply(account, info)
    return stripe_client.account_link_create(
        account_id=account.stripe_account_id,
        refresh_url=refresh_url,
        return_url=return_url,
        # Links are single-use, so each request is a new link; the SDK's retries of it reuse the key.
        idempotency_key=f"account_link:{account.pk}:{uuid.uuid4().hex}",
    )


def connected_account_sync(*, stripe_account_id: str) -> ConnectedAccount | None:
    """Re-read the account from Stripe (whatever event arrived, in whatever order); None if not ours."""
    if not ConnectedAccount.objects.filter(stripe_account_id=stripe_account_id).exists():
        return None
    info = stripe_client.account_retrieve(stripe_account_id)
    with transaction.atomic():
        account = (
            ConnectedAccount.objects.select_for_update()
            .select_related("user")
            .get(stripe_account_id=stripe_account_id)
        )
        became_ready = _account_apply(account, info)
        if became_ready:
            notify(
                user=account.user,
                kind="payouts_enabled",
                message="Your Stripe account is ready: approved payouts can now be sent to you.",
            )
    if became_ready:
        from payments.services.payouts import payouts_send_queued  # payouts reads eligibility from here

        payouts_send_queued(engineer=account.user)
    return account
