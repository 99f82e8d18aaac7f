"""The KPI API: token auth, the numbers as the contract says, errors that name the
parameter, and who may see which scope."""

import pytest
import time_machine
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.choices import Role
from metrics import summary
from tests.factories import TeamFactory, UserFactory
from tests.metrics.conftest import AS_OF

pytestmark = pytest.mark.django_db
Q1 = {"start": "2026-01-01", "end": "2026-03-31"}


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def frozen():
    with time_machine.travel(AS_OF, tick=False):
        yield


def as_user(api, user):
    api.force_authenticate(user)
    return api


def kpis(api, **params):
    return api.get(reverse("api-kpis"), params)


def test_token_login_then_read_the_organisation(api, org, frozen):
    UserFactory(username="boss", role=Role.ADMIN, team=None, password="s3cret-boss-pw")
    response = api.post(
        reverse("api-token"), {"username": "boss", "password": "s3cret-boss-pw"}, format="json"
    )
    assert response.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    body = kpis(api, scope="org", **Q1).json()
    # Money as strings with 2 decimals, rates as numbers, null where undefined
    assert body == {
        "scope": "org",
        "id": None,
        "start": "2026-01-01",
        "end": "2026-03-31",
        "as_of": "2026-04-15T00:00:00Z",
        "currency": "USD",  # the organisation's, which every amount below is in
        "leads_created": 8,
        "opportunities_created": 10,
        "deals_won": 4,
        "deals_lost": 3,
        "revenue": "39000.00",
        "win_rate": 4 / 7,
        "close_rate": 0.375,
        "opportunity_close_rate": 0.4,
        "avg_deal_size": "9750.00",
        "sales_cycle_days_mean": 36.6875,
        "sales_cycle_days_median": 35.75,
        "open_deals": 4,
        "pipeline_value": "26000.00",
        "weighted_pipeline": "16200.00",
        "sales_velocity": "607.45",
        "clv": "14333.33",
        "target": "50000.00",
        "attainment": 0.78,
    }


def test_the_currency_is_the_organisations(api, org, frozen):
    boss = UserFactory(username="boss", role=Role.ADMIN, team=None)
    with override_settings(ORGANISATION_CURRENCY="CHF"):
        body = kpis(as_user(api, boss), scope="org", **Q1).json()
    assert (body["currency"], body["revenue"]) == ("CHF", "39000.00")


def test_wrong_password_gets_no_token(api, rep):
    response = api.post(reverse("api-token"), {"username": "rep", "password": "nope"})
    assert response.status_code == 400
    assert "token" not in response.json()


def test_anonymous_gets_401(api, org):
    assert kpis(api, scope="org", **Q1).status_code == 401


def test_undefined_values_are_null(api, rep, frozen):
    body = kpis(as_user(api, rep), scope="user", id=rep.pk, **Q1).json()
    assert body["win_rate"] is None
    assert body["avg_deal_size"] is None
    assert body["revenue"] == "0.00"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"scope": "galaxy", **Q1}, "scope"),
        ({"scope": "team", **Q1}, "id"),
        ({"scope": "team", "id": "abc", **Q1}, "id"),
        ({"scope": "team", "id": "-3", **Q1}, "id"),
        ({"scope": "org", "start": "2026-13-01", "end": "2026-03-31"}, "start"),
        ({"scope": "org", "start": "2026-01-01"}, "end"),
        ({"scope": "org", "start": "2026-03-01", "end": "2026-02-28"}, "end"),
        ({"scope": "org", "start": "2026-01-01", "end": "2026-01-31", "period": "week"}, "period"),
    ],
)
def test_bad_parameters_answer_400_naming_the_parameter(api, admin_user, params, field):
    response = kpis(as_user(api, admin_user), **params)
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_unknown_ids_answer_404(api, admin_user):
    as_user(api, admin_user)
    assert kpis(api, scope="team", id=999999, **Q1).status_code == 404
    assert kpis(api, scope="user", id=999999, **Q1).status_code == 404


def test_a_rep_sees_only_their_own_figures(api, rep, other_rep, team):
    as_user(api, rep)
    assert kpis(api, scope="user", id=rep.pk, **Q1).status_code == 200
    assert kpis(api, scope="user", id=other_rep.pk, **Q1).status_code == 404
    assert kpis(api, scope="team", id=team.pk, **Q1).status_code == 404
    assert kpis(api, scope="org", **Q1).status_code == 404


def test_a_manager_sees_their_tree_and_nothing_else(
    api, manager, rep, outsider_rep, team, other_team, region
):
    sub_team = TeamFactory(name="Team North East", parent=team)
    as_user(api, manager)
    assert kpis(api, scope="team", id=team.pk, **Q1).status_code == 200
    assert kpis(api, scope="team", id=sub_team.pk, **Q1).status_code == 200
    assert kpis(api, scope="user", id=rep.pk, **Q1).status_code == 200
    assert kpis(api, scope="team", id=other_team.pk, **Q1).status_code == 404
    assert kpis(api, scope="team", id=region.pk, **Q1).status_code == 404
    assert kpis(api, scope="user", id=outsider_rep.pk, **Q1).status_code == 404
    assert kpis(api, scope="org", **Q1).status_code == 404


def test_kpis_use_a_fixed_number_of_queries(api, org, admin_user, django_assert_max_num_queries):
    as_user(api, admin_user)
    summary.drain()  # the fixture's rows, written in the test's transaction
    with django_assert_max_num_queries(13):
        assert kpis(api, scope="team", id=org.region.pk, **Q1).status_code == 200


def test_teams_and_users_are_found_by_name(api, admin_user, team, rep):
    as_user(api, admin_user)
    teams = api.get(reverse("team-list"), {"name": "team north"}).json()["results"]
    assert [(t["id"], t["name"]) for t in teams] == [(team.pk, "Team North")]
    users = api.get(reverse("user-list"), {"username": "rep"}).json()["results"]
    assert [(u["id"], u["team"]) for u in users] == [(rep.pk, team.pk)]


def test_a_rep_looks_up_only_themselves_and_their_team(api, rep, other_rep, other_team, team):
    as_user(api, rep)
    users = api.get(reverse("user-list")).json()["results"]
    assert [u["username"] for u in users] == ["rep"]
    teams = api.get(reverse("team-list")).json()["results"]
    assert [t["name"] for t in teams] == ["Team North"]
    assert api.get(reverse("user-detail", args=[other_rep.pk])).status_code == 404


def test_schema_and_docs_are_served(api, rep):
    as_user(api, rep)
    schema = api.get(reverse("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/v1/kpis/" in schema.json()["paths"]
    api.force_login(rep)  # the docs page is for a browser's session (login_required)
    assert api.get(reverse("api-docs")).status_code == 200
