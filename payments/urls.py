from django.urls import path

from payments import views
from payments.pages import accounts, desk, funding, history, ledger, milestones, receipts

app_name = "payments"
urlpatterns = [
    path("stripe/webhook/", views.stripe_webhook, name="stripe-webhook"),
    # The client pays a milestone into escrow.
    path("milestones/<int:pk>/fund/", funding.funding_page, name="fund"),
    path("engagements/<int:pk>/fund-all/", funding.funding_all_page, name="fund-all"),
    path("milestones/<int:pk>/fund/status/", funding.funding_status_partial, name="fund-status"),
    # Cancelling a funded milestone (parties agree, or staff decide) and settling a dispute (staff).
    path(
        "milestones/<int:pk>/cancellation/", milestones.cancellation_request_view, name="cancellation-request"
    ),
    path("cancellations/<int:pk>/accept/", milestones.cancellation_accept_view, name="cancellation-accept"),
    path(
        "cancellations/<int:pk>/decline/", milestones.cancellation_decline_view, name="cancellation-decline"
    ),
    path("milestones/<int:pk>/cancel/", milestones.cancellation_decide_view, name="cancellation-decide"),
    path("milestones/<int:pk>/resolve/", milestones.dispute_resolve_view, name="dispute-resolve"),
    # The engineer's payout settings and Stripe onboarding.
    path("payouts/", accounts.payout_settings, name="payouts"),
    path("payouts/onboard/", accounts.payout_onboard, name="payouts-onboard"),
    path("payouts/onboarding/return/", accounts.payout_onboarding_return, name="payouts-return"),
    path("payouts/onboarding/refresh/", accounts.payout_onboarding_refresh, name="payouts-refresh"),
    # Everyone's own payments.
    path("history/", history.payments_history, name="history"),
    # Receipts (a client's card payment) and payout statements (an engineer's), as pages and PDFs.
    path("receipts/<str:reference>/", receipts.funding_receipt, name="receipt"),
    path("receipts/<str:reference>/pdf/", receipts.funding_receipt_pdf, name="receipt-pdf"),
    path("statements/", receipts.period_statement, name="statement"),
    path("statements/pdf/", receipts.period_statement_pdf, name="statement-pdf"),
    path("statements/<str:reference>/", receipts.payout_statement, name="payout-statement"),
    path("statements/<str:reference>/pdf/", receipts.payout_statement_pdf, name="payout-statement-pdf"),
    # Staff.
    path("desk/", desk.payout_desk, name="desk"),
    path("desk/payouts/<int:pk>/approve/", desk.payout_approve_view, name="payout-approve"),
    path("desk/payouts/<int:pk>/retry/", desk.payout_retry_view, name="payout-retry"),
    path("desk/refunds/<int:pk>/retry/", desk.refund_retry_view, name="refund-retry"),
    path("ledger/", ledger.ledger_report, name="ledger"),
    path("ledger/export.csv", ledger.ledger_report_csv, name="ledger-csv"),
]
