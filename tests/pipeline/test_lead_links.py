"""A converted lead links to the deal made from it, for whoever may see that deal, and
the lead list stays within its query budget however many rows are converted."""

import pytest
from django.urls import reverse

from pipeline.choices import LeadStatus
from pipeline.services import lead_convert
from tests.factories import DealFactory, LeadFactory

pytestmark = pytest.mark.django_db


def deal_link(deal) -> str:
    return f'href="{reverse("pipeline:deal-detail", args=[deal.pk])}"'


@pytest.mark.parametrize("persona", ["rep", "manager", "admin_user"])
def test_a_converted_lead_links_to_its_deal(client, request, rep, persona):
    lead = LeadFactory(owner=rep)
    deal = lead_convert(lead=lead, deal_name="Grown up", by=rep)
    client.force_login(request.getfixturevalue(persona))
    page = client.get(reverse("pipeline:lead-list")).content.decode()

    assert deal_link(deal) in page
    assert "Deal: Grown up" in page


def test_a_rep_is_not_led_to_a_deal_now_owned_by_someone_else(client, rep, other_rep):
    lead = LeadFactory(owner=rep)
    deal = lead_convert(lead=lead, deal_name="Handed over", by=rep)
    deal.owner = other_rep
    deal.save()
    client.force_login(rep)
    page = client.get(reverse("pipeline:lead-list")).content.decode()

    assert "Handed over" not in page and deal_link(deal) not in page
    assert lead.company.name in page


@pytest.mark.parametrize("size", [1, 30])
def test_lead_list_with_converted_leads_keeps_its_query_budget(
    client, manager, rep, size, django_assert_max_num_queries
):
    for lead in LeadFactory.create_batch(size, owner=rep, status=LeadStatus.CONVERTED):
        DealFactory(owner=rep, lead=lead, name=f"From {lead.contact_name}")
    client.force_login(manager)
    # The list's budget (tests/pipeline/test_views.py) and one query for the deals.
    with django_assert_max_num_queries(13):
        page = client.get(reverse("pipeline:lead-list")).content.decode()

    assert page.count("Deal: From ") == min(size, 25)
