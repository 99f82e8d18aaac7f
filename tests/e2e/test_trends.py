"""The trend charts in a real Chromium: after a rep wins a deal, the revenue chart's live
point is the tile's revenue; a month with no decided deal is a gap in the win-rate line,
not 0 %; the axes carry their units. Photographed at laptop and phone width."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from periods.calendar import add_months, period_end
from tests.e2e.conftest import screenshot
from tests.e2e.test_flows import PASSWORD, PHONE, log_in
from tests.factories import DealFactory, KPISnapshotFactory, LeadFactory, default_stage

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHART = "window.Chart.getChart(document.querySelector('canvas[data-chart=\"{}\"]'))"


def test_the_live_point_is_the_tile_after_a_win(live_server, page, rep):
    rep.set_password(PASSWORD)
    rep.save()
    today = timezone.localdate()
    this_month = today.replace(day=1)
    # Two months frozen: two months ago 3 won of 4 decided; last month nothing decided.
    for back, won, lost, rate in ((2, 3, 1, 0.75), (1, 0, 0, None)):
        month = add_months(this_month, -back)
        KPISnapshotFactory(
            scope_kind="user",
            scope_id=rep.pk,
            date=period_end(month, "month"),
            period_kind="month",
            period_start=month,
            revenue=Decimal(1000 * won),
            deals_won=won,
            deals_lost=lost,
            win_rate=rate,
        )
    now = timezone.now()
    DealFactory(
        owner=rep,
        stage=default_stage("Won"),
        amount=Decimal("2500.00"),
        created_at=now - dt.timedelta(hours=2),
        closed_at=now - dt.timedelta(hours=1),
    )
    log_in(page, live_server, "rep")
    page.goto(live_server.url + "/me/?period=month")
    page.wait_for_load_state("networkidle")
    assert (
        page.locator(".goal-value").inner_text().replace(",", "") == "$2500"
    )  # whole units on the page

    revenue = page.evaluate(f"{CHART.format('revenue-trend')}.data.datasets[0].data")
    assert revenue[-1] == 2500  # the live point: this month to now, as the tile says
    assert revenue[-3:-1] == [3000, 0]
    win_rate = page.evaluate(f"{CHART.format('win-rate-trend')}.data.datasets[0]")
    # 1 won of 1 decided now; last month undecided: null, not 0; no line across the gap.
    assert win_rate["data"][-3:] == [0.75, None, 1]
    assert win_rate["spanGaps"] is False
    axes = [
        page.evaluate(f"{CHART.format(kind)}.options.scales.y.title.text")
        for kind in ("revenue-trend", "win-rate-trend")
    ]
    assert axes == ["USD", "%"]
    note = page.locator("#revenue-trend-title ~ .chart-legend-note").inner_text()
    assert f"{this_month:%b %Y} live, to " in note
    screenshot(page, "trends-rep-1280")
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    screenshot(page, "trends-rep-390")


def test_this_quarters_close_rate_reads_as_maturing(live_server, page, rep):
    rep.set_password(PASSWORD)
    rep.save()
    now = timezone.now()
    # The organisation's only win of the last twelve months took 60 days: the median
    # cycle. This quarter's cohort is at most 46 days old (middle of 92 days): maturing.
    DealFactory(
        owner=rep,
        stage=default_stage("Won"),
        amount=Decimal("900.00"),
        created_at=now - dt.timedelta(days=130),
        closed_at=now - dt.timedelta(days=70),
    )
    LeadFactory(owner=rep, created_at=now - dt.timedelta(hours=1))
    log_in(page, live_server, "rep")
    page.goto(live_server.url + "/me/?period=quarter")
    tile = page.locator(".tile", has_text="Close rate")
    assert "So far: cohort" in tile.inner_text()
    assert tile.locator(".delta.down").count() == 0
    screenshot(page, "maturing-rep-1280")
    page.set_viewport_size(PHONE)
    screenshot(page, "maturing-rep-390")
