"""The payments API, included by config/api_urls.py under /api/v1/."""

from django.urls import path

from payments.api import views

urlpatterns = [
    path(
        "payments/milestones/<int:pk>/funding/",
        views.FundingStatusApi.as_view(),
        name="api-payments-funding",
    ),
    path(
        "payments/engagements/<int:pk>/funding/checkout/",
        views.FundingCheckoutRemainingApi.as_view(),
        name="api-payments-funding-checkout-remaining",
    ),
    path(
        "payments/milestones/<int:pk>/funding/checkout/",
        views.FundingCheckoutApi.as_view(),
        name="api-payments-funding-checkout",
    ),
    path(
        "payments/milestones/<int:pk>/cancellation/",
        views.CancellationRequestApi.as_view(),
        name="api-payments-cancellation-request",
    ),
    path(
        "payments/milestones/<int:pk>/cancel/",
        views.CancellationDecideApi.as_view(),
        name="api-payments-cancellation-decide",
    ),
    path(
        "payments/milestones/<int:pk>/resolve-dispute/",
        views.DisputeResolveApi.as_view(),
        name="api-payments-dispute-resolve",
    ),
    path(
        "payments/cancellations/<int:pk>/accept/",
        views.CancellationAcceptApi.as_view(),
        name="api-payments-cancellation-accept",
    ),
    path(
        "payments/cancellations/<int:pk>/decline/",
        views.CancellationDeclineApi.as_view(),
        name="api-payments-cancellation-decline",
    ),
    path("payments/account/", views.PayoutAccountApi.as_view(), name="api-payments-account"),
    path(
        "payments/account/onboarding-link/",
        views.OnboardingLinkApi.as_view(),
        name="api-payments-onboarding-link",
    ),
    path("payments/payouts/", views.PayoutListApi.as_view(), name="api-payments-payout-list"),
    path("payments/payouts/<int:pk>/", views.PayoutDetailApi.as_view(), name="api-payments-payout-detail"),
    path(
        "payments/payouts/<int:pk>/approve/",
        views.PayoutApproveApi.as_view(),
        name="api-payments-payout-approve",
    ),
    path(
        "payments/payouts/<int:pk>/retry/",
        views.PayoutRetryApi.as_view(),
        name="api-payments-payout-retry",
    ),
    path("payments/ledger/", views.LedgerSummaryApi.as_view(), name="api-payments-ledger"),
    path("payments/receipts/<str:reference>/", views.ReceiptApi.as_view(), name="api-payments-receipt"),
    path(
        "payments/receipts/<str:reference>/pdf/",
        views.ReceiptPdfApi.as_view(),
        name="api-payments-receipt-pdf",
    ),
    path("payments/statements/", views.StatementApi.as_view(), name="api-payments-statement"),
]
