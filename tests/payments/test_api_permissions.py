"""Every payments endpoint under /api/v1/payments/ x every kind of user: the exact status each one gets.

As in the marketplace's matrix: the parties are the client who owns the milestone and the engineer
working on it; "other" users are strangers to it (404: its existence does not leak); a user who can
see the object but may not do this gets 403; staff-only endpoints answer 403 to everyone else before
looking anything up. Each cell is its own test on fresh objects, with real Stripe objects at the
local server.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.urls import Resolver404, resolve
from rest_framework.test import APIClient

from marketplace.models import Milestone
from marketplace.services import engagements as engagement_services
from payments.api.urls import urlpatterns as payments_api_urlpatterns
from payments.models import CancellationRequest, Payout
from payments.services.payouts import payout_approve
from payments.services.refunds import cancellation_request
from tests.api_matrix import Call, answer, assert_status, cells, routes_and_methods, rows
from tests.factories import EngineerFactory, StaffFactory, engagement
from tests.payments.conftest import onboard, pay, transfers_at_stripe, work_and_approve

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def payments_api(settings):
    """Until config/api_urls.py includes payments.api.urls, mount it for these tests."""
    try:
        resolve("/api/v1/payments/account/")
    except Resolver404:
        settings.ROOT_URLCONF = "tests.payments.api_urlconf"


@dataclass
class World:
    webhooks: object
    capture: Callable
    settings: object


def _pending(world: World) -> Milestone:
    return engagement(amounts=(100_000,)).milestones.get()


def _funded(world: World) -> Milestone:
    milestone = _pending(world)
    pay(milestone, world.webhooks)
    return milestone


def _approved(world: World) -> Payout:
    milestone = _funded(world)
    return work_and_approve(milestone, world.capture)


def _call(method, path, milestone, data=None) -> Call:
    eng = milestone.engagement
    return Call(method, f"/api/v1/payments/{path}", eng.client, eng.engineer, data)


# --- Endpoints ---------------------------------------------------------------------------------------


def funding_status(world):
    milestone = _pending(world)
    return _call("get", f"milestones/{milestone.pk}/funding/", milestone)


def funding_checkout(world):
    milestone = _pending(world)
    return _call("post", f"milestones/{milestone.pk}/funding/checkout/", milestone)


def funding_checkout_remaining(world):
    milestone = _pending(world)
    return _call("post", f"engagements/{milestone.engagement_id}/funding/checkout/", milestone)


def cancellation_request_(world):
    milestone = _funded(world)
    return _call("post", f"milestones/{milestone.pk}/cancellation/", milestone, {"reason": "No data came."})


def _requested_by_engineer(world) -> tuple[Milestone, CancellationRequest]:
    milestone = _funded(world)
    request = cancellation_request(
        actor=milestone.engagement.engineer, milestone_id=milestone.pk, reason="Cannot do it."
    )
    return milestone, request


def cancellation_accept(world):
    milestone, request = _requested_by_engineer(world)
    return _call("post", f"cancellations/{request.pk}/accept/", milestone)


def cancellation_decline(world):
    milestone, request = _requested_by_engineer(world)
    return _call("post", f"cancellations/{request.pk}/decline/", milestone, {"note": "Keep going."})


def cancellation_decide(world):
    milestone = _funded(world)
    return _call("post", f"milestones/{milestone.pk}/cancel/", milestone, {"reason": "Fraud."})


def dispute_resolve(world):
    milestone = _funded(world)
    onboard(milestone.engagement.engineer, world.webhooks)
    engagement_services.milestone_open_dispute(
        actor=milestone.engagement.client,
        milestone_id=milestone.pk,
        category="scope_not_met",
        reason="Half done: the delivery does not match the agreed scope.",
    )
    data = {"release_amount": 60_000, "refund_amount": 40_000, "currency": "usd", "note": "Split."}
    return _call("post", f"milestones/{milestone.pk}/resolve-dispute/", milestone, data)


def account(world):
    return _call("get", "account/", _pending(world))


def onboarding_link(world):
    return _call("post", "account/onboarding-link/", _pending(world), {})


def payout_list(world):
    return _call("get", "payouts/", _approved(world).milestone)


def payout_detail(world):
    payout = _approved(world)
    return _call("get", f"payouts/{payout.pk}/", payout.milestone)


def payout_approve_(world):
    payout = _approved(world)
    onboard(payout.engineer, world.webhooks)
    return _call("post", f"payouts/{payout.pk}/approve/", payout.milestone)


def payout_retry(world):
    payout = _approved(world)
    onboard(payout.engineer, world.webhooks)
    world.settings.STRIPE_MAX_NETWORK_RETRIES = 0
    world.webhooks.server.add_fault("/v1/transfers", "error_500")
    with pytest.raises(Exception, match="Stripe could not send the transfer"):
        payout_approve(actor=StaffFactory(), payout_id=payout.pk)
    return _call("post", f"payouts/{payout.pk}/retry/", payout.milestone)


def ledger(world):
    return _call("get", "ledger/", _funded(world), {"period": "week"})


def receipt(world):
    milestone = _funded(world)
    return _call("get", f"receipts/{milestone.fundings.get().reference}/", milestone)


def receipt_pdf(world):
    milestone = _funded(world)
    return _call("get", f"receipts/{milestone.fundings.get().reference}/pdf/", milestone)


def statement(world):
    milestone = _pending(world)
    return _call("get", "statements/", milestone, {"engineer": milestone.engagement.engineer.pk})


# (route name, method, setup, expected status for each of ROLES)
MATRIX = [
    ("api-payments-funding", "get", funding_status, (401, 200, 404, 200, 404, 200)),
    ("api-payments-funding-checkout", "post", funding_checkout, (401, 200, 404, 403, 404, 403)),
    (
        "api-payments-funding-checkout-remaining",
        "post",
        funding_checkout_remaining,
        (401, 200, 404, 403, 404, 403),
    ),
    ("api-payments-cancellation-request", "post", cancellation_request_, (401, 201, 404, 201, 404, 403)),
    # Requested by the engineer: the client answers; the requester and staff may not.
    ("api-payments-cancellation-accept", "post", cancellation_accept, (401, 200, 404, 403, 404, 403)),
    ("api-payments-cancellation-decline", "post", cancellation_decline, (401, 200, 404, 403, 404, 403)),
    ("api-payments-cancellation-decide", "post", cancellation_decide, (401, 403, 403, 403, 403, 200)),
    ("api-payments-dispute-resolve", "post", dispute_resolve, (401, 403, 403, 403, 403, 200)),
    # Each engineer has their own payout account; clients and staff have none.
    ("api-payments-account", "get", account, (401, 403, 403, 200, 200, 403)),
    ("api-payments-onboarding-link", "post", onboarding_link, (401, 403, 403, 201, 201, 403)),
    # Staff see every payout, an engineer their own, a client none (an empty list).
    ("api-payments-payout-list", "get", payout_list, (401, 200, 200, 200, 200, 200)),
    ("api-payments-payout-detail", "get", payout_detail, (401, 404, 404, 200, 404, 200)),
    ("api-payments-payout-approve", "post", payout_approve_, (401, 403, 403, 403, 403, 200)),
    ("api-payments-payout-retry", "post", payout_retry, (401, 403, 403, 403, 403, 200)),
    ("api-payments-ledger", "get", ledger, (401, 403, 403, 403, 403, 200)),
    # A receipt is the paying client's (and staff's); the engineer paid from it has a statement instead.
    ("api-payments-receipt", "get", receipt, (401, 200, 404, 404, 404, 200)),
    ("api-payments-receipt-pdf", "get", receipt_pdf, (401, 200, 404, 404, 404, 200)),
    # The engineer's own statement (and staff's view of it); for anybody else it does not exist.
    ("api-payments-statement", "get", statement, (401, 404, 404, 200, 404, 200)),
]

CELLS = cells(MATRIX, prefix="api-payments-")


@pytest.mark.parametrize(("route", "method", "setup", "role", "expected"), CELLS)
def test_permission_matrix(
    route, method, setup, role, expected, webhooks, settings, django_capture_on_commit_callbacks
):
    call = setup(World(webhooks, django_capture_on_commit_callbacks, settings))
    transfers_before = len(transfers_at_stripe())
    assert_status(answer(call, route=route, method=method, role=role), expected)
    if expected >= 400:
        assert len(transfers_at_stripe()) == transfers_before  # a refused call moves no money


def test_matrix_covers_every_payments_route_and_method():
    """A new endpoint, or a new method on one, without its row in the matrix fails here."""
    assert routes_and_methods(payments_api_urlpatterns) == rows(MATRIX)


def test_payout_list_leaves_out_other_engineers_payouts(
    webhooks, django_capture_on_commit_callbacks, settings
):
    payout = _approved(World(webhooks, django_capture_on_commit_callbacks, settings))
    api = APIClient()
    for user, count in [
        (payout.engineer, 1),
        (EngineerFactory(), 0),
        (payout.milestone.engagement.client, 0),
        (StaffFactory(), 1),
    ]:
        api.force_authenticate(user)
        body = api.get("/api/v1/payments/payouts/").json()
        assert body["count"] == count
    api.force_authenticate(StaffFactory())
    assert api.get("/api/v1/payments/payouts/", {"state": "paid"}).json()["count"] == 0
    awaiting = api.get("/api/v1/payments/payouts/", {"state": "awaiting_approval"}).json()["results"]
    assert [row["id"] for row in awaiting] == [payout.pk]
    assert awaiting[0]["engineer_eligibility"]["ready"] is False
    bad = api.get("/api/v1/payments/payouts/", {"state": "sent"})
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("state:")
