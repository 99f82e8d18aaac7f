"""The SQL floor of the nightly snapshot: hand-written PostgreSQL doing the same GROUP BYs.

The benchmarks time it beside the app's `kpi_snapshot_create` of the same day, in the same
run, and `check_floor` compares its figures with the app's: a floor that computed less
than the app would flatter the app. Each KPI family is one statement for every scope and
all three period kinds: the additive parts grouped by (owner, team) cell and rolled up in
Python (as the app does), the medians and distinct customers per scope through a CTE read
once per kind of scope (organisation, team sub-tree, owner).
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from accounts.models import Team
from metrics.kpis import end_of_day, period_bounds, team_chains
from metrics.services import _snapshot_rows
from periods.calendar import period_start

KINDS = ("month", "quarter", "year")

ADDITIVE = {
    "closed": """
        SELECT d.owner_id, d.team_id,
          {per_start}
        FROM pipeline_deal d JOIN pipeline_stage s ON s.id = d.stage_id
        WHERE d.deleted_at IS NULL AND d.closed_at >= %(first)s AND d.closed_at < %(until)s
        GROUP BY 1, 2""",
    "created": """
        SELECT d.owner_id, d.team_id,
          {per_start}
        FROM pipeline_deal d JOIN pipeline_stage s ON s.id = d.stage_id
        WHERE d.deleted_at IS NULL AND d.created_at >= %(first)s AND d.created_at < %(until)s
        GROUP BY 1, 2""",
    "leads": """
        WITH won AS (
          SELECT DISTINCT d.lead_id FROM pipeline_deal d JOIN pipeline_stage s ON s.id = d.stage_id
          WHERE d.deleted_at IS NULL AND s.kind = 'won' AND d.closed_at < %(as_of)s
            AND d.lead_id IS NOT NULL)
        SELECT l.owner_id, l.team_id,
          {per_start}
        FROM pipeline_lead l LEFT JOIN won w ON w.lead_id = l.id
        WHERE l.deleted_at IS NULL AND l.created_at >= %(first)s AND l.created_at < %(until)s
        GROUP BY 1, 2""",
    "open": """
        SELECT d.owner_id, d.team_id, count(*),
          sum(round(d.amount * 100)),
          sum(round(d.amount * 100) * coalesce(
            (SELECT fs.probability FROM pipeline_stagechange c
             JOIN pipeline_stage fs ON fs.id = c.from_stage_id
             WHERE c.deal_id = d.id AND c.changed_at >= %(until)s
             ORDER BY c.changed_at, c.id LIMIT 1), s.probability))
        FROM pipeline_deal d JOIN pipeline_stage s ON s.id = d.stage_id
        WHERE d.deleted_at IS NULL AND d.created_at < %(until)s
          AND (d.closed_at IS NULL OR d.closed_at >= %(until)s)
        GROUP BY 1, 2""",
}

PER_START = {
    "closed": [
        "count(*) FILTER (WHERE s.kind = 'won' AND d.closed_at >= {f})",
        "count(*) FILTER (WHERE s.kind = 'lost' AND d.closed_at >= {f})",
        "sum(round(d.amount * 100)) FILTER (WHERE s.kind = 'won' AND d.closed_at >= {f})",
    ],
    "created": [
        "count(*) FILTER (WHERE d.created_at >= {f})",
        "count(*) FILTER (WHERE d.created_at >= {f} AND s.kind = 'won'"
        " AND d.closed_at < %(as_of)s)",
    ],
    "leads": [
        "count(*) FILTER (WHERE l.created_at >= {f})",
        "count(w.lead_id) FILTER (WHERE l.created_at >= {f})",
    ],
}

# Medians and distinct customers, per scope: the rows once, then three GROUP BYs.
PER_SCOPE = {
    "cycle": """
        WITH w AS MATERIALIZED (
          SELECT d.owner_id, d.team_id, d.closed_at,
            EXTRACT(EPOCH FROM (d.closed_at AT TIME ZONE %(zone)s)
              - (coalesce(l.created_at, d.created_at) AT TIME ZONE %(zone)s)) / 86400.0 AS days
          FROM pipeline_deal d JOIN pipeline_stage s ON s.id = d.stage_id
          LEFT JOIN pipeline_lead l ON l.id = d.lead_id
          WHERE d.deleted_at IS NULL AND s.kind = 'won'
            AND d.closed_at >= %(first)s AND d.closed_at < %(until)s)
        SELECT 'org', 0, {per_start} FROM w
        UNION ALL SELECT 'user', owner_id, {per_start} FROM w GROUP BY owner_id
        UNION ALL SELECT 'team', a.ancestor, {per_start}
          FROM w JOIN ancestors a ON a.team_id = w.team_id GROUP BY a.ancestor""",
    "customers": """
        WITH w AS MATERIALIZED (
          SELECT d.owner_id, d.team_id, d.company_id, round(d.amount * 100) AS cents
          FROM pipeline_deal d JOIN pipeline_stage s ON s.id = d.stage_id
          WHERE d.deleted_at IS NULL AND s.kind = 'won' AND d.closed_at < %(until)s
            AND d.company_id IS NOT NULL)
        SELECT 'org', 0, sum(cents), count(DISTINCT company_id) FROM w
        UNION ALL SELECT 'user', owner_id, sum(cents), count(DISTINCT company_id)
          FROM w GROUP BY owner_id
        UNION ALL SELECT 'team', a.ancestor, sum(cents), count(DISTINCT w.company_id)
          FROM w JOIN ancestors a ON a.team_id = w.team_id GROUP BY a.ancestor""",
}

CYCLE_PER_START = [
    "avg(days) FILTER (WHERE closed_at >= {f})",
    "percentile_cont(0.5) WITHIN GROUP (ORDER BY days) FILTER (WHERE closed_at >= {f})",
]


def _select_list(templates: list[str], count: int) -> str:
    return ", ".join(t.format(f=f"%(first_{i})s") for i in range(count) for t in templates)


def snapshot_floor(day: dt.date) -> dict[tuple[str, int, str], dict[str, Any]]:
    """The snapshot's raw parts per (scope kind, scope id, period kind)."""
    as_of = end_of_day(day)
    firsts = [period_bounds(period_start(day, kind), day)[0] for kind in KINDS]
    params: dict[str, Any] = {
        "first": min(firsts),
        "until": min(period_bounds(day, day)[1], as_of),
        "as_of": as_of,
        "zone": timezone.get_default_timezone_name(),
        **{f"first_{i}": first for i, first in enumerate(firsts)},
    }
    parent = dict(Team.objects.values_list("id", "parent_id"))
    chains = team_chains(parent)
    parts: dict[tuple[str, int, str], dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS ancestors (team_id int, ancestor int)")
        cursor.execute("TRUNCATE ancestors")
        pairs = [(t, a) for t, chain in chains.items() for a in chain]
        if pairs:
            cursor.executemany("INSERT INTO ancestors VALUES (%s, %s)", pairs)
        cursor.execute("ANALYZE ancestors")
        for family, sql in ADDITIVE.items():
            templates = PER_START.get(family)
            select = _select_list(templates, len(KINDS)) if templates else ""
            cursor.execute(sql.format(per_start=select), params)
            for owner_id, team_id, *values in cursor.fetchall():
                scopes = [("org", 0), ("user", owner_id)]
                scopes += [("team", a) for a in chains.get(team_id, ())]
                for i, kind in enumerate(KINDS):
                    mine = (
                        values if not templates else values[i * len(templates) :][: len(templates)]
                    )
                    for scope in scopes:
                        row = parts[(*scope, kind)]
                        for n, value in enumerate(mine):
                            row[f"{family}{n}"] += value or 0
        for family, sql in PER_SCOPE.items():
            select = _select_list(CYCLE_PER_START, len(KINDS)) if family == "cycle" else ""
            cursor.execute(sql.format(per_start=select), params)
            for scope_kind, scope_id, *values in cursor.fetchall():
                for i, kind in enumerate(KINDS):
                    mine = values[i * 2 : i * 2 + 2] if family == "cycle" else values
                    for n, value in enumerate(mine):
                        parts[(scope_kind, scope_id, kind)][f"{family}{n}"] = value
    return parts


def check_floor(day: dt.date) -> int:
    """Compare the floor with the app's snapshot rows of `day`; raise on a difference.
    Returns the number of rows compared."""
    floor = snapshot_floor(day)
    compared = 0
    for row in _snapshot_rows(day, timezone.now()):
        got = floor.get((row.scope_kind, row.scope_id, row.period_kind), {})
        expected = {
            "closed0": row.deals_won,
            "closed1": row.deals_lost,
            "closed2": row.revenue * 100,
            "created0": row.opportunities_created,
            "leads0": row.leads_created,
            "open0": row.open_deals,
            "open1": row.pipeline_value * 100,
        }
        for name, value in expected.items():
            if Decimal(got.get(name) or 0) != Decimal(value):
                raise AssertionError(
                    f"floor differs: {row.scope_kind} {row.scope_id} "
                    f"{row.period_kind} {name}: {got.get(name)} != {value}"
                )
        median = got.get("cycle1")
        app_median = row.sales_cycle_days_median
        if (median is None) != (app_median is None) or (
            median is not None and abs(float(median) - app_median) > 1e-6
        ):
            raise AssertionError(
                f"floor median differs: {row.scope_kind} {row.scope_id} "
                f"{row.period_kind}: {median} != {app_median}"
            )
        compared += 1
    return compared
