from django import template

from payments import selectors
from payments.services.accounts import payout_eligibility

register = template.Library()


@register.simple_tag
def engagement_payments(engagement, milestones):
    """`{% engagement_payments engagement milestones as money %}`: the payments of the milestones shown on
    an engagement's page, in a fixed number of queries (the page has checked who may see it)."""
    return selectors.engagement_payments(engagement=engagement, milestones=list(milestones))


@register.simple_tag
def engagement_money(milestones):
    """`{% engagement_money milestones as totals %}`: the engagement's money as the ledger has it, for
    `payments/_engagement_summary.html` (the page has checked who may see it)."""
    return selectors.engagement_money(milestones=list(milestones))


@register.simple_tag
def payout_readiness(engineer):
    """`{% payout_readiness engineer as readiness %}`: whether the engineer can receive payouts now
    (`.ready`) and, if not, what is missing in their own words (`.reasons`, for the engineer only)."""
    return payout_eligibility(engineer=engineer)


@register.simple_tag(takes_context=True)
def settlement_form_state(context, milestone):
    """`{% settlement_form_state milestone as typed %}`: what staff typed in a settlement that was
    refused (values and errors by field), once, after the redirect back to the page."""
    request = context.get("request")
    if request is None:
        return {"values": {}, "errors": {}}
    typed = request.session.pop(f"settlement-{milestone.pk}", None) or {"values": {}, "errors": {}}
    typed["errors"]["form"] = typed["errors"].pop("__all__", [])  # templates cannot read "__all__"
    return typed


@register.simple_tag
def client_trust(client):
    """`{% client_trust client as trust %}`: what an engineer may know of a client before working for
    them: whether a card payment of theirs ever went through, how many engineers they hired, how long
    they have been here."""
    return selectors.client_trust(client=client)


@register.simple_tag
def clients_trust(rows):
    """`{% clients_trust requests as trusts %}`: client_trust for every row's client at once; read one
    with `trusts|trust_of:row.client_id`."""
    return selectors.clients_trust(clients=[row.client for row in rows])


@register.filter
def trust_of(trusts, client_id):
    return trusts.get(client_id)


@register.filter
def payments_of(money, milestone):
    """`money|payments_of:milestone`: that milestone's funding, payout, refunds and disputes."""
    return money.by_milestone.get(milestone.pk) if money else None


@register.filter
def bps_percent(bps) -> str:
    """1000 basis points -> "10%"; 250 -> "2.5%"."""
    return f"{int(bps) / 100:g}%"
