"""The sales cycle's mean and median of many scopes over one calendar period, from the
cycle buckets (metrics.models.CycleBucket) instead of every win of the period.

A median does not add up from day rows; counts do. CycleBucket holds, per period, scope
(the organisation, a team with its sub-teams, an owner) and whole day of cycle, how many
wins and the sum of their cycles in microseconds, kept by the summary's drain. A scope's
mean is its microseconds over its wins; its median sits at the ranks (n - 1) // 2 and
n // 2, found by a running sum over the scope's buckets (a few hundred rows for the
organisation's year, in SQL), and its exact value is read from the wins of the one or two
buckets that hold those ranks (WonDeal, by index: a few thousand rows for a whole
organisation page, not the year's 110,000 at 1M deals). The middle values are the same
floats the raw computation sorts, combined the same way, so the median is the same number;
the mean is the exact one (the raw AVG over numerics agrees to ~1e-13 day, well inside
the 1e-6 every KPI is rounded to).

The drain runs this for the few scopes and periods a won deal touches and keeps the result
in CycleFigures, one row a scope and period, which the pages read (metrics.kpis)."""

import datetime as dt
import operator
from collections import defaultdict
from dataclasses import dataclass
from functools import reduce
from typing import Any

from django.db import connection
from django.db.models import F, Q, Sum, Window

from .models import CycleBucket, WonDeal

US_PER_DAY = 86_400_000_000

_Scope = tuple[str, int]


def middle_of(low: float, high: float) -> float:
    """The median of the two middle values as the database computes it, so that the
    figure is the raw computation's to the last bit: percentile_cont's interpolation on
    PostgreSQL, statistics.median's mean on SQLite (metrics.aggregates.Median)."""
    if connection.vendor == "postgresql":
        return low + (high - low) * 0.5
    return (low + high) / 2


def _middle_buckets(scopes: set[_Scope], kind: str, start: dt.date) -> dict[_Scope, list[dict]]:
    """Per scope with wins, the bucket rows that hold its middle ranks (one or two), each
    with the running count up to it, the scope's total wins and microseconds."""
    by_kind: dict[str, list[int]] = defaultdict(list)
    for scope_kind, scope_id in scopes:
        by_kind[scope_kind].append(scope_id)
    scope = [F("scope_kind"), F("scope_id")]
    rows = (
        CycleBucket.objects.filter(
            reduce(operator.or_, (Q(scope_kind=k, scope_id__in=ids) for k, ids in by_kind.items())),
            period_kind=kind,
            period_start=start,
        )
        .annotate(
            upto=Window(Sum("deals"), partition_by=scope, order_by=F("bucket").asc()),
            total=Window(Sum("deals"), partition_by=scope),
            total_us=Window(Sum("cycle_us"), partition_by=scope),
        )
        # The buckets holding rank (n - 1) // 2 or n // 2 (0-based): upto is the count
        # through the bucket, upto - deals before it.
        .filter(upto__gt=(F("total") - 1) / 2, upto__lte=F("total") / 2 + F("deals"))
        .values("scope_kind", "scope_id", "bucket", "deals", "upto", "total", "total_us")
    )
    middle: dict[_Scope, list[dict]] = defaultdict(list)
    for row in rows:
        middle[(row["scope_kind"], row["scope_id"])].append(dict(row))
    for found in middle.values():
        found.sort(key=lambda row: row["bucket"])
    return middle


def _wins_in_ranges(
    ranges: dict[_Scope, tuple[int, int, int]],
    trees: dict[int, list[int]],
    bounds: tuple[dt.datetime, dt.datetime],
) -> dict[_Scope, list[float]]:
    """Each scope's wins of the period whose cycle lies in its range of buckets, in one
    statement: a join of WonDeal to a list of (scope, member, low, high) rows, by the
    (owner_id, cycle_days) and (team_id, cycle_days) indexes. Written in SQL because the
    ORM's equivalent, an OR of one condition per scope, costs ~20 ms to build for the
    organisation's 236 reps and is planned as 236 bitmap scans."""
    table = WonDeal._meta.db_table
    since, until = (connection.ops.adapt_datetimefield_value(moment) for moment in bounds)
    lists: list[str] = []
    selects: list[str] = []
    params: list[Any] = []
    period = [since, until]
    for column, kind in (("owner_id", "user"), ("team_id", "team")):
        rows = [
            (scope_id, member, low, high + 1)
            for (scope_kind, scope_id), (low, high, _) in ranges.items()
            if scope_kind == kind
            for member in (trees.get(scope_id, [scope_id]) if kind == "team" else [scope_id])
        ]
        if not rows:
            continue
        # Written out, not as parameters: the driver splits a statement at every
        # placeholder, and 1,000 of them (the organisation's page) cost it ~10 ms.
        values = ", ".join(f"({', '.join(str(int(v)) for v in row)})" for row in rows)
        lists.append(f"{kind}s(scope_id, member, low, high) AS (VALUES {values})")
        match = (
            f"w.{column} = r.member AND w.cycle_days >= r.low AND w.cycle_days < r.high"
            " AND w.closed_at >= %s AND w.closed_at < %s"
        )
        if connection.vendor == "postgresql":
            # A LATERAL probe of the index per row of the list; OFFSET 0 keeps PostgreSQL
            # from flattening it into a join, which it cannot estimate on a range of the
            # list's values: it hashes the period's every win instead (29 ms for a year at
            # 1M deals, growing with the wins; the probes 11 ms for month, quarter or year
            # alike). SQLite probes the index anyway.
            probe = f"SELECT cycle_days FROM {table} w WHERE {match} OFFSET 0"
            source = f"{kind}s r CROSS JOIN LATERAL ({probe}) w"
        else:
            source = f"{kind}s r JOIN {table} w ON {match}"
        selects.append(f"SELECT '{kind}', r.scope_id, w.cycle_days FROM {source}")
    if (org := ranges.get(("org", 0))) is not None:
        selects.append(
            f"SELECT 'org', 0, cycle_days FROM {table} WHERE cycle_days >= %s"
            " AND cycle_days < %s AND closed_at >= %s AND closed_at < %s"
        )
    params += period * (len(selects) - (org is not None))
    if org is not None:
        params += [org[0], org[1] + 1, *period]
    sql = " UNION ALL ".join(selects)
    if lists:
        sql = f"WITH {', '.join(lists)} {sql}"
    found: dict[_Scope, list[float]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for scope_kind, scope_id, cycle in cursor.fetchall():
            found[(scope_kind, scope_id)].append(cycle)
    return found


@dataclass(frozen=True)
class CycleOfPeriod:
    """A scope's wins of a whole period, and their cycle's mean and median in days."""

    deals: int
    mean_days: float
    median_days: float


def cycles_of_period(
    scopes: set[_Scope],
    kind: str,
    start: dt.date,
    bounds: tuple[dt.datetime, dt.datetime],
    trees: dict[int, list[int]],
) -> dict[_Scope, CycleOfPeriod] | None:
    """The cycle mean and median of each scope with wins over the whole period (kind,
    start), whose instants are `bounds`; `trees`: each team's id with its sub-teams'. None
    when the wins read back do not match the buckets' counts (the buckets drifted: the
    caller leaves them to a rebuild)."""
    middle = _middle_buckets(scopes, kind, start)
    if not middle:
        return {}
    ranges: dict[_Scope, tuple[int, int, int]] = {}  # first bucket, last bucket, wins before
    for scope, rows in middle.items():
        first, last = rows[0], rows[-1]
        ranges[scope] = (first["bucket"], last["bucket"], first["upto"] - first["deals"])
    wins = _wins_in_ranges(ranges, trees, bounds)
    result: dict[_Scope, CycleOfPeriod] = {}
    for scope, rows in middle.items():
        before = ranges[scope][2]
        values = sorted(wins.get(scope, []))
        total, total_us = rows[0]["total"], int(rows[0]["total_us"])
        if len(values) != rows[-1]["upto"] - before:
            return None
        low, high = values[(total - 1) // 2 - before], values[total // 2 - before]
        result[scope] = CycleOfPeriod(
            deals=total,
            mean_days=total_us / (total * US_PER_DAY),
            median_days=low if low == high else middle_of(low, high),
        )
    return result
