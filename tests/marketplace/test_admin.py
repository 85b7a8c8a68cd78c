"""Staff in the admin cannot change money or the parties of a deal: the services are their only writers."""

import pytest
from django.test import Client

from marketplace.models import Engagement, Milestone
from tests.factories import ClientFactory, StaffFactory, engagement

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    staff = StaffFactory(is_superuser=True)
    browser = Client()
    browser.force_login(staff)
    return browser


def test_a_milestones_amount_and_engagement_are_read_only_but_its_title_can_be_corrected(admin_client):
    milestone = engagement(amounts=(100_000,)).milestones.get()
    other = engagement(amounts=(5_000,))
    page = admin_client.get(f"/admin/marketplace/milestone/{milestone.pk}/change/")
    assert page.status_code == 200
    assert b'name="amount"' not in page.content and b'name="engagement"' not in page.content
    response = admin_client.post(
        f"/admin/marketplace/milestone/{milestone.pk}/change/",
        {
            "title": "Corrected title",
            "amount": 1,
            "currency": "eur",
            "engagement": other.pk,
            "position": 9,
            "due_date": milestone.due_date.isoformat(),
            "revision_count": 0,
        },
    )
    assert response.status_code == 302, response.content[:2000]
    milestone.refresh_from_db()
    assert milestone.title == "Corrected title"
    assert (milestone.amount, milestone.currency, milestone.engagement_id, milestone.position) == (
        100_000,
        "usd",
        milestone.engagement_id,
        1,
    )
    assert milestone.engagement_id != other.pk


def test_an_engagements_parties_and_total_are_read_only(admin_client):
    deal = engagement(amounts=(100_000, 50_000))
    stranger = ClientFactory()
    page = admin_client.get(f"/admin/marketplace/engagement/{deal.pk}/change/")
    assert page.status_code == 200
    for field in (b'name="client"', b'name="engineer"', b'name="total"', b'name="milestones-0-amount"'):
        assert field not in page.content, field
    admin_client.post(
        f"/admin/marketplace/engagement/{deal.pk}/change/",
        {"title": "Renamed", "client": stranger.pk, "total": 1, "currency": "eur"},
    )
    deal.refresh_from_db()
    assert (deal.client_id, deal.total, deal.currency) != (stranger.pk, 1, "eur")
    assert deal.total == 150_000


@pytest.mark.parametrize("model", ["engagement", "milestone", "proposal"])
def test_money_objects_cannot_be_added_or_deleted_in_the_admin(admin_client, model):
    deal = engagement(amounts=(100_000,))
    obj = {"engagement": deal, "milestone": deal.milestones.get(), "proposal": deal.proposal}[model]
    assert admin_client.get(f"/admin/marketplace/{model}/add/").status_code == 403
    assert (
        admin_client.post(f"/admin/marketplace/{model}/{obj.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert (
        Engagement.objects.filter(pk=deal.pk).exists() and Milestone.objects.filter(engagement=deal).exists()
    )
