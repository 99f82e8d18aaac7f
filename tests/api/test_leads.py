"""The leads endpoint: create and edit through lead_save, status changes and conversion
through their services, filters and query budgets."""

import datetime as dt
import re

import pytest
from django.urls import reverse

from pipeline.choices import LeadStatus
from pipeline.models import Deal, Lead
from tests.api.conftest import url
from tests.factories import CompanyFactory, LeadFactory, LeadSourceFactory

pytestmark = pytest.mark.django_db


def test_a_lead_reads_as_documented(as_user, rep, rep_lead, company, source):
    body = as_user(rep).get(url("lead-detail", rep_lead.pk)).json()
    assert body == {
        "id": rep_lead.pk,
        "company": company.pk,
        "company_name": "Acme",
        "contact_name": rep_lead.contact_name,
        "contact_email": "",
        "source": source.pk,
        "owner": rep.pk,
        "team": rep.team_id,
        "status": "new",
        "disqualified_reason": "",
        "created_at": body["created_at"],
        "converted_at": None,
    }


def test_a_rep_adds_a_lead_of_their_own(as_user, rep, company, source):
    response = as_user(rep).post(
        url("lead-list"),
        {"company": company.pk, "contact_name": "Jane Doe", "source": source.pk},
        format="json",
    )
    assert response.status_code == 201, response.json()
    lead = Lead.objects.get()
    assert (lead.owner, lead.team, lead.status) == (rep, rep.team, LeadStatus.NEW)


def test_a_lead_needs_a_company(as_user, rep):
    response = as_user(rep).post(url("lead-list"), {"contact_name": "Jane"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"company": ["This field is required."]}


def test_a_manager_gives_a_lead_to_their_rep_but_not_to_another_team(
    as_user, manager, rep, outsider_rep, company
):
    client = as_user(manager)
    response = client.post(
        url("lead-list"), {"company": company.pk, "owner": rep.pk}, format="json"
    )
    assert response.status_code == 201
    assert Lead.objects.get().team == rep.team
    response = client.post(
        url("lead-list"), {"company": company.pk, "owner": outsider_rep.pk}, format="json"
    )
    assert response.json() == {"owner": ["Not one of your people."]}


def test_a_rep_edits_their_lead(as_user, rep, rep_lead):
    other = CompanyFactory(name="Globex")
    response = as_user(rep).patch(
        url("lead-detail", rep_lead.pk),
        {"company": other.pk, "contact_email": "jane@globex.example"},
        format="json",
    )
    assert response.status_code == 200
    rep_lead.refresh_from_db()
    assert (rep_lead.company, rep_lead.contact_email) == (other, "jane@globex.example")


def test_the_status_is_changed_by_its_action_only(as_user, rep, rep_lead):
    response = as_user(rep).patch(
        url("lead-detail", rep_lead.pk), {"status": "qualified"}, format="json"
    )
    assert response.json() == {"status": ["This field is read-only."]}
    response = as_user(rep).post(
        url("lead-status", rep_lead.pk), {"status": "qualified"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "qualified"


def test_disqualifying_needs_a_reason(as_user, rep, rep_lead):
    client = as_user(rep)
    response = client.post(
        url("lead-status", rep_lead.pk), {"status": "disqualified"}, format="json"
    )
    assert response.json() == {"reason": ["Give a reason to disqualify the lead."]}
    response = client.post(
        url("lead-status", rep_lead.pk),
        {"status": "disqualified", "reason": "No budget"},
        format="json",
    )
    assert response.json()["disqualified_reason"] == "No budget"


def test_converting_through_the_status_action_is_refused(as_user, rep, rep_lead):
    response = as_user(rep).post(
        url("lead-status", rep_lead.pk), {"status": "converted"}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["status"]


def test_a_converted_lead_keeps_its_status(as_user, rep):
    lead = LeadFactory(owner=rep, status=LeadStatus.CONVERTED)
    response = as_user(rep).post(url("lead-status", lead.pk), {"status": "working"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"status": ["A converted lead cannot change status."]}


def test_converting_a_lead_answers_its_new_deal(as_user, rep, rep_lead, stage):
    response = as_user(rep).post(
        url("lead-convert", rep_lead.pk),
        {"deal_name": "Acme pilot", "amount": "3000", "expected_close_date": "2026-12-01"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    deal = Deal.objects.get()
    assert response.json()["id"] == deal.pk
    assert (deal.name, deal.lead, deal.owner) == ("Acme pilot", rep_lead, rep)
    assert deal.stage == stage("Prospecting")
    assert deal.expected_close_date == dt.date(2026, 12, 1)
    rep_lead.refresh_from_db()
    assert rep_lead.status == LeadStatus.CONVERTED


def test_a_lead_converts_once(as_user, rep, rep_lead):
    client = as_user(rep)
    assert client.post(url("lead-convert", rep_lead.pk), {}, format="json").status_code == 201
    response = client.post(url("lead-convert", rep_lead.pk), {}, format="json")
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["A converted lead cannot be converted."]}
    assert Deal.objects.count() == 1


def test_a_lead_converts_into_an_open_stage_only(as_user, rep, rep_lead, stage):
    response = as_user(rep).post(
        url("lead-convert", rep_lead.pk), {"stage": stage("Won").pk}, format="json"
    )
    assert response.json() == {"stage": ["A new deal starts in an open stage."]}
    rep_lead.refresh_from_db()
    assert rep_lead.status == LeadStatus.NEW


def test_deleting_a_lead_through_the_api_hides_it_and_keeps_the_row(as_user, rep, rep_lead):
    client = as_user(rep)
    assert client.delete(url("lead-detail", rep_lead.pk)).status_code == 204
    assert client.get(url("lead-detail", rep_lead.pk)).status_code == 404
    assert Lead.all_objects.get(pk=rep_lead.pk).deleted_at is not None


@pytest.fixture
def leads(rep, other_rep):
    web, event = LeadSourceFactory(name="Web"), LeadSourceFactory(name="Event")
    acme = CompanyFactory(name="Acme")
    return {
        "jan": LeadFactory(
            owner=rep,
            source=web,
            company=acme,
            created_at=dt.datetime(2026, 1, 31, 23, 0, tzinfo=dt.UTC),
        ),
        "feb": LeadFactory(
            owner=rep,
            source=event,
            contact_name="Jane Roe",
            created_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
            status=LeadStatus.CONVERTED,
            converted_at=dt.datetime(2026, 2, 20, tzinfo=dt.UTC),
        ),
        "other": LeadFactory(owner=other_rep, source=web, status=LeadStatus.QUALIFIED),
    }


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"status": "qualified"}, {"other"}),
        ({"created_before": "2026-01-31"}, {"jan"}),
        ({"created_after": "2026-02-01", "created_before": "2026-02-01"}, {"feb"}),
        ({"converted_after": "2026-02-20", "converted_before": "2026-02-20"}, {"feb"}),
        ({"q": "roe"}, {"feb"}),
        ({"q": "acme"}, {"jan"}),
    ],
)
def test_filters(as_user, manager, leads, params, names):
    response = as_user(manager).get(url("lead-list"), params)
    assert response.status_code == 200, response.json()
    assert {lead["id"] for lead in response.json()["results"]} == {leads[n].pk for n in names}


def test_filters_by_ids(as_user, manager, rep, leads):
    client = as_user(manager)

    def found(**params):
        return {lead["id"] for lead in client.get(url("lead-list"), params).json()["results"]}

    assert found(owner=rep.pk) == {leads["jan"].pk, leads["feb"].pk}
    assert found(source=leads["feb"].source_id) == {leads["feb"].pk}
    assert found(company=leads["jan"].company_id) == {leads["jan"].pk}
    assert found(team=rep.team_id) == {lead.pk for lead in leads.values()}


def test_ordering(as_user, manager, leads):
    results = as_user(manager).get(url("lead-list"), {"ordering": "created_at"}).json()["results"]
    assert [lead["id"] for lead in results[:2]] == [leads["jan"].pk, leads["feb"].pk]


@pytest.mark.parametrize("size", [3, 30])
def test_the_list_costs_a_fixed_number_of_queries(
    as_user, manager, rep, size, django_assert_max_num_queries
):
    for _ in range(size):
        LeadFactory(owner=rep)
    client = as_user(manager)
    # managed teams (2), the tree's people (accounts.access), count, page
    with django_assert_max_num_queries(5):
        response = client.get(url("lead-list"), {"page_size": 100})
    assert len(response.json()["results"]) == size


# --- One FilterSet: the list page and the API agree -----------------------------------------


def page_ids(client, params: dict) -> list[int]:
    """The leads /leads/ shows for `params`, in its order, after checking it took them all."""
    response = client.get(reverse("pipeline:lead-list"), params)
    assert response.status_code == 200
    assert not response.context["filter"].errors
    return [int(pk) for pk in re.findall(r'<tr id="lead-(\d+)">', response.content.decode())]


def api_ids(client, params: dict) -> list[int]:
    response = client.get(url("lead-list"), params)
    assert response.status_code == 200, response.json()
    return [lead["id"] for lead in response.json()["results"]]


@pytest.fixture
def both(client, manager, rep, other_rep):
    rep.first_name, other_rep.first_name = "Ann", "Bob"
    rep.save(), other_rep.save()
    client.force_login(manager)
    return client


def test_the_page_and_the_api_show_the_same_leads_for_the_same_query(both, rep, leads):
    queries = [
        {},
        {"company": leads["jan"].company_id},
        {"company_name": "acm"},
        {"owner": rep.pk},
        {"status": "qualified"},
        {"source": leads["feb"].source_id},
        {"q": "roe"},
        {"owner": rep.pk, "sort": "-created_at"},
    ]
    for query in queries:
        assert page_ids(both, query) == api_ids(both, query), query
    assert api_ids(both, {"company_name": "acm"}) == [leads["jan"].pk]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        # Ann's (newest first on a tie), then Bob's: the Owner link used to be a form error.
        ("owner", ["feb", "jan", "other"]),
        ("-owner", ["other", "feb", "jan"]),
        ("source", ["feb", "other", "jan"]),  # Event, then Web
        ("status", ["feb", "jan", "other"]),  # by the stored value: converted, new, qualified
        ("created_at", ["jan", "feb", "other"]),
        ("-created_at", ["other", "feb", "jan"]),
    ],
)
def test_each_sort_column_orders_the_page_and_the_api_alike(both, leads, sort, expected):
    rows = [leads[name].pk for name in expected]
    assert api_ids(both, {"sort": sort}) == rows
    assert page_ids(both, {"sort": sort}) == rows


def test_every_sort_link_the_lead_list_offers_works(both, leads):
    body = both.get(reverse("pipeline:lead-list")).content.decode()
    offered = set(re.findall(r"\?sort=(-?\w+)", body))
    assert offered == {"company", "owner", "source", "status", "created_at"}
    for sort in offered:
        assert len(page_ids(both, {"sort": sort})) == 3
        assert len(api_ids(both, {"sort": f"-{sort}"})) == 3


@pytest.mark.parametrize(
    ("param", "value"),
    [("sort", "email"), ("owner", "me"), ("source", "x"), ("status", "nope"), ("company", "Acme")],
)
def test_a_bad_value_is_a_form_error_on_the_page_and_a_400_in_the_api(both, leads, param, value):
    response = both.get(url("lead-list"), {param: value})
    assert response.status_code == 400
    assert list(response.json()) == [param]
    page = both.get(reverse("pipeline:lead-list"), {param: value})
    assert list(page.context["filter"].errors) == [param]
    assert 'class="errorlist' in page.content.decode()
    assert len(re.findall(r'<tr id="lead-\d+">', page.content.decode())) == 3
