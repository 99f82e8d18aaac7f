"""A rep's view of their own team's page (/teams/<their team>/): read-only, their own
figures beside the team's, a team figure only when at least four teammates besides them
have it (docs/security.md, "No figure derivable from an aggregate"), and nothing that
names a teammate next to a number: no leaderboard, comparison, sub-teams or deal lists."""

import datetime as dt
import re
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from accounts.choices import Role
from tests.factories import DealFactory, TeamFactory, UserFactory, default_stage
from tests.metrics.test_dashboards import text_of

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 2, 15, 12, tzinfo=dt.UTC)
Q1 = "?period=quarter&start=2026-01-01"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def win(rep, amount: str) -> None:
    DealFactory(
        owner=rep,
        stage=default_stage("Won"),
        amount=Decimal(amount),
        created_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        closed_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
    )


def team_page(client, user, team) -> str:
    client.force_login(user)
    response = client.get(reverse("metrics:team-dashboard", args=[team.pk]) + Q1)
    assert response.status_code == 200
    return response.content.decode()


def figure_row(html: str, label: str) -> str:
    """The "Figure Team You" row of one figure, as text."""
    table = text_of(html.split('class="table team-share"')[1].split("</table>")[0])
    match = re.search(rf"{label} (\S+(?: / day| days)?) (\S+)", table)
    assert match, table
    return match.group(0)


def test_in_a_team_of_two_the_rep_sees_their_own_figures_but_no_team_total(client, db):
    team = TeamFactory(name="Pair")
    mine = UserFactory(username="mine", team=team, role=Role.REP, first_name="Ann")
    mate = UserFactory(username="mate", team=team, role=Role.REP, first_name="Zelda")
    win(mine, "1000")
    win(mate, "7777")  # the team's 8,777 minus Ann's 1,000 would be Zelda's 7,777
    html = team_page(client, mine, team)
    text = text_of(html)
    assert figure_row(html, "Revenue") == "Revenue — $1,000"
    assert figure_row(html, "Deals won") == "Deals won — 1"
    assert "7,777" not in text and "8,777" not in text
    assert "Zelda" not in text  # no teammate named, let alone next to a figure
    assert "at least 4 of your teammates" in text
    for section in ("leaderboard", "comparison", 'class="table teams"', 'class="table deals"'):
        assert section not in html
    assert reverse("metrics:team-export", args=[team.pk]) not in html
    assert "/reps/" not in html and "/deals/" not in html.split("<main")[1]


def test_in_a_team_of_six_a_figure_shows_once_four_teammates_have_it(client, db):
    team = TeamFactory(name="Six")
    reps = [UserFactory(username=f"six{n}", team=team, role=Role.REP) for n in range(6)]
    for rep, amount in zip(reps[:5], ["100", "200", "300", "400", "500"], strict=True):
        win(rep, amount)  # reps[0] and four teammates won; reps[5] has nothing
    DealFactory(owner=reps[1], stage=default_stage("Proposal"), amount=Decimal("900"))
    html = team_page(client, reps[0], team)
    # Revenue: 100 + 200 + 300 + 400 + 500; minus the rep's 100, four teammates' 1,400.
    assert figure_row(html, "Revenue") == "Revenue $1,500 $100"
    assert figure_row(html, "Deals won") == "Deals won 5 1"
    # Only one teammate has an open deal: the team's pipeline would be theirs.
    assert figure_row(html, "Pipeline") == "Pipeline — $0"
    assert "900" not in text_of(html)


def test_the_rep_without_a_team_or_of_another_team_is_refused(client, rep, outsider_rep, team):
    client.force_login(outsider_rep)
    assert client.get(reverse("metrics:team-dashboard", args=[team.pk])).status_code == 404
    loner = UserFactory(username="loner", team=None, role=Role.REP)
    client.force_login(loner)
    assert client.get(reverse("metrics:team-dashboard", args=[team.pk])).status_code == 404


def test_the_reps_nav_links_to_their_team_and_a_managers_does_not(client, rep, manager, team):
    client.force_login(rep)
    html = client.get(reverse("metrics:my-performance")).content.decode()
    link = f'<a href="{reverse("metrics:team-dashboard", args=[team.pk])}" >My team</a>'
    assert link in html
    html = client.get(reverse("metrics:team-dashboard", args=[team.pk])).content.decode()
    assert 'aria-current="page">My team</a>' in html
    client.force_login(manager)
    assert "My team" not in client.get(reverse("metrics:my-performance")).content.decode()


def test_the_manager_still_sees_the_whole_team_page(client, rep, other_rep, manager, team):
    win(rep, "1000")
    win(other_rep, "7777")
    html = team_page(client, manager, team)
    assert 'class="table leaderboard"' in html and 'class="table comparison"' in html
    assert "7,777.00" in html and "team-share" not in html
