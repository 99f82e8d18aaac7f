"""Lists sorted by another table's column read group by group (pipeline.pagination.
JoinedWalks): the same rows in the same order as the plain query on every page, for every
persona, with the cases that could tell them apart: companies, owners and stages whose keys
tie or sort apart from their ids, two stages sharing an order (two pipelines), deals with no
company and leads with no source (last in both directions), a manager's deals counted for a
team outside the tree, and filters. The walk runs on PostgreSQL; SQLite reads the plain
query (and these tests check the fallback there)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.access import visible_parts, within_parts
from pipeline import pagination
from pipeline.choices import LeadStatus, StageKind
from pipeline.filters import DealFilter, LeadFilter
from pipeline.models import Deal, Lead
from pipeline.pagination import JoinedWalks, joined_sort
from pipeline.selectors import deal_list_for, lead_list_for
from tests.factories import (
    CompanyFactory,
    DealFactory,
    LeadFactory,
    LeadSourceFactory,
    PipelineFactory,
    StageFactory,
    TeamFactory,
    UserFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db

DEAL_SORTS = ["company", "-company", "owner", "-owner", "stage", "-stage"]
LEAD_SORTS = ["owner", "-owner", "source", "-source", "company", "-company"]
PERSONAS = ["rep", "manager", "region_manager", "admin_user"]
ON_POSTGRESQL = connection.vendor == "postgresql"


@pytest.fixture(autouse=True)
def _walk_short_lists(monkeypatch):
    """The fixtures' lists are short; walk them anyway."""
    monkeypatch.setattr(pagination, "JOINED_WALK_MIN_ROWS", 0)


@pytest.fixture
def spread(rep, other_rep, outsider_rep, manager, region_manager):
    """Deals and leads over companies, owners and stages whose order is not their ids'."""
    elsewhere = TeamFactory(name="Elsewhere")
    stranger = UserFactory(username="stranger", team=elsewhere, first_name="Aaron")
    # Same first and last name as the rep: the username breaks the tie.
    UserFactory(username="rep2", team=rep.team, first_name=rep.first_name, last_name="Tester")
    companies = [CompanyFactory(name=name) for name in ["Zeta", "alpha", "Beta", "Ålborg", "b"]]
    other = PipelineFactory(name="Second")
    # Shares its order with a default stage: a tie between two stages, merged by id.
    twin = StageFactory(pipeline=other, name="Twin", order=2, kind=StageKind.OPEN)
    stages = [default_stage("Proposal"), default_stage("Prospecting"), twin, default_stage("Won")]
    sources = [LeadSourceFactory(name=name) for name in ["web", "Event", "referral"]]
    owners = [rep, other_rep, outsider_rep, manager, stranger]
    now = timezone.now()
    for number in range(60):
        owner = owners[number % 5]
        stage = stages[number % 4]
        DealFactory(
            owner=owner,
            company=None if number % 11 == 0 else companies[number % 5 if number % 3 else 2],
            stage=stage,
            amount=Decimal(number % 7 * 100),
            created_at=now - dt.timedelta(days=number + 2),
            closed_at=now - dt.timedelta(days=1) if stage.kind != StageKind.OPEN else None,
        )
        LeadFactory(
            owner=owner,
            company=companies[(number * 7) % 5],
            source=None if number % 9 == 0 else sources[number % 3],
            status=LeadStatus.NEW,
            created_at=now - dt.timedelta(days=number + 2),
        )
    moved = DealFactory(owner=rep, company=companies[0], name="Moved")
    Deal.objects.filter(pk=moved.pk).update(team=elsewhere)
    orphan = DealFactory(owner=rep, company=None, name="No team")
    Deal.objects.filter(pk=orphan.pk).update(team=None)
    moved_lead = LeadFactory(owner=rep, company=companies[1], source=None)
    Lead.objects.filter(pk=moved_lead.pk).update(team=elsewhere)


def _pages(walks, rows, *, size: int = 7):
    total = rows.count()
    assert total > size
    for start in range(0, total + size, size):
        page = walks[start : start + size]
        assert [row.pk for row in page] == [row.pk for row in rows[start : start + size]], start


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("sort", DEAL_SORTS)
def test_a_deal_page_sorted_by_a_joined_column_is_the_plain_page(request, spread, persona, sort):
    user = request.getfixturevalue(persona)
    rows = DealFilter({"sort": sort}, queryset=deal_list_for(user=user)).qs
    walks = JoinedWalks(rows, visible_parts(Deal, user), user=user)
    walks.size = rows.count()
    assert walks.walks == ON_POSTGRESQL
    _pages(walks, rows)


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("sort", LEAD_SORTS)
def test_a_lead_page_sorted_by_a_joined_column_is_the_plain_page(request, spread, persona, sort):
    user = request.getfixturevalue(persona)
    rows = LeadFilter({"sort": sort}, queryset=lead_list_for(user=user)).qs
    walks = JoinedWalks(rows, lambda: visible_parts(Lead, user), user=user)
    walks.size = rows.count()
    assert walks.walks == ON_POSTGRESQL
    _pages(walks, rows)


@pytest.mark.parametrize(
    "query",
    [
        {"sort": "-company", "status": "open"},
        {"sort": "-stage", "status": "open"},  # the second pipeline's twin stage too
        {"sort": "owner", "status": "won"},
        {"sort": "stage", "amount_min": "300"},
        {"sort": "-owner", "company_name": "a"},
        {"sort": "company", "q": "deal"},
    ],
)
def test_a_filtered_deal_page_is_the_plain_page(spread, region_manager, query):
    rows = DealFilter(query, queryset=deal_list_for(user=region_manager)).qs
    walks = JoinedWalks(rows, visible_parts(Deal, region_manager), user=region_manager)
    walks.size = rows.count()
    assert walks.walks == ON_POSTGRESQL
    _pages(walks, rows, size=3)


@pytest.mark.parametrize("persona", ["manager", "region_manager"])
@pytest.mark.parametrize("model", [Deal, Lead])
def test_a_part_without_the_rule_beside_it_is_the_same_rows(request, spread, persona, model):
    user = request.getfixturevalue(persona)
    rows = model.objects.visible_to(user).filter(owner__username__in=["rep", "stranger"])
    base = within_parts(rows, user)
    assert " OR " in str(rows.query) and " OR " not in str(base.query)  # the rule is gone
    for part in visible_parts(model, user):
        assert set(base.filter(part)) == set(rows.filter(part))


def test_other_sorts_are_not_joined_walks(spread, admin_user):
    for sort in ["", "amount", "-name", "id", "-closed_at"]:
        rows = DealFilter({"sort": sort}, queryset=deal_list_for(user=admin_user)).qs
        assert joined_sort(rows) is None, sort
    rows = DealFilter({"sort": "stage,-amount"}, queryset=deal_list_for(user=admin_user)).qs
    assert joined_sort(rows) is None  # a second column after the joined one


def test_a_short_list_is_read_as_it_is(spread, admin_user, monkeypatch):
    monkeypatch.setattr(pagination, "JOINED_WALK_MIN_ROWS", 1000)
    rows = DealFilter({"sort": "stage"}, queryset=deal_list_for(user=admin_user)).qs
    walks = JoinedWalks(rows, None)
    walks.size = rows.count()
    assert not walks.walks


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("name", "sort"), [("deal", "-company"), ("lead", "source")])
def test_the_list_pages_show_the_plain_rows(client, request, spread, persona, name, sort):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    plain = DealFilter if name == "deal" else LeadFilter
    selector = deal_list_for if name == "deal" else lead_list_for
    rows = plain({"sort": sort}, queryset=selector(user=user)).qs
    for page in [1, 2, 3]:
        response = client.get(reverse(f"pipeline:{name}-list"), {"sort": sort, "page": page})
        assert response.status_code == 200
        shown = [row.pk for row in response.context["page_obj"].object_list]
        start = (response.context["page_obj"].number - 1) * 25
        assert shown == [row.pk for row in rows[start : start + 25]], page


@pytest.mark.skipif(not ON_POSTGRESQL, reason="the walk is PostgreSQL's")
def test_a_walked_page_costs_a_fixed_number_of_queries(spread, region_manager):
    rows = DealFilter({"sort": "-company"}, queryset=deal_list_for(user=region_manager)).qs
    walks = JoinedWalks(rows, visible_parts(Deal, region_manager), user=region_manager)
    walks.size = total = rows.count()
    keyed = rows.exclude(company__isnull=True).count()
    # The walk and the rows by id; a page reaching the deals with no company adds their
    # walk (one UNION of the parts, then by id); one past the last company first counts
    # the rows before it instead of reading them.
    counts = []
    for start, stop in [(0, 5), (keyed - 2, keyed + 3), (total - 2, total)]:
        with CaptureQueriesContext(connection) as captured:
            walks[start:stop]
        counts.append(len(captured))
    assert counts == [2, 4, 4]
