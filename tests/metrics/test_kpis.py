"""Every KPI, worked out by hand from the organisation in tests/metrics/conftest.py, for
the first quarter of 2026 (Jan 1..Mar 31) as of Apr 15. The pipeline is the one open at
the end of Mar 31 (T = Apr 1 00:00)."""

import datetime as dt
from decimal import Decimal

import pytest

from metrics.kpis import KPI_KEYS, kpis_by_team, kpis_by_user, kpis_for_scope, kpis_of_scopes
from pipeline.choices import LeadStatus
from pipeline.models import Lead
from tests.factories import CompanyFactory, DealFactory, TeamFactory, UserFactory, default_stage
from tests.metrics.conftest import AS_OF, Q1, at

pytestmark = pytest.mark.django_db


def q1(kind, scope_id=None, **kwargs):
    return kpis_for_scope(
        kind=kind, scope_id=scope_id, start=Q1[0], end=Q1[1], as_of=AS_OF, **kwargs
    ).as_dict()


def test_organisation(org):
    assert q1("org") == {
        # L1 L2 L3 L4 L5 L6 L7 L9 (L8 came in December)
        "leads_created": 8,
        # D1 D2 D3 D4 D5 D7 D9 D10 D11 D13 (D6, D8 in 2025, D12 in April)
        "opportunities_created": 10,
        # won in Q1: D1 D3 D5 D8 (D7 closed Apr 10); lost: D2 D9 D13
        "deals_won": 4,
        "deals_lost": 3,
        "revenue": Decimal("39000.00"),  # 10,000 + 20,000 + 6,000 + 3,000
        "win_rate": 4 / 7,
        # of the 8 leads, L1 L5 L7 have a won deal by Apr 15: 3/8
        "close_rate": 0.375,
        # of the 10 deals created, D1 D3 D5 D7 are won by Apr 15
        "opportunity_close_rate": 0.4,
        "avg_deal_size": Decimal("9750.00"),  # 39,000 / 4
        # first contact -> close: D1 from L1 Jan 5 -> Feb 9 12:00 = 35.5; D3 30.25;
        # D5 from L5 Jan 15 -> Mar 1 = 45; D8 from L8 Dec 20 -> Jan 25 = 36
        "sales_cycle_days_mean": 36.6875,  # 146.75 / 4
        "sales_cycle_days_median": 35.75,  # (35.5 + 36) / 2
        # open at Apr 1: D4 8,000 (Proposal 50%), D7 12,000 (then in Negotiation 75%,
        # won later), D10 2,000 (Prospecting 10%), D11 4,000 (Negotiation 75%)
        "open_deals": 4,
        "pipeline_value": Decimal("26000.00"),
        "weighted_pipeline": Decimal("16200.00"),  # 4,000 + 9,000 + 200 + 3,000
        # 4 open x 4/7 x 9,750 / 36.6875 days = 607.447 per day
        "sales_velocity": Decimal("607.45"),
        # customers with a win by Mar 31: C1 30,000; C4 10,000 (D6 in 2025 counts); C6 3,000
        "clv": Decimal("14333.33"),  # 43,000 / 3
        # the organisation's target is its top team's: R 50,000
        "target": Decimal("50000.00"),
        "attainment": 0.78,  # 39,000 / 50,000
    }


def test_team_a(org):
    assert q1("team", org.team_a.pk) == {
        "leads_created": 6,  # L1 L2 L3 L4 L5 L6
        "opportunities_created": 7,  # D1 D2 D3 D4 D5 D11 D13
        "deals_won": 3,  # D1 D3 D5
        "deals_lost": 2,  # D2 D13 (a lost deal of value 0 still counts)
        "revenue": Decimal("36000.00"),
        "win_rate": 0.6,
        "close_rate": 2 / 6,  # L1 L5
        "opportunity_close_rate": 3 / 7,
        "avg_deal_size": Decimal("12000.00"),
        "sales_cycle_days_mean": 36.916667,  # (35.5 + 30.25 + 45) / 3, to 6 places
        "sales_cycle_days_median": 35.5,
        "open_deals": 2,  # D4 D11
        "pipeline_value": Decimal("12000.00"),
        "weighted_pipeline": Decimal("7000.00"),  # 4,000 + 3,000
        "sales_velocity": Decimal("390.07"),  # 2 x 0.6 x 12,000 / 36.9167
        "clv": Decimal("20000.00"),  # C1 30,000 and C4 10,000
        "target": Decimal("40000.00"),
        "attainment": 0.9,
    }


def test_team_b_without_a_target(org):
    kpis = q1("team", org.team_b.pk)
    assert kpis["leads_created"] == 2  # L7 L9
    assert kpis["close_rate"] == 0.5  # L7 won in April, before as_of
    assert (kpis["deals_won"], kpis["deals_lost"], kpis["revenue"]) == (1, 1, Decimal("3000.00"))
    assert kpis["sales_cycle_days_median"] == 36.0
    assert kpis["opportunity_close_rate"] == 1 / 3  # D7 of D7 D9 D10
    assert (kpis["open_deals"], kpis["pipeline_value"], kpis["weighted_pipeline"]) == (
        2,
        Decimal("14000.00"),
        Decimal("9200.00"),  # D7 12,000 at 75% + D10 2,000 at 10%
    )
    assert kpis["sales_velocity"] == Decimal("83.33")  # 2 x 0.5 x 3,000 / 36
    assert kpis["clv"] == Decimal("3000.00")
    assert (kpis["target"], kpis["attainment"]) == (None, None)


def test_region_rolls_up_its_sub_teams(org):
    # Everyone sits below R, so R's figures are the organisation's, and the median is the
    # median of all four cycles (35.75), not a mean of the teams' medians.
    assert q1("team", org.region.pk) == q1("org")


def test_rep_a1_quarter_target_wins_over_its_months(org):
    kpis = q1("user", org.a1.pk)
    assert (kpis["deals_won"], kpis["deals_lost"], kpis["revenue"]) == (
        2,
        1,
        Decimal("30000.00"),
    )
    assert kpis["win_rate"] == 2 / 3
    assert kpis["close_rate"] == 0.25  # L1 of L1..L4
    assert kpis["sales_cycle_days_mean"] == kpis["sales_cycle_days_median"] == 32.875
    assert kpis["sales_velocity"] == Decimal("304.18")  # 1 x 2/3 x 15,000 / 32.875
    assert kpis["clv"] == Decimal("30000.00")
    # a1 has a quarter target of 25,000 and months of 10,000: the quarter's own target counts
    assert (kpis["target"], kpis["attainment"]) == (Decimal("25000.00"), 1.2)


def test_a_month_uses_the_month_target(org):
    january = kpis_for_scope(
        kind="user",
        scope_id=org.a1.pk,
        start=dt.date(2026, 1, 1),
        end=dt.date(2026, 1, 31),
        as_of=AS_OF,
    )
    assert (january.target, january.revenue, january.attainment) == (
        Decimal("10000.00"),
        Decimal("0.00"),
        0.0,
    )


def test_a_quarter_without_its_own_target_sums_its_months(org):
    # b1 has January 5,000 and February 6,000; no quarter target, no March target
    assert q1("user", org.b1.pk)["target"] == Decimal("11000.00")


def test_month_to_date_keeps_the_whole_month_target(org):
    # Feb 1..Feb 14 as the month to date (period=month, as the snapshots and the API's
    # period= ask): D1 was won on Feb 9, so a1 has 10,000 of February's whole 10,000
    kpis = kpis_for_scope(
        kind="user",
        scope_id=org.a1.pk,
        start=dt.date(2026, 2, 1),
        end=dt.date(2026, 2, 14),
        as_of=AS_OF,
        period="month",
    )
    assert (kpis.revenue, kpis.target, kpis.attainment) == (
        Decimal("10000.00"),
        Decimal("10000.00"),
        1.0,
    )


def test_a_free_range_inside_a_month_takes_its_share_of_the_month_target(org):
    # The same days as a free range: 14 of February's 28 days of 10,000 = 5,000
    kpis = kpis_for_scope(
        kind="user",
        scope_id=org.a1.pk,
        start=dt.date(2026, 2, 1),
        end=dt.date(2026, 2, 14),
        as_of=AS_OF,
    )
    assert (kpis.target, kpis.attainment, kpis.target_basis) == (
        Decimal("5000.00"),
        2.0,
        "the month's target, prorated by days",
    )


def test_as_of_hides_what_happened_later(org):
    # Seen on Mar 31 evening, D7 (won Apr 10) was not won yet: L7 does not count as won.
    kpis = kpis_for_scope(
        kind="team", scope_id=org.team_b.pk, start=Q1[0], end=Q1[1], as_of=at(3, 31, 23)
    )
    assert kpis.close_rate == 0.0
    # and the pipeline is taken at as_of, when D10 (created Mar 15) was already open
    assert kpis.open_deals == 2


def test_a_deal_from_a_lead_counts_its_cycle_from_the_lead(org):
    # D1 alone: lead L1 Jan 5 00:00, deal Jan 10, won Feb 9 12:00 -> 35.5 days, not 30.5
    kpis = kpis_for_scope(
        kind="user",
        scope_id=org.a1.pk,
        start=dt.date(2026, 2, 9),
        end=dt.date(2026, 2, 9),
        as_of=AS_OF,
    )
    assert kpis.sales_cycle_days_mean == 35.5


def test_period_boundaries_are_inclusive_whole_days(org):
    # D5 won Mar 1 00:00 counts for Mar 1 only; D3 won Mar 17 06:00 counts for Mar 17.
    def won_on(day):
        return kpis_for_scope(kind="org", scope_id=None, start=day, end=day, as_of=AS_OF).deals_won

    assert [won_on(dt.date(2026, 2, 28)), won_on(dt.date(2026, 3, 1))] == [0, 1]
    assert [won_on(dt.date(2026, 3, 16)), won_on(dt.date(2026, 3, 17))] == [0, 1]


def test_hundred_leads_ten_won_is_a_ten_percent_close_rate(rep):
    created = at(5, 4)
    company = CompanyFactory()
    leads = Lead.objects.bulk_create(
        [Lead(company=company, owner=rep, team=rep.team, created_at=created) for _ in range(100)]
    )
    won = default_stage("Won")
    for lead in leads[:10]:
        Lead.objects.filter(pk=lead.pk).update(
            status=LeadStatus.CONVERTED, converted_at=created + dt.timedelta(days=1)
        )
        DealFactory(
            owner=rep,
            lead=lead,
            stage=won,
            created_at=created + dt.timedelta(days=1),
            closed_at=created + dt.timedelta(days=20),
        )
    # Five more deals from other leads, lost: they do not make the rate move.
    for lead in leads[10:15]:
        DealFactory(
            owner=rep,
            lead=lead,
            stage=default_stage("Lost"),
            created_at=created,
            closed_at=created + dt.timedelta(days=5),
        )
    kpis = kpis_for_scope(
        kind="user",
        scope_id=rep.pk,
        start=dt.date(2026, 5, 1),
        end=dt.date(2026, 5, 31),
        as_of=at(7, 1),
    )
    assert kpis.leads_created == 100
    assert kpis.close_rate == 0.10
    assert kpis.win_rate == 10 / 15


def test_nothing_to_count_gives_nulls_not_zeros_or_errors(rep):
    kpis = kpis_for_scope(
        kind="user", scope_id=rep.pk, start=Q1[0], end=Q1[1], as_of=AS_OF
    ).as_dict()
    assert kpis == {
        "leads_created": 0,
        "opportunities_created": 0,
        "deals_won": 0,
        "deals_lost": 0,
        "revenue": Decimal("0.00"),
        "win_rate": None,
        "close_rate": None,
        "opportunity_close_rate": None,
        "avg_deal_size": None,
        "sales_cycle_days_mean": None,
        "sales_cycle_days_median": None,
        "open_deals": 0,
        "pipeline_value": Decimal("0.00"),
        "weighted_pipeline": Decimal("0.00"),
        "sales_velocity": None,
        "clv": None,
        "target": None,
        "attainment": None,
    }


def test_grouped_forms_equal_one_scope_at_a_time(org, django_assert_max_num_queries):
    user_ids = [org.a1.pk, org.a2.pk, org.b1.pk, UserFactory(username="idle").pk]
    with django_assert_max_num_queries(7):
        by_user = kpis_by_user(user_ids=user_ids, start=Q1[0], end=Q1[1], as_of=AS_OF)
    for user_id in user_ids:
        assert by_user[user_id] == kpis_for_scope(
            kind="user", scope_id=user_id, start=Q1[0], end=Q1[1], as_of=AS_OF
        )
    # Teams: the tree, 6 queries per tree level (2 levels), targets, the list of teams
    with django_assert_max_num_queries(15):
        by_team = kpis_by_team(start=Q1[0], end=Q1[1], as_of=AS_OF)
    for team in (org.region, org.team_a, org.team_b):
        assert by_team[team.pk] == kpis_for_scope(
            kind="team", scope_id=team.pk, start=Q1[0], end=Q1[1], as_of=AS_OF
        )


def test_scopes_computed_together_equal_each_alone(org, django_assert_max_num_queries):
    user_ids = [org.a1.pk, org.b1.pk]
    window = {"start": Q1[0], "end": Q1[1], "as_of": AS_OF, "period": "quarter"}
    # The queries of one grouped form (kpis_by_team's 15 above), not of three.
    with django_assert_max_num_queries(16):
        together = kpis_of_scopes(
            **window, org=True, team_root_ids=[org.team_a.pk], user_ids=user_ids
        )
    assert together.org == kpis_for_scope(kind="org", scope_id=None, **window)
    assert together.org.revenue == Decimal("39000.00")  # test_organisation's figure
    # Team A's tree only (it has no sub-teams): not the region, not team B.
    assert set(together.teams) == {org.team_a.pk}
    assert together.teams[org.team_a.pk] == kpis_for_scope(
        kind="team", scope_id=org.team_a.pk, **window
    )
    assert together.users == kpis_by_user(user_ids=user_ids, **window)
    alone = kpis_of_scopes(**window, user_ids=[org.a2.pk])
    assert (alone.org, alone.teams) == (None, {})
    assert alone.users[org.a2.pk] == kpis_for_scope(kind="user", scope_id=org.a2.pk, **window)


def test_every_documented_key_is_computed():
    assert KPI_KEYS == [
        "leads_created",
        "opportunities_created",
        "deals_won",
        "deals_lost",
        "revenue",
        "win_rate",
        "close_rate",
        "opportunity_close_rate",
        "avg_deal_size",
        "sales_cycle_days_mean",
        "sales_cycle_days_median",
        "open_deals",
        "pipeline_value",
        "weighted_pipeline",
        "sales_velocity",
        "clv",
        "target",
        "attainment",
    ]


def test_a_team_tree_reads_only_its_own_teams(org, django_assert_max_num_queries):
    # A second region with a deal won in Q1: team A's tree must neither list it nor need it.
    other = TeamFactory(name="Other region")
    seller = UserFactory(username="o1", team=other)
    DealFactory(
        owner=seller,
        team=other,
        stage=default_stage("Won"),
        amount=Decimal("777.00"),
        created_at=at(1, 2),
        closed_at=at(1, 3),
    )
    everyone = kpis_by_team(start=Q1[0], end=Q1[1], as_of=AS_OF)
    assert everyone[other.pk].revenue == Decimal("777.00")
    # Team A has no sub-team: one tree level, so half the queries of the two-level org.
    with django_assert_max_num_queries(9):
        tree_a = kpis_by_team(start=Q1[0], end=Q1[1], as_of=AS_OF, root_ids=[org.team_a.pk])
    assert tree_a == {org.team_a.pk: everyone[org.team_a.pk]}
    tree_r = kpis_by_team(start=Q1[0], end=Q1[1], as_of=AS_OF, root_ids=[org.region.pk])
    assert set(tree_r) == {org.region.pk, org.team_a.pk, org.team_b.pk}
    assert all(tree_r[pk] == everyone[pk] for pk in tree_r)
