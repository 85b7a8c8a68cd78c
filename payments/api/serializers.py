"""Input and output shapes of the payments API. Amounts are integer minor units with an ISO currency."""

from urllib.parse import urlsplit

from django.conf import settings
from django.utils.http import url_has_allowed_host_and_scheme
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.money import MAX_AMOUNT_MINOR, too_large_message
from marketplace.models import User
from payments.models import CancellationRequest, Funding, Payout, Refund
from payments.selectors import PERIODS
from payments.services.accounts import payout_eligibility


class PartySerializer(serializers.ModelSerializer):
    display_name = serializers.CharField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "display_name"]
        ref_name = "PaymentsParty"


class WithReference(serializers.ModelSerializer):
    """A money record as people name it (`reference`: PAY-/OUT-/REF-…); the processor's ids in
    `staff_only` are for staff, null for anyone else (the parties have the reference)."""

    staff_only: tuple[str, ...] = ()

    reference = serializers.CharField(read_only=True, help_text="The platform's reference.")

    def get_fields(self):
        fields = super().get_fields()
        for name in self.staff_only:
            fields[name].allow_null = True
            fields[name].help_text = "Stripe's id, for staff; null for others."
        return fields

    def to_representation(self, instance) -> dict:
        data = super().to_representation(instance)
        user = getattr(self.context.get("request"), "user", None)
        if not getattr(user, "is_staff", False):
            for name in self.staff_only:
                data[name] = None
        return data


# --- Funding ------------------------------------------------------------------------------------------


class FundingCheckoutSerializer(serializers.Serializer):
    funding = serializers.IntegerField(source="funding.pk", help_text="Our funding attempt's id.")
    milestone = serializers.IntegerField(source="funding.milestone_id")
    payment_intent = serializers.CharField(source="funding.payment_intent_id")
    status = serializers.CharField(help_text="Stripe's PaymentIntent status.")
    amount = serializers.IntegerField(source="funding.amount", help_text="Minor units.")
    currency = serializers.CharField(source="funding.currency")
    client_secret = serializers.CharField(
        allow_null=True,
        help_text="For Stripe.js `confirmCardPayment`; null once there is nothing left to pay.",
    )
    publishable_key = serializers.CharField()
    js_url = serializers.CharField(help_text="Load Stripe.js from here.")


class FundingSerializer(WithReference):
    staff_only = ("payment_intent_id", "charge_id")

    class Meta:
        model = Funding
        fields = [
            "id",
            "reference",
            "attempt",
            "state",
            "payment_intent_id",
            "charge_id",
            "amount",
            "currency",
            "failure_code",
            "failure_message",
            "failed_at",
            "succeeded_at",
        ]


class FundingStatusSerializer(serializers.Serializer):
    milestone = serializers.IntegerField(source="milestone.pk")
    milestone_state = serializers.CharField(source="milestone.state")
    amount = serializers.IntegerField(source="milestone.amount", help_text="Minor units.")
    currency = serializers.CharField(source="milestone.currency")
    status = serializers.ChoiceField(
        choices=[
            "awaiting_payment",
            "payment_failed",
            "funded",
            "partly_refunded",
            "refunded",
            "charged_back",
            "closed",
        ],
        help_text="`payment_failed`: the last card was declined (see `failure_message`); another may be tried. "
        "`partly_refunded` / `refunded`: paid, then part / all of it refunded to the client. `charged_back`: "
        "the card payment was taken back through a card chargeback the platform lost.",
    )
    failure_message = serializers.CharField()
    funding = FundingSerializer(allow_null=True, help_text="The paid attempt, else the latest.")


# --- Payout account -----------------------------------------------------------------------------------


class PayoutAccountSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["not_started", "incomplete", "ready"])
    ready = serializers.BooleanField(source="eligibility.ready")
    missing = serializers.ListField(
        child=serializers.CharField(), source="eligibility.reasons", help_text="What Stripe still needs."
    )
    stripe_account_id = serializers.CharField(
        source="account.stripe_account_id", allow_null=True, default=None
    )
    details_submitted = serializers.BooleanField(source="account.details_submitted", default=False)
    payouts_enabled = serializers.BooleanField(source="account.payouts_enabled", default=False)
    transfers_active = serializers.BooleanField(source="account.transfers_active", default=False)
    requirements_due = serializers.ListField(
        child=serializers.CharField(), source="account.requirements_due", default=list
    )
    synced_at = serializers.DateTimeField(source="account.synced_at", allow_null=True, default=None)


class OnboardingLinkInput(serializers.Serializer):
    return_url = serializers.URLField(
        required=False,
        help_text="Where Stripe sends the engineer afterwards; the payout settings page by default.",
    )
    refresh_url = serializers.URLField(
        required=False,
        help_text="Where Stripe sends the engineer if the link expired; it should make a new one.",
    )

    def _on_this_site(self, value: str) -> str:
        """Stripe sends the engineer back here with their session: never to another site."""
        request = self.context["request"]
        hosts = {request.get_host(), urlsplit(settings.SITE_URL).netloc}
        if not url_has_allowed_host_and_scheme(value, allowed_hosts=hosts, require_https=request.is_secure()):
            raise serializers.ValidationError("Must be a page of this site.")
        return value

    validate_return_url = validate_refresh_url = _on_this_site


class OnboardingLinkSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="Stripe's hosted onboarding; single-use, valid for minutes.")


# --- Payouts and refunds ------------------------------------------------------------------------------


class MilestoneBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    state = serializers.CharField()
    engagement = serializers.IntegerField(source="engagement_id")


class EligibilitySerializer(serializers.Serializer):
    ready = serializers.BooleanField()
    missing = serializers.ListField(child=serializers.CharField(), source="reasons")


class PayoutSerializer(WithReference):
    staff_only = ("transfer_id",)
    milestone = MilestoneBriefSerializer(read_only=True)
    engineer = PartySerializer(read_only=True)
    engineer_eligibility = serializers.SerializerMethodField()
    chargeback_open = serializers.SerializerMethodField()

    class Meta:
        model = Payout
        fields = [
            "id",
            "reference",
            "milestone",
            "engineer",
            "kind",
            "state",
            "amount",
            "fee",
            "net",
            "fee_bps",
            "currency",
            "transfer_id",
            "attempts",
            "failure_code",
            "failure_message",
            "approved_at",
            "paid_at",
            "created_at",
            "engineer_eligibility",
            "chargeback_open",
        ]

    @extend_schema_field(EligibilitySerializer)
    def get_engineer_eligibility(self, payout: Payout) -> dict:
        cache = self.context.setdefault("eligibility", {})
        if payout.engineer_id not in cache:
            cache[payout.engineer_id] = payout_eligibility(engineer=payout.engineer)
        return EligibilitySerializer(cache[payout.engineer_id]).data

    def get_chargeback_open(self, payout: Payout) -> bool:
        return any(c.is_open for c in payout.funding.chargebacks.all())


class RefundSerializer(WithReference):
    staff_only = ("stripe_refund_id",)

    class Meta:
        model = Refund
        fields = [
            "id",
            "reference",
            "milestone",
            "kind",
            "state",
            "amount",
            "currency",
            "reason",
            "stripe_refund_id",
            "attempts",
            "failure_code",
            "failure_message",
            "succeeded_at",
            "created_at",
        ]


# --- Cancellations and disputes -----------------------------------------------------------------------


class CancellationReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class CancellationNoteInput(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class CancellationSerializer(serializers.ModelSerializer):
    requested_by = PartySerializer(read_only=True)
    responded_by = PartySerializer(read_only=True, allow_null=True)

    class Meta:
        model = CancellationRequest
        fields = [
            "id",
            "milestone",
            "state",
            "reason",
            "requested_by",
            "responded_by",
            "responded_at",
            "response_note",
            "created_at",
        ]


class DisputeResolveInput(serializers.Serializer):
    release_amount = serializers.IntegerField(
        min_value=0,
        max_value=MAX_AMOUNT_MINOR,
        error_messages={"max_value": too_large_message()},
        help_text="To the engineer, minor units.",
    )
    refund_amount = serializers.IntegerField(
        min_value=0,
        max_value=MAX_AMOUNT_MINOR,
        error_messages={"max_value": too_large_message()},
        help_text="To the client, minor units.",
    )
    currency = serializers.CharField(max_length=3, help_text="The milestone's currency.")
    note = serializers.CharField(max_length=2000)

    def validate_currency(self, value: str) -> str:
        return value.lower()


class DisputeSettlementSerializer(serializers.Serializer):
    milestone = MilestoneBriefSerializer()
    payout = PayoutSerializer(allow_null=True)
    refund = RefundSerializer(allow_null=True)


# --- Ledger -------------------------------------------------------------------------------------------


class LedgerQuery(serializers.Serializer):
    period = serializers.ChoiceField(choices=list(PERIODS), default="day")
    start = serializers.DateField(required=False, help_text="Default: 29 days before `end`.")
    end = serializers.DateField(required=False, help_text="Default: today (UTC).")


class LedgerRowSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField(help_text="Inclusive.")
    currency = serializers.CharField()
    funded = serializers.IntegerField()
    released = serializers.IntegerField(help_text="Transferred plus fees.")
    transferred = serializers.IntegerField()
    fees = serializers.IntegerField()
    refunded = serializers.IntegerField()
    charged_back = serializers.IntegerField(help_text="Taken back for clients by lost card chargebacks.")
    chargeback_losses = serializers.IntegerField(
        help_text="The part of `charged_back` the platform paid itself (escrow had released it already)."
    )
    held_change = serializers.IntegerField()
    held = serializers.IntegerField(help_text="In escrow at the end of the period.")


class LedgerReportSerializer(serializers.Serializer):
    period = serializers.CharField()
    start = serializers.DateField()
    end = serializers.DateField()
    rows = LedgerRowSerializer(many=True)
    totals = LedgerRowSerializer(many=True, help_text="Per currency over the range; `held` at its end.")
    opening = serializers.DictField(
        child=serializers.IntegerField(), help_text="Held per currency at `start`."
    )
    balanced = serializers.SerializerMethodField()
    violations = serializers.ListField(child=serializers.CharField())

    def get_balanced(self, report) -> bool:
        return not report.violations


# --- Receipts and payout statements -------------------------------------------------------------------


class DocumentPartySerializer(serializers.Serializer):
    display_name = serializers.CharField()
    email = serializers.EmailField()


class ReceiptRefundSerializer(serializers.Serializer):
    reference = serializers.CharField(help_text="The platform's refund reference, `REF-…`.")
    at = serializers.DateTimeField(help_text="When it was sent (or asked for, while it is being sent).")
    amount = serializers.IntegerField(help_text="Minor units.")
    kind = serializers.CharField(help_text="Why the money went back, in words.")
    status = serializers.CharField(help_text="`Refunded`, `Sending` or `Failed`.")
    sent = serializers.BooleanField(help_text="Counted in `refunded`: the refund reached the card.")


class ReceiptSerializer(serializers.Serializer):
    reference = serializers.CharField(help_text="The platform's payment reference, `PAY-…`.")
    paid_at = serializers.DateTimeField()
    status = serializers.CharField(help_text="`Paid`, `Partly refunded`, `Refunded` or `Charged back`.")
    payer = DocumentPartySerializer(source="client")
    engineer = serializers.CharField(source="engineer.display_name")
    engagement = serializers.CharField(source="engagement.title")
    milestone = serializers.CharField(source="milestone.title")
    payment_method = serializers.CharField()
    currency = serializers.CharField()
    paid = serializers.IntegerField(help_text="Minor units, as the ledger records the payment.")
    refunded = serializers.IntegerField(help_text="Refunds sent, as the ledger records them.")
    charged_back = serializers.IntegerField(help_text="Taken back by a lost card chargeback.")
    kept = serializers.IntegerField(help_text="`paid` less `refunded` and `charged_back`.")
    refunds = ReceiptRefundSerializer(many=True)
    issuer = serializers.ListField(child=serializers.CharField(), help_text="Who issues it: name, address.")


class StatementLineSerializer(serializers.Serializer):
    reference = serializers.CharField(help_text="The platform's payout reference, `OUT-…`.")
    at = serializers.DateTimeField(help_text="When it was sent (or created, while it waits).")
    milestone = serializers.CharField(source="milestone.title")
    engagement = serializers.CharField(source="engagement.title")
    client = serializers.CharField(source="client.display_name")
    currency = serializers.CharField()
    released = serializers.IntegerField(help_text="Out of escrow, the platform fee included; minor units.")
    fee = serializers.IntegerField(help_text="Kept by the platform.")
    net = serializers.IntegerField(help_text="Sent to the engineer.")
    fee_bps = serializers.IntegerField()
    state = serializers.CharField(help_text="`awaiting_approval`, `processing`, `paid` or `failed`.")
    sent = serializers.BooleanField(help_text="Counted in the totals: the ledger records it as paid.")


class StatementTotalSerializer(serializers.Serializer):
    currency = serializers.CharField()
    count = serializers.IntegerField()
    released = serializers.IntegerField()
    fee = serializers.IntegerField()
    net = serializers.IntegerField()


class StatementSerializer(serializers.Serializer):
    engineer = DocumentPartySerializer()
    period = serializers.CharField(help_text="The period in words.")
    start = serializers.DateField(allow_null=True, help_text="Inclusive; null: from the first payout.")
    end = serializers.DateField(allow_null=True, help_text="Inclusive; null: up to now.")
    lines = StatementLineSerializer(many=True)
    totals = StatementTotalSerializer(many=True, help_text="Of the payouts sent, per currency.")
    issuer = serializers.ListField(child=serializers.CharField())


class StatementQuery(serializers.Serializer):
    year = serializers.IntegerField(min_value=2000, max_value=2100, required=False)
    month = serializers.IntegerField(min_value=1, max_value=12, required=False, help_text="Needs `year`.")
    start = serializers.DateField(required=False, help_text="Instead of `year`: the first day (UTC).")
    end = serializers.DateField(required=False, help_text="Instead of `year`: the last day, inclusive.")
    engineer = serializers.IntegerField(
        min_value=1, required=False, help_text="Staff: whose statement. Default: your own."
    )
