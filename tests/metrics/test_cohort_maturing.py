"""Cohort rates (close rate, opportunity close rate) of a period younger than the
organisation's median sales cycle are shown as maturing: "so far", the cohort's age,
neutral, never a red drop against an older period. The organisation of
tests/metrics/conftest.py, as of 15 April 2026."""

import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse

from metrics import summary
from metrics.dashboards.figures import Maturity, cohort_age_days, org_median_cycle_days
from pipeline.choices import LeadStatus
from tests.factories import LeadFactory, UserFactory
from tests.metrics.conftest import AS_OF, at

pytestmark = pytest.mark.django_db
TODAY = AS_OF.date()


@pytest.fixture
def frozen():
    with time_machine.travel(AS_OF, tick=False):
        yield


def test_the_median_cycle_is_of_the_twelve_whole_months_before(org, frozen):
    summary.drain()
    # Won April 2025 to March 2026, in days from first contact (floored to whole days):
    # D6 2025-11-01 -> 12-15: 44; D8 lead 2025-12-20 -> Jan 25: 36; D1 lead Jan 5 ->
    # Feb 9 12:00: 35.5 -> 35; D3 Feb 15 -> Mar 17 06:00: 30.25 -> 30; D5 lead Jan 15 ->
    # Mar 1: 45. Sorted 30, 35, 36, 44, 45: the middle is 36. D7 (won 10 April) is this
    # month's, not in the window.
    assert org_median_cycle_days(today=TODAY) == 36
    # On 1 March the window ends with February: 44, 36, 35 -> 36; an even count of wins
    # takes the mean of the two middle ones, rounded down: from 1 February, 44 and 36 -> 40.
    assert org_median_cycle_days(today=dt.date(2026, 3, 1)) == 36
    assert org_median_cycle_days(today=dt.date(2026, 2, 1)) == 40
    assert org_median_cycle_days(today=dt.date(2025, 12, 1)) is None  # no win before


@pytest.mark.parametrize(
    ("start", "end", "age"),
    [
        # Q2 so far, 1-15 April: middle day 8 April, 7 days before 15 April.
        (dt.date(2026, 4, 1), dt.date(2026, 6, 30), 7),
        # March: 1-31, middle day 16 March: 30 days old.
        (dt.date(2026, 3, 1), dt.date(2026, 3, 31), 30),
        # Q1: 1 January-31 March, 89 days // 2 -> middle day 14 February: 60 days old.
        (dt.date(2026, 1, 1), dt.date(2026, 3, 31), 60),
        # One day: its own age.
        (dt.date(2026, 3, 10), dt.date(2026, 3, 10), 36),
        (dt.date(2026, 3, 11), dt.date(2026, 3, 11), 35),
        (dt.date(2026, 5, 1), dt.date(2026, 5, 31), None),  # not begun
    ],
)
def test_cohort_age(start, end, age):
    assert cohort_age_days(start, end, today=TODAY) == age


@pytest.mark.parametrize(("age", "maturing_age"), [(35, 35), (36, None), (60, None)])
def test_a_cohort_matures_at_the_median_cycle(age, maturing_age):
    assert Maturity(age=age, median_cycle=36).maturing_age == maturing_age


def test_no_win_in_the_window_leaves_every_rate_mature():
    assert Maturity(age=3, median_cycle=None).maturing_age is None


def close_rate_tile(client, user, query: str) -> str:
    client.force_login(user)
    response = client.get(reverse("metrics:org-dashboard") + query)
    assert response.status_code == 200
    html = response.content.decode()
    tile = next(t for t in html.split('<div class="tile">')[1:] if "Close rate" in t)
    return re.sub(r"\s+", " ", tile.split("</div>")[0])


def test_this_quarters_close_rate_is_maturing_not_a_drop(client, org, frozen):
    boss = UserFactory(username="boss", team=None, role="admin", is_staff=True)
    # One lead created in April, not won yet: Q2's close rate is 0 of 1 = 0.0 %, against
    # Q1's 3 of 8 = 37.5 % (L1, L5, L7 won of L1-L7 and L9). Q2's cohort is 7 days old,
    # younger than the median cycle of 36 days: maturing, no red drop.
    LeadFactory(owner=org.a1, created_at=at(4, 10), status=LeadStatus.WORKING)
    tile = close_rate_tile(client, boss, "")
    assert "0.0%" in tile
    assert "So far: cohort 7 days old" in tile
    assert "younger than the organisation&#x27;s median sales cycle (36 days)" in tile
    assert "Q1 2026: 37.5%" in tile
    assert "down" not in tile and "▼" not in tile


def test_a_mature_periods_close_rate_is_compared(client, org, frozen):
    boss = UserFactory(username="boss", team=None, role="admin", is_staff=True)
    # February: L3 and L6, neither won: 0.0 %, against January's 3 of 4 (L1, L5, L7 won,
    # L2 lost) = 75.0 %. February's cohort is 60 days old, past the 36-day median: a drop.
    tile = close_rate_tile(client, boss, "?period=month&start=2026-02-01")
    assert "0.0%" in tile
    assert "So far" not in tile
    assert 'class="delta down"' in tile
    assert "75.0" in tile
