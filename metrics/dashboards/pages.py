"""Everything one dashboard page shows, read in a fixed number of queries."""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone

from accounts.access import sees_team_of
from accounts.choices import Role
from accounts.models import Team, User
from accounts.selectors import team_tree_ids
from metrics.choices import ScopeKind
from metrics.kpis import (
    Funnel,
    KPIs,
    StagePipeline,
    funnel_for_scope,
    kpis_by_user,
    kpis_for_scope,
    kpis_of_scopes,
    pipeline_by_stage,
)

from .deals import DealLists, deals_needing_attention
from .figures import (
    MIN_PEERS,
    Figure,
    Goal,
    Ranked,
    figures,
    goal,
    maturity,
    median_kpis,
    sort_ranked,
    withheld_kpis,
)
from .period_picker import Period
from .trends import Trend, live_ranges, monthly_trend

# The figures a page shows first, each against the previous period (and the team).
HEADLINE_KEYS = [
    "win_rate",
    "close_rate",
    "avg_deal_size",
    "sales_cycle_days_mean",
    "pipeline_value",
    "weighted_pipeline",
]
# The rest, in a smaller list under them.
DETAIL_KEYS = [
    "deals_won",
    "deals_lost",
    "opportunities_created",
    "opportunity_close_rate",
    "leads_created",
    "open_deals",
    "sales_cycle_days_median",
    "sales_velocity",
    "clv",
]


@dataclass(frozen=True)
class Comparison:
    """A scope's KPIs in a period, with the previous period's."""

    kpis: KPIs
    previous: KPIs
    goal: Goal


@dataclass(frozen=True)
class RepDashboard:
    subject: User
    period: Period
    previous_period: Period
    comparison: Comparison
    headline: list[Figure]
    detail: list[Figure]
    team_size: int
    trend: Trend
    deals: DealLists
    median_withheld: bool = False  # some team median hidden: too few reps have it

    @property
    def min_peers(self) -> int:
        return MIN_PEERS


def rep_dashboard(*, viewer: User, subject: User, period: Period, now: dt.datetime) -> RepDashboard:
    """A rep's page: their KPIs against the previous period and their team's median (over
    the reps of their team), their trend, and their deals that need attention."""
    today = timezone.localdate(now)
    teammates: list[int] = []
    if subject.team_id:
        teammates = list(
            User.objects.filter(team_id=subject.team_id, role=Role.REP, is_active=True)
            .order_by()
            .values_list("pk", flat=True)
        )
    user_ids = sorted({*teammates, subject.pk})
    by_user = kpis_by_user(
        user_ids=user_ids,
        start=period.start,
        end=period.end,
        as_of=now,
        live=True,
        period=period.target_period,
    )
    previous_period = period.previous()
    previous = kpis_by_user(
        user_ids=[subject.pk],
        start=previous_period.start,
        end=previous_period.end,
        as_of=now,
        live=True,
        period=previous_period.target_period,
    )[subject.pk]
    kpis = by_user[subject.pk]
    cohort = maturity(period.start, period.end, today=today)
    median, withheld = None, frozenset[str]()
    if teammates:
        # A rep sees the team's median only over at least MIN_PEERS reps with the figure.
        # A viewer who sees each rep of the team (its managers, admins) learns nothing from
        # a median; anyone else needs MIN_PEERS reps behind it.
        min_values = 1 if sees_team_of(viewer, subject.team_id) else MIN_PEERS
        peers = [by_user[uid] for uid in teammates]
        median = median_kpis(peers, min_values=min_values)
        withheld = withheld_kpis(peers, min_values=min_values)
    return RepDashboard(
        subject=subject,
        period=period,
        previous_period=previous_period,
        comparison=Comparison(kpis, previous, goal(kpis, period, today=today)),
        headline=figures(HEADLINE_KEYS, kpis, previous, median, withheld, cohort),
        detail=figures(DETAIL_KEYS, kpis, previous, median, withheld, cohort),
        team_size=len(teammates),
        median_withheld=bool(withheld & {*HEADLINE_KEYS, *DETAIL_KEYS}),
        trend=monthly_trend(
            scope_kind=ScopeKind.USER, scope_id=subject.pk, last_day=period.end, as_of=now
        ),
        deals=deals_needing_attention(
            viewer=viewer, scope_kind=ScopeKind.USER, scope_id=subject.pk, now=now
        ),
    )


@dataclass(frozen=True)
class StagePipelineChart:
    rows: list[StagePipeline]

    @property
    def has_data(self) -> bool:
        return any(row.open_deals for row in self.rows)

    def chart(self) -> dict[str, Any]:
        return {
            "currency": settings.ORGANISATION_CURRENCY,  # the money axis's unit
            "labels": [row.name for row in self.rows],
            "pipeline_value": [float(row.pipeline_value) for row in self.rows],
            "weighted_pipeline": [float(row.weighted_pipeline) for row in self.rows],
            "open_deals": [row.open_deals for row in self.rows],
        }


@dataclass(frozen=True)
class ScopeDashboard:
    """A team's or the organisation's page."""

    period: Period
    previous_period: Period
    comparison: Comparison
    headline: list[Figure]
    detail: list[Figure]
    teams: list[Ranked]
    reps: list[Ranked]
    reps_total: int
    median: dict[str, Any] | None
    trend: Trend
    funnel: Funnel
    stages: StagePipelineChart
    deals: DealLists | None = None


def _team_tree_rows(
    root_ids: list[int], teams: dict[int, Team], by_team: Mapping[int, KPIs], period, today
) -> list[Ranked]:
    """Teams below (and including) the roots, depth first, children by name."""
    children: dict[int | None, list[Team]] = {}
    for team in sorted(teams.values(), key=lambda t: t.name.lower()):
        children.setdefault(team.parent_id, []).append(team)
    rows: list[Ranked] = []

    def walk(team: Team, depth: int) -> None:
        kpis = by_team[team.pk]
        rows.append(Ranked(team, team.name, kpis, goal(kpis, period, today=today), depth))
        for child in children.get(team.pk, []):
            walk(child, depth + 1)

    for root_id in root_ids:
        walk(teams[root_id], 0)
    return rows


def _rep_rows(users: list[User], by_user: Mapping[int, KPIs], period, today) -> list[Ranked]:
    return [
        Ranked(
            user,
            user.get_full_name() or user.username,
            by_user[user.pk],
            goal(by_user[user.pk], period, today=today),
        )
        for user in users
    ]


def team_dashboard(
    *, viewer: User, team: Team, period: Period, now: dt.datetime, sort: str
) -> ScopeDashboard:
    """A team's page: the team (with its sub-teams) against its target and the previous
    period, each sub-team and each rep of its tree ranked, the reps' median, the trend, the
    funnel, the pipeline by stage and the deals that need attention."""
    today = timezone.localdate(now)
    previous_period = period.previous()
    window = {"start": period.start, "end": period.end, "as_of": now}
    teams = {t.pk: t for t in Team.objects.select_related("manager").order_by()}
    tree = team_tree_ids(root_ids=[team.pk], parents={pk: t.parent_id for pk, t in teams.items()})
    reps = list(
        User.objects.filter(team_id__in=tree, role=Role.REP, is_active=True)
        .select_related("team")
        .order_by("first_name", "last_name", "username")
    )
    # The team, its sub-teams and its reps in one computation (kpis_of_scopes), with the
    # trend's live month and quarter to date.
    together = kpis_of_scopes(
        **window,
        period=period.target_period,
        team_root_ids=[team.pk],
        user_ids=[u.pk for u in reps],
        live=True,
        also=live_ranges(period.end, now),
    )
    kpis, by_user = together.teams[team.pk], together.users
    team_rows = []
    if len(tree) > 1:
        children = sorted(
            (teams[pk] for pk in tree if teams[pk].parent_id == team.pk),
            key=lambda t: t.name.lower(),
        )
        subtree = {pk: teams[pk] for pk in tree}
        team_rows = _team_tree_rows(
            [t.pk for t in children], subtree, together.teams, period, today
        )
    previous = kpis_for_scope(
        kind="team",
        scope_id=team.pk,
        start=previous_period.start,
        end=previous_period.end,
        as_of=now,
        live=True,
        period=previous_period.target_period,
    )
    rep_rows = sort_ranked(_rep_rows(reps, by_user, period, today), sort)
    cohort = maturity(period.start, period.end, today=today)
    return ScopeDashboard(
        period=period,
        previous_period=previous_period,
        comparison=Comparison(kpis, previous, goal(kpis, period, today=today)),
        headline=figures(HEADLINE_KEYS, kpis, previous, maturity=cohort),
        detail=figures(DETAIL_KEYS, kpis, previous, maturity=cohort),
        teams=team_rows,
        reps=rep_rows,
        reps_total=len(rep_rows),
        median=median_kpis(by_user.values()) if by_user else None,
        trend=monthly_trend(
            scope_kind=ScopeKind.TEAM,
            scope_id=team.pk,
            last_day=period.end,
            as_of=now,
            live_figures=[figures[team.pk] for figures in together.also_teams] or None,
        ),
        funnel=funnel_for_scope(kind="team", scope_id=team.pk, **window, live=True),
        stages=StagePipelineChart(
            pipeline_by_stage(kind="team", scope_id=team.pk, **window, live=True)
        ),
        deals=deals_needing_attention(
            viewer=viewer, scope_kind=ScopeKind.TEAM, scope_id=team.pk, now=now
        ),
    )


# What a rep's view of their own team lists, team beside them, in this order.
REP_TEAM_KEYS = list(
    dict.fromkeys(["revenue", "target", "attainment", *HEADLINE_KEYS, *DETAIL_KEYS])
)


@dataclass(frozen=True)
class TeamShare:
    """One figure on a rep's view of their team: the team's (None when withheld, see
    `withheld`) beside the rep's own."""

    key: str
    team: Any
    own: Any
    withheld: bool


@dataclass(frozen=True)
class RepTeamDashboard:
    """A rep's read-only view of their own team: no teammate's figure, no ranking."""

    period: Period
    rows: list[TeamShare]
    reps_total: int

    @property
    def min_others(self) -> int:
        return MIN_PEERS - 1

    @property
    def withheld(self) -> list[str]:
        return [row.key for row in self.rows if row.withheld]


def _contributes(value: Any) -> bool:
    return value is not None and value != 0


def rep_team_dashboard(
    *, viewer: User, team: Team, period: Period, now: dt.datetime
) -> RepTeamDashboard:
    """A rep's view of their own team (with its sub-teams) in a period: each team figure
    beside the rep's own, shown only when at least MIN_PEERS - 1 teammates besides the rep
    have a non-zero value of it, so the team's minus the rep's is a sum over at least that
    many teammates and never one teammate's figure (docs/security.md). Attainment only
    with both its revenue and its target. No previous period: its totals would need the
    same test."""
    reps = list(
        User.objects.filter(team_id__in=team_tree_ids(root_ids=[team.pk]), role=Role.REP)
        .filter(is_active=True)
        .order_by()
        .values_list("pk", flat=True)
    )
    together = kpis_of_scopes(
        start=period.start,
        end=period.end,
        as_of=now,
        period=period.target_period,
        team_root_ids=[team.pk],
        user_ids=sorted({*reps, viewer.pk}),
        live=True,
    )
    mine, theirs = together.users[viewer.pk], [together.users[pk] for pk in reps if pk != viewer.pk]
    shown = {
        key
        for key in REP_TEAM_KEYS
        if sum(_contributes(getattr(kpis, key)) for kpis in theirs) >= MIN_PEERS - 1
    }
    if not {"revenue", "target"} <= shown:
        shown.discard("attainment")
    kpis = together.teams[team.pk]
    rows = [
        TeamShare(
            key=key,
            team=getattr(kpis, key) if key in shown else None,
            own=getattr(mine, key),
            withheld=key not in shown,
        )
        for key in REP_TEAM_KEYS
    ]
    return RepTeamDashboard(period=period, rows=rows, reps_total=len(reps))


ORG_LEADERBOARD_SIZE = 10


def org_dashboard(*, period: Period, now: dt.datetime, sort: str) -> ScopeDashboard:
    """The organisation's page: its KPIs against target and the previous period, every
    team side by side (as a tree), the best reps, the trend, funnel and pipeline by stage."""
    today = timezone.localdate(now)
    previous_period = period.previous()
    window = {"start": period.start, "end": period.end, "as_of": now}
    teams = {t.pk: t for t in Team.objects.select_related("manager").order_by()}
    roots = sorted((t for t in teams.values() if t.parent_id is None), key=lambda t: t.name.lower())
    reps = list(
        User.objects.filter(role=Role.REP, is_active=True)
        .select_related("team")
        .order_by("first_name", "last_name", "username")
    )
    # The organisation, every team and every rep in one computation (kpis_of_scopes), with
    # the trend's live month and quarter to date.
    together = kpis_of_scopes(
        **window,
        period=period.target_period,
        org=True,
        team_root_ids=[t.pk for t in roots] if teams else None,
        user_ids=[u.pk for u in reps],
        live=True,
        also=live_ranges(period.end, now),
    )
    assert together.org is not None
    kpis, by_team, by_user = together.org, together.teams, together.users
    previous = kpis_for_scope(
        kind="org",
        scope_id=None,
        start=previous_period.start,
        end=previous_period.end,
        as_of=now,
        live=True,
        period=previous_period.target_period,
    )
    rep_rows = sort_ranked(_rep_rows(reps, by_user, period, today), sort)
    cohort = maturity(period.start, period.end, today=today)
    return ScopeDashboard(
        period=period,
        previous_period=previous_period,
        comparison=Comparison(kpis, previous, goal(kpis, period, today=today)),
        headline=figures(HEADLINE_KEYS, kpis, previous, maturity=cohort),
        detail=figures(DETAIL_KEYS, kpis, previous, maturity=cohort),
        teams=_team_tree_rows([t.pk for t in roots], teams, by_team, period, today),
        reps=rep_rows[:ORG_LEADERBOARD_SIZE],
        reps_total=len(rep_rows),
        median=median_kpis(by_user.values()) if by_user else None,
        trend=monthly_trend(
            scope_kind=ScopeKind.ORG,
            scope_id=0,
            last_day=period.end,
            as_of=now,
            live_figures=together.also_org or None,
        ),
        funnel=funnel_for_scope(kind="org", scope_id=None, **window, live=True),
        stages=StagePipelineChart(
            pipeline_by_stage(kind="org", scope_id=None, **window, live=True)
        ),
    )


def home_team_id(*, user: User) -> int | None:
    """The team a manager lands on: the top-most team they manage (by name), else their
    own team."""
    managed = dict(
        Team.objects.filter(manager=user).order_by("name").values_list("id", "parent_id")
    )
    for team_id, parent_id in managed.items():
        if parent_id not in managed:
            return team_id
    return user.team_id
