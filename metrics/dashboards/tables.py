"""The KPI tables of the team and organisation pages as CSV rows: every team of the tree
and every rep, with every KPI of docs/kpis.md for the page's period."""

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from accounts.choices import Role
from accounts.models import Team, User
from accounts.selectors import team_tree_ids

from ..kpis import KPI_KEYS, KPIs, kpis_of_scopes
from .period_picker import Period

KPI_TABLE_COLUMNS = ["row", "id", "name", "team", "parent_team", "start", "end", *KPI_KEYS]


def _cell(value: Any) -> Any:
    """Money with its 2 decimals, rates and days unrounded, undefined as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return value


def _row(kind: str, pk: int, name: str, team: Team | None, period: Period, kpis: KPIs) -> list:
    parent = team.parent.name if team is not None and team.parent_id else ""
    head = [kind, pk, name, team.name if team else "", parent, period.start, period.end]
    return head + [_cell(getattr(kpis, key)) for key in KPI_KEYS]


def kpi_table_rows(*, team: Team | None, period: Period, now: dt.datetime) -> Iterator[list]:
    """The rows for a team's tree (team given) or the whole organisation (None): teams
    first, by name, then the active reps of those teams, by name. A fixed number of
    queries: the teams and reps computed together (kpis_of_scopes)."""
    window = {"start": period.start, "end": period.end, "as_of": now}
    teams = {t.pk: t for t in Team.objects.select_related("parent").order_by()}
    parents = {pk: t.parent_id for pk, t in teams.items()}
    tree = set(teams) if team is None else team_tree_ids(root_ids=[team.pk], parents=parents)
    reps = list(
        User.objects.filter(team_id__in=tree, role=Role.REP, is_active=True).order_by(
            "first_name", "last_name", "username"
        )
    )
    roots = [pk for pk in tree if parents[pk] is None] if team is None else [team.pk]
    together = kpis_of_scopes(
        **window,
        period=period.target_period,
        team_root_ids=roots if teams else None,
        user_ids=[u.pk for u in reps],
        live=True,
    )
    by_team, by_user = together.teams, together.users
    for pk in sorted(tree, key=lambda pk: teams[pk].name.lower()):
        yield _row("team", pk, teams[pk].name, teams[pk], period, by_team[pk])
    for rep in reps:
        name = rep.get_full_name() or rep.username
        yield _row("rep", rep.pk, name, teams.get(rep.team_id), period, by_user[rep.pk])
