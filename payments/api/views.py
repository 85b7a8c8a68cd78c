"""The payments API: thin views over the payments services and selectors (errors propagate to the
one error handler). Staff-only endpoints answer 403 to everyone else before looking anything up."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation

from core.api import PAGED, ApiView, ErrorSerializer, errors
from core.errors import PermissionDeniedError, ValidationError
from core.pdf import pdf_download
from payments import receipts, selectors
from payments.api import serializers as s
from payments.models import Payout
from payments.services.accounts import connected_account_onboarding_link
from payments.services.disputes import dispute_resolve
from payments.services.funding import funding_checkout, funding_checkout_remaining
from payments.services.payouts import payout_approve, payout_retry
from payments.services.refunds import (
    cancellation_accept,
    cancellation_decide,
    cancellation_decline,
    cancellation_request,
)

TAG = ["payments"]
STAFF_TAG = ["payments (staff)"]


def _provider_errors(*statuses: int) -> dict:
    """The endpoint's error responses, plus 502 for a call to Stripe that failed."""
    return {
        **errors(*statuses),
        502: OpenApiResponse(
            ErrorSerializer, description="Stripe failed; `details` keeps Stripe's message and code."
        ),
    }


def _require_staff(request, action: str) -> None:
    if not request.user.is_staff:
        raise PermissionDeniedError(f"Only staff may {action}.")


# --- Funding -----------------------------------------------------------------------------------------


class FundingCheckoutApi(ApiView):
    @extend_schema(
        tags=TAG,
        request=None,
        responses={200: s.FundingCheckoutSerializer, **_provider_errors(403, 404, 409)},
        description="The client starts (or resumes) paying a milestone: a PaymentIntent for its amount. "
        "Confirm it in the browser with Stripe.js (`confirmCardPayment(client_secret)`); the "
        "`payment_intent.succeeded` webhook then marks the milestone funded. Calling again reuses it.",
    )
    def post(self, request, pk: int):
        return self.render(s.FundingCheckoutSerializer, funding_checkout(actor=request.user, milestone_id=pk))


class FundingCheckoutRemainingApi(ApiView):
    @extend_schema(
        tags=TAG,
        request=None,
        responses={200: s.FundingCheckoutSerializer(many=True), **_provider_errors(403, 404, 409)},
        description="The client funds every remaining milestone up front: a PaymentIntent for each milestone "
        "still awaiting funding, in order. Confirm each with Stripe.js and the same card; each milestone "
        "is funded by its own webhook. Calling again reuses them (409 `nothing_to_fund` when none waits).",
    )
    def post(self, request, pk: int):
        checkouts = funding_checkout_remaining(actor=request.user, engagement_id=pk)
        return self.render_many(s.FundingCheckoutSerializer, checkouts)


class FundingStatusApi(ApiView):
    @extend_schema(
        tags=TAG,
        responses={200: s.FundingStatusSerializer, **errors(404)},
        description="Where the milestone's payment stands, for its parties and staff; poll it after "
        "confirming the card until `status` is `funded`.",
    )
    def get(self, request, pk: int):
        return self.render(
            s.FundingStatusSerializer, selectors.funding_status(user=request.user, milestone_id=pk)
        )


# --- Cancellation by consent, staff decisions -------------------------------------------------------


class CancellationRequestApi(ApiView):
    @extend_schema(
        tags=TAG,
        request=s.CancellationReasonInput,
        responses={201: s.CancellationSerializer, **errors(400, 403, 404, 409)},
        description="A party asks to cancel a funded (or in-progress) milestone and refund the client; "
        "the other party accepts or declines.",
    )
    def post(self, request, pk: int):
        reason = self.parse(s.CancellationReasonInput)["reason"]
        return self.created(
            s.CancellationSerializer, cancellation_request(actor=request.user, milestone_id=pk, reason=reason)
        )


class CancellationAcceptApi(ApiView):
    @extend_schema(
        tags=TAG,
        request=None,
        responses={200: s.RefundSerializer, **errors(403, 404, 409)},
        description="The other party agrees: the milestone is cancelled and what escrow holds is refunded. "
        "The refund's `state` says whether Stripe sent it (`failed` ones are retried by staff).",
    )
    def post(self, request, pk: int):
        return self.render(s.RefundSerializer, cancellation_accept(actor=request.user, cancellation_id=pk))


class CancellationDeclineApi(ApiView):
    @extend_schema(
        tags=TAG,
        request=s.CancellationNoteInput,
        responses={200: s.CancellationSerializer, **errors(400, 403, 404, 409)},
        description="The other party declines; the milestone goes on (a dispute is the next step).",
    )
    def post(self, request, pk: int):
        note = self.parse(s.CancellationNoteInput)["note"]
        declined = cancellation_decline(actor=request.user, cancellation_id=pk, note=note)
        return self.render(s.CancellationSerializer, declined)


class CancellationDecideApi(ApiView):
    @extend_schema(
        tags=STAFF_TAG,
        request=s.CancellationReasonInput,
        responses={200: s.RefundSerializer, **errors(400, 403, 404, 409)},
        description="Staff cancel a funded milestone and refund the client in full.",
    )
    def post(self, request, pk: int):
        _require_staff(request, "cancel a funded milestone")
        reason = self.parse(s.CancellationReasonInput)["reason"]
        return self.render(
            s.RefundSerializer, cancellation_decide(actor=request.user, milestone_id=pk, reason=reason)
        )


class DisputeResolveApi(ApiView):
    @extend_schema(
        tags=STAFF_TAG,
        request=s.DisputeResolveInput,
        responses={200: s.DisputeSettlementSerializer, **_provider_errors(400, 403, 404, 409)},
        description="Staff settle a disputed milestone: `release_amount` to the engineer (less the platform "
        "fee) and `refund_amount` to the client, adding up to what escrow holds. A 502 means the "
        "settlement stands but Stripe refused a part; retry it from the payout desk.",
    )
    def post(self, request, pk: int):
        _require_staff(request, "resolve disputes")
        settlement = dispute_resolve(actor=request.user, milestone_id=pk, **self.parse(s.DisputeResolveInput))
        return self.render(s.DisputeSettlementSerializer, settlement)


# --- The engineer's payout account ------------------------------------------------------------------


class PayoutAccountApi(ApiView):
    @extend_schema(
        tags=TAG,
        responses={200: s.PayoutAccountSerializer, **errors(403)},
        description="The engineer's Stripe account: whether payouts can be sent, and what Stripe still needs.",
    )
    def get(self, request):
        return self.render(s.PayoutAccountSerializer, selectors.payout_account(user=request.user))


class OnboardingLinkApi(ApiView):
    @extend_schema(
        tags=TAG,
        request=s.OnboardingLinkInput,
        responses={201: s.OnboardingLinkSerializer, **_provider_errors(400, 403)},
        description="A fresh link to Stripe's hosted onboarding (creating the engineer's Express account the "
        "first time). Send the engineer there; `account.updated` keeps the account's status current.",
    )
    def post(self, request):
        data = self.parse(s.OnboardingLinkInput)
        url = connected_account_onboarding_link(
            actor=request.user,
            return_url=data.get("return_url")
            or request.build_absolute_uri(reverse("payments:payouts-return")),
            refresh_url=data.get("refresh_url")
            or request.build_absolute_uri(reverse("payments:payouts-refresh")),
        )
        return self.created(s.OnboardingLinkSerializer, {"url": url})


# --- Payouts -----------------------------------------------------------------------------------------


class PayoutListApi(ApiView):
    pagination_class = PAGED

    @extend_schema(
        tags=TAG,
        parameters=[OpenApiParameter("state", enum=Payout.State.values, required=False)],
        responses={200: s.PayoutSerializer(many=True), **errors(400)},
        description="Staff see every payout (the desk: `?state=awaiting_approval` or `failed`); an engineer "
        "their own; a client none. Oldest first.",
    )
    def get(self, request):
        state = request.query_params.get("state") or None
        if state is not None and state not in Payout.State.values:
            raise ValidationError(
                f"state: choose one of {', '.join(Payout.State.values)}.",
                details={"state": ["Invalid choice."]},
            )
        payouts = selectors.payout_list(user=request.user, state=state).prefetch_related(
            "funding__chargebacks"
        )
        return self.render_page(s.PayoutSerializer, payouts)


class PayoutDetailApi(ApiView):
    @extend_schema(tags=TAG, responses={200: s.PayoutSerializer, **errors(404)})
    def get(self, request, pk: int):
        return self.render(s.PayoutSerializer, selectors.payout_get(user=request.user, payout_id=pk))


class PayoutApproveApi(ApiView):
    @extend_schema(
        tags=STAFF_TAG,
        request=None,
        responses={200: s.PayoutSerializer, **_provider_errors(403, 404, 409)},
        description="Staff approve a payout: the transfer (amount less the platform fee) is sent now. "
        "409 says why it cannot go (engineer not onboarded, chargeback, already sent); 502 that "
        "Stripe failed, the payout is `failed` and can be retried.",
    )
    def post(self, request, pk: int):
        return self.render(s.PayoutSerializer, payout_approve(actor=request.user, payout_id=pk))


class PayoutRetryApi(ApiView):
    @extend_schema(
        tags=STAFF_TAG,
        request=None,
        responses={200: s.PayoutSerializer, **_provider_errors(403, 404, 409)},
        description="Staff send a failed payout again with the same idempotency key: never a second transfer.",
    )
    def post(self, request, pk: int):
        return self.render(s.PayoutSerializer, payout_retry(actor=request.user, payout_id=pk))


# --- Ledger ------------------------------------------------------------------------------------------


class LedgerSummaryApi(ApiView):
    @extend_schema(
        tags=STAFF_TAG,
        parameters=[s.LedgerQuery],
        responses={200: s.LedgerReportSerializer, **errors(400, 403)},
        description="Funded, released (transferred + fees), refunded, charged back and held per day, week or "
        "month, per currency, from the ledger; with whether the ledger balances.",
    )
    def get(self, request):
        _require_staff(request, "read the ledger")
        query = self.parse_query(s.LedgerQuery)
        end = query.get("end") or timezone.now().date()
        start = query.get("start") or end - timedelta(days=29)
        report = selectors.ledger_report(user=request.user, period=query["period"], start=start, end=end)
        return self.render(s.LedgerReportSerializer, report)


# --- Receipts and payout statements ------------------------------------------------------------------

REFERENCE = OpenApiParameter(
    "reference", OpenApiTypes.STR, OpenApiParameter.PATH, description="The payment's reference, `PAY-…`."
)


class ReceiptApi(ApiView):
    @extend_schema(
        tags=TAG,
        parameters=[REFERENCE],
        responses={200: s.ReceiptSerializer, **errors(404)},
        description="The receipt of a card payment into escrow (`PAY-…`), with the refunds sent back from it "
        "(`REF-…`): for the client who paid it and staff; for anybody else it does not exist (404). "
        "Amounts are the ledger's. The PDF is at `pdf/`.",
    )
    def get(self, request, reference: str):
        return self.render(
            s.ReceiptSerializer, receipts.funding_receipt(user=request.user, reference=reference)
        )


class PdfOrJsonErrors(BaseContentNegotiation):
    """The PDF endpoints answer a PDF whatever `Accept` asks for, and their errors in the API's JSON."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ReceiptPdfApi(ApiView):
    content_negotiation_class = PdfOrJsonErrors

    @extend_schema(
        tags=TAG,
        parameters=[REFERENCE],
        responses={
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The receipt as a PDF attachment, `receipt-PAY-….pdf`."
            ),
            **errors(404),
        },
        description="The receipt as the page prints it, as a PDF; who may read it as for the receipt.",
    )
    def get(self, request, reference: str):
        receipt = receipts.funding_receipt(user=request.user, reference=reference)
        return pdf_download(
            request._request,
            "payments/receipt.html",
            {"receipt": receipt},
            filename=f"receipt-{receipt.reference}.pdf",
        )


class StatementApi(ApiView):
    @extend_schema(
        tags=TAG,
        parameters=[s.StatementQuery],
        responses={200: s.StatementSerializer, **errors(400, 404)},
        description="An engineer's payout statement: every payout sent in a period (`year` and `month`, or "
        "`start` and `end`; default: all), each with the amount released, the platform fee and the net "
        "paid, and totals per currency, from the ledger. Staff read any engineer's (`engineer`); for "
        "clients, and other engineers' statements, there is none (404).",
    )
    def get(self, request):
        query = self.parse_query(s.StatementQuery)
        engineer = query.pop("engineer", None)
        start, end = receipts.statement_range(**query)
        statement = receipts.period_statement(user=request.user, engineer_id=engineer, start=start, end=end)
        return self.render(s.StatementSerializer, statement)
