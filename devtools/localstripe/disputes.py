"""Card disputes (chargebacks) for the local Stripe server.

Stripe's test mode opens a dispute when a special card is charged; here a test helper opens one on
any charge (`POST /_test/disputes`) and decides it (`POST /_test/disputes/{id}/decide`, won or lost),
each sending the webhook Stripe sends. The API the code under test calls is Stripe's:
`GET /v1/disputes` (filters `created`, `charge`, `payment_intent`), `GET /v1/disputes/{id}`, and
`POST /v1/disputes/{id}/close` (the platform accepts the dispute: it is lost). A lost dispute takes
the amount out of the platform's balance, as Stripe does.
"""

from __future__ import annotations

from aiohttp import web
from localstripe import resources, server
from localstripe.resources import StripeObject, store

from devtools.localstripe.connect import (
    ConnectBalanceTransaction,
    StripeLikeRetrieve,
    created_filter,
    invalid,
    newest_first,
    no_such,
    objects_of,
    positive_int,
    reject_unknown,
)

REASONS = (
    "fraudulent",
    "duplicate",
    "product_not_received",
    "product_unacceptable",
    "unrecognized",
    "general",
)
OPEN = ("warning_needs_response", "warning_under_review", "needs_response", "under_review")
DECISIONS = ("won", "lost")


class Dispute(StripeLikeRetrieve, StripeObject):
    object = "dispute"
    _id_prefix = "du_"

    def __init__(self, charge=None, amount=None, reason=None, **kwargs):
        reject_unknown(kwargs)
        found = store.get("charge:" + str(charge))
        if found is None:
            raise no_such("charge", charge, "charge")
        amount = found.amount if amount is None else positive_int(amount, "amount")
        if amount > found.amount:
            raise invalid("The disputed amount cannot exceed the charge.", "amount", "amount_too_large")
        reason = reason or "fraudulent"
        if reason not in REASONS:
            raise invalid(f"Invalid reason: must be one of {', '.join(REASONS)}", "reason")

        # All exceptions must be raised before this point.
        super().__init__()
        self.amount = amount
        self.charge = found.id
        self.currency = found.currency
        self.payment_intent = getattr(found, "payment_intent", None)
        self.reason = reason
        self.status = "needs_response"
        self.evidence = {}
        self.is_charge_refundable = False
        self.metadata = {}
        resources.schedule_webhook(resources.Event("charge.dispute.created", self))

    def _decide(self, status: str) -> Dispute:
        if self.status not in OPEN:
            raise invalid(f"This dispute is already closed ({self.status}).", None, "dispute_already_closed")
        self.status = status
        if status == "lost":
            ConnectBalanceTransaction(-self.amount, self.currency, "adjustment", self.id)
        resources.schedule_webhook(resources.Event("charge.dispute.closed", self))
        return self

    @classmethod
    def _api_list_all(
        cls, url, created=None, charge=None, payment_intent=None, limit=None, starting_after=None, **kwargs
    ):
        reject_unknown(kwargs)
        disputes = objects_of(cls.object)
        if charge is not None:
            disputes = [d for d in disputes if d.charge == charge]
        if payment_intent is not None:
            disputes = [d for d in disputes if d.payment_intent == payment_intent]
        if created is not None:
            disputes = list(filter(created_filter(created), disputes))
        return newest_first(url, disputes, limit, starting_after)

    @classmethod
    def _api_close(cls, id, **kwargs):
        reject_unknown(kwargs)
        return cls._api_retrieve(id)._decide("lost")

    @classmethod
    def _api_update(cls, id, **data):
        raise invalid("Submitting evidence is not supported by the local Stripe server.", None)


async def open_dispute(request: web.Request) -> web.Response:
    """`POST /_test/disputes` {charge, amount?, reason?}: the card network opens a dispute."""
    from devtools.localstripe import request_data  # the package imports this module

    return web.json_response(Dispute(**await request_data(request))._export())


async def decide_dispute(request: web.Request) -> web.Response:
    """`POST /_test/disputes/{id}/decide` {status: won|lost}: the card network decides."""
    from devtools.localstripe import request_data  # the package imports this module

    status = (await request_data(request)).get("status")
    if status not in DECISIONS:
        raise invalid("status must be won or lost", "status")
    return web.json_response(Dispute._api_retrieve(request.match_info["id"])._decide(status)._export())


async def close_dispute(request: web.Request) -> web.Response:
    return web.json_response(Dispute._api_close(request.match_info["id"])._export())


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/v1/disputes", server.api_list_all(Dispute, "/v1/disputes"))
    router.add_get("/v1/disputes/{id}", server.api_retrieve(Dispute, "/v1/disputes"))
    router.add_post("/v1/disputes/{id}", server.api_update(Dispute, "/v1/disputes"))
    router.add_post("/v1/disputes/{id}/close", close_dispute)
    router.add_post("/_test/disputes", open_dispute)
    router.add_post("/_test/disputes/{id}/decide", decide_dispute)
