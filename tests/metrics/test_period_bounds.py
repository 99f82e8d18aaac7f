"""Period inputs at the ends of the calendar: every dashboard and KPI export falls back to
this quarter with a message instead of answering 500; the deal list and the target grid
stay safe too. Dates run from 1 Jan 1900 to 31 Dec 2200 (periods.calendar)."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from metrics.dashboards import period_from_params, period_picker
from metrics.targets import YEAR_MAX, YEAR_MIN
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db
TODAY = dt.datetime(2026, 5, 20, 12, tzinfo=dt.UTC)  # this quarter: Q2 2026
MESSAGE = "Dates run from 1 Jan 1900 to 31 Dec 2200. Showing Q2 2026 instead."

OUT_OF_RANGE = [
    {"period": "quarter", "start": "0001-01-01"},
    {"period": "year", "start": "9999-12-31"},
    {"period": "month", "start": "1899-12-31"},
    {"period": "year", "start": "2201-01-01"},
    {"period": "custom", "start": "9999-12-01", "end": "9999-12-31"},
    {"period": "custom", "start": "0001-01-01", "end": "0001-01-31"},
    {"period": "custom", "start": "2200-12-01", "end": "2201-01-31"},
]


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(TODAY, tick=False):
        yield


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pages(rep, team):
    return [
        ("rep", reverse("metrics:my-performance")),
        ("manager", reverse("metrics:rep-performance", args=[rep.pk])),
        ("manager", reverse("metrics:team-dashboard", args=[team.pk])),
        ("admin_user", reverse("metrics:org-dashboard")),
    ]


@pytest.mark.parametrize("params", OUT_OF_RANGE, ids=lambda p: "-".join(p.values()))
def test_every_dashboard_falls_back_to_this_quarter_with_a_message(
    request, client, rep, manager, admin_user, team, params
):
    for persona, url in pages(rep, team):
        client.force_login(request.getfixturevalue(persona))
        response = client.get(url, params)
        assert response.status_code == 200, url
        assert response.context["period"].label == "Q2 2026", url
        assert MESSAGE in response.content.decode(), url


@pytest.mark.parametrize("params", OUT_OF_RANGE, ids=lambda p: "-".join(p.values()))
def test_kpi_exports_fall_back_to_this_quarter(client, manager, admin_user, team, params):
    for user, url in [
        (manager, reverse("metrics:team-export", args=[team.pk])),
        (admin_user, reverse("metrics:org-export")),
    ]:
        client.force_login(user)
        response = client.get(url, params)
        assert response.status_code == 200, url
        assert "2026-04-01-2026-06-30.csv" in response["Content-Disposition"], url


@pytest.mark.parametrize(
    ("params", "label"),
    [
        ({"period": "quarter", "start": "1900-01-01"}, "Q1 1900"),
        ({"period": "year", "start": "2200-12-31"}, "2200"),
        ({"period": "custom", "start": "2200-12-01", "end": "2200-12-31"}, "1 Dec – 31 Dec 2200"),
    ],
)
def test_the_first_and_last_periods_of_the_calendar_show(client, rep, params, label):
    client.force_login(rep)
    response = client.get(reverse("metrics:my-performance"), params)
    assert response.status_code == 200
    assert response.context["period"].label == label
    assert "Dates run from" not in response.content.decode()


def test_the_first_period_has_no_link_before_it():
    period, form = period_from_params(
        {"period": "quarter", "start": "1900-02-01"}, today=TODAY.date()
    )
    picker = period_picker(period, form, today=TODAY.date())
    assert (period.label, picker.previous) == ("Q1 1900", None)


@pytest.mark.parametrize(
    ("period", "listed"),
    [
        ("this_quarter", {"Due in May"}),
        ("last_year", {"Due last March"}),
        # Not a period: the field says so and the list stays unfiltered.
        ("9999-12-31", {"Due in May", "Due last March"}),
        ("0001", {"Due in May", "Due last March"}),
    ],
)
def test_the_deal_list_period_filter_never_fails(client, rep, period, listed):
    DealFactory(owner=rep, name="Due in May", expected_close_date=dt.date(2026, 5, 30))
    DealFactory(owner=rep, name="Due last March", expected_close_date=dt.date(2025, 3, 1))
    client.force_login(rep)
    response = client.get(reverse("pipeline:deal-list"), {"period": period})
    assert response.status_code == 200
    assert {deal.name for deal in response.context["page_obj"]} == listed
    assert ("Select a valid choice" in response.content.decode()) == (len(listed) == 2)


def test_the_target_grid_years_are_the_calendars():
    assert (YEAR_MIN, YEAR_MAX) == (1900, 2200)


@pytest.mark.parametrize("year", ["0", "1", "1899", "2201", "9999", "99999999999", "x"])
def test_the_target_grid_falls_back_for_a_year_outside_the_calendar(client, manager, year):
    client.force_login(manager)
    response = client.get(reverse("metrics:targets"), {"year": year})
    assert response.status_code == 200
    assert response.context["grid"].year == 2026  # this year, with the field's error
    assert response.context["query"].errors["year"]
