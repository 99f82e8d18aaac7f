"""The dashboards: who sees which page, the numbers they show (the hand-computed
organisation of tests/metrics/conftest.py, first quarter of 2026, as of 15 April), the
trend read from snapshot rows, the empty states, and a query budget that holds whatever
the number of deals."""

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.choices import Role
from metrics import dashboards, summary
from metrics.dashboards import CUSTOM, Period, period_from_params
from metrics.kpis import funnel_for_scope, kpis_for_scope, pipeline_by_stage
from pipeline.services import deal_move_to_stage
from tests.factories import (
    DealFactory,
    KPISnapshotFactory,
    StageChangeFactory,
    TeamFactory,
    UserFactory,
    default_stage,
)
from tests.metrics.conftest import AS_OF, Q1, at

pytestmark = pytest.mark.django_db

Q1_CUSTOM = "?period=custom&start=2026-01-01&end=2026-03-31"
Q1_QUARTER = "?period=quarter&start=2026-01-01"


@pytest.fixture
def frozen():
    with time_machine.travel(AS_OF, tick=False):
        yield


@pytest.fixture
def team_a_manager(org):
    manager = UserFactory(username="manager_a", team=org.team_a, role=Role.MANAGER)
    org.team_a.manager = manager
    org.team_a.save()
    return manager


@pytest.fixture
def boss(db):
    return UserFactory(username="boss", team=None, role=Role.ADMIN, is_staff=True)


def page(client, user, name, query="", **kwargs):
    client.force_login(user)
    response = client.get(reverse(f"metrics:{name}", kwargs=kwargs) + query)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def text_of(html: str) -> str:
    """The visible text, tags dropped and whitespace squeezed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def json_data(html: str, element_id: str):
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html)
    assert match, f"no json_script #{element_id}"
    return json.loads(match.group(1))


def assert_no_broken_numbers(html: str) -> None:
    # A chart's JSON (json_script) says null for an undefined point: data, not page text.
    text = text_of(re.sub(r"<script[^>]*>.*?</script>", " ", html, flags=re.S))
    for bad in (r"\bNaN\b", r"\bNone\b", r"\binf\b", r"\bInfinity\b", r"\bnull\b"):
        assert not re.search(bad, text), f"{bad} on the page"


# --- Home redirect --------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_log_in(client, rep, team):
    for url in [
        reverse("metrics:home"),
        reverse("metrics:my-performance"),
        reverse("metrics:rep-performance", args=[rep.pk]),
        reverse("metrics:team-dashboard", args=[team.pk]),
        reverse("metrics:org-dashboard"),
        reverse("metrics:glossary"),
    ]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("rep", lambda team, region: reverse("metrics:my-performance")),
        ("manager", lambda team, region: reverse("metrics:team-dashboard", args=[team.pk])),
        (
            "region_manager",
            lambda team, region: reverse("metrics:team-dashboard", args=[region.pk]),
        ),
        ("admin_user", lambda team, region: reverse("metrics:org-dashboard")),
    ],
)
def test_home_redirects_each_role_to_its_dashboard(
    client, request, team, region, persona, expected
):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(reverse("metrics:home"))
    assert response.status_code == 302
    assert response["Location"] == expected(team, region)


def test_home_sends_a_rep_without_a_team_to_their_own_page(client, db):
    client.force_login(UserFactory(username="loner", team=None, role=Role.REP))
    response = client.get(reverse("metrics:home"), follow=True)
    assert response.redirect_chain == [(reverse("metrics:my-performance"), 302)]
    assert response.status_code == 200


def test_home_sends_a_manager_without_a_team_to_their_own_page(client, db):
    client.force_login(UserFactory(username="adrift", team=None, role=Role.MANAGER))
    assert client.get(reverse("metrics:home"))["Location"] == reverse("metrics:my-performance")


# --- Who sees what ----------------------------------------------------------------------------


def test_each_persona_sees_their_pages(
    client, rep, manager, region_manager, admin_user, team, region
):
    page(client, rep, "my-performance")
    page(client, rep, "rep-performance", user_id=rep.pk)
    page(client, rep, "glossary")
    page(client, manager, "team-dashboard", team_id=team.pk)
    page(client, manager, "rep-performance", user_id=rep.pk)
    page(client, region_manager, "team-dashboard", team_id=region.pk)
    page(client, region_manager, "team-dashboard", team_id=team.pk)
    page(client, admin_user, "org-dashboard")
    page(client, admin_user, "team-dashboard", team_id=region.pk)
    page(client, admin_user, "rep-performance", user_id=rep.pk)


def get_status(client, user, name, **kwargs) -> int:
    client.force_login(user)
    return client.get(reverse(f"metrics:{name}", kwargs=kwargs)).status_code


def test_a_rep_cannot_open_another_reps_page(client, rep, other_rep):
    assert get_status(client, rep, "rep-performance", user_id=other_rep.pk) == 404


def test_a_rep_opens_only_their_own_teams_page_and_not_the_organisation(
    client, rep, team, other_team, region
):
    assert get_status(client, rep, "team-dashboard", team_id=team.pk) == 200
    assert get_status(client, rep, "team-dashboard", team_id=other_team.pk) == 404
    assert get_status(client, rep, "team-dashboard", team_id=region.pk) == 404  # above theirs
    assert get_status(client, rep, "team-dashboard", team_id=999_999) == 404
    assert get_status(client, rep, "team-export", team_id=team.pk) == 404
    assert get_status(client, rep, "org-dashboard") == 404


def test_a_manager_cannot_open_another_team_or_its_reps(
    client, manager, other_team, outsider_rep, region
):
    assert get_status(client, manager, "team-dashboard", team_id=other_team.pk) == 404
    assert get_status(client, manager, "team-dashboard", team_id=region.pk) == 404
    assert get_status(client, manager, "rep-performance", user_id=outsider_rep.pk) == 404
    assert get_status(client, manager, "org-dashboard") == 404


def test_a_region_manager_sees_every_team_and_rep_below(
    client, region_manager, other_team, outsider_rep
):
    assert get_status(client, region_manager, "team-dashboard", team_id=other_team.pk) == 200
    assert get_status(client, region_manager, "rep-performance", user_id=outsider_rep.pk) == 200
    assert get_status(client, region_manager, "org-dashboard") == 404


def test_unknown_ids_are_404(client, admin_user):
    assert get_status(client, admin_user, "rep-performance", user_id=999_999) == 404
    assert get_status(client, admin_user, "team-dashboard", team_id=999_999) == 404


def test_a_manager_drilling_into_a_rep_gets_a_way_back_to_the_team(client, manager, rep, team):
    html = page(client, manager, "rep-performance", user_id=rep.pk)
    assert reverse("metrics:team-dashboard", args=[team.pk]) in html
    html = page(client, rep, "my-performance")
    assert 'class="crumbs"' not in html  # their own page: no way "back" to a team page


# --- The numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize("query", [Q1_CUSTOM, Q1_QUARTER])
def test_team_page_shows_revenue_against_target(client, org, team_a_manager, frozen, query):
    html = page(client, team_a_manager, "team-dashboard", query, team_id=org.team_a.pk)
    text = text_of(html)
    # Team A won D1 10,000 + D3 20,000 + D5 6,000 in Q1, against its 40,000 target.
    assert "$36,000 of $40,000 target" in text
    assert "90.0% attained" in text
    assert '<progress class="progress" max="100" value="90"' in html
    # Win rate: won D1, D3, D5; lost D2, D13: 3/5.
    assert re.search(r"Win rate\s+60\.0%", text)
    assert_no_broken_numbers(html)


def test_team_page_ranks_its_reps(client, org, team_a_manager, frozen):
    html = page(client, team_a_manager, "team-dashboard", Q1_CUSTOM, team_id=org.team_a.pk)
    leaderboard = text_of(html.split('class="table leaderboard"')[1].split("</table>")[0])
    # a1: 30,000 against 25,000 (120 %); a2: 6,000 without a target.
    assert re.search(
        r"1 First\d+ Tester \$30,000 \$25,000 120\.0% 2 66\.7% "
        r"2 First\d+ Tester \$6,000 — — 1 50\.0%",
        leaderboard,
    ), leaderboard
    # The reps' median: revenue (30,000 + 6,000) / 2, win rate (2/3 + 1/2) / 2.
    comparison = text_of(html.split('class="table comparison"')[1].split("</table>")[0])
    assert re.search(r"Median \$18,000 58\.3%", comparison), comparison


def test_leaderboard_sorts_by_a_column_and_ignores_unknown_ones(
    client, org, team_a_manager, frozen
):
    def names(query):
        html = page(client, team_a_manager, "team-dashboard", query, team_id=org.team_a.pk)
        table = html.split('class="table leaderboard"')[1].split("</table>")[0]
        return re.findall(r'href="/reps/(\d+)/"', table)

    a1, a2 = str(org.a1.pk), str(org.a2.pk)
    assert names(Q1_CUSTOM) == [a1, a2]
    assert names(Q1_CUSTOM + "&sort=revenue") == [a2, a1]
    assert names(Q1_CUSTOM + "&sort=-win_rate") == [a1, a2]
    assert names(Q1_CUSTOM + "&sort=-attainment") == [a1, a2]  # a2 has none: last
    assert names(Q1_CUSTOM + "&sort=password") == [a1, a2]


def test_region_page_shows_each_sub_team(client, org, frozen):
    manager = UserFactory(username="manager_r", team=org.region, role=Role.MANAGER)
    org.region.manager = manager
    org.region.save()
    html = page(client, manager, "team-dashboard", Q1_CUSTOM, team_id=org.region.pk)
    text = text_of(html)
    # The region: 39,000 against 50,000; team B won D8 (3,000) and has no target.
    assert "$39,000 of $50,000 target" in text
    assert "78.0% attained" in text
    teams = text_of(html.split('class="table teams"')[1].split("</table>")[0])
    assert re.search(r"A \$36,000 \$40,000 90\.0%", teams), teams
    assert re.search(r"B \$3,000 no target —", teams), teams


def test_rep_page_compares_with_the_previous_period_but_hides_a_median_of_two(client, org, frozen):
    html = page(client, org.a1, "my-performance", Q1_QUARTER)
    text = text_of(html)
    # a1 won D1 and D3 (30,000) against 25,000 for Q1; lost D2.
    assert "$30,000 of $25,000 target" in text
    assert "120.0% attained" in text
    assert "Target reached" in text
    # Win rate 2/3; no decided deal in Q4 2025 to compare with. Team A has two reps: its
    # median would give a2's figures away (2 x median - own), so it is withheld.
    assert re.search(r"Win rate 66\.7% Q4 2025: — Team median —", text), text
    assert re.search(r"Pipeline \$8,000 Q4 2025: \$0 Team median —", text), text
    assert "Team median needs at least 5 reps with a figure" in text
    assert 'title="Team median needs at least 5 reps with this figure"' in html
    # Nothing of a2 on the page: revenue 6,000 (D5), weighted pipeline 3,000 (D11: 4,000 at
    # 75 %), nor the medians they would make: win rate (2/3 + 1/2) / 2, deal
    # size (15,000 + 6,000) / 2, revenue 18,000, weighted pipeline (4,000 + 3,000) / 2.
    for figure in ("6,000", "3,000", "58.3%", "10,500", "18,000", "3,500"):
        assert figure not in text, text[text.find(figure) - 150 : text.find(figure) + 50]
    assert_no_broken_numbers(html)


def test_a_manager_sees_the_median_of_a_small_team_on_a_reps_page(
    client, org, team_a_manager, frozen
):
    # The manager sees each of the two reps anyway: the median gives nothing away.
    html = page(client, team_a_manager, "rep-performance", Q1_QUARTER, user_id=org.a1.pk)
    text = text_of(html)
    # Team median of the win rate (2/3 + 1/2) / 2.
    assert re.search(r"Win rate 66\.7% Q4 2025: — Team median 58\.3%", text), text
    # Average deal size 15,000 (whole units in the tile), the median (15,000 + 6,000) / 2.
    assert re.search(r"Average deal size \$15,000 Q4 2025: — Team median \$10,500", text)
    # Pipeline on 31 March: D4 8,000, 50 % weighted; it was 0 at the end of Q4 2025.
    assert re.search(r"Pipeline \$8,000 Q4 2025: \$0 Team median \$6,000", text)
    assert_no_broken_numbers(html)


def test_rep_page_shows_changes_against_the_quarter_before(client, org, frozen):
    # a2 won D6 (4,000) in Q4 2025 and D5 (6,000) in Q1 2026.
    html = page(client, org.a2, "my-performance", Q1_QUARTER)
    text = text_of(html)
    assert re.search(r"Average deal size \$6,000 ▲ 50\.0% vs Q4 2025", text), text
    # Win rate 100 % then (D6 won), 50 % now (D5 won, D13 lost): 50 points down.
    assert re.search(r"Win rate 50\.0% ▼ 50\.0 pts vs Q4 2025", text), text
    assert '<span class="delta down"' in html


def test_org_page_shows_the_organisation(client, org, boss, frozen):
    html = page(client, boss, "org-dashboard", Q1_CUSTOM)
    text = text_of(html)
    assert "$39,000 of $50,000 target" in text
    assert re.search(r"Win rate 57\.1%", text)
    assert re.search(r"Sales cycle \(mean\) 36\.7 days", text)
    assert re.search(r"Weighted pipeline \$16,200", text)
    teams = text_of(html.split('class="table teams"')[1].split("</table>")[0])
    assert re.search(r"R \$39,000 \$50,000 78\.0%", teams), teams
    for team in (org.region, org.team_a, org.team_b):
        assert reverse("metrics:team-dashboard", args=[team.pk]) in html
    for rep in (org.a1, org.a2, org.b1):
        assert reverse("metrics:rep-performance", args=[rep.pk]) in html
    assert_no_broken_numbers(html)


def test_every_kpi_number_links_to_its_definition(client, org, boss, frozen):
    html = page(client, boss, "org-dashboard", Q1_CUSTOM)
    glossary = reverse("metrics:glossary")
    assert re.search(
        rf'<a class="kpi" href="{glossary}#revenue" title="Revenue: money won \(sum of the '
        r'amounts of the deals won in the period\)\.[^"]*">\$39,000</a>',
        html,
    )
    assert f'href="{glossary}#win_rate"' in html
    assert f'href="{glossary}#funnel"' in html


# --- Funnel and pipeline by stage ------------------------------------------------------------


def test_funnel_follows_the_deals_created_in_the_period(org):
    funnel = funnel_for_scope(kind="org", scope_id=None, start=Q1[0], end=Q1[1], as_of=AS_OF)
    # Created in Q1: D1, D2, D3, D4, D5, D7, D9, D10, D11, D13. Furthest stage as of
    # 15 April: D1, D3, D5, D7 won (every stage); D11 Negotiation; D4 Proposal (via
    # Qualification); D2, D9, D13 closed without a recorded move and D10 are Prospecting.
    assert funnel.created == 10
    assert [(s.name, s.deals) for s in funnel.steps] == [
        ("Prospecting", 10),
        ("Qualification", 6),
        ("Proposal", 6),
        ("Negotiation", 5),
        ("Won", 4),
    ]
    assert [s.conversion for s in funnel.steps] == [1.0, 0.6, 1.0, 5 / 6, 0.8]
    # Won ÷ created is the opportunity close rate (0.4 in test_kpis).
    assert funnel.steps[-1].deals / funnel.created == 0.4


def test_funnel_of_a_rep_and_an_empty_period(org):
    funnel = funnel_for_scope(kind="user", scope_id=org.a1.pk, start=Q1[0], end=Q1[1], as_of=AS_OF)
    # a1 created D1 (won), D2 (lost), D3 (won), D4 (Proposal).
    assert [s.deals for s in funnel.steps] == [4, 3, 3, 2, 2]
    empty = funnel_for_scope(
        kind="team",
        scope_id=org.team_a.pk,
        start=dt.date(2025, 6, 1),
        end=dt.date(2025, 6, 30),
        as_of=AS_OF,
    )
    assert empty.created == 0
    assert all(s.deals == 0 and s.conversion is None for s in empty.steps)


def test_pipeline_by_stage_adds_up_to_the_pipeline(org):
    rows = pipeline_by_stage(kind="org", scope_id=None, start=Q1[0], end=Q1[1], as_of=AS_OF)
    # Open at the end of March: D10 Prospecting 2,000; D4 Proposal 8,000; D7 (then in
    # Negotiation, won on 10 April) 12,000 and D11 Negotiation 4,000.
    assert [(r.name, r.open_deals, r.pipeline_value, r.weighted_pipeline) for r in rows] == [
        ("Prospecting", 1, Decimal("2000.00"), Decimal("200.00")),
        ("Qualification", 0, Decimal("0.00"), Decimal("0.00")),
        ("Proposal", 1, Decimal("8000.00"), Decimal("4000.00")),
        ("Negotiation", 2, Decimal("16000.00"), Decimal("12000.00")),
    ]
    assert sum(r.weighted_pipeline for r in rows) == Decimal("16200.00")


def test_team_page_shows_the_funnel_and_pipeline_by_stage(client, org, team_a_manager, frozen):
    html = page(client, team_a_manager, "team-dashboard", Q1_CUSTOM, team_id=org.team_a.pk)
    funnel = text_of(html.split('class="table funnel"')[1].split("</table>")[0])
    # Team A created D1, D2, D3, D4, D5, D11, D13; won D1, D3, D5.
    assert re.search(
        r"Prospecting 7 100\.0% .*Qualification 5 71\.4% .*Proposal 5 100\.0% .*"
        r"Negotiation 4 80\.0% .*Won 3 75\.0%",
        funnel,
    ), funnel
    stages = json_data(html, "stage-pipeline-data")
    assert stages == {
        "labels": ["Prospecting", "Qualification", "Proposal", "Negotiation"],
        "pipeline_value": [0.0, 0.0, 8000.0, 4000.0],
        "weighted_pipeline": [0.0, 0.0, 4000.0, 3000.0],
        "open_deals": [0, 0, 1, 1],
        "currency": "USD",
    }


# --- Trend from the snapshot tables ----------------------------------------------------------


def test_trend_chart_data_is_the_stored_snapshot_rows(client, org, team_a_manager, frozen):
    team = {"scope_kind": "team", "scope_id": org.team_a.pk}
    months = {1: ("31", "12000.00", 0.5), 2: ("28", "9000.00", None), 3: ("31", "15000.00", 0.75)}
    for month, (last, revenue, win_rate) in months.items():
        KPISnapshotFactory(
            **team,
            date=dt.date(2026, month, int(last)),
            period_kind="month",
            period_start=dt.date(2026, month, 1),
            revenue=Decimal(revenue),
            target=Decimal("13000.00") if month != 2 else None,
            win_rate=win_rate,
        )
        KPISnapshotFactory(
            **team,
            date=dt.date(2026, month, int(last)),
            period_kind="quarter",
            period_start=dt.date(2026, 1, 1),
            revenue=Decimal(sum(Decimal(months[m][1]) for m in range(1, month + 1))),
            target=Decimal("40000.00"),
        )
    # Not a month-end, another scope, a year row: none of them is read.
    KPISnapshotFactory(
        **team, date=dt.date(2026, 2, 14), period_kind="month", period_start=dt.date(2026, 2, 1)
    )
    KPISnapshotFactory(scope_kind="team", scope_id=org.team_b.pk, period_kind="month")
    KPISnapshotFactory(**team, period_kind="year", period_start=dt.date(2026, 1, 1))

    html = page(client, team_a_manager, "team-dashboard", Q1_CUSTOM, team_id=org.team_a.pk)
    revenue = json_data(html, "revenue-trend-data")
    # Twelve months up to March 2026: nothing stored before January.
    assert revenue["labels"] == [
        "Apr 2025", "May 2025", "Jun 2025", "Jul 2025", "Aug 2025", "Sep 2025",
        "Oct 2025", "Nov 2025", "Dec 2025", "Jan 2026", "Feb 2026", "Mar 2026",
    ]  # fmt: skip
    gap = [None] * 9
    assert revenue["revenue"] == [*gap, 12000.0, 9000.0, 15000.0]
    assert revenue["target"] == [*gap, 13000.0, None, 13000.0]
    assert revenue["quarter_revenue"] == [*gap, 12000.0, 21000.0, 36000.0]
    assert revenue["quarter_target"] == [*gap, 40000.0, 40000.0, 40000.0]
    # Every point says what it is: frozen at its month's end, or never frozen.
    assert revenue["state"] == ["missing"] * 9 + ["frozen"] * 3
    assert revenue["as_of"] == [*gap, "2026-01-31", "2026-02-28", "2026-03-31"]
    assert revenue["currency"] == "USD"  # the money axis's unit
    win_rate = json_data(html, "win-rate-trend-data")
    assert win_rate["labels"] == revenue["labels"]
    assert win_rate["win_rate"] == [*gap, 0.5, None, 0.75]
    assert 'data-chart-source="revenue-trend-data"' in html
    # The table under the chart carries the same figures.
    fallback = text_of(html.split('id="revenue-trend-title"')[1].split("</table>")[0])
    assert "Mar 2026 $15,000 $13,000 $36,000 $40,000" in fallback
    assert "Jan 2026 – Mar 2026 frozen at each month's end." in text_of(html)


def test_a_closed_month_without_its_month_end_row_takes_its_latest_night(org):
    # 2 May: the nightly job has not frozen 30 April yet; April's latest row is the 29th's.
    rep = {"scope_kind": "user", "scope_id": org.a1.pk, "period_kind": "month"}
    start = dt.date(2026, 4, 1)
    KPISnapshotFactory(**rep, date=dt.date(2026, 4, 10), period_start=start, revenue=1)
    KPISnapshotFactory(**rep, date=dt.date(2026, 4, 29), period_start=start, revenue=2)
    trend = dashboards.monthly_trend(
        scope_kind="user", scope_id=org.a1.pk, last_day=dt.date(2026, 5, 2), as_of=at(5, 2, 9)
    )
    april, may = trend.months[-2:]
    assert (april.state, april.as_of, april.revenue) == ("frozen", dt.date(2026, 4, 29), 2)
    assert not april.month_end and trend.frozen_early == [april]
    # May is live: a1 won nothing in May (D12 is still open).
    assert (may.state, may.as_of, may.revenue) == ("live", dt.date(2026, 5, 2), Decimal(0))
    assert trend.has_revenue and not trend.has_month_target


def test_a_month_without_decided_deals_is_a_gap_not_zero(client, org, frozen):
    # a1 in the twelve months to April 2026, as of 15 April: April is live and nobody
    # decided a deal in it (D12 is open); March frozen with a win rate of 1/2; February
    # frozen with no decided deal (its row says 0 won, 0 lost, win rate null).
    rep = {"scope_kind": "user", "scope_id": org.a1.pk, "period_kind": "month"}
    KPISnapshotFactory(
        **rep, date=dt.date(2026, 2, 28), period_start=dt.date(2026, 2, 1), win_rate=None
    )
    KPISnapshotFactory(
        **rep,
        date=dt.date(2026, 3, 31),
        period_start=dt.date(2026, 3, 1),
        deals_won=1,
        deals_lost=1,
        win_rate=0.5,
    )
    html = page(client, org.a1, "my-performance", "?period=month")
    chart = json_data(html, "win-rate-trend-data")
    assert chart["win_rate"][-3:] == [None, 0.5, None]
    assert chart["decided"][-3:] == [0, 2, 0]
    assert chart["state"][-3:] == ["frozen", "frozen", "live"]
    table = text_of(html.split('id="win-rate-trend-title"')[1].split("</table>")[0])
    assert "Feb 2026 0 0 no decided deals" in table
    assert "Mar 2026 1 1 50.0%" in table
    assert "Apr 2026 live, to 15 Apr 0 0 no decided deals" in table
    assert not re.search(r"(?<![\d.])0\.0%", table)


def test_after_a_win_the_live_points_equal_the_tiles(client, org):
    # 15 April 2026, a1 wins two deals opened in April (1,000 and 2,500); the month's
    # tiles and the charts' April points move together. April before: no win, no loss.
    # After: revenue 3,500, 2 won, 0 lost: win rate 100 %; the quarter to date (Q2 began
    # 1 April) is the same 3,500.
    with time_machine.travel(at(4, 15, 12), tick=False):
        prospecting, won = default_stage("Prospecting"), default_stage("Won")
        for amount in (1000, 2500):
            deal = DealFactory(owner=org.a1, stage=prospecting, amount=amount, created_at=at(4, 2))
            deal_move_to_stage(deal=deal, stage=won, by=org.a1)
        for query, tile in (("?period=month", "month"), ("?period=quarter", "quarter")):
            html = page(client, org.a1, "my-performance", query)
            revenue = json_data(html, "revenue-trend-data")
            win_rate = json_data(html, "win-rate-trend-data")
            assert revenue["state"][-1] == "live" and revenue["as_of"][-1] == "2026-04-15"
            assert revenue["revenue"][-1] == 3500.0
            assert revenue["quarter_revenue"][-1] == 3500.0
            assert win_rate["win_rate"][-1] == 1.0
            text = text_of(html)
            # The goal card's revenue and the win-rate tile, as the page shows them.
            assert "$3,500" in text, tile
            assert re.search(r"Win rate 100\.0%", text), tile
            assert "Apr 2026 live, to 15 Apr" in text


@pytest.mark.parametrize("scope", ["org", "team", "region"])
def test_a_team_or_the_organisation_trend_live_point_is_a_fresh_computation(
    client, org, admin_user, scope
):
    # The team and organisation pages compute the trend's live month and quarter to date
    # in their own KPI queries (kpis_of_scopes(also=...)): on 15 April, after a1 wins two
    # April deals, whatever period the page shows, the chart's last point equals
    # kpis_for_scope of the month and of the quarter to date, computed afresh.
    with time_machine.travel(at(4, 15, 12), tick=False):
        prospecting, won = default_stage("Prospecting"), default_stage("Won")
        for amount in (1000, 2500):
            deal = DealFactory(owner=org.a1, stage=prospecting, amount=amount, created_at=at(4, 2))
            deal_move_to_stage(deal=deal, stage=won, by=org.a1)
        kind, scope_id, name, kwargs = {
            "org": ("org", None, "org-dashboard", {}),
            "team": ("team", org.team_a.pk, "team-dashboard", {"team_id": org.team_a.pk}),
            "region": ("team", org.region.pk, "team-dashboard", {"team_id": org.region.pk}),
        }[scope]
        # A second on: the clock stands still, and the wins' closed_at is this very instant
        # (a moment's figures count what happened before it).
        now, today = timezone.now() + dt.timedelta(seconds=1), dt.date(2026, 4, 15)
        fresh = {
            period: kpis_for_scope(
                kind=kind,
                scope_id=scope_id,
                start=start,
                end=today,
                as_of=now,
                period=period,
            )
            for start, period in ((dt.date(2026, 4, 1), "month"), (dt.date(2026, 4, 1), "quarter"))
        }
        assert fresh["month"].revenue >= Decimal("3500")  # the two wins are in
        for query in ("?period=month", "?period=quarter", "?period=year"):
            html = page(client, admin_user, name, query, **kwargs)
            revenue = json_data(html, "revenue-trend-data")
            win_rate = json_data(html, "win-rate-trend-data")
            assert revenue["state"][-1] == "live", query
            assert revenue["revenue"][-1] == float(fresh["month"].revenue), query
            assert revenue["target"][-1] == _number(fresh["month"].target), query
            assert revenue["quarter_revenue"][-1] == float(fresh["quarter"].revenue), query
            assert revenue["quarter_target"][-1] == _number(fresh["quarter"].target), query
            assert win_rate["win_rate"][-1] == fresh["month"].win_rate, query


def _number(value):
    return None if value is None else float(value)


# --- Empty and edge states --------------------------------------------------------------------


def test_a_new_rep_without_deals_gets_a_helpful_page(client, team, frozen):
    newcomer = UserFactory(username="newcomer", team=team, role=Role.REP)
    html = page(client, newcomer, "my-performance")
    text = text_of(html)
    assert "You have no activity in Q2 2026." in text
    assert "No target for Q2 2026." in text
    assert "No history yet." in text
    assert "Nothing due in the next 30 days." in text
    assert "No stale deals." in text
    assert_no_broken_numbers(html)


def _team_of_five(won: list[int | None]) -> list:
    """Five reps of one team; rep n won a Q1 deal of won[n] (None: an open deal of 100)."""
    team = TeamFactory(name="Five")
    reps = [UserFactory(username=f"five{n}", team=team, role=Role.REP) for n in range(5)]
    for rep, amount in zip(reps, won, strict=True):
        if amount is None:
            DealFactory(owner=rep, stage=default_stage("Proposal"), amount=100, created_at=at(1, 5))
        else:
            DealFactory(
                owner=rep,
                stage=default_stage("Won"),
                amount=amount,
                created_at=at(1, 5),
                closed_at=at(2, 1),
            )
    return reps


def test_a_rep_in_a_team_of_five_sees_the_median(client, frozen, db):
    reps = _team_of_five([1000, 2000, 3000, 4000, 5000])
    text = text_of(page(client, reps[0], "my-performance", Q1_QUARTER))
    # Average deal size: the middle of 1,000, 2,000, 3,000, 4,000, 5,000; all won: 100 %.
    assert re.search(r"Average deal size \$1,000 Q4 2025: — Team median \$3,000", text), text
    assert re.search(r"Win rate 100\.0% Q4 2025: — Team median 100\.0%", text), text
    assert "needs at least 5 reps" not in text


def test_a_median_over_fewer_than_five_defined_values_is_withheld(client, frozen, db):
    # Five reps, but only two decided a deal: the win rate and deal size of two reps would
    # leak, so those medians are withheld; the pipeline (defined for all five) is shown:
    # 0, 0, 100, 100, 100 -> 100.
    reps = _team_of_five([1000, 3000, None, None, None])
    text = text_of(page(client, reps[0], "my-performance", Q1_QUARTER))
    assert re.search(r"Win rate 100\.0% Q4 2025: — Team median —", text), text
    assert re.search(r"Average deal size \$1,000 Q4 2025: — Team median —", text), text
    assert re.search(r"Pipeline \$0 no change vs Q4 2025 Team median \$100\b", text), text
    assert "Team median needs at least 5 reps with a figure" in text
    assert "3,000" not in text  # the other winner's deal


def test_a_rep_without_a_team_has_no_median(client, frozen, db):
    loner = UserFactory(username="loner", team=None, role=Role.REP)
    html = page(client, loner, "my-performance")
    assert "no team median" in text_of(html)
    assert_no_broken_numbers(html)


def test_a_team_without_a_target(client, org, frozen):
    manager = UserFactory(username="manager_b", team=org.team_b, role=Role.MANAGER)
    org.team_b.manager = manager
    org.team_b.save()
    html = page(client, manager, "team-dashboard", Q1_CUSTOM, team_id=org.team_b.pk)
    text = text_of(html)
    assert "$3,000" in text
    assert "No target for 1 Jan – 31 Mar 2026." in text
    assert_no_broken_numbers(html)


def test_a_period_without_wins(client, org, team_a_manager, boss, frozen):
    # 1–14 April: team A only opened D12; nobody won or lost anything.
    query = "?period=custom&start=2026-04-01&end=2026-04-14"
    html = page(client, team_a_manager, "team-dashboard", query, team_id=org.team_a.pk)
    text = text_of(html)
    assert re.search(r"Win rate — ", text)
    assert re.search(r"Average deal size — ", text)
    assert "Revenue in 1 Apr – 14 Apr 2026 $0 " in text  # no win: a revenue of 0, not "—"
    assert_no_broken_numbers(html)
    for html in [
        page(client, org.a1, "my-performance", query),
        page(client, boss, "org-dashboard", query),
    ]:
        assert_no_broken_numbers(html)


def test_an_organisation_without_teams_or_deals(client, boss, frozen):
    html = page(client, boss, "org-dashboard")
    assert "No teams yet." in text_of(html)
    assert "No deals created in Q2 2026." in text_of(html)
    assert_no_broken_numbers(html)


def test_a_bad_custom_range_falls_back_to_this_quarter(client, rep, frozen):
    html = page(client, rep, "my-performance", "?period=custom&start=2026-03-01&end=2026-01-01")
    assert "The last day must not be before the first." in html
    assert "Revenue</a> in Q2 2026" in html
    html = page(client, rep, "my-performance", "?period=week&start=yesterday")
    assert "Q2 2026" in html


# --- Deals that need attention -----------------------------------------------------------------


def test_closing_soon_and_stale_deals(client, rep, other_rep, manager, frozen):
    now = AS_OF
    prospecting, proposal = default_stage("Prospecting"), default_stage("Proposal")

    def deal(name, *, created_days_ago, expected_in=None, moved_days_ago=None, owner=rep):
        made = DealFactory(
            name=name,
            owner=owner,
            created_at=now - dt.timedelta(days=created_days_ago),
            expected_close_date=None
            if expected_in is None
            else now.date() + dt.timedelta(days=expected_in),
        )
        if moved_days_ago is not None:
            made.stage = proposal
            made.save()
            StageChangeFactory(
                deal=made,
                from_stage=prospecting,
                to_stage=proposal,
                changed_at=now - dt.timedelta(days=moved_days_ago),
            )
        return made

    deal("Soon", created_days_ago=5, expected_in=10)
    deal("Overdue", created_days_ago=5, expected_in=-3)
    deal("Later", created_days_ago=5, expected_in=45)
    deal("Idle since created", created_days_ago=40)
    deal("Moved long ago", created_days_ago=90, moved_days_ago=30)
    deal("Moved lately", created_days_ago=90, moved_days_ago=5)
    DealFactory(name="Won long ago", owner=rep, stage=default_stage("Won"), created_at=at(1, 1))
    deal("Not mine", created_days_ago=60, expected_in=1, owner=other_rep)

    lists = dashboards.deals_needing_attention(
        viewer=rep, scope_kind="user", scope_id=rep.pk, now=now
    )
    assert [d.name for d in lists.closing_soon] == ["Overdue", "Soon"]
    assert [d.overdue for d in lists.closing_soon] == [True, False]
    assert [(d.name, d.days_idle) for d in lists.stale] == [
        ("Idle since created", 40),
        ("Moved long ago", 30),
    ]
    assert (lists.closing_soon_total, lists.stale_total) == (2, 2)

    text = text_of(page(client, rep, "my-performance"))
    assert "Overdue" in text and "overdue" in text and "Idle since created" in text
    assert "Not mine" not in text
    # The manager's team page lists the whole team's deals, with their owners.
    text = text_of(page(client, manager, "team-dashboard", team_id=rep.team_id))
    assert "Not mine" in text


# --- Periods ------------------------------------------------------------------------------------


def test_period_choices():
    today = dt.date(2026, 4, 15)

    def period(**params):
        return period_from_params(params, today=today)[0]

    assert period() == Period("quarter", dt.date(2026, 4, 1), dt.date(2026, 6, 30))
    assert period(period="month") == Period("month", dt.date(2026, 4, 1), dt.date(2026, 4, 30))
    assert period(period="year", start="2025-07-09") == Period(
        "year", dt.date(2025, 1, 1), dt.date(2025, 12, 31)
    )
    custom = period(period="custom", start="2026-01-15", end="2026-02-10")
    assert custom == Period(CUSTOM, dt.date(2026, 1, 15), dt.date(2026, 2, 10))
    assert custom.previous() == Period(CUSTOM, dt.date(2025, 12, 19), dt.date(2026, 1, 14))
    assert period().previous() == Period("quarter", dt.date(2026, 1, 1), dt.date(2026, 3, 31))
    assert period(period="month", start="2026-03-31").previous().label == "February 2026"
    assert period().label == "Q2 2026"
    assert custom.label == "15 Jan – 10 Feb 2026"
    assert period(period="custom", start="2026-01-01", end="2026-12-31").target_period is None


def test_the_picker_does_not_offer_the_future():
    today = dt.date(2026, 4, 15)
    now, form = period_from_params({}, today=today)
    assert dashboards.period_picker(now, form, today=today).following is None
    past, form = period_from_params({"start": "2025-10-01"}, today=today)
    assert dashboards.period_picker(past, form, today=today).following.label == "Q1 2026"


# --- Safety -------------------------------------------------------------------------------------


def test_pages_have_no_inline_script_and_escape_user_text(client, team, frozen):
    rep = UserFactory(username="mallory", team=team, first_name="<script>alert(1)</script>")
    manager = UserFactory(username="boss_of_mallory", team=team, role=Role.MANAGER)
    team.manager = manager
    team.save()
    DealFactory(
        owner=rep,
        name="</script><script>alert(2)</script>",
        created_at=AS_OF,
        expected_close_date=AS_OF.date() + dt.timedelta(days=5),
    )
    for html in [
        page(client, rep, "my-performance"),
        page(client, manager, "team-dashboard", team_id=team.pk),
    ]:
        assert "<script>alert" not in html
        for tag in re.findall(r"<script[^>]*>", html):
            assert " src=" in tag or 'type="application/json"' in tag, tag
        assert not re.search(r"\son[a-z]+\s*=", html)


# --- Query budgets --------------------------------------------------------------------------------

# Measured on the personas' tree (a region with two teams), the larger of 2 deals and 3 reps
# and 40 deals and 9 reps (one apart: the attention lists read their deals by pk only when
# they list some; a closed period's frozen figures are one snapshot read, one query of the
# won deals fewer when found). They depend only on the depth of the
# team tree (the grouped KPI queries run once per level), never on the number of deals,
# leads, stage changes, reps or teams. Each dashboard's trend adds its snapshot read and its
# live month and quarter to date: on the team and organisation pages inside the page's own
# KPI queries (two more target reads), on a rep's page 11 queries of its own; the maturing
# cohort rates 1 (the organisation's median sales cycle, from the monthly cycle buckets).
BUDGETS = {
    "rep": 42,
    "manager-rep": 45,
    "team": 54,
    "region": 54,
    "org": 42,
    "glossary": 4,
    "rep-team": 20,
}


@pytest.fixture
def busy_team(rep, other_rep, outsider_rep, manager, region_manager, admin_user, team):
    def fill(count: int, reps: int) -> None:
        for n in range(reps):
            UserFactory(username=f"extra_rep_{n}", team=(team, other_rep.team)[n % 2])
        stages = [default_stage(name) for name in ("Qualification", "Won", "Lost", "Proposal")]
        for n in range(count):
            owner = (rep, other_rep, outsider_rep)[n % 3]
            stage = stages[n % 4]
            deal = DealFactory(
                owner=owner, stage=stage, created_at=AS_OF - dt.timedelta(days=3 + n)
            )
            StageChangeFactory(
                deal=deal,
                from_stage=default_stage("Prospecting"),
                to_stage=stage,
                changed_at=deal.created_at + dt.timedelta(hours=1),
            )
        for month in (1, 2, 3):
            KPISnapshotFactory(
                scope_kind="user",
                scope_id=rep.pk,
                date=dt.date(2026, month, 28 if month == 2 else 31),
                period_kind="month",
                period_start=dt.date(2026, month, 1),
            )

    return fill


@pytest.mark.parametrize(("deal_count", "extra_reps"), [(2, 0), (40, 6)])
def test_query_counts_do_not_grow_with_the_data(
    client,
    busy_team,
    rep,
    manager,
    region_manager,
    admin_user,
    team,
    region,
    deal_count,
    extra_reps,
    django_assert_max_num_queries,
    frozen,
):
    busy_team(deal_count, extra_reps)
    summary.drain()  # the rows just written: a page drains only what others left pending
    pages = [
        ("rep", rep, "my-performance", {}),
        ("manager-rep", manager, "rep-performance", {"user_id": rep.pk}),
        ("team", manager, "team-dashboard", {"team_id": team.pk}),
        ("region", region_manager, "team-dashboard", {"team_id": region.pk}),
        ("org", admin_user, "org-dashboard", {}),
        ("glossary", rep, "glossary", {}),
        ("rep-team", rep, "team-dashboard", {"team_id": team.pk}),
    ]
    for budget, user, name, kwargs in pages:
        client.force_login(user)
        for query in ("", "?period=year"):
            with django_assert_max_num_queries(BUDGETS[budget]):
                response = client.get(reverse(f"metrics:{name}", kwargs=kwargs) + query)
            assert response.status_code == 200
