"""The team and organisation KPI tables as CSV: the hand-computed first quarter of 2026 of
tests/metrics/conftest.py, who may download which table, and a fixed query budget."""

import csv
import io

import pytest
import time_machine
from django.urls import reverse

from metrics import summary
from metrics.dashboards.tables import KPI_TABLE_COLUMNS
from tests.factories import DealFactory, UserFactory, default_stage
from tests.metrics.conftest import AS_OF, at

pytestmark = pytest.mark.django_db
Q1 = {"period": "quarter", "start": "2026-01-01"}


@pytest.fixture(autouse=True)
def _as_of():
    with time_machine.travel(AS_OF, tick=False):
        yield


def _table(response) -> dict[tuple[str, str], dict[str, str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode()
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == KPI_TABLE_COLUMNS
    return {(row["row"], row["name"]): row for row in reader}


def test_the_organisation_table_has_every_team_and_rep_with_hand_computed_figures(
    client, org, admin_user
):
    client.force_login(admin_user)
    table = _table(client.get(reverse("metrics:org-export"), Q1))
    assert set(table) == {
        ("team", "A"),
        ("team", "B"),
        ("team", "R"),
        ("rep", org.a1.get_full_name()),
        ("rep", org.a2.get_full_name()),
        ("rep", org.b1.get_full_name()),
    }
    a1 = table[("rep", org.a1.get_full_name())]
    # a1: D1 10,000 and D3 20,000 won, D2 lost; Q1 target 25,000.
    assert (a1["revenue"], a1["deals_won"], a1["deals_lost"]) == ("30000.00", "2", "1")
    assert float(a1["win_rate"]) == pytest.approx(2 / 3)
    assert (a1["target"], float(a1["attainment"])) == ("25000.00", 1.2)
    assert (a1["team"], a1["parent_team"], a1["start"], a1["end"]) == (
        "A",
        "R",
        "2026-01-01",
        "2026-03-31",
    )
    # Team A: a1's 30,000 and a2's D5 6,000 against 40,000; the region adds b1's D8 3,000.
    team_a, region = table[("team", "A")], table[("team", "R")]
    assert (team_a["revenue"], float(team_a["attainment"])) == ("36000.00", 0.9)
    assert (region["revenue"], region["target"]) == ("39000.00", "50000.00")
    assert float(region["attainment"]) == pytest.approx(0.78)
    # Undefined is an empty cell, never 0: team B has no Q1 target.
    assert table[("team", "B")]["target"] == ""


def test_a_team_table_holds_the_teams_tree_only(client, org):
    manager = UserFactory(username="boss_a", role="manager", team=org.team_a)
    org.team_a.manager = manager
    org.team_a.save()
    client.force_login(manager)
    table = _table(client.get(reverse("metrics:team-export", args=[org.team_a.pk]), Q1))
    assert set(table) == {
        ("team", "A"),
        ("rep", org.a1.get_full_name()),
        ("rep", org.a2.get_full_name()),
    }
    assert table[("rep", org.a2.get_full_name())]["revenue"] == "6000.00"


def test_who_may_download_which_table(client, org):
    manager = UserFactory(username="boss_a", role="manager", team=org.team_a)
    org.team_a.manager = manager
    org.team_a.save()
    client.force_login(manager)
    assert client.get(reverse("metrics:team-export", args=[org.team_b.pk])).status_code == 404
    assert client.get(reverse("metrics:team-export", args=[org.region.pk])).status_code == 404
    assert client.get(reverse("metrics:org-export")).status_code == 404
    client.force_login(org.a1)
    assert client.get(reverse("metrics:team-export", args=[org.team_a.pk])).status_code == 404
    assert client.get(reverse("metrics:org-export")).status_code == 404
    client.logout()
    assert client.get(reverse("metrics:org-export")).status_code == 302


@pytest.mark.parametrize("extra_deals", [0, 30])
def test_the_table_costs_the_same_queries_whatever_the_data(
    client, org, admin_user, extra_deals, django_assert_max_num_queries
):
    for index in range(extra_deals):
        owner = UserFactory(team=org.team_b) if index % 10 == 0 else org.b1
        DealFactory(owner=owner, stage=default_stage("Won"), created_at=at(2, 1))
    client.force_login(admin_user)
    summary.drain()
    with django_assert_max_num_queries(32):
        _table(client.get(reverse("metrics:org-export"), Q1))


def test_team_and_rep_names_are_written_as_text_not_formulas(client, org, admin_user):
    org.team_b.name = '=HYPERLINK("http://evil.example")'
    org.team_b.save()
    org.b1.first_name, org.b1.last_name = "@cmd", "x"
    org.b1.save()
    client.force_login(admin_user)
    table = _table(client.get(reverse("metrics:org-export"), Q1))
    assert ("team", '\'=HYPERLINK("http://evil.example")') in table
    b1 = table[("rep", "'@cmd x")]
    assert b1["team"] == '\'=HYPERLINK("http://evil.example")'
    assert b1["revenue"] == "3000.00"  # figures stay numbers
