"""The calendar's rules in the KPIs: durations are wall-clock days in TIME_ZONE (a daylight
saving change does not shorten a sales cycle), and money is exact to the cent, the same on
SQLite and PostgreSQL (the suite runs on both)."""

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest

from metrics.kpis import end_of_day, kpis_for_scope, pipeline_by_stage
from metrics.models import KPISnapshot
from metrics.services import kpi_snapshot_create
from periods.durations import wall_clock_days
from tests.factories import CompanyFactory, DealFactory, LeadFactory, StageFactory, default_stage

pytestmark = pytest.mark.django_db


def local(zone: str, *args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=zoneinfo.ZoneInfo(zone))


def won_deal(rep, created: dt.datetime, closed: dt.datetime, **fields):
    return DealFactory(
        owner=rep, stage=default_stage("Won"), created_at=created, closed_at=closed, **fields
    )


def cycle(rep, start: dt.date, end: dt.date) -> tuple[float | None, float | None]:
    kpis = kpis_for_scope(kind="user", scope_id=rep.pk, start=start, end=end, as_of=end_of_day(end))
    return kpis.sales_cycle_days_mean, kpis.sales_cycle_days_median


# --- Durations -----------------------------------------------------------------------------

Q3_2026 = (dt.date(2026, 7, 1), dt.date(2026, 9, 30))
MARCH_2026 = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
NOVEMBER_2026 = (dt.date(2026, 11, 1), dt.date(2026, 11, 30))


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata", "UTC"])
def test_four_march_to_nineteen_september_is_199_days_in_every_zone(settings, rep, zone):
    # 4 March 10:00 to 19 September 10:00 local: 27 days of March after the 4th, then
    # 30 + 31 + 30 + 31 + 31 (April..August) + 19 = 199 calendar days. In New York the
    # clocks go forward on 8 March, so only 198 days 23 hours elapse (198.958 days).
    settings.TIME_ZONE = zone
    won_deal(rep, local(zone, 2026, 3, 4, 10), local(zone, 2026, 9, 19, 10))
    assert cycle(rep, *Q3_2026) == (199.0, 199.0)


def test_a_cycle_across_the_spring_forward_night_is_whole_days(settings, rep):
    # New York 2026: 8 March 02:00 becomes 03:00. 7 March 09:00 -> 9 March 09:00 is 47 hours
    # of elapsed time, and 2 days on the wall clock. The lead is the first contact.
    settings.TIME_ZONE = "America/New_York"
    zone = "America/New_York"
    lead = LeadFactory(owner=rep, created_at=local(zone, 2026, 3, 7, 9))
    won_deal(rep, local(zone, 2026, 3, 8, 12), local(zone, 2026, 3, 9, 9), lead=lead)
    # A second win without a lead: 10 March 09:00 -> 13 March 21:00 = 3.5 days.
    won_deal(rep, local(zone, 2026, 3, 10, 9), local(zone, 2026, 3, 13, 21))
    assert cycle(rep, *MARCH_2026) == (2.75, 2.75)  # (2 + 3.5) / 2


def test_a_cycle_across_the_fall_back_night_is_whole_days(settings, rep):
    # New York 2026: 1 November 02:00 becomes 01:00 again. 31 October 12:00 -> 2 November
    # 12:00 is 49 elapsed hours and 2 days on the wall clock.
    settings.TIME_ZONE = "America/New_York"
    zone = "America/New_York"
    won_deal(rep, local(zone, 2026, 10, 31, 12), local(zone, 2026, 11, 2, 12))
    assert cycle(rep, *NOVEMBER_2026) == (2.0, 2.0)


def test_fractions_of_a_day_are_clock_hours(settings, rep):
    # 4 March 10:00 -> 19 September 22:00 New York: 199 days and 12 clock hours = 199.5.
    settings.TIME_ZONE = "America/New_York"
    zone = "America/New_York"
    won_deal(rep, local(zone, 2026, 3, 4, 10), local(zone, 2026, 9, 19, 22))
    assert cycle(rep, *Q3_2026) == (199.5, 199.5)


def test_the_python_rule_matches_the_sql_one():
    new_york = zoneinfo.ZoneInfo("America/New_York")
    start, end = local("UTC", 2026, 3, 4, 15), local("UTC", 2026, 9, 19, 14)  # 10:00 EST/EDT
    assert wall_clock_days(start, end, new_york) == 199.0
    assert wall_clock_days(start, end, zoneinfo.ZoneInfo("UTC")) == (199 * 24 - 1) / 24


def test_a_snapshot_in_a_daylight_saving_zone_equals_the_live_figures(settings, rep):
    settings.TIME_ZONE = "America/New_York"
    zone = "America/New_York"
    won_deal(rep, local(zone, 2026, 3, 4, 10), local(zone, 2026, 9, 19, 10))
    day = dt.date(2026, 9, 30)
    kpi_snapshot_create(day=day)
    row = KPISnapshot.objects.get(
        date=day, scope_kind="user", scope_id=rep.pk, period_kind="quarter"
    )
    assert (row.sales_cycle_days_mean, row.sales_cycle_days_median) == (199.0, 199.0)
    assert row.deals_won == 1


# --- Money to the cent ---------------------------------------------------------------------

JANUARY = (dt.date(2026, 1, 1), dt.date(2026, 1, 31))


def at(day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(2026, 1, day, hour, tzinfo=dt.UTC)


@pytest.fixture
def awkward(rep):
    """A rep's January, in UTC, with amounts in cents and probabilities that do not divide:
    won 100.01 (C1, 1 day) and 200.02 (C2, 2 days), lost 5.00; open at the end of January
    1001.01 at 33 %, 10.00 at 25 % (Qualification) and 0.03 at 10 % (Prospecting)."""
    one_third = StageFactory(name="One in three", probability=33)
    c1, c2 = CompanyFactory(name="C1"), CompanyFactory(name="C2")
    won_deal(rep, at(10), at(11), amount=Decimal("100.01"), company=c1)
    won_deal(rep, at(10), at(12), amount=Decimal("200.02"), company=c2)
    DealFactory(
        owner=rep, stage=default_stage("Lost"), created_at=at(10), closed_at=at(20), amount=5
    )
    for stage, amount in [
        (one_third, "1001.01"),
        (default_stage("Qualification"), "10.00"),
        (default_stage("Prospecting"), "0.03"),
    ]:
        DealFactory(owner=rep, stage=stage, created_at=at(5), amount=Decimal(amount))
    return rep


def test_money_kpis_are_exact_to_the_cent(awkward):
    kpis = kpis_for_scope(
        kind="user", scope_id=awkward.pk, start=JANUARY[0], end=JANUARY[1], as_of=at(31, 12)
    )
    # 1001.01 x 33 % = 330.3333, 10.00 x 25 % = 2.50 (SQLite's integer division dropped
    # these 50 cents), 0.03 x 10 % = 0.003: 332.8363, rounded once at the end: 332.84.
    assert kpis.weighted_pipeline == Decimal("332.84")
    assert kpis.pipeline_value == Decimal("1011.04")  # 1001.01 + 10.00 + 0.03
    assert kpis.revenue == Decimal("300.03")
    # 300.03 / 2 = 150.015, half up: 150.02
    assert kpis.avg_deal_size == Decimal("150.02")
    # C1 100.01 and C2 200.02: 300.03 / 2 customers = 150.015 -> 150.02
    assert kpis.clv == Decimal("150.02")
    assert (kpis.sales_cycle_days_mean, kpis.win_rate) == (1.5, 2 / 3)
    # 3 open x 2/3 x 150.02 / 1.5 days = 200.02667 -> 200.03 a day
    assert kpis.sales_velocity == Decimal("200.03")


def test_half_a_cent_of_weighted_pipeline_rounds_up(rep):
    DealFactory(owner=rep, stage=default_stage("Proposal"), created_at=at(5), amount="0.01")
    kpis = kpis_for_scope(
        kind="user", scope_id=rep.pk, start=JANUARY[0], end=JANUARY[1], as_of=at(31, 12)
    )
    assert kpis.weighted_pipeline == Decimal("0.01")  # 0.01 x 50 % = 0.005, half up


def test_pipeline_by_stage_rounds_each_stage_once(awkward):
    rows = pipeline_by_stage(
        kind="user", scope_id=awkward.pk, start=JANUARY[0], end=JANUARY[1], as_of=at(31, 12)
    )
    weighted = {row.name: row.weighted_pipeline for row in rows if row.open_deals}
    assert weighted == {
        "Prospecting": Decimal("0.00"),  # 0.003
        "Qualification": Decimal("2.50"),
        "One in three": Decimal("330.33"),  # 330.3333
    }
