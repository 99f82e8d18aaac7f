"""The drain's recompute of a few summary keys, as a handful of SQL statements.

A write's drain recomputes the day, month, funnel, open-pipeline and deal-dates rows of the
keys it touched. Built through the ORM, those ~20 small queries cost ~25 ms of Python a
write (building Q trees, compiling, converting rows) for ~8 ms of SQL; at 16 concurrent
clients on 2 cores that CPU queued the writes (docs/performance.md, issue 12 item 4).

Here each table is recomputed by one INSERT … SELECT that joins the keys (a VALUES list) to
a *row source*: an ORM queryset of the raw rows, compiled to SQL once per process (and per
stage layout for the funnel). The definitions (what counts as won, cents, soft deletion,
how far a deal got) stay the ORM expressions `metrics.summary` and `metrics.kpis` use for
the full rebuild, which the nightly job compares with these rows (drift). A key's local
day is its [first, after) instants (`day_bounds`), so no SQL needs the time zone. Both
PostgreSQL and SQLite run the same statements.
"""

import datetime as dt
from collections.abc import Sequence
from functools import cache, wraps
from typing import Any

from django.db import connection
from django.db.models import Case, Exists, F, IntegerField, OuterRef, Q, Value, When

from periods.calendar import day_bounds, period_end
from periods.choices import PeriodKind
from pipeline.choices import StageKind
from pipeline.models import Deal, Lead, Stage

from .aggregates import Cents
from .models import (
    DAY_PARTS,
    DayFigures,
    FunnelDay,
    FunnelMonth,
    MonthFigures,
    OpenDealDates,
    OpenDeals,
)

DayKey = tuple[dt.date, int, int | None]
CellStage = tuple[int, int | None, int]

# The `as_of` compiled into the funnel's row source, replaced by the drain's moment.
_AS_OF = dt.datetime(1901, 2, 3, 4, 5, 6, 789012, tzinfo=dt.UTC)
_CHUNK = 500  # keys a statement


def _one_if(condition: Q) -> Case:
    return Case(When(condition, then=Value(1)), default=Value(0), output_field=IntegerField())


def _compiled(queryset) -> tuple[str, tuple]:
    sql, params = queryset.order_by().query.get_compiler(connection=connection).as_sql()
    return sql, tuple(params)


@cache
def _deal_source(vendor: str) -> tuple[str, tuple]:
    won = Q(stage__kind=StageKind.WON)
    return _compiled(
        Deal.objects.values(
            _o=F("owner_id"),
            _t=F("team_id"),
            _created=F("created_at"),
            _closed=F("closed_at"),
            _won=_one_if(won),
            _lost=_one_if(Q(stage__kind=StageKind.LOST)),
            _won_cents=Case(When(won, then=Cents("amount")), default=Value(0)),
        )
    )


@cache
def _lead_source(vendor: str) -> tuple[str, tuple]:
    won_deal = Deal.objects.filter(stage__kind=StageKind.WON, lead_id=OuterRef("pk"))
    return _compiled(
        Lead.objects.values(
            _o=F("owner_id"),
            _t=F("team_id"),
            _created=F("created_at"),
            _won=_one_if(Q(Exists(won_deal))),
        )
    )


@cache
def _open_source(vendor: str) -> tuple[str, tuple]:
    return _compiled(
        Deal.objects.filter(closed_at__isnull=True).values(
            _o=F("owner_id"), _t=F("team_id"), _s=F("stage_id"), _cents=Cents("amount")
        )
    )


@cache
def _dates_source(vendor: str) -> tuple[str, tuple]:
    return _compiled(
        Deal.objects.filter(closed_at__isnull=True)
        .with_last_move()
        .values(
            _id=F("pk"),
            _o=F("owner_id"),
            _t=F("team_id"),
            _closing=F("expected_close_date"),
            _moved=F("last_move"),
        )
    )


@cache
def _funnel_source(vendor: str, layout: tuple) -> tuple[str, tuple]:
    from .kpis import furthest_reached  # kpis reads metrics.summary, which reads this

    stages = [Stage(pk=pk, order=order, kind=kind) for pk, order, kind in layout]
    return _compiled(
        Deal.objects.filter(stage__pipeline__is_default=True).values(
            _o=F("owner_id"),
            _t=F("team_id"),
            _created=F("created_at"),
            _furthest=furthest_reached(stages, _AS_OF),
        )
    )


def _funnel(stages: Sequence[Stage], as_of: dt.datetime) -> tuple[str, list]:
    layout = tuple((s.pk, s.order, s.kind) for s in stages)
    sql, params = _funnel_source(connection.vendor, layout)
    placeholder = connection.ops.adapt_datetimefield_value(_AS_OF)
    moment = connection.ops.adapt_datetimefield_value(as_of)
    return sql, [moment if p == placeholder else p for p in params]


# --- The keys, as a VALUES list ---------------------------------------------------------


def _cast(kind: str) -> str:
    """`CAST(%s AS …)` so a VALUES column has its type even when every row holds NULL."""
    sqlite = connection.vendor == "sqlite"
    types = {
        "int": "integer",
        "date": "text" if sqlite else "date",
        "moment": "text" if sqlite else "timestamp with time zone",
    }
    return f"CAST(%s AS {types[kind]})"


def _keys(name: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]):
    """`name(columns) AS (VALUES …)` for a WITH clause, and its parameters."""
    ops = connection.ops
    adapt = {
        "int": lambda v: v,
        "date": ops.adapt_datefield_value,
        "moment": ops.adapt_datetimefield_value,
    }
    one = "(" + ", ".join(_cast(kind) for _, kind in columns) + ")"
    params = [adapt[kind](v) for row in rows for (_, kind), v in zip(columns, row, strict=True)]
    names = ", ".join(column for column, _ in columns)
    return f"{name}({names}) AS (VALUES {', '.join([one] * len(rows))})", params


def _same_team(left: str, right: str) -> str:
    # NULL (no team) equals NULL. Written so no index serves it: the (owner, moment) index
    # finds a key's few rows, where an OR over the team index would read the whole team's.
    return f"COALESCE({left}, -1) = COALESCE({right}, -1)"


def _delete(model, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
    """Delete the rows of the keys (exact matches; a NULL team matches IS NULL)."""
    table = connection.ops.quote_name(model._meta.db_table)
    fields = [model._meta.get_field(c) for c in columns]
    clauses, params = [], []
    for row in rows:
        parts = []
        for field, value in zip(fields, row, strict=True):
            if value is None:
                parts.append(f"{field.column} IS NULL")
            else:
                parts.append(f"{field.column} = %s")
                params.append(field.get_db_prep_value(value, connection))
        clauses.append("(" + " AND ".join(parts) + ")")
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE " + " OR ".join(clauses), params)


def _columns(model, names: Sequence[str]) -> str:
    return ", ".join(model._meta.get_field(name).column for name in names)


def _sums(alias: str) -> tuple[str, str]:
    """The day parts' sums of `alias`'s rows, and "any of them is not 0" (HAVING)."""
    sums = [f"COALESCE(SUM({alias}.{part}), 0)" for part in DAY_PARTS]
    return ", ".join(sums), " OR ".join(f"{one} <> 0" for one in sums)


def _in_chunks(write):
    """A statement per _CHUNK keys at most (SQLite's limit of bound parameters)."""

    @wraps(write)
    def chunked(keys: Sequence, *args: Any) -> None:
        for start in range(0, len(keys), _CHUNK):
            write(keys[start : start + _CHUNK], *args)

    return chunked


def _day_keys(keys: Sequence[DayKey]) -> tuple[str, list]:
    """The (day, owner, team) keys with their day's [lo, hi) instants, as `k`."""
    rows = []
    for n, (day, owner, team) in enumerate(keys):
        lo, hi = day_bounds(day, day)
        rows.append((n, day, owner, team, lo, hi))
    columns = [("n", "int"), ("day", "date"), ("owner_id", "int"), ("team_id", "int")]
    return _keys("k", [*columns, ("lo", "moment"), ("hi", "moment")], rows)


def _month_keys(keys: Sequence[DayKey]) -> tuple[str, list]:
    """The (first of the month, owner, team) keys with the month's last day, as `k`."""
    rows = [
        (n, month, period_end(month, PeriodKind.MONTH), owner, team)
        for n, (month, owner, team) in enumerate(keys)
    ]
    return _keys(
        "k",
        [
            ("n", "int"),
            ("month", "date"),
            ("month_end", "date"),
            ("owner_id", "int"),
            ("team_id", "int"),
        ],
        rows,
    )


def _of_month(alias: str) -> str:
    return (
        f"{alias}.owner_id = k.owner_id AND {_same_team(f'{alias}.team_id', 'k.team_id')}"
        f" AND {alias}.day >= k.month AND {alias}.day <= k.month_end"
    )


def _of_day(moment: str) -> str:
    """A raw row `x` of key `k`'s day: its owner and team, `moment` in [lo, hi)."""
    return (
        f"x._o = k.owner_id AND {_same_team('x._t', 'k.team_id')}"
        f" AND x.{moment} >= k.lo AND x.{moment} < k.hi"
    )


# --- The statements -----------------------------------------------------------------------


@_in_chunks
def write_days(keys: Sequence[DayKey]) -> None:
    """DayFigures of the (day, owner, team) keys afresh: deals closed, deals created and
    leads created in each key's day; a key with nothing has no row."""
    cte, params = _day_keys(keys)
    deals, deal_params = _deal_source(connection.vendor)
    leads, lead_params = _lead_source(connection.vendor)

    sums, any_part = _sums("p")
    sql = f"""
        WITH {cte}
        INSERT INTO {DayFigures._meta.db_table} (day, owner_id, team_id, {", ".join(DAY_PARTS)})
        SELECT p.day, p.owner_id, p.team_id, {sums} FROM (
            SELECT k.n, k.day, k.owner_id, k.team_id, 0 AS leads_created, 0 AS leads_won,
                0 AS opportunities_created, 0 AS opportunities_won, x._won AS deals_won,
                x._lost AS deals_lost, x._won_cents AS revenue_cents
            FROM k CROSS JOIN ({deals}) x WHERE {_of_day("_closed")}
            UNION ALL
            SELECT k.n, k.day, k.owner_id, k.team_id, 0, 0, 1, x._won, 0, 0, 0
            FROM k CROSS JOIN ({deals}) x WHERE {_of_day("_created")}
            UNION ALL
            SELECT k.n, k.day, k.owner_id, k.team_id, 1, x._won, 0, 0, 0, 0, 0
            FROM k CROSS JOIN ({leads}) x WHERE {_of_day("_created")}
        ) p
        GROUP BY p.n, p.day, p.owner_id, p.team_id
        HAVING {any_part}
    """
    _delete(DayFigures, keys, ["day", "owner_id", "team_id"])
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *deal_params, *deal_params, *lead_params])


@_in_chunks
def write_months(keys: Sequence[DayKey]) -> None:
    """MonthFigures of the (first of the month, owner, team) keys afresh, from their day
    rows (written first)."""
    cte, params = _month_keys(keys)
    sums, any_part = _sums("f")
    sql = f"""
        WITH {cte}
        INSERT INTO {MonthFigures._meta.db_table} (month, owner_id, team_id, {", ".join(DAY_PARTS)})
        SELECT k.month, k.owner_id, k.team_id, {sums}
        FROM k CROSS JOIN {DayFigures._meta.db_table} f WHERE {_of_month("f")}
        GROUP BY k.n, k.month, k.owner_id, k.team_id
        HAVING {any_part}
    """
    _delete(MonthFigures, keys, ["month", "owner_id", "team_id"])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@_in_chunks
def write_funnel(keys: Sequence[DayKey], stages: Sequence[Stage], as_of: dt.datetime) -> None:
    """FunnelDay of the (day, owner, team) keys afresh: the default pipeline's deals created
    that day, by how far they got by `as_of`."""
    cte, params = _day_keys(keys)
    deals, deal_params = _funnel(stages, as_of)
    sql = f"""
        WITH {cte}
        INSERT INTO {FunnelDay._meta.db_table} (day, owner_id, team_id, furthest, deals)
        SELECT k.day, k.owner_id, k.team_id, x._furthest, COUNT(*)
        FROM k CROSS JOIN ({deals}) x WHERE {_of_day("_created")}
        GROUP BY k.n, k.day, k.owner_id, k.team_id, x._furthest
    """
    _delete(FunnelDay, keys, ["day", "owner_id", "team_id"])
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *deal_params])


@_in_chunks
def write_funnel_months(keys: Sequence[DayKey]) -> None:
    """FunnelMonth of the (first of the month, owner, team) keys afresh, from their
    FunnelDay rows (written first)."""
    cte, params = _month_keys(keys)
    sql = f"""
        WITH {cte}
        INSERT INTO {FunnelMonth._meta.db_table} (month, owner_id, team_id, furthest, deals)
        SELECT k.month, k.owner_id, k.team_id, f.furthest, SUM(f.deals)
        FROM k CROSS JOIN {FunnelDay._meta.db_table} f WHERE {_of_month("f")}
        GROUP BY k.n, k.month, k.owner_id, k.team_id, f.furthest
        HAVING SUM(f.deals) <> 0
    """
    _delete(FunnelMonth, keys, ["month", "owner_id", "team_id"])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@_in_chunks
def write_open(keys: Sequence[CellStage]) -> None:
    """OpenDeals of the (owner, team, stage) keys afresh: open deals and their cents."""
    cte, params = _keys(
        "k",
        [("n", "int"), ("owner_id", "int"), ("team_id", "int"), ("stage_id", "int")],
        [(n, *key) for n, key in enumerate(keys)],
    )
    deals, deal_params = _open_source(connection.vendor)
    columns = _columns(OpenDeals, ["owner_id", "team_id", "stage", "open_deals", "pipeline_cents"])
    sql = f"""
        WITH {cte}
        INSERT INTO {OpenDeals._meta.db_table} ({columns})
        SELECT k.owner_id, k.team_id, k.stage_id, COUNT(*), COALESCE(SUM(x._cents), 0)
        FROM k CROSS JOIN ({deals}) x WHERE x._o = k.owner_id AND {_same_team("x._t", "k.team_id")}
            AND x._s = k.stage_id
        GROUP BY k.n, k.owner_id, k.team_id, k.stage_id
    """
    _delete(OpenDeals, keys, ["owner_id", "team_id", "stage"])
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *deal_params])


@_in_chunks
def write_dates(deal_ids: Sequence[int]) -> None:
    """OpenDealDates of the deals afresh (a closed or deleted deal has none)."""
    deals, deal_params = _dates_source(connection.vendor)
    table = OpenDealDates._meta.db_table
    marks = ", ".join(["%s"] * len(deal_ids))
    columns = _columns(OpenDealDates, ["deal", "owner", "team", "expected_close_date", "last_move"])
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE deal_id IN ({marks})", list(deal_ids))
        cursor.execute(
            f"INSERT INTO {table} ({columns})"
            f" SELECT x._id, x._o, x._t, x._closing, x._moved FROM ({deals}) x"
            f" WHERE x._id IN ({marks})",
            [*deal_params, *deal_ids],
        )
