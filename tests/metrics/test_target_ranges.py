"""Targets for any range (docs/kpis.md "Targets"): whole periods add up, a period without a
target takes its parts' or its share of the enclosing one, partial months are prorated by
days, rounded once to the cent; the page and the API show the same figure."""

import datetime as dt
import html
import re
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.choices import Role
from metrics.kpis import kpis_for_scope
from metrics.target_ranges import target_for_range, to_money
from tests.factories import TargetFactory, TeamFactory, UserFactory

D = dt.date
AS_OF = dt.datetime(2027, 1, 15, tzinfo=dt.UTC)


def target(plan, start, end, period=None):
    found = target_for_range(plan, start, end, period)
    return None if found is None else (to_money(found.value), found.basis)


# The year case of the issue: a year target of 1,439,000 and quarters of 357,000 and 400,000.
YEAR_AND_QUARTERS = {
    ("year", D(2026, 1, 1)): Decimal("1439000"),
    ("quarter", D(2026, 1, 1)): Decimal("357000"),
    ("quarter", D(2026, 4, 1)): Decimal("400000"),
}


def test_first_half_is_the_sum_of_its_quarters_not_the_year():
    # 357,000 + 400,000 = 757,000
    assert target(YEAR_AND_QUARTERS, D(2026, 1, 1), D(2026, 6, 30)) == (
        Decimal("757000.00"),
        "sum of the quarters' targets",
    )


def test_a_whole_year_keeps_its_own_target():
    assert target(YEAR_AND_QUARTERS, D(2026, 1, 1), D(2026, 12, 31)) == (
        Decimal("1439000.00"),
        "",
    )


def test_year_to_date_compares_with_the_whole_year():
    # period=year: the snapshot's year to date, attainment against the whole year
    assert target(YEAR_AND_QUARTERS, D(2026, 1, 1), D(2026, 6, 30), "year") == (
        Decimal("1439000.00"),
        "",
    )


def test_a_month_with_only_a_quarter_target_takes_its_share_by_days():
    # Q4 has 92 days; December 31 of them: 300,000 x 31 / 92 = 101,086.956... -> 101,086.96
    plan = {("quarter", D(2026, 10, 1)): Decimal("300000")}
    assert target(plan, D(2026, 12, 1), D(2026, 12, 31)) == (
        Decimal("101086.96"),
        "from the quarter's target",
    )
    # the same as December to date
    assert target(plan, D(2026, 12, 1), D(2026, 12, 16), "month")[0] == Decimal("101086.96")


def test_a_month_with_its_own_target_ignores_the_quarter():
    plan = {
        ("quarter", D(2026, 10, 1)): Decimal("300000"),
        ("month", D(2026, 12, 1)): Decimal("80000"),
    }
    assert target(plan, D(2026, 12, 1), D(2026, 12, 31)) == (Decimal("80000.00"), "")


def test_a_month_with_only_a_year_target_takes_its_share_of_the_year():
    # 2026 has 365 days: 1,460,000 is 4,000 a day, February's 28 days 112,000
    plan = {("year", D(2026, 1, 1)): Decimal("1460000")}
    assert target(plan, D(2026, 2, 1), D(2026, 2, 28)) == (
        Decimal("112000.00"),
        "from the year's target",
    )


def test_partial_months_are_prorated_by_days():
    # 15 Jan..10 Feb: 17/31 of January's 31,000 + 10/28 of February's 28,000 = 17,000 + 10,000
    plan = {
        ("month", D(2026, 1, 1)): Decimal("31000"),
        ("month", D(2026, 2, 1)): Decimal("28000"),
    }
    assert target(plan, D(2026, 1, 15), D(2026, 2, 10)) == (
        Decimal("27000.00"),
        "sum of the months' targets, prorated by days",
    )


def test_a_partial_month_prorates_a_month_target_that_is_itself_derived():
    # January has 31,000; February none, so 28/90 of Q1's 90,000 = 28,000;
    # 15 Jan..10 Feb: 17/31 x 31,000 + 10/28 x 28,000 = 17,000 + 10,000
    plan = {
        ("quarter", D(2026, 1, 1)): Decimal("90000"),
        ("month", D(2026, 1, 1)): Decimal("31000"),
    }
    assert target(plan, D(2026, 1, 15), D(2026, 2, 10)) == (
        Decimal("27000.00"),
        "the month's target and a share of the quarter's target, prorated by days",
    )


def test_a_quarter_without_a_target_sums_its_months():
    # 100,000 + 110,000 + 120,000
    plan = {
        ("month", D(2026, 10, 1)): Decimal("100000"),
        ("month", D(2026, 11, 1)): Decimal("110000"),
        ("month", D(2026, 12, 1)): Decimal("120000"),
    }
    assert target(plan, D(2026, 10, 1), D(2026, 12, 31)) == (
        Decimal("330000.00"),
        "sum of the months' targets",
    )


def test_a_quarter_with_two_of_three_months_takes_its_share_of_the_year():
    # Two months are not the quarter: Q4 takes 92/365 of the year's 1,460,000 = 368,000
    plan = {
        ("year", D(2026, 1, 1)): Decimal("1460000"),
        ("month", D(2026, 10, 1)): Decimal("100000"),
        ("month", D(2026, 11, 1)): Decimal("100000"),
    }
    assert target(plan, D(2026, 10, 1), D(2026, 12, 31)) == (
        Decimal("368000.00"),
        "from the year's target",
    )
    # Without the year, the months that have a target are all there is: 200,000
    del plan[("year", D(2026, 1, 1))]
    assert target(plan, D(2026, 10, 1), D(2026, 12, 31)) == (
        Decimal("200000.00"),
        "sum of the months' targets; not every part has a target",
    )


def test_no_target_anywhere_is_none():
    plan = {("year", D(2025, 1, 1)): Decimal("1000")}
    assert target(plan, D(2026, 1, 1), D(2026, 3, 31)) is None


def test_rounded_half_up_to_the_cent():
    # 1.38 x 31 / 92 = 0.465 exactly: half up gives 0.47 (half to even would give 0.46)
    plan = {("quarter", D(2026, 10, 1)): Decimal("1.38")}
    assert target(plan, D(2026, 12, 1), D(2026, 12, 31))[0] == Decimal("0.47")


@pytest.mark.django_db
def test_the_organisation_sums_its_teams_exactly_then_rounds_once():
    # Two top-level teams with Q4 1.38 each: December 0.465 + 0.465 = 0.93
    # (rounding each team first would give 0.47 + 0.47 = 0.94)
    for name in ("North", "South"):
        TargetFactory(
            user=None,
            team=TeamFactory(name=name),
            period_kind="quarter",
            period_start=D(2026, 10, 1),
            value=Decimal("1.38"),
        )
    org = kpis_for_scope(
        kind="org", scope_id=None, start=D(2026, 12, 1), end=D(2026, 12, 31), as_of=AS_OF
    )
    assert (org.target, org.target_basis) == (Decimal("0.93"), "from the quarter's target")


@pytest.fixture
def sales(db):
    """A team with the issue's year case (year 1,439,000, Q1 357,000, Q2 400,000) and a Q4
    target of 300,000, and its manager."""
    team = TeamFactory(name="Sales")
    manager = UserFactory(username="sales_manager", team=team, role=Role.MANAGER)
    team.manager = manager
    team.save()
    for kind, start, value in [
        ("year", D(2026, 1, 1), "1439000"),
        ("quarter", D(2026, 1, 1), "357000"),
        ("quarter", D(2026, 4, 1), "400000"),
        ("quarter", D(2026, 10, 1), "300000"),
    ]:
        TargetFactory(
            user=None, team=team, period_kind=kind, period_start=start, value=Decimal(value)
        )
    return team


def _page_text(client, user, team, query):
    client.force_login(user)
    response = client.get(reverse("metrics:team-dashboard", kwargs={"team_id": team.pk}) + query)
    assert response.status_code == 200
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


def _api_target(user, team, **params):
    api = APIClient()
    api.force_authenticate(user)
    response = api.get(reverse("api-kpis"), {"scope": "team", "id": team.pk, **params})
    assert response.status_code == 200
    return response.json()["target"]


@time_machine.travel(AS_OF, tick=False)
def test_page_and_api_show_the_same_first_half_target(client, sales):
    manager = sales.manager
    text = _page_text(client, manager, sales, "?period=custom&start=2026-01-01&end=2026-06-30")
    assert re.search(r"of \S*757,000(\.00)? target", text), text
    assert "Target: sum of the quarters' targets" in text
    assert "1,439,000" not in text
    assert _api_target(manager, sales, start="2026-01-01", end="2026-06-30") == "757000.00"


@time_machine.travel(AS_OF, tick=False)
def test_december_under_a_quarter_target_is_derived_not_missing(client, sales):
    manager = sales.manager
    text = _page_text(client, manager, sales, "?period=month&start=2026-12-01")
    assert "No target" not in text
    assert re.search(r"of \S*101,08[67](\.96)? target", text), text
    assert "Target: from the quarter's target" in text
    assert _api_target(manager, sales, start="2026-12-01", end="2026-12-31") == "101086.96"
    assert (
        _api_target(manager, sales, start="2026-12-01", end="2026-12-31", period="month")
        == "101086.96"
    )
