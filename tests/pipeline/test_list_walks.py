"""A manager's deal list read team by team (accounts.access.visible_parts and
pipeline.pagination.MergedWalks): the same rows in the same order as the plain query, on
every sortable column and page, including the deals counted for a team outside the tree,
and filtered by status (the stage's kind, read as the kind's stage ids)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts import access
from accounts.access import restrict, visible_parts
from accounts.choices import Role
from periods import calendar
from periods.calendar import named_period as period_range
from pipeline.choices import StageKind
from pipeline.filters import DealFilter
from pipeline.models import DEAL_SORT_INDEXES, Deal, Lead
from pipeline.pagination import MergedWalks
from pipeline.selectors import deal_list_for, deal_list_totals
from tests.factories import (
    CompanyFactory,
    DealFactory,
    LeadFactory,
    PipelineFactory,
    StageFactory,
    TeamFactory,
    UserFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db

SORTS = [
    "",
    "-amount",
    "amount",
    "name",
    "-name",
    "expected_close_date",
    "-expected_close_date",
    "closed_at",
    "-closed_at",
    "created_at",
    "-created_at",
]


@pytest.fixture
def spread(rep, other_rep, outsider_rep, region_manager):
    """Deals in both teams of the region, with ties, empty dates and closed ones; a deal of
    the rep counted for a team outside the region (the rep moved), one for no team, and a
    team outside the region with deals nobody in the region may see."""
    elsewhere = TeamFactory(name="Elsewhere")
    stranger = UserFactory(username="stranger", team=elsewhere)
    company = CompanyFactory()
    now = timezone.now()
    won = default_stage("Won")
    for number, owner in enumerate([rep, other_rep, outsider_rep] * 12):
        closed = number % 4 == 0
        DealFactory(
            owner=owner,
            company=company,
            name=f"Deal {number % 7}",
            amount=Decimal(number % 5 * 100),  # ties, broken by the id
            created_at=now - dt.timedelta(days=number + 2),
            expected_close_date=None if number % 3 == 0 else (now + dt.timedelta(days=number % 6)),
            stage=won if closed else default_stage("Proposal"),
            closed_at=now - dt.timedelta(days=1) if closed else None,
        )
    moved = DealFactory(owner=rep, company=company, name="Moved", amount=Decimal("999"))
    Deal.objects.filter(pk=moved.pk).update(team=elsewhere)
    orphan = DealFactory(owner=rep, company=company, name="No team", amount=Decimal("5"))
    Deal.objects.filter(pk=orphan.pk).update(team=None)
    DealFactory.create_batch(5, owner=stranger, company=company, amount=Decimal("100000"))
    return {"moved": moved, "orphan": orphan}


@pytest.mark.parametrize("persona", ["manager", "region_manager"])
def test_the_parts_are_exactly_what_a_manager_sees(request, spread, persona):
    user = request.getfixturevalue(persona)
    parts = visible_parts(Deal, user)
    assert parts
    seen = set(restrict(Deal.objects.all(), user).values_list("pk", flat=True))
    by_part = [set(Deal.objects.filter(part).values_list("pk", flat=True)) for part in parts]
    assert set().union(*by_part) == seen
    assert sum(len(rows) for rows in by_part) == len(seen)  # disjoint: no row twice
    assert {spread["moved"].pk, spread["orphan"].pk} <= seen


def test_admins_and_reps_have_one_walk_already(rep, admin_user):
    assert visible_parts(Deal, admin_user) is None
    assert visible_parts(Deal, rep) is None


@pytest.mark.parametrize("sort", SORTS)
def test_a_walked_page_is_the_plain_page(spread, region_manager, sort):
    rows = DealFilter({"sort": sort}, queryset=deal_list_for(user=region_manager)).qs
    parts = visible_parts(Deal, region_manager)
    walks = MergedWalks(rows, parts, walkable=set(DEAL_SORT_INDEXES), user=region_manager)
    # Where the database orders inside a UNION (PostgreSQL) the page is read by walks.
    assert walks.merges == connection.features.supports_slicing_ordering_in_compound
    total = rows.count()
    assert total == 38  # the region's 36, the moved and the orphan one
    for start in range(0, total + 10, 10):
        page = walks[start : start + 10]
        assert [d.pk for d in page] == [d.pk for d in rows[start : start + 10]], (sort, start)


def test_the_manager_list_shows_the_deal_counted_elsewhere(client, spread, region_manager):
    client.force_login(region_manager)
    response = client.get(reverse("pipeline:deal-list"), {"sort": "-amount"})
    assert response.status_code == 200
    first = response.context["page_obj"].object_list[0]
    assert first.pk == spread["moved"].pk  # 999, the largest the region may see
    assert response.context["page_obj"].paginator.count == 38
    response = client.get(reverse("pipeline:deal-list"), {"sort": "-amount", "page": 2})
    names = [deal.name for deal in response.context["page_obj"].object_list]
    assert len(names) == 13 and "No team" in names and "Moved" not in names


def test_a_filter_that_matches_nothing_is_an_empty_page(client, spread, region_manager):
    stranger = Deal.objects.filter(amount=Decimal("100000")).first().owner
    client.force_login(region_manager)
    for query in [{"owner": stranger.pk, "sort": "-amount"}, {"q": "no such deal"}]:
        response = client.get(reverse("pipeline:deal-list"), query)
        assert response.status_code == 200
        assert list(response.context["page_obj"].object_list) == []


@pytest.mark.parametrize("gaps_at_most", [50, 1])
@pytest.mark.parametrize("model", [Deal, Lead])
def test_the_rows_counted_for_any_team_outside_the_tree_are_a_part(
    monkeypatch, model, gaps_at_most
):
    """The tree's people's rows counted for another team are found by ranges of team ids
    around the tree's (accounts.access._team_gaps): a team before the tree's first id,
    one between two of its teams, one after its last, and no team at all; two teams of
    the tree next to each other leave no range between them. Past _GAPS_AT_MOST ranges,
    by one NOT IN: the same rows."""
    monkeypatch.setattr(access, "_GAPS_AT_MOST", gaps_at_most)
    before = TeamFactory(name="Before")
    root = TeamFactory(name="Root")
    between = TeamFactory(name="Between")
    child = TeamFactory(name="Child", parent=root)
    neighbour = TeamFactory(name="Neighbour", parent=root)
    after = TeamFactory(name="After")
    assert before.pk < root.pk < between.pk < child.pk < neighbour.pk < after.pk
    boss = UserFactory(username="boss_of_root", team=root, role=Role.MANAGER)
    root.manager = boss
    root.save()
    seller = UserFactory(username="seller", team=child)
    stranger = UserFactory(username="stranger", team=between)
    factory = DealFactory if model is Deal else LeadFactory
    counted = {team: factory(owner=seller) for team in [before, between, after, None]}
    for row_team, row in counted.items():
        model.objects.filter(pk=row.pk).update(team=row_team)
    inside = [factory(owner=seller), factory(owner=stranger, team=neighbour)]
    factory(owner=stranger)  # the stranger's own, for Between: not the boss's to see
    parts = visible_parts(model, boss)
    assert parts is not None
    assert parts[-1] == Q(pk__in=sorted(row.pk for row in counted.values()))
    seen = set(restrict(model.objects.all(), boss).values_list("pk", flat=True))
    by_part = [set(model.objects.filter(part).values_list("pk", flat=True)) for part in parts]
    assert set().union(*by_part) == seen == {row.pk for row in [*counted.values(), *inside]}
    assert sum(len(rows) for rows in by_part) == len(seen)


@pytest.fixture
def kinds(spread, rep, other_rep, outsider_rep):
    """Lost deals beside `spread`'s open and won ones, and a second pipeline whose open,
    won and lost stages sort apart from the default pipeline's ids."""
    second = PipelineFactory(name="Partners")
    stages = [
        default_stage("Lost"),
        StageFactory(pipeline=second, name="Talking", order=1, kind=StageKind.OPEN),
        StageFactory(pipeline=second, name="Signed", order=2, kind=StageKind.WON),
        StageFactory(pipeline=second, name="Dropped", order=3, kind=StageKind.LOST),
    ]
    now = timezone.now()
    for number, owner in enumerate([rep, other_rep, outsider_rep] * 8):
        stage = stages[number % 4]
        DealFactory(
            owner=owner,
            name=f"Kind {number % 5}",
            amount=Decimal(number % 6 * 100),
            created_at=now - dt.timedelta(days=number + 1),
            expected_close_date=None if number % 3 else now + dt.timedelta(days=number % 4),
            stage=stage,
            closed_at=now - dt.timedelta(days=number % 3) if stage.is_closed else None,
        )
    return stages


@pytest.mark.parametrize("status", [StageKind.OPEN, StageKind.WON, StageKind.LOST])
@pytest.mark.parametrize("persona", ["rep", "manager", "region_manager", "admin_user"])
def test_the_status_filter_is_the_stage_kind_in_every_pipeline(request, kinds, persona, status):
    user = request.getfixturevalue(persona)
    rows = DealFilter({"status": status}, queryset=deal_list_for(user=user)).qs
    # The kind through the join, as the filter read it before: the same rows and totals.
    joined = deal_list_for(user=user).filter(stage__kind=status)
    assert list(rows) == list(joined)
    assert rows.filter(stage__pipeline__name="Partners").exists()
    assert deal_list_totals(rows, cap=1000) == deal_list_totals(joined, cap=1000)


def test_the_status_filter_reads_the_deals_own_stage_column(kinds):
    # No join on the stage: PostgreSQL then estimates the kind by the deal's stage_id
    # statistics (lost: two thirds of the deals, not one stage in six), and a manager's
    # lost deals by amount are a walk of the team's amount index.
    sql = str(DealFilter({"status": "lost"}, queryset=Deal.objects.all()).qs.query)
    assert "JOIN" not in sql and '"stage_id" IN' in sql


@pytest.mark.parametrize("period", ["this_month", "last_month", "this_quarter", "next_quarter"])
@pytest.mark.parametrize("persona", ["rep", "region_manager", "admin_user"])
def test_the_period_filter_reads_the_deals_own_columns(request, kinds, persona, period):
    user = request.getfixturevalue(persona)
    rows = DealFilter({"period": period}, queryset=deal_list_for(user=user)).qs
    assert "JOIN" not in str(DealFilter({"period": period}, queryset=Deal.objects.all()).qs.query)
    # The same deals as by the stage's kind: open ones expected to close in the period, and
    # won or lost ones closed in it (in both pipelines).
    start, end = period_range(period, today=timezone.localdate())
    first, after = calendar.day_bounds(start, end)
    by_kind = deal_list_for(user=user).filter(
        Q(stage__kind=StageKind.OPEN, expected_close_date__range=(start, end))
        | (~Q(stage__kind=StageKind.OPEN) & Q(closed_at__gte=first, closed_at__lt=after))
    )
    assert sorted(d.pk for d in rows) == sorted(d.pk for d in by_kind)
    if period == "this_quarter":
        assert rows.exists() and rows.filter(closed_at__isnull=True).exists()


@pytest.mark.parametrize("status", [StageKind.OPEN, StageKind.WON, StageKind.LOST])
@pytest.mark.parametrize("sort", ["-amount", "amount", "-closed_at", "name", ""])
@pytest.mark.parametrize("persona", ["manager", "region_manager"])
def test_a_walked_page_of_one_status_is_the_plain_page(request, kinds, persona, sort, status):
    user = request.getfixturevalue(persona)
    rows = DealFilter({"sort": sort, "status": status}, queryset=deal_list_for(user=user)).qs
    joined = DealFilter({"sort": sort}, queryset=deal_list_for(user=user)).qs
    joined = joined.filter(stage__kind=status)
    walks = MergedWalks(rows, visible_parts(Deal, user), walkable=set(DEAL_SORT_INDEXES), user=user)
    assert walks.merges == connection.features.supports_slicing_ordering_in_compound
    total = joined.count()
    assert rows.count() == total > 5
    for start in range(0, total + 5, 5):
        page = walks[start : start + 5]
        assert [d.pk for d in page] == [d.pk for d in joined[start : start + 5]], start


def test_the_deal_list_page_of_lost_deals_is_the_plain_page(client, kinds, region_manager):
    client.force_login(region_manager)
    joined = DealFilter({"sort": "-amount"}, queryset=deal_list_for(user=region_manager)).qs
    joined = joined.filter(stage__kind=StageKind.LOST)
    response = client.get(reverse("pipeline:deal-list"), {"status": "lost", "sort": "-amount"})
    assert response.status_code == 200
    page = response.context["page_obj"]
    assert page.paginator.count == joined.count()
    assert [deal.pk for deal in page.object_list] == [deal.pk for deal in joined[:25]]
    assert any(deal.stage.name == "Dropped" for deal in page.object_list)
