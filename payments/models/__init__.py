from payments.models.accounts import ConnectedAccount
from payments.models.disputes import Chargeback
from payments.models.funding import Funding
from payments.models.ledger import LedgerAccount, LedgerEntry, LedgerPosting
from payments.models.operations import ReconciliationRun, WebhookEvent
from payments.models.payouts import Payout
from payments.models.refunds import CancellationRequest, Refund

__all__ = [
    "CancellationRequest",
    "Chargeback",
    "ConnectedAccount",
    "Funding",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerPosting",
    "Payout",
    "ReconciliationRun",
    "Refund",
    "WebhookEvent",
]
