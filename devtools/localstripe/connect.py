"""Stripe Connect for the local Stripe server: what `separate charges and transfers` needs.

Accounts (Express), Account Links (with a local onboarding page), Transfers, Transfer Reversals and
a balance computed from the balance transactions, plus the few PaymentIntent fields that flow uses
(`transfer_group`, `description`, `latest_charge` as an id) and that localstripe lacks.

Shapes and error bodies follow Stripe's API reference, so the code under test handles the same
`InvalidRequestError`s (message, `param`, `code`) it would get from Stripe.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import localstripe
from aiohttp import web
from localstripe import resources, server
from localstripe.errors import UserError
from localstripe.resources import (
    BalanceTransaction,
    Charge,
    Event,
    List,
    PaymentIntent,
    PaymentMethod,
    StripeObject,
    random_id,
    store,
    try_convert_to_bool,
    try_convert_to_int,
)

ACCOUNT_LINK_TTL_S = 300  # Stripe's account links expire after five minutes.
ONBOARDING_PATH = "/_test/connect/onboarding/{token}"
KNOWN_CAPABILITIES = ("card_payments", "transfers")
# What a new US individual Express account must provide before Stripe enables it.
ONBOARDING_REQUIREMENTS = (
    "business_profile.mcc",
    "business_profile.url",
    "business_type",
    "external_account",
    "individual.dob.day",
    "individual.dob.month",
    "individual.dob.year",
    "individual.email",
    "individual.first_name",
    "individual.last_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
)
DEFAULT_CURRENCY_BY_COUNTRY = {"US": "usd", "GB": "gbp", "CA": "cad", "AU": "aud"}
INSUFFICIENT_FUNDS_MESSAGE = (
    "Insufficient funds in Stripe account. In test mode, you can add funds to your available balance "
    "(bypassing your pending balance) by creating a charge with 4000 0000 0000 0077 as the card number. "
    "You can use the /v1/balance endpoint to view your Stripe balance (for more details, see "
    "stripe.com/docs/api#balance)."
)


def invalid(message: str, param: str | None = None, code: str | None = None, status: int = 400) -> UserError:
    contents = {}
    if param is not None:
        contents["param"] = param
    if code is not None:
        contents["code"] = code
    return UserError(status, message, contents)


def reject_unknown(params: dict) -> None:
    if params:
        name = sorted(params)[0]
        raise invalid(f"Received unknown parameter: {name}", name, "parameter_unknown")


def require(value: Any, param: str) -> Any:
    if value is None or value == "":
        raise invalid(f"Missing required param: {param}.", param, "parameter_missing")
    return value


def positive_int(value: Any, param: str) -> int:
    number = try_convert_to_int(value)
    if type(number) is not int:
        raise invalid(f"Invalid integer: {value}", param, "parameter_invalid_integer")
    if number < 1:
        raise invalid("This value must be greater than or equal to 1.", param, "parameter_invalid_integer")
    return number


def currency_code(value: Any, param: str = "currency") -> str:
    require(value, param)
    if type(value) is not str or len(value) != 3 or not value.isalpha():
        raise invalid(f"Invalid currency: {value}. Use a three-letter ISO currency code.", param)
    return value.lower()


def optional_str(value: Any, param: str) -> str | None:
    if value is not None and type(value) is not str:
        raise invalid(f"Invalid string: {value}", param)
    return value


def metadata_dict(value: Any) -> dict:
    if value is None or value == "":
        return {}
    if type(value) is not dict or not all(type(v) is str for v in value.values()):
        raise invalid("Invalid object", "metadata")
    return dict(value)


def merge_metadata(current: dict, update: Any) -> dict:
    """Stripe semantics: keys are added or replaced; an empty value (or empty metadata) unsets."""
    if update == "":
        return {}
    merged = dict(current)
    for key, value in metadata_dict(update).items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def no_such(kind: str, object_id: Any, param: str) -> UserError:
    return invalid(f"No such {kind}: '{object_id}'", param, "resource_missing", status=404)


def created_filter(created: Any) -> Callable[[StripeObject], bool]:
    """`created=<ts>` or `created[gt|gte|lt|lte]=<ts>`, as Stripe's list endpoints take it."""
    if type(created) is not dict:
        exact = try_convert_to_int(created)
        if type(exact) is not int:
            raise invalid(f"Invalid integer: {created}", "created", "parameter_invalid_integer")
        return lambda obj: obj.created == exact
    operators = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    checks = []
    for name, raw in created.items():
        if name not in operators:
            raise invalid(
                f"Received unknown parameter: created[{name}]", f"created[{name}]", "parameter_unknown"
            )
        bound = try_convert_to_int(raw)
        if type(bound) is not int:
            raise invalid(f"Invalid integer: {raw}", f"created[{name}]", "parameter_invalid_integer")
        checks.append((operators[name], bound))
    return lambda obj: all(op(obj.created, bound) for op, bound in checks)


def newest_first(url: str, objects: list, limit: Any, starting_after: Any) -> List:
    li = List(url, limit=limit, starting_after=starting_after)
    # The store keeps insertion order; `created` has one-second resolution, so order by insertion.
    li._list = list(reversed(objects))
    return li


def objects_of(kind: str) -> list:
    prefix = kind + ":"
    return [value for key, value in store.items() if key.startswith(prefix)]


class StripeLikeRetrieve:
    """Mixin (listed before StripeObject, which must stay a direct base for `expand` to find the class)."""

    @classmethod
    def _api_retrieve(cls, id):
        obj = store.get(f"{cls.object}:{id}")
        if obj is None:
            raise no_such(cls.object.replace("_", " "), id, "id")
        return obj


class Account(StripeLikeRetrieve, StripeObject):
    object = "account"
    _id_prefix = "acct_"

    def __init__(
        self,
        type=None,
        country=None,
        email=None,
        capabilities=None,
        business_type=None,
        business_profile=None,
        default_currency=None,
        metadata=None,
        **kwargs,
    ):
        reject_unknown(kwargs)
        require(type, "type")
        if type != "express":
            raise invalid(
                f"Invalid type: {type}. This local Stripe server supports Express accounts only.",
                "type",
            )
        country = optional_str(country, "country") or "US"
        email = optional_str(email, "email")
        requested = self._requested_capabilities(capabilities)
        if "transfers" not in requested:
            raise invalid(
                "Express accounts must request the `transfers` capability "
                "(capabilities[transfers][requested]=true).",
                "capabilities",
            )
        if business_type not in (None, "individual", "company", "non_profit", "government_entity"):
            raise invalid(f"Invalid business_type: {business_type}", "business_type")
        if business_profile is not None and builtin_type(business_profile) is not dict:
            raise invalid("Invalid object", "business_profile")
        default_currency = (
            currency_code(default_currency, "default_currency")
            if default_currency is not None
            else DEFAULT_CURRENCY_BY_COUNTRY.get(country.upper(), "eur")
        )
        metadata = metadata_dict(metadata)

        # All exceptions must be raised before this point.
        super().__init__()

        self.type = type
        self.country = country.upper()
        self.email = email
        self.default_currency = default_currency
        self.business_type = business_type
        self.business_profile = {"mcc": None, "name": None, "product_description": None, "url": None}
        self.business_profile.update(business_profile or {})
        self.capabilities = {name: "inactive" for name in requested}
        self.charges_enabled = False
        self.payouts_enabled = False
        self.details_submitted = False
        self.controller = {
            "fees": {"payer": "application"},
            "is_controller": True,
            "losses": {"payments": "application"},
            "requirement_collection": "stripe",
            "stripe_dashboard": {"type": "express"},
            "type": "application",
        }
        self.tos_acceptance = {"date": None, "ip": None, "user_agent": None}
        self.metadata = metadata
        self.future_requirements = self._requirements_for([])
        self._external_accounts = []
        self._set_requirements(self._initially_due())

    @staticmethod
    def _requested_capabilities(capabilities: Any) -> list[str]:
        if capabilities is None:
            return []
        if builtin_type(capabilities) is not dict:
            raise invalid("Invalid object", "capabilities")
        requested = []
        for name, settings in capabilities.items():
            if name not in KNOWN_CAPABILITIES:
                raise invalid(
                    f"Invalid capability: {name}. Supported here: {', '.join(KNOWN_CAPABILITIES)}.",
                    f"capabilities[{name}]",
                )
            flag = try_convert_to_bool(settings.get("requested")) if builtin_type(settings) is dict else None
            if builtin_type(flag) is not bool:
                raise invalid("Invalid boolean", f"capabilities[{name}][requested]")
            if flag:
                requested.append(name)
        return requested

    def _initially_due(self) -> list[str]:
        provided = {"business_type"} if self.business_type else set()
        if self.business_profile.get("url"):
            provided.add("business_profile.url")
        if self.business_profile.get("mcc"):
            provided.add("business_profile.mcc")
        return [item for item in ONBOARDING_REQUIREMENTS if item not in provided]

    @staticmethod
    def _requirements_for(due: list[str]) -> dict:
        return {
            "alternatives": [],
            "current_deadline": None,
            "currently_due": list(due),
            "disabled_reason": "requirements.past_due" if due else None,
            "errors": [],
            "eventually_due": list(due),
            "past_due": list(due),
            "pending_verification": [],
        }

    def _set_requirements(self, due: list[str]) -> None:
        self.requirements = self._requirements_for(due)
        enabled = not due
        self.capabilities = dict.fromkeys(self.capabilities, "active" if enabled else "inactive")
        self.charges_enabled = self.capabilities.get("card_payments") == "active"
        self.payouts_enabled = enabled

    @property
    def external_accounts(self) -> dict:
        return {
            "object": "list",
            "data": [dict(bank) for bank in self._external_accounts],
            "has_more": False,
            "total_count": len(self._external_accounts),
            "url": f"/v1/accounts/{self.id}/external_accounts",
        }

    def _complete_onboarding(self, leave_due: list[str]) -> None:
        """What Stripe's hosted onboarding does once the user submits it."""
        unknown = [item for item in leave_due if item not in ONBOARDING_REQUIREMENTS]
        if unknown:
            raise invalid(f"Unknown requirement(s): {', '.join(unknown)}", "leave_due")
        before = self._export()
        self.details_submitted = True
        self.tos_acceptance = {"date": int(time.time()), "ip": "127.0.0.1", "user_agent": "localstripe"}
        if "business_type" not in leave_due and not self.business_type:
            self.business_type = "individual"
        if "external_account" not in leave_due and not self._external_accounts:
            self._external_accounts.append(
                {
                    "id": "ba_" + random_id(24),
                    "object": "bank_account",
                    "account": self.id,
                    "bank_name": "STRIPE TEST BANK",
                    "country": self.country,
                    "currency": self.default_currency,
                    "default_for_currency": True,
                    "last4": "6789",
                    "routing_number": "110000000",
                    "status": "new",
                }
            )
        self._set_requirements([item for item in ONBOARDING_REQUIREMENTS if item in leave_due])
        self._announce_update(before)

    def _announce_update(self, before: dict) -> None:
        after = self._export()
        event = Event("account.updated", self)
        # Connect events name the connected account, and *.updated events carry what changed.
        event.account = self.id
        event.data["previous_attributes"] = {
            key: value for key, value in before.items() if after.get(key) != value
        }
        resources.schedule_webhook(event)

    @classmethod
    def _api_update(cls, id, **data):
        obj = cls._api_retrieve(id)
        allowed = {"email", "metadata", "business_profile", "business_type", "capabilities"}
        reject_unknown({key: value for key, value in data.items() if key not in allowed})
        email = optional_str(data.get("email", obj.email), "email")
        metadata = merge_metadata(obj.metadata, data.get("metadata", {}))
        business_profile = data.get("business_profile", {})
        if builtin_type(business_profile) is not dict:
            raise invalid("Invalid object", "business_profile")
        business_type = optional_str(data.get("business_type", obj.business_type), "business_type")
        requested = cls._requested_capabilities(data.get("capabilities"))

        before = obj._export()
        obj.email, obj.metadata, obj.business_type = email, metadata, business_type
        obj.business_profile.update(business_profile)
        for name in requested:
            obj.capabilities.setdefault(name, "active" if obj.payouts_enabled else "inactive")
        obj.charges_enabled = obj.capabilities.get("card_payments") == "active"
        obj._announce_update(before)
        return obj

    @classmethod
    def _api_list_all(cls, url, limit=None, starting_after=None, created=None, **kwargs):
        reject_unknown(kwargs)
        accounts = objects_of(cls.object)
        if created is not None:
            accounts = list(filter(created_filter(created), accounts))
        return newest_first(url, accounts, limit, starting_after)


class AccountLink(StripeObject):
    """Stored under a random token; its `url` is the local onboarding page (see `onboarding_page`)."""

    object = "account_link"
    _id_prefix = "acctlink_"

    def __init__(
        self,
        origin,
        account=None,
        type=None,
        refresh_url=None,
        return_url=None,
        collect=None,
        collection_options=None,
        **kwargs,
    ):
        reject_unknown(kwargs)
        require(account, "account")
        require(type, "type")
        if type != "account_onboarding":
            raise invalid(
                f"Invalid type: {type}. Express accounts take `account_onboarding` links only.", "type"
            )
        if store.get("account:" + str(account)) is None:
            raise no_such("account", account, "account")
        for name, url in (("refresh_url", refresh_url), ("return_url", return_url)):
            require(url, name)
            if builtin_type(url) is not str or not url.startswith(("http://", "https://")):
                raise invalid("Not a valid URL", name, "url_invalid")
        if collect not in (None, "currently_due", "eventually_due"):
            raise invalid(f"Invalid collect: {collect}", "collect")
        if collection_options is not None and builtin_type(collection_options) is not dict:
            raise invalid("Invalid object", "collection_options")

        # All exceptions must be raised before this point.
        super().__init__()

        self.expires_at = self.created + ACCOUNT_LINK_TTL_S
        self.url = origin + ONBOARDING_PATH.format(token=self.id)
        self._account = account
        self._refresh_url = refresh_url
        self._return_url = return_url
        self._used = False

    def _export(self, expand=None):
        exported = super()._export(expand=expand)
        exported.pop("id")  # Account links have no id in Stripe's API.
        return exported


async def create_account_link(request: web.Request) -> web.Response:
    data = await server.get_post_data(request) or {}
    expand = data.pop("expand", None)
    origin = f"{request.scheme}://{request.host}"
    return server.json_response(AccountLink(origin, **data)._export(expand=expand))


async def onboarding_page(request: web.Request) -> web.StreamResponse:
    """Stands in for Stripe's hosted onboarding: visiting the link completes it and goes back.

    `?leave_due=external_account,...` submits the form but leaves those requirements due, so the
    app's "what is missing" messages can be tested. Like Stripe's, a link works once and for five
    minutes; a used or expired link sends the user to `refresh_url` for a fresh one.
    """
    link = store.get("account_link:" + request.match_info["token"])
    if link is None:
        raise web.HTTPNotFound(text="Unknown or reset account link.\n")
    if link._used or time.time() > link.expires_at:
        raise web.HTTPFound(link._refresh_url)
    leave_due = [item for item in request.query.get("leave_due", "").split(",") if item]
    Account._api_retrieve(link._account)._complete_onboarding(leave_due)
    link._used = True
    raise web.HTTPFound(link._return_url)


class Transfer(StripeLikeRetrieve, StripeObject):
    object = "transfer"
    _id_prefix = "tr_"

    def __init__(
        self,
        amount=None,
        currency=None,
        destination=None,
        description=None,
        metadata=None,
        source_transaction=None,
        transfer_group=None,
        **kwargs,
    ):
        reject_unknown(kwargs)
        amount = positive_int(require(amount, "amount"), "amount")
        currency = currency_code(currency)
        require(destination, "destination")
        description = optional_str(description, "description")
        transfer_group = optional_str(transfer_group, "transfer_group")
        metadata = metadata_dict(metadata)

        account = store.get("account:" + str(destination))
        if account is None:
            raise no_such("destination", destination, "destination")
        if account.capabilities.get("transfers") != "active":
            raise invalid(
                "Your destination account needs to have at least one of the following capabilities "
                "enabled: transfers, crypto_transfers, legacy_payments",
                "destination",
                "insufficient_capabilities_for_transfer",
            )
        if source_transaction is not None:
            charge = self._source_charge(source_transaction, amount, currency)
            transfer_group = transfer_group or charge.transfer_group
        elif available_balance().get(currency, 0) < amount:
            raise invalid(INSUFFICIENT_FUNDS_MESSAGE, None, "balance_insufficient")

        # All exceptions must be raised before this point.
        super().__init__()

        self.amount = amount
        self.amount_reversed = 0
        self.currency = currency
        self.description = description
        self.destination = destination
        self.destination_payment = "py_" + random_id(24)
        self.metadata = metadata
        self.reversed = False
        self.source_transaction = source_transaction
        self.source_type = "card"
        self.transfer_group = transfer_group
        self.balance_transaction = ConnectBalanceTransaction(-amount, currency, "transfer", self.id).id

        resources.schedule_webhook(Event("transfer.created", self))

    @staticmethod
    def _source_charge(charge_id: Any, amount: int, currency: str) -> Charge:
        charge = store.get("charge:" + str(charge_id))
        if charge is None:
            raise no_such("charge", charge_id, "source_transaction")
        if charge.status != "succeeded" or not charge.captured:
            raise invalid(
                f"The source_transaction {charge.id} has status {charge.status}; transfers can only "
                "be funded from a succeeded, captured charge.",
                "source_transaction",
            )
        if charge.currency != currency:
            raise invalid(
                f"The currency of source_transaction's balance transaction ({charge.currency}) must be "
                f"the same as the transfer currency ({currency})",
                "currency",
            )
        already = sum(t.amount for t in objects_of("transfer") if t.source_transaction == charge.id)
        remaining = charge.amount - already
        if amount > remaining:
            raise invalid(
                f"Insufficient funds on source_transaction {charge.id}: the transfer amount ({amount} "
                f"{currency}) exceeds what remains to transfer from it ({remaining} {currency} of "
                f"{charge.amount} {currency}; {already} {currency} already transferred).",
                "amount",
                "balance_insufficient",
            )
        return charge

    @property
    def reversals(self) -> List:
        li = List(f"/v1/transfers/{self.id}/reversals", limit=100)
        li._list = [r for r in objects_of("transfer_reversal") if r.transfer == self.id]
        return li

    @classmethod
    def _api_update(cls, id, **data):
        obj = cls._api_retrieve(id)
        reject_unknown({key: value for key, value in data.items() if key not in ("description", "metadata")})
        if "description" in data:
            obj.description = optional_str(data["description"], "description")
        if "metadata" in data:
            obj.metadata = merge_metadata(obj.metadata, data["metadata"])
        resources.schedule_webhook(Event("transfer.updated", obj))
        return obj

    @classmethod
    def _api_delete(cls, id):
        raise UserError(405, "Method Not Allowed")

    @classmethod
    def _api_list_all(
        cls,
        url,
        destination=None,
        created=None,
        transfer_group=None,
        limit=None,
        starting_after=None,
        **kwargs,
    ):
        reject_unknown(kwargs)
        transfers = objects_of(cls.object)
        if destination is not None:
            transfers = [t for t in transfers if t.destination == destination]
        if transfer_group is not None:
            transfers = [t for t in transfers if t.transfer_group == transfer_group]
        if created is not None:
            transfers = list(filter(created_filter(created), transfers))
        return newest_first(url, transfers, limit, starting_after)

    @classmethod
    def _api_reverse(
        cls, id, amount=None, description=None, metadata=None, refund_application_fee=None, **kw
    ):
        reject_unknown(kw)
        transfer = cls._api_retrieve(id)
        remaining = transfer.amount - transfer.amount_reversed
        amount = remaining if amount is None else positive_int(amount, "amount")
        if remaining == 0:
            raise invalid(
                f"Transfer {id} has already been fully reversed.", None, "transfer_already_reversed"
            )
        if amount > remaining:
            raise invalid(
                f"Amount ({amount}) must be less than or equal to the amount of transfer {id} that has "
                f"not been reversed ({remaining}).",
                "amount",
            )
        if (
            refund_application_fee is not None
            and builtin_type(try_convert_to_bool(refund_application_fee)) is not bool
        ):
            raise invalid("Invalid boolean", "refund_application_fee")
        reversal = TransferReversal(transfer, amount, optional_str(description, "description"), metadata)
        transfer.amount_reversed += amount
        transfer.reversed = transfer.amount_reversed == transfer.amount
        resources.schedule_webhook(Event("transfer.reversed", transfer))
        return reversal


class TransferReversal(StripeLikeRetrieve, StripeObject):
    object = "transfer_reversal"
    _id_prefix = "trr_"

    def __init__(self, transfer: Transfer, amount: int, description: str | None, metadata: Any):
        metadata = metadata_dict(metadata)
        super().__init__()
        self.amount = amount
        self.currency = transfer.currency
        self.description = description
        self.destination_payment_refund = "pyr_" + random_id(24)
        self.metadata = metadata
        self.source_refund = None
        self.transfer = transfer.id
        self.balance_transaction = ConnectBalanceTransaction(
            amount, transfer.currency, "transfer_refund", self.id
        ).id

    @classmethod
    def _api_retrieve_nested(cls, id, reversal_id, **kwargs):
        reject_unknown(kwargs)
        reversal = store.get("transfer_reversal:" + reversal_id)
        if reversal is None or reversal.transfer != id:
            raise no_such("transfer reversal", reversal_id, "id")
        return reversal

    @classmethod
    def _api_list_nested(cls, id, limit=None, starting_after=None, **kwargs):
        reject_unknown(kwargs)
        Transfer._api_retrieve(id)
        reversals = [r for r in objects_of(cls.object) if r.transfer == id]
        return newest_first(f"/v1/transfers/{id}/reversals", reversals, limit, starting_after)


class ConnectBalanceTransaction(BalanceTransaction):
    """Balance transactions for transfers, reversals and lost disputes; localstripe's own only knows
    charges and refunds.

    Same `object` and id prefix as localstripe's, so `/v1/balance_transactions` lists both and an
    expanded `balance_transaction` resolves either.
    """

    def __init__(self, amount: int, currency: str, type: str, source: str):
        StripeObject.__init__(self)
        self.amount = amount
        self.available_on = self.created
        self.currency = currency
        self.description = None
        self.exchange_rate = None
        self.fee = 0
        self.fee_details = []
        self.reporting_category = {"transfer": "transfer", "adjustment": "dispute"}.get(
            type, "transfer_reversal"
        )
        self.source = source
        self.status = "available"
        self.type = type


def available_balance() -> dict[str, int]:
    """The platform's balance: every charge, refund, transfer and reversal, available at once."""
    totals: dict[str, int] = defaultdict(int)
    for txn in objects_of("balance_transaction"):
        totals[txn.currency] += txn.net
    return totals


def connected_balance(account_id: str) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for transfer in objects_of("transfer"):
        if transfer.destination == account_id:
            totals[transfer.currency] += transfer.amount - transfer.amount_reversed
    return totals


async def retrieve_balance(request: web.Request) -> web.Response:
    """`GET /v1/balance`, or a connected account's with the `Stripe-Account` header, as Stripe does."""
    account_id = request.headers.get("Stripe-Account")
    if account_id:
        Account._api_retrieve(account_id)
        totals = connected_balance(account_id)
    else:
        totals = available_balance()
    available = [
        {"amount": amount, "currency": currency, "source_types": {"card": amount}}
        for currency, amount in sorted(totals.items())
    ] or [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}]
    pending = [
        {"amount": 0, "currency": entry["currency"], "source_types": {"card": 0}} for entry in available
    ]
    return server.json_response(
        {"object": "balance", "available": available, "pending": pending, "livemode": False}
    )


def builtin_type(value: Any) -> type:
    # The resource classes take `type` as a parameter, as Stripe's API does, which shadows the builtin.
    return type(value)


def extend_payment_intents() -> None:
    """Teach localstripe's PaymentIntent what separate charges and transfers rely on.

    - `transfer_group` and `description` on create and update, copied to the charge as Stripe does;
    - `latest_charge` exported as the charge id (expandable), as in Stripe's API, so it can be
      passed as a transfer's `source_transaction`;
    - `confirm` with a `payment_method`, which localstripe answers with "Not implemented".
    """
    if getattr(PaymentIntent, "_connect_extended", False):
        return
    PaymentIntent._connect_extended = True
    PaymentIntent.transfer_group = None
    PaymentIntent.description = None
    Charge.transfer_group = None

    original_init = PaymentIntent.__init__

    def __init__(self, transfer_group=None, description=None, **data):
        transfer_group = optional_str(transfer_group, "transfer_group")
        description = optional_str(description, "description")
        original_init(self, **data)
        self.transfer_group = transfer_group
        self.description = description

    original_create_charge = PaymentIntent._create_charge

    def _create_charge(self, on_failure_now):
        try:
            original_create_charge(self, on_failure_now)
        finally:
            if self.latest_charge is not None:
                self.latest_charge.transfer_group = self.transfer_group
                self.latest_charge.description = self.description

    original_export = PaymentIntent._export

    def _export(self, expand=None):
        exported = original_export(self, expand=expand)
        expanded = any(path.split(".")[0] == "latest_charge" for path in expand or [])
        if not expanded and isinstance(exported.get("latest_charge"), dict):
            exported["latest_charge"] = exported["latest_charge"]["id"]
        return exported

    original_confirm = PaymentIntent._api_confirm.__func__

    def _api_confirm(cls, id, payment_method=None, **kwargs):
        if payment_method is not None:
            PaymentMethod._api_retrieve(payment_method)  # 404 if it does not exist
            intent = cls._api_retrieve(id)
            if intent.status not in ("requires_payment_method", "requires_confirmation"):
                raise invalid(
                    f"This PaymentIntent's payment_method could not be updated because it has a status "
                    f"of {intent.status}.",
                    "payment_method",
                    "payment_intent_unexpected_state",
                )
            intent.payment_method = payment_method
            if intent.latest_charge is not None and intent.latest_charge.status == "failed":
                intent.latest_charge = None  # a new attempt; the failed charge stays retrievable
        return original_confirm(cls, id, **kwargs)

    PaymentIntent.__init__ = __init__
    PaymentIntent._create_charge = _create_charge
    PaymentIntent._export = _export
    PaymentIntent._api_confirm = classmethod(_api_confirm)


# Stripe.js: localstripe's `confirmCardPayment` only plays the 3-D Secure step and ignores the card
# element, so a funding page could never pay. This wraps it: the card typed into the (fake) element
# is sent with the publishable key and the client secret to `/confirm`, as real Stripe.js does.
STRIPE_JS_CARD_CONFIRMATION = """
(function () {
  const localStripe = Stripe;
  Stripe = (apiKey, options) => {
    const stripe = localStripe(apiKey, options);
    const authenticate = stripe.confirmCardPayment;
    stripe.confirmCardPayment = async (clientSecret, data) => {
      const paymentMethod = (data || {}).payment_method;
      if (!paymentMethod || !paymentMethod.card) {
        return authenticate(clientSecret, data);
      }
      const card = (paymentMethod.card.value || {}).card;
      if (!card || !card.number) {
        return {error: {type: 'validation_error', code: 'incomplete_number',
                        message: 'Your card number is incomplete.'}};
      }
      const pi = clientSecret.match(/^(pi_\\w+)_secret_/)[1];
      const response = await fetch(
        `${LOCALSTRIPE_BASE_API}/v1/payment_intents/${pi}/confirm`, {
          method: 'POST',
          body: JSON.stringify({
            key: apiKey,
            client_secret: clientSecret,
            payment_method_data: {
              type: 'card',
              card: card,
              billing_details: paymentMethod.billing_details || {},
            },
          }),
        });
      const body = await response.json().catch(() => ({}));
      if (response.status !== 200 || body.error) {
        return {error: {...(body.error || {}), type: response.status === 402 ? 'card_error' : 'api_error'}};
      }
      if (body.status === 'requires_action') {
        return authenticate(clientSecret, data);
      }
      return {paymentIntent: body};
    };
    return stripe;
  };
})();
"""
CONFIRM_PATH = re.compile(r"^/v1/payment_intents/pi_\w+/confirm$")


async def is_publishable_confirmation(request: web.Request) -> bool:
    """Stripe lets the browser confirm a PaymentIntent with the publishable key and its client secret."""
    if request.method != "POST" or not CONFIRM_PATH.match(request.path):
        return False
    data = await server.get_post_data(request, remove_auth=False) or {}
    key = data.get("key")
    return builtin_type(key) is str and key.startswith("pk_") and "client_secret" in data


async def confirm_payment_intent(request: web.Request) -> web.Response:
    data = await server.get_post_data(request) or {}
    expand = data.pop("expand", None)
    intent = PaymentIntent._api_retrieve(request.match_info["id"])
    client_secret = data.pop("client_secret", None)
    if client_secret is not None and client_secret != intent.client_secret:
        raise invalid(
            "The client_secret provided does not match the client_secret associated with the PaymentIntent.",
            "client_secret",
        )
    payment_method_data = data.pop("payment_method_data", None)
    if payment_method_data is not None:
        if builtin_type(payment_method_data) is not dict:
            raise invalid("Invalid object", "payment_method_data")
        data["payment_method"] = PaymentMethod(**payment_method_data).id
    return server.json_response(PaymentIntent._api_confirm(intent.id, **data)._export(expand=expand))


async def stripe_js(request: web.Request) -> web.Response:
    with open(Path(localstripe.__file__).parent / "localstripe-v3.js") as f:
        source = f.read()
    # In a block: localstripe's top-level `class Element` would otherwise shadow the DOM's global
    # `Element` for every script on the page (htmx's `instanceof Element` checks fail silently).
    # `Stripe` is assigned without a declaration, so it still becomes the page's global.
    text = "{\n" + source + STRIPE_JS_CARD_CONFIRMATION + "}\n"
    return web.Response(text=text, content_type="application/javascript")


def api_nested(func: Callable) -> Callable:
    async def handler(request: web.Request) -> web.Response:
        if request.method == "POST":
            data = await server.get_post_data(request) or {}
        else:
            data = server.unflatten_data(request.query)
        expand = data.pop("expand", None)
        return server.json_response(func(**request.match_info, **data)._export(expand=expand))

    return handler


def add_routes(app: web.Application) -> None:
    extend_payment_intents()
    router = app.router
    router.add_get("/v1/balance", retrieve_balance)
    router.add_post("/v1/payment_intents/{id}/confirm", confirm_payment_intent)
    router.add_get("/js.stripe.com/v3/", stripe_js)
    router.add_post("/v1/account_links", create_account_link)
    router.add_get(ONBOARDING_PATH, onboarding_page)
    router.add_post("/v1/transfers/{id}/reversals", api_nested(Transfer._api_reverse))
    router.add_get("/v1/transfers/{id}/reversals", api_nested(TransferReversal._api_list_nested))
    router.add_get(
        "/v1/transfers/{id}/reversals/{reversal_id}", api_nested(TransferReversal._api_retrieve_nested)
    )
    for cls in (Account, Transfer):
        collection = f"/v1/{cls.object}s"
        router.add_post(collection, server.api_create(cls, collection))
        router.add_get(collection, server.api_list_all(cls, collection))
        router.add_get(collection + "/{id}", server.api_retrieve(cls, collection))
        router.add_post(collection + "/{id}", server.api_update(cls, collection))
        router.add_delete(collection + "/{id}", server.api_delete(cls, collection))


__all__ = ["Account", "AccountLink", "Transfer", "TransferReversal", "add_routes"]
