"""The summary layer (metrics/summary.py): what the live pages read equals a fresh
computation from the raw rows after every kind of write, and a rebuild finds no drift."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from accounts.choices import Role
from accounts.models import User
from metrics import drain_sql, summary
from metrics.dashboards import deals_needing_attention
from metrics.kpis import (
    funnel_for_scope,
    kpis_by_team,
    kpis_by_user,
    kpis_for_scope,
    kpis_of_scopes,
    pipeline_by_stage,
)
from metrics.models import DayFigures, FunnelDay, OpenDeals, SummaryChange, WonDeal
from periods.calendar import day_start
from pipeline.models import Deal, Lead, Stage, StageChange
from tests.factories import (
    CompanyFactory,
    DealFactory,
    LeadFactory,
    TeamFactory,
    UserFactory,
    default_stage,
)

from .conftest import at

pytestmark = pytest.mark.django_db

# Periods a page asks, as of now (2026 data of the `org` fixture and writes made now).
TODAY = timezone.localdate()
PERIODS = [
    (dt.date(2026, 1, 1), dt.date(2026, 3, 31), "quarter"),  # closed: pipeline from history
    (dt.date(2025, 12, 1), TODAY, None),  # to today: the summary's open pipeline
    (TODAY, TODAY, None),
]


def assert_live_equals_fresh(org) -> None:
    """Every scope, every period: the summary's figures are the raw computation's."""
    now = timezone.now()
    users = [org.a1.pk, org.a2.pk, org.b1.pk]
    for start, end, period in PERIODS:
        window = {"start": start, "end": end, "as_of": now, "period": period}
        for kind, scope_id in [("org", None), ("team", org.region.pk), ("user", org.a1.pk)]:
            live = kpis_for_scope(kind=kind, scope_id=scope_id, **window, live=True)
            fresh = kpis_for_scope(kind=kind, scope_id=scope_id, **window)
            assert live == fresh, (kind, scope_id, start, end)
        assert kpis_by_user(user_ids=users, **window, live=True) == kpis_by_user(
            user_ids=users, **window
        )
        assert kpis_by_team(**window, live=True) == kpis_by_team(**window)
        # A page's scopes computed together (kpis_of_scopes) are each one computed alone.
        together = kpis_of_scopes(
            **window, org=True, team_root_ids=[org.region.pk], user_ids=users, live=True
        )
        assert together.org == kpis_for_scope(kind="org", scope_id=None, **window)
        assert together.teams == kpis_by_team(**window, root_ids=[org.region.pk])
        assert together.users == kpis_by_user(user_ids=users, **window)
        del window["period"]
        for kind, scope_id in [("org", None), ("team", org.team_a.pk), ("user", org.a1.pk)]:
            live = funnel_for_scope(kind=kind, scope_id=scope_id, **window, live=True)
            assert live == funnel_for_scope(kind=kind, scope_id=scope_id, **window), kind
    for kind, scope_id in [("org", None), ("team", org.team_b.pk), ("user", org.a2.pk)]:
        window = {"start": TODAY, "end": TODAY, "as_of": now}
        live = pipeline_by_stage(kind=kind, scope_id=scope_id, **window, live=True)
        assert live == pipeline_by_stage(kind=kind, scope_id=scope_id, **window)
    admin = User.objects.filter(username="viewer-admin").first()
    admin = admin or UserFactory(username="viewer-admin", role=Role.ADMIN)
    for viewer, kind, scope_id in [
        (admin, "org", None),
        (admin, "team", org.region.pk),
        (org.a2, "user", org.a2.pk),
        (org.b1, "org", None),  # a rep sees their own deals only, whatever the scope
    ]:
        ask = {"viewer": viewer, "scope_kind": kind, "scope_id": scope_id, "now": now}
        live = deals_needing_attention(**ask)
        assert live == deals_needing_attention(**ask, live=False), (viewer, kind)
    assert summary.rebuild().total == 0


def test_the_summary_is_built_from_the_rows_already_there(org):
    summary.drain()
    assert WonDeal.objects.count() == Deal.objects.filter(stage__kind="won").count() == 6
    assert sum(OpenDeals.objects.values_list("open_deals", flat=True)) == 4
    assert sum(DayFigures.objects.values_list("leads_created", flat=True)) == 9
    assert sum(DayFigures.objects.values_list("revenue_cents", flat=True)) == 5_500_000
    assert not SummaryChange.objects.exists()
    assert_live_equals_fresh(org)


def test_every_kind_of_write_keeps_live_equal_to_fresh(org):
    summary.drain()
    won, lost = default_stage("Won"), default_stage("Lost")
    proposal = default_stage("Proposal")
    now = timezone.now()
    # A new deal from a lead today, then won: the lead's cohort matures.
    lead = LeadFactory(owner=org.a1, created_at=now - dt.timedelta(hours=2))
    deal = DealFactory(owner=org.a1, lead=lead, created_at=now - dt.timedelta(hours=1))
    assert_live_equals_fresh(org)
    deal.stage, deal.closed_at, deal.amount = won, timezone.now(), Decimal("1234.56")
    deal.save()
    assert_live_equals_fresh(org)
    # Reopened, moved to another rep of another team, then lost.
    deal.stage, deal.closed_at, deal.owner, deal.team = proposal, None, org.b1, org.team_b
    deal.save()
    assert_live_equals_fresh(org)
    deal.stage, deal.closed_at = lost, timezone.now()
    deal.save()
    assert_live_equals_fresh(org)
    # An old lead's creation moved: its won deal's cycle changes.
    Lead.objects.filter(pk=org.d1.lead_id).update(created_at=at(1, 1))
    assert_live_equals_fresh(org)
    # Bulk writes send no signal; the triggers still see them.
    Deal.objects.filter(owner=org.a2).update(amount=Decimal("99.99"))
    assert_live_equals_fresh(org)
    Deal.objects.bulk_create(
        [
            Deal(name="bulk", owner=org.a2, team=org.team_a, stage=proposal, created_at=now),
            Deal(
                name="bulk won",
                owner=org.a2,
                team=org.team_a,
                company=CompanyFactory(name="New customer"),
                stage=won,
                amount=Decimal("500.05"),
                created_at=now - dt.timedelta(days=3),
                closed_at=now,
            ),
        ]
    )
    assert_live_equals_fresh(org)
    # Soft-deleted, then deleted for good; a lead deleted.
    Deal.objects.filter(name="bulk won").update(deleted_at=timezone.now())
    assert_live_equals_fresh(org)
    Deal.all_objects.filter(name="bulk").delete()
    lead.delete()
    assert_live_equals_fresh(org)
    # An expected close date moved (stale and closing lists), an old deal moved today.
    idle = Deal.objects.get(owner=org.a2, stage=default_stage("Negotiation"))
    Deal.objects.filter(pk=idle.pk).update(expected_close_date=TODAY)
    assert_live_equals_fresh(org)
    StageChange.objects.create(
        deal=idle, from_stage=default_stage("Proposal"), to_stage=idle.stage, changed_at=now
    )
    assert_live_equals_fresh(org)
    # SQL by hand.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE pipeline_deal SET amount = amount + 1 WHERE closed_at IS NULL")
    assert_live_equals_fresh(org)


def test_one_drain_of_many_keys_and_a_teamless_rep_equals_a_rebuild(org, monkeypatch):
    """The drain's statements (metrics.drain_sql) match keys in chunks and match a cell
    without a team by IS NULL: what they write is what a rebuild computes."""
    summary.drain()
    monkeypatch.setattr(drain_sql, "_CHUNK", 2)  # several statements per table
    loner = UserFactory(username="loner", role=Role.REP, team=None)
    won, proposal = default_stage("Won"), default_stage("Proposal")
    now = timezone.now()
    for days in range(5):
        created = now - dt.timedelta(days=days, hours=3)
        lead = LeadFactory(owner=loner, created_at=created)
        for owner in (loner, org.a1):
            DealFactory(
                owner=owner,
                lead=lead if owner is loner else None,
                stage=won if days % 2 else proposal,
                amount=Decimal("100.10") * (days + 1),
                created_at=created,
                closed_at=created + dt.timedelta(hours=2) if days % 2 else None,
            )
    assert summary.drain() == 15
    teamless = DayFigures.objects.filter(owner_id=loner.pk, team_id__isnull=True)
    assert sum(teamless.values_list("leads_created", flat=True)) == 5
    assert sum(teamless.values_list("leads_won", flat=True)) == 2
    # 2 wins: days 1 and 3, (100.10 × 2) + (100.10 × 4) = 600.60
    assert sum(teamless.values_list("revenue_cents", flat=True)) == 60_060
    assert OpenDeals.objects.get(owner_id=loner.pk, stage=proposal).open_deals == 3
    assert FunnelDay.objects.filter(owner_id=loner.pk, team_id__isnull=True).exists()
    assert summary.rebuild().total == 0
    assert_live_equals_fresh(org)


def test_a_stage_probability_change_needs_no_rebuild(org):
    summary.drain()
    Stage.objects.filter(pk=default_stage("Negotiation").pk).update(probability=40)
    assert_live_equals_fresh(org)


def test_a_write_drains_on_commit(org, django_capture_on_commit_callbacks):
    summary.drain()
    with django_capture_on_commit_callbacks(execute=True):
        DealFactory(owner=org.a1, amount=Decimal("10.00"))
    assert not SummaryChange.objects.exists()
    cents = OpenDeals.objects.filter(owner_id=org.a1.pk).values_list("pipeline_cents", flat=True)
    # a1's open deals: 8,000 in Proposal, 1,000 and the new 10.00 in Prospecting.
    assert sorted(cents) == [100_000 + 1_000, 800_000]


def test_a_rebuild_reports_and_repairs_drift(org):
    summary.drain()
    row = DayFigures.objects.filter(revenue_cents__gt=0).first()
    DayFigures.objects.filter(pk=row.pk).update(revenue_cents=row.revenue_cents + 1)
    WonDeal.objects.filter(pk=org.d1.pk).delete()
    drift = summary.rebuild()
    assert (drift.day_figures, drift.open_deals, drift.won_deals) == (1, 0, 1)
    assert summary.rebuild().total == 0
    assert_live_equals_fresh(org)


def test_a_rebuild_marker_rebuilds_at_the_next_read(org):
    summary.drain()
    DayFigures.objects.all().delete()
    summary.request_rebuild()
    assert_live_equals_fresh(org)


def test_the_triggers_are_installed_on_both_tables(db):
    # A migration that rebuilds pipeline_deal or pipeline_lead on SQLite drops them.
    rep = UserFactory(role=Role.REP, team=TeamFactory())
    SummaryChange.objects.all().delete()
    Lead.objects.bulk_create(
        [Lead(owner=rep, team=rep.team, company=CompanyFactory(), contact_name="x")]
    )
    deal = Deal.objects.create(
        name="x", owner=rep, team=rep.team, stage=default_stage("Prospecting")
    )
    assert SummaryChange.objects.count() >= 2
    images = set(SummaryChange.objects.values_list("deal_id", "lead_id"))
    assert (deal.pk, None) in images
    assert any(deal_id is None and lead_id for deal_id, lead_id in images)


def test_a_name_edit_records_no_change(db):
    rep = UserFactory(role=Role.REP, team=TeamFactory())
    deal = DealFactory(owner=rep)
    summary.drain()
    deal.name = "Renamed"
    deal.save()
    assert not SummaryChange.objects.exists()


def test_the_rebuild_command_reports_drift(org):
    from io import StringIO

    from django.core.management import CommandError, call_command

    summary.drain()
    out = StringIO()
    call_command("rebuild_summary", "--check", stdout=out)
    expected = (
        "0 day rows, 0 open-pipeline rows, 0 won deals, 0 funnel rows, 0 customer rows, "
        "0 open-deal dates, 0 cycle buckets, 0 month rows, 0 funnel month rows, "
        "0 cycle figures"
    )
    assert f"{expected} (none)" in out.getvalue()
    OpenDeals.objects.all().delete()
    with pytest.raises(CommandError):
        call_command("rebuild_summary", "--check", stdout=StringIO())
    assert sum(OpenDeals.objects.values_list("open_deals", flat=True)) == 4


def test_the_live_funnel_follows_the_stage_history(org):
    summary.drain()
    now = timezone.now()
    # Today as of now (not the module's TODAY, read at collection), and created within it
    # even just after midnight: the run may cross a day.
    today = timezone.localdate(now)
    window = {"start": today, "end": today, "as_of": now}
    created = max(now - dt.timedelta(hours=1), day_start(today))
    deal = DealFactory(owner=org.a1, created_at=created)
    negotiation = default_stage("Negotiation")
    # A move recorded in the history alone (an import of past moves): the deal reached
    # Negotiation, so it counts for every stage up to it.
    StageChange.objects.create(
        deal=deal, from_stage=deal.stage, to_stage=negotiation, changed_at=now
    )
    funnel = funnel_for_scope(kind="user", scope_id=org.a1.pk, **window, live=True)
    reached = {step.name: step.deals for step in funnel.steps}
    assert funnel.created == 1
    assert reached["Prospecting"] == reached["Negotiation"] == 1
    assert reached["Won"] == 0
    assert_live_equals_fresh(org)
    StageChange.objects.filter(deal=deal).delete()
    funnel = funnel_for_scope(kind="user", scope_id=org.a1.pk, **window, live=True)
    assert {step.name: step.deals for step in funnel.steps}["Negotiation"] == 0
    assert_live_equals_fresh(org)


def test_reordering_the_stages_rebuilds_the_funnel(org, django_capture_on_commit_callbacks):
    summary.drain()
    before = set(FunnelDay.objects.values_list("furthest", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        for stage in Stage.objects.filter(pipeline__is_default=True):
            stage.order += 10
            stage.save()
    after = set(FunnelDay.objects.values_list("furthest", flat=True))
    assert after == {furthest + 10 for furthest in before}
    assert_live_equals_fresh(org)


def test_a_closed_periods_pipeline_is_the_one_the_nightly_job_froze(org):
    from metrics.services import kpi_snapshot_create

    summary.drain()
    now = timezone.now()
    q1 = {"start": dt.date(2026, 1, 1), "end": dt.date(2026, 3, 31), "as_of": now}
    fresh = kpis_for_scope(kind="team", scope_id=org.region.pk, **q1)
    kpi_snapshot_create(day=dt.date(2026, 3, 31))
    # Frozen, with nothing changed since: the same figures as replaying the history.
    for kind, scope_id in [("org", None), ("team", org.region.pk), ("user", org.a1.pk)]:
        frozen = kpis_for_scope(kind=kind, scope_id=scope_id, **q1, live=True)
        assert frozen == kpis_for_scope(kind=kind, scope_id=scope_id, **q1), kind
    assert kpis_by_team(**q1, live=True) == kpis_by_team(**q1)
    users = [org.a1.pk, org.a2.pk, org.b1.pk]
    assert kpis_by_user(user_ids=users, **q1, live=True) == kpis_by_user(user_ids=users, **q1)
    # An amount edited later changes the replay, not the frozen pipeline of 31 March.
    open_then = Deal.objects.filter(team__in=[org.team_a, org.team_b], closed_at__isnull=True)
    open_then.filter(created_at__lt=at(4, 1)).update(amount=Decimal("1.00"))
    live = kpis_for_scope(kind="team", scope_id=org.region.pk, **q1, live=True)
    assert live.pipeline_value == fresh.pipeline_value
    assert live.weighted_pipeline == fresh.weighted_pipeline
    replayed = kpis_for_scope(kind="team", scope_id=org.region.pk, **q1)
    assert replayed.pipeline_value != fresh.pipeline_value
    # So is the CLV on 31 March (C1 30,000, C4 10,000, C6 3,000: docs/kpis.md): a Q1 win
    # whose amount is edited later changes the replay, not the frozen figure.
    org_q1 = kpis_for_scope(kind="org", scope_id=None, **q1, live=True)
    assert org_q1.clv == Decimal("14333.33")
    Deal.objects.filter(stage__kind="won", closed_at__gte=at(1, 1), closed_at__lt=at(4, 1)).update(
        amount=Decimal("1.00")
    )
    assert kpis_for_scope(kind="org", scope_id=None, **q1, live=True).clv == Decimal("14333.33")
    assert kpis_for_scope(kind="org", scope_id=None, **q1).clv != Decimal("14333.33")


def test_a_periods_cycle_median_is_one_row_a_scope_kept_from_the_buckets(org):
    from django.test.utils import CaptureQueriesContext

    from metrics.models import CycleBucket, CycleFigures

    summary.drain()
    now = timezone.now()
    q1 = {"start": dt.date(2026, 1, 1), "end": dt.date(2026, 3, 31), "as_of": now}
    with CaptureQueriesContext(connection) as captured:
        live = kpis_for_scope(kind="org", scope_id=None, **q1, live=True)
    # The quarter's cycles were 35.5, 30.25, 45 and 36 days (docs/kpis.md).
    assert (live.sales_cycle_days_mean, live.sales_cycle_days_median) == (36.6875, 35.75)
    assert live == kpis_for_scope(kind="org", scope_id=None, **q1)
    sql = [q["sql"] for q in captured.captured_queries]
    medians = ("PERCENTILE_CONT", "SALESPERF_MEDIAN")
    assert not [q for q in sql if any(m in q for m in medians)]
    # The page reads the figures' row, neither the buckets nor the wins.
    assert any("metrics_cyclefigures" in q for q in sql)
    assert not [q for q in sql if "metrics_cyclebucket" in q or "cycle_days" in q]
    quarter = {"period_kind": "quarter", "period_start": q1["start"], "scope_kind": "org"}
    assert CycleFigures.objects.get(**quarter).deals == 4
    # The two middle ranks (35.5 and 36) sit in the buckets of days 35 and 36.
    buckets = CycleBucket.objects.filter(**quarter)
    assert dict(buckets.values_list("bucket", "deals")) == {30: 1, 35: 1, 36: 1, 45: 1}
    # A first contact moved a year earlier: the first win's cycle is now 404.5 days, and
    # the drain moves the buckets and the figures at once (sorted 30.25, 36, 45, 404.5).
    Lead.objects.filter(pk=org.d1.lead_id).update(created_at=at(1, 1, year=2025))
    live = kpis_for_scope(kind="org", scope_id=None, **q1, live=True)
    assert (live.sales_cycle_days_mean, live.sales_cycle_days_median) == (128.9375, 40.5)
    assert live == kpis_for_scope(kind="org", scope_id=None, **q1)
    for kind, scope_id in [("user", org.a1.pk), ("team", org.region.pk)]:
        alone = {"kind": kind, "scope_id": scope_id, **q1}
        assert kpis_for_scope(**alone, live=True) == kpis_for_scope(**alone)
    # Drift in either table is reported and repaired by the nightly rebuild.
    CycleBucket.objects.filter(period_kind="quarter", scope_kind="org", bucket=45).update(deals=2)
    CycleFigures.objects.filter(**quarter).update(median_days=1.0)
    drift = summary.rebuild()
    assert (drift.cycle_buckets, drift.cycle_figures) == (1, 1)
    assert kpis_for_scope(kind="org", scope_id=None, **q1, live=True) == live
    assert summary.rebuild().total == 0


def test_buckets_that_disagree_with_the_wins_leave_the_figures_to_a_rebuild(org):
    from metrics.models import CycleBucket

    summary.drain()
    q1 = {"start": dt.date(2026, 1, 1), "end": dt.date(2026, 3, 31), "as_of": timezone.now()}
    # A middle bucket counting a win that is not there: the next win's drain reads fewer
    # wins from it than it counts, cannot trust the middle ranks, and marks a rebuild,
    # which the next read runs: exact figures again. (Drift outside the middle buckets
    # moves no median; the nightly rebuild finds it, as above.)
    CycleBucket.objects.filter(period_kind="quarter", scope_kind="org", bucket=35).update(deals=2)
    DealFactory(
        owner=org.b1,
        stage=default_stage("Won"),
        amount=Decimal("5.00"),
        created_at=at(3, 1),
        closed_at=at(3, 11),
    )
    summary.drain()
    live = kpis_for_scope(kind="org", scope_id=None, **q1, live=True)
    # 10, 30.25, 35.5, 36, 45 days: the median is 35.5, the mean 156.75 / 5.
    assert (live.sales_cycle_days_mean, live.sales_cycle_days_median) == (31.35, 35.5)
    assert live == kpis_for_scope(kind="org", scope_id=None, **q1)
    assert summary.rebuild().total == 0


def test_whole_months_are_read_from_month_rows(org):
    from django.test.utils import CaptureQueriesContext

    from metrics.models import MonthFigures

    summary.drain()
    total = sum(MonthFigures.objects.values_list("revenue_cents", flat=True))
    assert total == sum(DayFigures.objects.values_list("revenue_cents", flat=True)) == 5_500_000
    q1 = {"start": dt.date(2026, 1, 1), "end": dt.date(2026, 3, 31), "as_of": timezone.now()}
    with CaptureQueriesContext(connection) as captured:
        live = kpis_for_scope(kind="org", scope_id=None, **q1, live=True)
    assert live == kpis_for_scope(kind="org", scope_id=None, **q1)
    tables = [q["sql"] for q in captured.captured_queries]
    assert any("metrics_monthfigures" in sql for sql in tables)
    # Only the drain's check reads the day rows (their last day), not the quarter's days.
    assert [sql for sql in tables if "SUM(" in sql and "metrics_dayfigures" in sql] == []
    window = {k: q1[k] for k in ("start", "end", "as_of")}
    with CaptureQueriesContext(connection) as captured:
        funnel = funnel_for_scope(kind="org", scope_id=None, **window, live=True)
    assert funnel == funnel_for_scope(kind="org", scope_id=None, **window)
    tables = [q["sql"] for q in captured.captured_queries]
    assert any("metrics_funnelmonth" in sql for sql in tables)
    assert not any("metrics_funnelday" in sql for sql in tables)
    # A win moved from February to March moves both months' rows.
    DealFactory(
        owner=org.a1,
        stage=default_stage("Won"),
        amount=Decimal("7.00"),
        created_at=at(2, 1),
        closed_at=at(2, 20),
    )
    Deal.objects.filter(amount=Decimal("7.00")).update(closed_at=at(3, 20))
    assert kpis_for_scope(kind="org", scope_id=None, **q1, live=True) == kpis_for_scope(
        kind="org", scope_id=None, **q1
    )
    assert summary.rebuild().total == 0


def test_a_period_cut_short_reads_its_wins_afresh(org):
    """This month up to a minute ago is not the buckets' whole month: a deal won since
    counts in them, not in the cycle. (The day totals count whole days: as of a moment
    today, the live page is as of now.)"""
    now = timezone.now()
    DealFactory(
        owner=org.a1,
        stage=default_stage("Won"),
        amount=Decimal("10.00"),
        created_at=now - dt.timedelta(days=3),
        closed_at=now,
    )
    summary.drain()
    month = {"start": TODAY.replace(day=1), "end": TODAY, "as_of": now - dt.timedelta(minutes=1)}
    for kind, scope_id in [("org", None), ("user", org.a1.pk)]:
        live = kpis_for_scope(kind=kind, scope_id=scope_id, **month, live=True)
        fresh = kpis_for_scope(kind=kind, scope_id=scope_id, **month)
        assert live.sales_cycle_days_mean == fresh.sales_cycle_days_mean
        assert live.sales_cycle_days_median == fresh.sales_cycle_days_median
    month["as_of"] = now + dt.timedelta(seconds=1)
    live = kpis_for_scope(kind="user", scope_id=org.a1.pk, **month, live=True)
    assert live.sales_cycle_days_median == 3.0


def test_customers_count_once_per_scope_and_follow_the_team_tree(
    org, django_capture_on_commit_callbacks
):
    from metrics.models import ScopeCustomers

    summary.drain()
    won = default_stage("Won")
    now = timezone.now()
    company = CompanyFactory(name="Shared customer")
    with django_capture_on_commit_callbacks(execute=True):
        # One company buys from a rep of each team: a customer of each rep and team, and
        # one customer of the region and of the organisation.
        for rep in (org.a1, org.b1):
            DealFactory(
                owner=rep,
                company=company,
                stage=won,
                amount=Decimal("100.00"),
                created_at=now - dt.timedelta(days=2),
                closed_at=now - dt.timedelta(days=1),
            )
    assert_live_equals_fresh(org)
    org_before = ScopeCustomers.objects.get(scope_kind="org", scope_id=0).customers
    with django_capture_on_commit_callbacks(execute=True):
        Deal.objects.filter(company=company, owner=org.b1).delete()
    assert ScopeCustomers.objects.get(scope_kind="org", scope_id=0).customers == org_before
    assert_live_equals_fresh(org)
    # Team B moves out of the region: the region's customers are rebuilt on commit.
    with django_capture_on_commit_callbacks(execute=True):
        org.team_b.parent = None
        org.team_b.save()
    assert_live_equals_fresh(org)


def test_a_snapshot_of_any_past_day_from_the_summary_equals_the_replay(org, monkeypatch):
    from metrics import kpis
    from metrics.kpis import kpis_to_date
    from periods.calendar import end_of_day

    summary.drain()
    now = timezone.now()
    # Events after the day: a deal moved, one created and open, one closed, a lead's deal won.
    moved = Deal.objects.filter(closed_at__isnull=True, owner=org.a1).first()
    StageChange.objects.create(
        deal=moved, from_stage=moved.stage, to_stage=default_stage("Negotiation"), changed_at=now
    )
    moved.stage = default_stage("Negotiation")
    moved.save()
    DealFactory(owner=org.b1, amount=Decimal("70.00"), created_at=now)
    lead = LeadFactory(owner=org.a2, created_at=at(2, 10))
    DealFactory(
        owner=org.a2,
        lead=lead,
        stage=default_stage("Won"),
        amount=Decimal("12.34"),
        created_at=at(2, 11),
        closed_at=now,
    )
    users = [org.a1.pk, org.a2.pk, org.b1.pk]
    yesterday = TODAY - dt.timedelta(days=1)
    raw = {name: getattr(kpis, name) for name in ("_closed_in_period", "_open_at")}

    def summary_only(call):
        # The settled figures must come from the summary, not from replaying the rows.
        for name in raw:
            monkeypatch.setattr(kpis, name, lambda *a, **k: pytest.fail("read the raw rows"))
        try:
            return call()
        finally:
            for name, function in raw.items():
                monkeypatch.setattr(kpis, name, function)

    for day in [dt.date(2026, 1, 31), dt.date(2026, 2, 15), dt.date(2026, 3, 31), yesterday, TODAY]:
        as_of = end_of_day(day)
        settled = summary_only(
            lambda: kpis_to_date(day=day, user_ids=users, as_of=as_of, settled=True)  # noqa: B023
        )
        assert settled == kpis_to_date(day=day, user_ids=users, as_of=as_of), day
        window = {"start": dt.date(2026, 1, 1), "end": day, "as_of": as_of}
        for kind, scope_id in [("org", None), ("team", org.region.pk), ("user", org.a2.pk)]:
            live = summary_only(
                lambda: kpis_for_scope(kind=kind, scope_id=scope_id, **window, settled=True)  # noqa: B023
            )
            assert live == kpis_for_scope(kind=kind, scope_id=scope_id, **window), (day, kind)


def _commit_setting() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('synchronous_commit')")
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's commit setting")
@pytest.mark.django_db(transaction=True)
def test_only_a_drain_of_its_own_skips_waiting_for_the_disk(monkeypatch):
    """A drain in a transaction of its own commits with the changes it consumed (a commit
    lost in a crash brings them back), so it need not wait for the WAL flush. A drain
    inside a caller's transaction (a read after a write) leaves the caller's commit as it
    is: the caller's rows must reach the disk."""
    seen = []
    real = summary._take_changes

    def spy():
        seen.append(_commit_setting())
        return real()

    monkeypatch.setattr(summary, "_take_changes", spy)
    rep = UserFactory(username="durable")
    LeadFactory(owner=rep)  # autocommit: its drain runs on commit, in its own transaction
    assert seen == ["off"]
    with transaction.atomic():
        LeadFactory(owner=rep)
        summary.drain()
        assert _commit_setting() == "on"
    # The block's own on-commit drain then runs in a transaction of its own (finding none).
    assert seen == ["off", "on", "off"]
    assert _commit_setting() == "on"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the drain's lock is PostgreSQL's")
def test_a_write_does_not_wait_for_another_drain(db):
    import psycopg
    from django.db import connections

    rep = UserFactory(role=Role.REP, team=TeamFactory())
    # No drain here first: its transaction-level lock would last the whole test.
    settings = connections["default"].get_connection_params()
    with psycopg.connect(**settings, autocommit=True) as other:
        # Another process is draining: it holds the lock.
        other.execute("SELECT pg_advisory_lock(%s)", [summary._LOCK_ID])
        DealFactory(owner=rep, amount=Decimal("25.00"))
        with connection.cursor() as cursor:  # a drain that waited would fail, not hang
            cursor.execute("SET LOCAL lock_timeout = '2s'")
        assert summary.drain(wait=False) == 0
        assert SummaryChange.objects.exists()  # left for the next drain, not lost
        other.execute("SELECT pg_advisory_unlock(%s)", [summary._LOCK_ID])
    # The next read drains, waiting for the lock.
    window = {"start": TODAY, "end": TODAY, "as_of": timezone.now()}
    live = kpis_for_scope(kind="user", scope_id=rep.pk, **window, live=True)
    assert live.pipeline_value == Decimal("25.00")
    assert not SummaryChange.objects.exists()


def test_in_a_request_the_drain_runs_after_the_response(db):
    rep = UserFactory(role=Role.REP, team=TeamFactory())
    DealFactory(owner=rep, amount=Decimal("40.00"))
    summary.request_started()
    summary._drain_once_committed()  # what a write's on-commit callback does in a request
    assert SummaryChange.objects.exists()  # the response is not held up by the drain
    summary.request_finished()
    assert not SummaryChange.objects.exists()
    cents = OpenDeals.objects.filter(owner_id=rep.pk).values_list("pipeline_cents", flat=True)
    assert list(cents) == [4_000]
    # Outside a request (a shell, a Celery task) it drains at once.
    DealFactory(owner=rep, amount=Decimal("2.00"))
    summary._drain_once_committed()
    assert not SummaryChange.objects.exists()


def test_with_a_drainer_a_request_leaves_its_drain_and_a_read_is_still_exact(db, settings):
    """SUMMARY_DRAINER: web workers leave their writes' drains to `drain_summary`; a
    summary read before the drainer's next look drains first, so it is exact anyway."""
    settings.SUMMARY_DRAINER = True
    rep = UserFactory(role=Role.REP, team=TeamFactory())
    DealFactory(owner=rep, amount=Decimal("40.00"))
    summary.request_started()
    summary._drain_once_committed()
    summary.request_finished()
    assert summary.pending()  # left to the drainer
    assert summary.readable(timezone.now())  # a read: drains first
    assert not summary.pending()
    cents = OpenDeals.objects.filter(owner_id=rep.pk).values_list("pipeline_cents", flat=True)
    assert list(cents) == [4_000]
    # The drainer's look: every pending change at once.
    DealFactory(owner=rep, amount=Decimal("2.00"))
    DealFactory(owner=rep, amount=Decimal("3.00"))
    out = StringIO()
    call_command("drain_summary", "--once", stdout=out)
    assert not summary.pending()
    assert out.getvalue().strip() == "Drainer stopped: 2 changes applied."
    cents = OpenDeals.objects.filter(owner_id=rep.pk).values_list("pipeline_cents", flat=True)
    assert list(cents) == [4_500]
    assert summary.rebuild().total == 0
