"""A converted lead links to the deal made from it, for whoever may see that deal, and
the lead list stays within its query budget however many rows are converted. A lead at
the same company with the same email is asked about once ("Add anyway"), telling a rep no
more about someone else's lead than that it exists."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from pipeline.choices import LeadStatus
from pipeline.models import Lead
from pipeline.services import lead_convert, lead_delete
from pipeline.submissions import FIELD, form_token_issue
from tests.factories import CompanyFactory, DealFactory, LeadFactory

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


# --- A lead added twice ---------------------------------------------------------------------


def add_lead(client, user, **extra):
    data = {
        "company_name": "acme  corp",
        "contact_name": "Jo New",
        "contact_email": "JO@acme.example",
        FIELD: form_token_issue(user=user, kind="lead"),
        **extra,
    }
    return client.post(reverse("pipeline:lead-create"), data)


@pytest.fixture
def acme():
    return CompanyFactory(name="Acme Corp")


def test_the_same_company_and_email_is_asked_about_then_added_anyway(client, rep, acme):
    first = LeadFactory(
        owner=rep, company=acme, contact_name="Jo First", contact_email="jo@acme.example"
    )
    client.force_login(rep)
    asked = add_lead(client, rep)
    page = asked.content.decode()

    assert asked.status_code == 200 and Lead.objects.count() == 1
    assert "Possible duplicate" in page
    assert f'href="{reverse("pipeline:lead-list")}?q=jo%40acme.example"' in page
    assert "Jo First" in page
    assert 'name="add_anyway"' in page

    token = asked.context["submit_token"]
    added = add_lead(client, rep, add_anyway="1", **{FIELD: token})
    assert added.status_code == 302
    assert Lead.objects.exclude(pk=first.pk).get().contact_name == "Jo New"


def test_a_rep_learns_only_that_someone_elses_lead_exists(client, rep, other_rep, acme):
    LeadFactory(
        owner=other_rep, company=acme, contact_name="Secret Sam", contact_email="jo@acme.example"
    )
    client.force_login(rep)
    page = add_lead(client, rep).content.decode()

    assert "a lead with this email at this company already exists" in page
    assert "Secret Sam" not in page and str(other_rep) not in page
    assert "?q=" not in page
    assert Lead.objects.count() == 1


def test_a_manager_is_led_to_their_reps_lead(client, manager, rep, acme):
    LeadFactory(owner=rep, company=acme, contact_name="Jo First", contact_email="jo@acme.example")
    client.force_login(manager)
    page = add_lead(client, manager, owner=manager.pk).content.decode()

    assert "Jo First" in page and f"owned by {rep}" in page


@pytest.mark.parametrize(
    "extra",
    [
        {"contact_email": "someone.else@acme.example"},
        {"contact_email": ""},
        {"company_name": "Other Co"},
    ],
)
def test_another_email_or_company_is_added_without_a_question(client, rep, acme, extra):
    LeadFactory(owner=rep, company=acme, contact_email="jo@acme.example")
    client.force_login(rep)

    assert add_lead(client, rep, **extra).status_code == 302
    assert Lead.objects.count() == 2


def test_a_deleted_lead_is_no_duplicate(client, rep, acme):
    old = LeadFactory(owner=rep, company=acme, contact_email="jo@acme.example")
    lead_delete(lead=old, by=rep)
    client.force_login(rep)

    assert add_lead(client, rep).status_code == 302


def test_the_api_adds_a_duplicate_lead_without_a_question(rep, acme):
    LeadFactory(owner=rep, company=acme, contact_email="jo@acme.example")
    api = APIClient()
    api.force_authenticate(rep)
    response = api.post(
        reverse("lead-list"),
        {"company": acme.pk, "contact_email": "jo@acme.example"},
        format="json",
    )

    assert response.status_code == 201
    assert Lead.objects.count() == 2
