"""GET /api/v1/trends/: one point per month, closed months as the nightly snapshot froze
them, then this month live; the live point is kpis/ for the month to date, for every scope.
The organisation of tests/metrics/conftest.py, as of 15 April 2026, with February and
March frozen by the real snapshot job."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from metrics import summary
from metrics.kpis import KPI_KEYS
from metrics.services import kpi_snapshot_create
from tests.metrics.conftest import AS_OF

pytestmark = pytest.mark.django_db
MONTH_TO_DATE = {"start": "2026-04-01", "end": "2026-04-15"}


@pytest.fixture
def api(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


@pytest.fixture
def frozen(org):
    with time_machine.travel(AS_OF, tick=False):
        summary.drain()
        for day in (dt.date(2026, 2, 28), dt.date(2026, 3, 31)):
            kpi_snapshot_create(day=day)
        yield


def trend(api, **params):
    return api.get(reverse("api-trends"), params)


def values(body) -> list:
    return [(p["month"], p["state"], p["date"], p["value"]) for p in body["points"]]


def test_revenue_month_by_month_frozen_then_live(api, org, frozen):
    body = trend(api, scope="org", kpi="revenue", months=4).json()
    assert body["unit"] == "money" and body["as_of"] == "2026-04-15T00:00:00Z"
    # January: the job froze no day of it. February: D1 won 9 Feb, 10,000. March: D3
    # 20,000 and D5 6,000. April to the 15th, live: D7 won 10 April, 12,000.
    assert values(body) == [
        ("2026-01-01", "missing", None, None),
        ("2026-02-01", "frozen", "2026-02-28", "10000.00"),
        ("2026-03-01", "frozen", "2026-03-31", "26000.00"),
        ("2026-04-01", "live", "2026-04-15", "12000.00"),
    ]


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        # February: decided D1 (won) and D9 (lost) -> 1/2. March: won D3, D5, lost D2 ->
        # 2/3. April: won D7 -> 1.
        ("org", [0.5, 2 / 3, 1.0]),
        # Team B: lost D9 in February -> 0 (a real zero); nothing decided in March -> null.
        ("team_b", [0.0, None, 1.0]),
        # a1: won D1 in February; won D3, lost D2 in March; nothing decided in April -> null.
        ("a1", [1.0, 0.5, None]),
    ],
)
def test_a_month_without_decided_deals_is_null(api, org, frozen, scope, expected):
    params = {"scope": "org"}
    if scope == "team_b":
        params = {"scope": "team", "id": org.team_b.pk}
    elif scope == "a1":
        params = {"scope": "user", "id": org.a1.pk}
    body = trend(api, **params, kpi="win_rate", months=3).json()
    assert [p["value"] for p in body["points"]] == expected


@pytest.mark.parametrize("scope", ["org", "region", "team_a", "team_b", "a1", "b1"])
def test_the_last_point_is_kpis_for_the_month_to_date(api, org, frozen, scope):
    params = {
        "org": {"scope": "org"},
        "region": {"scope": "team", "id": org.region.pk},
        "team_a": {"scope": "team", "id": org.team_a.pk},
        "team_b": {"scope": "team", "id": org.team_b.pk},
        "a1": {"scope": "user", "id": org.a1.pk},
        "b1": {"scope": "user", "id": org.b1.pk},
    }[scope]
    kpis = api.get(reverse("api-kpis"), {**params, **MONTH_TO_DATE}).json()
    # Hand-computed April to date: D7 (b1, team B) won 12,000; D12 (a1, team A) opened.
    revenue = {"org": "12000.00", "region": "12000.00", "team_b": "12000.00", "b1": "12000.00"}
    assert kpis["revenue"] == revenue.get(scope, "0.00")
    assert kpis["opportunities_created"] == (1 if scope in ("org", "region", "team_a", "a1") else 0)
    for key in KPI_KEYS:
        point = trend(api, **params, kpi=key, months=2).json()["points"][-1]
        assert (point["state"], point["date"]) == ("live", "2026-04-15")
        assert point["value"] == kpis[key], key


def test_a_rep_reads_only_their_own_trend(org, frozen):
    api = APIClient()
    api.force_authenticate(org.a1)
    assert trend(api, scope="user", id=org.a1.pk, kpi="revenue").status_code == 200
    assert trend(api, scope="user", id=org.b1.pk, kpi="revenue").status_code == 404
    assert trend(api, scope="user", id=org.a2.pk, kpi="revenue").status_code == 404
    assert trend(api, scope="team", id=org.team_a.pk, kpi="revenue").status_code == 404
    assert trend(api, scope="org", kpi="revenue").status_code == 404
    assert trend(APIClient(), scope="org", kpi="revenue").status_code == 401


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"scope": "galaxy", "kpi": "revenue"}, ["scope"]),
        ({"scope": "team", "kpi": "revenue"}, ["id"]),
        ({"scope": "team", "id": "abc", "kpi": "revenue"}, ["id"]),
        ({"scope": "org", "kpi": "happiness"}, ["kpi"]),
        ({"scope": "org"}, ["kpi"]),
        ({"scope": "org", "kpi": "revenue", "months": "0"}, ["months"]),
        ({"scope": "org", "kpi": "revenue", "months": "37"}, ["months"]),
        ({"scope": "org", "kpi": "revenue", "months": "twelve"}, ["months"]),
    ],
)
def test_bad_parameters_answer_400_naming_them(api, params, fields):
    response = trend(api, **params)
    assert response.status_code == 400
    assert sorted(response.json()) == fields


def test_twelve_months_by_default_and_at_most_36(api, org, frozen):
    assert len(trend(api, scope="org", kpi="revenue").json()["points"]) == 12
    points = trend(api, scope="org", kpi="revenue", months=36).json()["points"]
    assert len(points) == 36 and points[0]["month"] == "2023-05-01"


@pytest.mark.parametrize("months", [2, 36])
def test_the_query_count_does_not_grow_with_months(api, org, frozen, months):
    # The scope's team (1), the snapshots of the closed months (1) and the live month from
    # the summary tables, like kpis/ (10): 12, whether 2 months or 36.
    with CaptureQueriesContext(connection) as queries:
        response = trend(api, scope="team", id=org.region.pk, kpi="revenue", months=months)
    assert response.status_code == 200
    assert len(queries) == 12


def test_the_trend_is_in_the_schema(api):
    schema = api.get(reverse("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/v1/trends/"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"scope", "id", "kpi", "months"} <= names
    assert {"200", "400", "404"} <= set(operation["responses"])
