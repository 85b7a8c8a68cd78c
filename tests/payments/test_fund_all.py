"""Funding every remaining milestone at once: one card, one PaymentIntent per milestone, each funded by
its own webhook exactly as when funded alone; opening the page creates nothing."""

import json
import re

import pytest
import stripe
from django.urls import reverse

from marketplace.models import Milestone
from marketplace.services import engagements as engagement_services
from payments.models import Funding
from tests.factories import ClientFactory, EngineerFactory, StaffFactory, engagement

pytestmark = pytest.mark.django_db


def _payments(html: str) -> list[dict]:
    found = re.search(r'<script id="fund-all-payments" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(found[1]) if found else []


def test_the_client_funds_every_remaining_milestone_with_one_card(client, webhooks):
    eng = engagement(amounts=(100_000, 200_000, 300_000))
    first, second, third = eng.milestones.order_by("position")
    engagement_services.milestone_cancel(actor=eng.client, milestone_id=first.pk)
    url = reverse("payments:fund-all", args=[eng.pk])
    client.force_login(eng.client)

    detail = client.get(reverse("engagement-detail", args=[eng.pk])).content.decode()
    assert f'href="{url}">Fund all remaining (5,000.00 USD)' in detail
    page = client.get(url).content.decode()
    assert "Continue to card payment" in page and "5,000.00 USD" in page
    assert not Funding.objects.exists() and stripe.PaymentIntent.list().data == []  # GET starts nothing

    assert client.post(url).status_code == 302
    fundings = {f.milestone_id: f for f in Funding.objects.all()}
    assert set(fundings) == {second.pk, third.pk}
    assert [fundings[m.pk].amount for m in (second, third)] == [200_000, 300_000]
    page = client.get(url).content.decode()
    payments = _payments(page)
    assert [p["milestone"] for p in payments] == [second.pk, third.pk]
    assert all(p["secret"].startswith(fundings[p["milestone"]].payment_intent_id) for p in payments)
    assert "Pay 5,000.00 USD (2 payments)" in page

    assert client.post(url).status_code == 302  # again: the same payments, none added
    assert Funding.objects.count() == 2 and len(stripe.PaymentIntent.list().data) == 2

    stripe.PaymentIntent.confirm(fundings[second.pk].payment_intent_id, payment_method="pm_card_visa")
    webhooks.deliver("payment_intent.succeeded", fundings[second.pk].payment_intent_id)
    page = client.get(url).content.decode()
    assert [p["milestone"] for p in _payments(page)] == [third.pk]  # one left to pay
    assert "Pay 3,000.00 USD (1 payment)" in page

    stripe.PaymentIntent.confirm(fundings[third.pk].payment_intent_id, payment_method="pm_card_visa")
    webhooks.deliver("payment_intent.succeeded", fundings[third.pk].payment_intent_id)
    assert {m.state for m in Milestone.objects.filter(pk__in=[second.pk, third.pk])} == {"funded"}
    response = client.get(url)
    assert response.status_code == 302 and response["Location"] == reverse("engagement-detail", args=[eng.pk])


def test_only_the_client_funds_up_front(client, stripe_app):
    eng = engagement(amounts=(100_000, 200_000))
    url = reverse("payments:fund-all", args=[eng.pk])
    for user, status in [
        (eng.engineer, 403),
        (StaffFactory(), 403),
        (ClientFactory(), 404),
        (EngineerFactory(), 404),
    ]:
        client.force_login(user)
        assert client.get(url).status_code == status
        assert client.post(url).status_code == status
    assert not Funding.objects.exists()


def test_the_api_starts_every_remaining_payment_once(stripe_app):
    from rest_framework.test import APIClient

    eng = engagement(amounts=(100_000, 200_000))
    api = APIClient()
    api.force_authenticate(eng.client)
    url = f"/api/v1/payments/engagements/{eng.pk}/funding/checkout/"
    first = api.post(url)
    assert first.status_code == 200
    body = first.json()
    assert [c["amount"] for c in body] == [100_000, 200_000] and all(c["client_secret"] for c in body)
    again = api.post(url).json()
    assert [c["payment_intent"] for c in again] == [c["payment_intent"] for c in body]
    assert len(stripe.PaymentIntent.list().data) == 2
    for milestone in eng.milestones.all():
        engagement_services.milestone_cancel(actor=eng.client, milestone_id=milestone.pk)
    done = engagement(amounts=(100_000,), client=eng.client)
    engagement_services.milestone_cancel(actor=eng.client, milestone_id=done.milestones.get().pk)
    refused = api.post(f"/api/v1/payments/engagements/{done.pk}/funding/checkout/")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "nothing_to_fund")
