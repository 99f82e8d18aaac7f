"""The summary layer: day totals, the open pipeline and won deals, kept equal to the raw rows.

The live pages read these tables instead of scanning a period's deals and leads, so their
cost follows the number of reps and days shown, not the number of deals (docs/performance.md).

How they stay exact. Database triggers (installed by a migration, `install_triggers`) write
the before and after image of every changed deal and lead to `SummaryChange`, in the
writer's own transaction, whatever wrote it. `drain` turns the images into the summary keys
they touch ((day, owner, team) of a creation or a close, (owner, team, stage) of an open
deal, the won deal itself) and recomputes those keys from the raw rows. It runs on commit of
every ORM write, and before every summary read, so what a page reads is always what a fresh
computation gives. `rebuild` recomputes everything, reports the rows that differed (drift:
a bug, or a trigger that was off) and repairs them; the nightly job runs it.

Concurrency: on PostgreSQL one advisory lock serialises drains, and a drain reads the raw
rows only after taking it (READ COMMITTED: each statement sees every commit before it), so
two drains never write an older computation over a newer one. SQLite has one writer.
"""

import datetime as dt
import logging
import math
from collections import defaultdict
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, Max, OuterRef, Q, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.db.models.signals import post_save
from django.utils import timezone

from accounts.models import Team
from periods.calendar import day_bounds, period_end, period_start
from periods.choices import PeriodKind
from periods.durations import WallClockDays
from pipeline.choices import StageKind
from pipeline.models import Deal, Lead

from . import drain_sql
from .aggregates import Cents
from .cycles import US_PER_DAY, cycles_of_period, middle_of
from .models import (
    DAY_PARTS,
    CustomerFirstWin,
    CycleBucket,
    CycleFigures,
    DayFigures,
    FunnelDay,
    FunnelMonth,
    MonthFigures,
    OpenDealDates,
    OpenDeals,
    ScopeCustomers,
    SummaryChange,
    WonDeal,
)

logger = logging.getLogger(__name__)

# Above this many changed rows a drain rebuilds everything: one pass over the raw rows
# costs less than thousands of small recomputations (a bulk import, a data load).
REBUILD_ABOVE = 5000
_LOCK_ID = 7_312_001  # pg_advisory_xact_lock key of the drain

# --- Triggers ------------------------------------------------------------------------------

_DEAL_COLUMNS = [
    "owner_id",
    "team_id",
    "stage_id",
    "amount",
    "created_at",
    "closed_at",
    "company_id",
    "lead_id",
    "deleted_at",
    "expected_close_date",  # OpenDealDates
]
_LEAD_COLUMNS = ["owner_id", "team_id", "created_at", "deleted_at"]
_IMAGE = "(deal_id, lead_id, owner_id, team_id, stage_id, created_at, closed_at)"


def _deal_image(row: str) -> str:
    return (
        f"({row}.id, {row}.lead_id, {row}.owner_id, {row}.team_id, {row}.stage_id, "
        f"{row}.created_at, {row}.closed_at)"
    )


def _lead_image(row: str) -> str:
    return f"(NULL, {row}.id, {row}.owner_id, {row}.team_id, NULL, {row}.created_at, NULL)"


_STAGE_CHANGE_COLUMNS = ["deal_id", "from_stage_id", "to_stage_id", "changed_at"]


def _history_image(row: str) -> str:
    # A move in a deal's stage history changes how far the deal got (the funnel): the
    # image is the deal's own, read from its row (none once the deal is gone: its delete
    # wrote one).
    return (
        "SELECT d.id, d.lead_id, d.owner_id, d.team_id, d.stage_id, d.created_at, d.closed_at"
        f" FROM pipeline_deal d WHERE d.id = {row}.deal_id"
    )


def _changed(columns: list[str], distinct: str) -> str:
    return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in columns)


def _postgresql(
    table: str, image, columns: list[str], selects: bool = False
) -> tuple[list[str], list[str]]:
    name = f"metrics_summary_{table}"
    insert = f"INSERT INTO metrics_summarychange {_IMAGE}" + ("" if selects else " VALUES")
    install = [
        f"""
        CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN {insert} {image("OLD")}; END IF;
            IF TG_OP IN ('UPDATE', 'INSERT') THEN {insert} {image("NEW")}; END IF;
            RETURN NULL;
        END
        $$ LANGUAGE plpgsql
        """,
        f"""CREATE OR REPLACE TRIGGER {name}_insert_delete AFTER INSERT OR DELETE
        ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()""",
        f"""CREATE OR REPLACE TRIGGER {name}_update AFTER UPDATE ON {table} FOR EACH ROW
        WHEN ({_changed(columns, "IS DISTINCT FROM")}) EXECUTE FUNCTION {name}()""",
    ]
    uninstall = [
        f"DROP TRIGGER IF EXISTS {name}_insert_delete ON {table}",
        f"DROP TRIGGER IF EXISTS {name}_update ON {table}",
        f"DROP FUNCTION IF EXISTS {name}()",
    ]
    return install, uninstall


def _sqlite(
    table: str, image, columns: list[str], selects: bool = False
) -> tuple[list[str], list[str]]:
    name = f"metrics_summary_{table}"
    insert = f"INSERT INTO metrics_summarychange {_IMAGE}" + ("" if selects else " VALUES")
    install = [
        f"""CREATE TRIGGER IF NOT EXISTS {name}_insert AFTER INSERT ON {table}
        BEGIN {insert} {image("NEW")}; END""",
        f"""CREATE TRIGGER IF NOT EXISTS {name}_delete AFTER DELETE ON {table}
        BEGIN {insert} {image("OLD")}; END""",
        f"""CREATE TRIGGER IF NOT EXISTS {name}_update AFTER UPDATE ON {table}
        WHEN {_changed(columns, "IS NOT")}
        BEGIN {insert} {image("OLD")}; {insert} {image("NEW")}; END""",
    ]
    uninstall = [f"DROP TRIGGER IF EXISTS {name}_{op}" for op in ("insert", "delete", "update")]
    return install, uninstall


def _trigger_sql(vendor: str) -> tuple[list[str], list[str]]:
    build = {"postgresql": _postgresql, "sqlite": _sqlite}.get(vendor)
    if build is None:
        raise NotImplementedError(f"no summary triggers for the {vendor} backend")
    deal = build("pipeline_deal", _deal_image, _DEAL_COLUMNS)
    lead = build("pipeline_lead", _lead_image, _LEAD_COLUMNS)
    history = build("pipeline_stagechange", _history_image, _STAGE_CHANGE_COLUMNS, selects=True)
    return deal[0] + lead[0] + history[0], deal[1] + lead[1] + history[1]


def install_triggers(conn=connection) -> None:
    """Install the triggers (idempotent). On SQLite a migration that rebuilds pipeline_deal
    or pipeline_lead drops them: it must call this again (tests/metrics/test_summary.py)."""
    with conn.cursor() as cursor:
        for statement in _trigger_sql(conn.vendor)[0]:
            cursor.execute(statement)


def uninstall_triggers(conn=connection) -> None:
    with conn.cursor() as cursor:
        for statement in _trigger_sql(conn.vendor)[1]:
            cursor.execute(statement)


# --- Recomputing summary rows from the raw rows -------------------------------------------

_DayKey = tuple[dt.date, int, int | None]
_CellStage = tuple[int, int | None, int]
_FunnelKey = tuple[dt.date, int, int | None, int]


def _tz():
    return timezone.get_default_timezone()


def local_day(moment: dt.datetime) -> dt.date:
    """The day of `moment` in TIME_ZONE: the key of its DayFigures row."""
    return timezone.localtime(moment, _tz()).date()


def _any_of(keys: Iterable[tuple], condition) -> Q:
    """The rows of any of the keys, `condition(*key)` each (no key: no row)."""
    matching = Q(pk__in=[])
    for key in keys:
        matching |= condition(*key)
    return matching


# --- The whole tables afresh, for the rebuild (a drain's few keys: metrics.drain_sql) ----


def _day_rows() -> dict[_DayKey, dict[str, int]]:
    """Fresh DayFigures parts of every key, from deals and leads."""
    tz = _tz()
    rows: dict[_DayKey, dict[str, int]] = defaultdict(lambda: dict.fromkeys(DAY_PARTS, 0))
    won = Q(stage__kind=StageKind.WON)

    def collect(queryset, field: str, **aggregates) -> None:
        grouped = (
            queryset.annotate(_day=TruncDate(field, tzinfo=tz))
            .values("_day", "owner_id", "team_id")
            .annotate(**aggregates)
            .order_by()
        )
        for row in grouped:
            key = (row.pop("_day"), row.pop("owner_id"), row.pop("team_id"))
            for name, value in row.items():
                rows[key][name] += value or 0

    collect(
        Deal.objects.filter(closed_at__isnull=False),
        "closed_at",
        deals_won=Count("id", filter=won),
        deals_lost=Count("id", filter=Q(stage__kind=StageKind.LOST)),
        revenue_cents=Sum(Cents("amount"), filter=won),
    )
    collect(
        Deal.objects.all(),
        "created_at",
        opportunities_created=Count("id"),
        opportunities_won=Count("id", filter=won),
    )
    won_deal = Deal.objects.filter(stage__kind=StageKind.WON, lead_id=OuterRef("pk"))
    collect(
        Lead.objects.all(),
        "created_at",
        leads_created=Count("id"),
        leads_won=Count("id", filter=Q(Exists(won_deal))),
    )
    return {key: parts for key, parts in rows.items() if any(parts.values())}


def _open_rows() -> dict[_CellStage, tuple[int, int]]:
    grouped = (
        Deal.objects.filter(closed_at__isnull=True)
        .values("owner_id", "team_id", "stage_id")
        .annotate(n=Count("id"), cents=Sum(Cents("amount")))
        .order_by()
    )
    return {
        (r["owner_id"], r["team_id"], r["stage_id"]): (r["n"], r["cents"] or 0) for r in grouped
    }


def _won_rows(deal_ids: list[int] | None) -> dict[int, dict[str, Any]]:
    deals = Deal.objects.filter(stage__kind=StageKind.WON)
    if deal_ids is not None:
        deals = deals.filter(pk__in=deal_ids)
    rows = deals.annotate(
        _cycle=WallClockDays(Coalesce("lead__created_at", "created_at"), "closed_at"),
        _cents=Cents("amount"),
    ).values_list("pk", "owner_id", "team_id", "company_id", "closed_at", "_cycle", "_cents")
    return {
        pk: dict(
            owner_id=owner,
            team_id=team,
            company_id=company,
            closed_at=closed,
            cycle_days=cycle,
            amount_cents=cents,
        )
        for pk, owner, team, company, closed, cycle, cents in rows.iterator(chunk_size=5000)
    }


def _funnel_rows() -> dict[_FunnelKey, int]:
    """Fresh FunnelDay counts of every key: the deals of the default pipeline created that
    day, by how far they got by now."""
    from .kpis import default_stages, furthest_reached  # kpis reads this module

    stages = default_stages()
    grouped = (
        Deal.objects.filter(stage__pipeline__is_default=True)
        .annotate(
            _day=TruncDate("created_at", tzinfo=_tz()),
            _furthest=furthest_reached(stages, timezone.now()),
        )
        .values("_day", "owner_id", "team_id", "_furthest")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(r["_day"], r["owner_id"], r["team_id"], r["_furthest"]): r["n"] for r in grouped}


_DatesRow = tuple[int, int | None, dt.date | None, dt.datetime]


def _dates_rows() -> dict[int, _DatesRow]:
    """Fresh OpenDealDates: every open deal, as the raw attention lists see it
    (metrics.dashboards.deals)."""
    rows = (
        Deal.objects.filter(closed_at__isnull=True)
        .with_last_move()
        .values_list("pk", "owner_id", "team_id", "expected_close_date", "last_move")
    )
    return {pk: (owner, team, closing, moved) for pk, owner, team, closing, moved in rows}


# --- Writing them -------------------------------------------------------------------------


def _replace(model, keys: Q | None, rows: list, batch_size: int = 2000) -> None:
    """Every summary table is written the same way: the rows of the recomputed keys (None:
    the whole table) deleted, the fresh ones inserted."""
    (model.objects.all() if keys is None else model.objects.filter(keys)).delete()
    model.objects.bulk_create(rows, batch_size=batch_size)


def _write_days(fresh: dict[_DayKey, dict[str, int]]) -> None:
    rows = [
        DayFigures(day=day, owner_id=owner, team_id=team, **parts)
        for (day, owner, team), parts in fresh.items()
        if any(parts.values())
    ]
    _replace(DayFigures, None, rows)


def _months_of(fresh_days: dict[_DayKey, dict[str, int]]) -> dict[_DayKey, dict[str, int]]:
    """Day rows added up by (first of the month, owner, team)."""
    months: dict[_DayKey, dict[str, int]] = defaultdict(lambda: dict.fromkeys(DAY_PARTS, 0))
    for (day, owner, team), parts in fresh_days.items():
        month = months[(day.replace(day=1), owner, team)]
        for name, value in parts.items():
            month[name] += value
    return months


def _month_keys(day_keys: Iterable[_DayKey]) -> list[_DayKey]:
    return sorted({(day.replace(day=1), owner, team) for day, owner, team in day_keys}, key=str)


def _write_months(fresh: dict[_DayKey, dict[str, int]]) -> None:
    rows = [
        MonthFigures(month=month, owner_id=owner, team_id=team, **parts)
        for (month, owner, team), parts in fresh.items()
        if any(parts.values())
    ]
    _replace(MonthFigures, None, rows)


def _write_funnel(fresh: dict[_FunnelKey, int]) -> None:
    rows = [
        FunnelDay(day=day, owner_id=owner, team_id=team, furthest=furthest, deals=n)
        for (day, owner, team, furthest), n in fresh.items()
    ]
    _replace(FunnelDay, None, rows)


def _funnel_months_of(fresh: dict[_FunnelKey, int]) -> dict[_FunnelKey, int]:
    months: dict[_FunnelKey, int] = defaultdict(int)
    for (day, owner, team, furthest), n in fresh.items():
        months[(day.replace(day=1), owner, team, furthest)] += n
    return months


def _write_funnel_months(fresh: dict[_FunnelKey, int]) -> None:
    rows = [
        FunnelMonth(month=month, owner_id=owner, team_id=team, furthest=furthest, deals=n)
        for (month, owner, team, furthest), n in fresh.items()
        if n
    ]
    _replace(FunnelMonth, None, rows)


def _stored_months() -> dict[_DayKey, dict[str, int]]:
    return {
        (r["month"], r["owner_id"], r["team_id"]): {p: r[p] for p in DAY_PARTS}
        for r in MonthFigures.objects.values("month", "owner_id", "team_id", *DAY_PARTS)
    }


def _stored_funnel_months() -> dict[_FunnelKey, int]:
    return {
        (m, o, t, f): n
        for m, o, t, f, n in FunnelMonth.objects.values_list(
            "month", "owner_id", "team_id", "furthest", "deals"
        )
    }


def _write_open(fresh: dict[_CellStage, tuple[int, int]]) -> None:
    rows = [
        OpenDeals(owner_id=o, team_id=t, stage_id=s, open_deals=n, pipeline_cents=c)
        for (o, t, s), (n, c) in fresh.items()
    ]
    _replace(OpenDeals, None, rows)


def _write_won(fresh: dict[int, dict[str, Any]], deal_ids: list[int] | None) -> None:
    rows = [WonDeal(deal_id=pk, **row) for pk, row in fresh.items()]
    _replace(WonDeal, None if deal_ids is None else Q(pk__in=deal_ids), rows, 5000)


def _write_dates(fresh: dict[int, _DatesRow]) -> None:
    rows = [
        OpenDealDates(
            deal_id=pk, owner_id=owner, team_id=team, expected_close_date=closing, last_move=moved
        )
        for pk, (owner, team, closing, moved) in fresh.items()
    ]
    _replace(OpenDealDates, None, rows, 5000)


# --- Customers: first wins per scope, and each scope's totals ----------------------------

_Scope = tuple[str, int]
_FirstKey = tuple[str, int, int]  # scope kind, scope id, company
_WON_COLUMNS = ["owner_id", "team_id", "company_id", "closed_at", "amount_cents"]


def _team_chains() -> dict[int, list[int]]:
    from .kpis import team_chains  # kpis reads this module

    return team_chains(dict(Team.objects.values_list("id", "parent_id")))


def _scopes_of(owner_id: int, team_id: int | None, chains: dict[int, list[int]]) -> list[_Scope]:
    """The scopes a deal counts in: the organisation, its owner, its team and the team's
    ancestors (a team's figures include its sub-teams)."""
    scopes: list[_Scope] = [("org", 0), ("user", owner_id)]
    if team_id is not None:
        scopes += [("team", t) for t in chains.get(team_id, [team_id])]
    return scopes


def _first_wins(rows: Iterable[dict[str, Any]], chains) -> dict[_FirstKey, dt.datetime]:
    first: dict[_FirstKey, dt.datetime] = {}
    for row in rows:
        if row["company_id"] is None:
            continue
        for kind, scope_id in _scopes_of(row["owner_id"], row["team_id"], chains):
            key = (kind, scope_id, row["company_id"])
            if key not in first or row["closed_at"] < first[key]:
                first[key] = row["closed_at"]
    return first


def _customer_cents(rows: Iterable[dict[str, Any]], chains) -> dict[_Scope, int]:
    cents: dict[_Scope, int] = defaultdict(int)
    for row in rows:
        if row["company_id"] is not None:
            for scope in _scopes_of(row["owner_id"], row["team_id"], chains):
                cents[scope] += row["amount_cents"]
    return cents


def _scope_totals(won: Iterable[dict[str, Any]], chains) -> dict[_Scope, tuple[int, int]]:
    rows = list(won)
    customers: dict[_Scope, int] = defaultdict(int)
    for kind, scope_id, _ in _first_wins(rows, chains):
        customers[(kind, scope_id)] += 1
    cents = _customer_cents(rows, chains)
    return {scope: (customers.get(scope, 0), cents.get(scope, 0)) for scope in customers | cents}


def _stored_customers() -> tuple[dict[_FirstKey, dt.datetime], dict[_Scope, tuple[int, int]]]:
    firsts = {
        (k, s, c): at
        for k, s, c, at in CustomerFirstWin.objects.values_list(
            "scope_kind", "scope_id", "company_id", "first_won_at"
        )
    }
    totals = {
        (k, s): (n, cents)
        for k, s, n, cents in ScopeCustomers.objects.values_list(
            "scope_kind", "scope_id", "customers", "revenue_cents"
        )
    }
    return firsts, totals


def _write_firsts(firsts: dict[_FirstKey, dt.datetime], companies: list[int] | None) -> None:
    stale = CustomerFirstWin.objects.all()
    if companies is not None:
        stale = stale.filter(company_id__in=companies)
    stale.delete()
    CustomerFirstWin.objects.bulk_create(
        [
            CustomerFirstWin(scope_kind=k, scope_id=s, company_id=c, first_won_at=at)
            for (k, s, c), at in firsts.items()
        ],
        batch_size=5000,
    )


def _write_totals(totals: dict[_Scope, tuple[int, int]]) -> None:
    ScopeCustomers.objects.all().delete()
    ScopeCustomers.objects.bulk_create(
        [
            ScopeCustomers(scope_kind=k, scope_id=s, customers=n, revenue_cents=cents)
            for (k, s), (n, cents) in totals.items()
            if n or cents
        ],
        batch_size=5000,
    )


def _add_to_totals(deltas: dict[_Scope, list[int]]) -> None:
    """Add (customers, cents) deltas to the scopes' totals, under the drain's lock."""
    deltas = {scope: d for scope, d in deltas.items() if any(d)}
    if not deltas:
        return
    existing = {
        (row.scope_kind, row.scope_id): row
        for row in ScopeCustomers.objects.filter(
            _any_of(deltas, lambda kind, scope_id: Q(scope_kind=kind, scope_id=scope_id))
        )
    }
    changed, new = [], []
    for (kind, scope_id), (customers, cents) in deltas.items():
        if (row := existing.get((kind, scope_id))) is None:
            new.append(ScopeCustomers(scope_kind=kind, scope_id=scope_id))
            row = new[-1]
        else:
            changed.append(row)
        row.customers += customers
        row.revenue_cents += cents
    ScopeCustomers.objects.bulk_update(changed, ["customers", "revenue_cents"])
    ScopeCustomers.objects.bulk_create(new)


def _update_customers(old_won: list[dict[str, Any]], new_won: list[dict[str, Any]], chains) -> None:
    """After the won deals old_won became new_won: recompute the first wins of their
    companies and move each scope's totals by the difference."""
    if not old_won and not new_won:  # no won deal touched (most writes): nothing to do
        return
    companies = sorted({r["company_id"] for r in old_won + new_won if r["company_id"] is not None})
    deltas: dict[_Scope, list[int]] = defaultdict(lambda: [0, 0])
    for scope, cents in _customer_cents(new_won, chains).items():
        deltas[scope][1] += cents
    for scope, cents in _customer_cents(old_won, chains).items():
        deltas[scope][1] -= cents
    if companies:
        before = CustomerFirstWin.objects.filter(company_id__in=companies)
        for kind, scope_id in before.values_list("scope_kind", "scope_id"):
            deltas[(kind, scope_id)][0] -= 1
        rows = WonDeal.objects.filter(company_id__in=companies).values(*_WON_COLUMNS)
        firsts = _first_wins(rows, chains)
        for kind, scope_id, _ in firsts:
            deltas[(kind, scope_id)][0] += 1
        _write_firsts(firsts, companies)
    _add_to_totals(deltas)


# --- Cycle buckets: each scope's wins per period and whole day of cycle -------------------

_BucketKey = tuple[str, dt.date, str, int, int]  # period kind, start, scope kind, id, bucket


def cycle_us(days: float) -> int:
    """A cycle in days as its exact whole microseconds (a cycle is a difference of two
    timestamps, kept to the microsecond, divided by 86,400 s once)."""
    return round(days * 86_400_000_000)


def _cycle_buckets(rows: Iterable[dict[str, Any]], chains) -> dict[_BucketKey, list[int]]:
    """(wins, cycle microseconds) per bucket key of the won deals `rows`."""
    totals: dict[_BucketKey, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        day, cycle = local_day(row["closed_at"]), row["cycle_days"]
        bucket, us = math.floor(cycle), cycle_us(cycle)
        starts = [(kind, period_start(day, kind)) for kind in PeriodKind]
        for scope in _scopes_of(row["owner_id"], row["team_id"], chains):
            for kind, start in starts:
                total = totals[(kind, start, *scope, bucket)]
                total[0] += 1
                total[1] += us
    return totals


def _update_cycles(old_won: list[dict[str, Any]], new_won: list[dict[str, Any]], chains) -> None:
    """Move the buckets of the won deals old_won, now new_won, by the difference, under
    the drain's lock; a bucket left with no win is deleted."""
    deltas = _cycle_buckets(new_won, chains)
    for key, (n, us) in _cycle_buckets(old_won, chains).items():
        deltas[key][0] -= n
        deltas[key][1] -= us
    deltas = {key: d for key, d in deltas.items() if any(d)}
    if not deltas:
        return
    changed = {key[:4] for key in deltas}
    # The deltas added in place in SQL: the ORM's read, bulk_update and bulk_create cost
    # ~20 ms a won deal to build. A bucket that gains wins is upserted; one that loses
    # them (a CHECK forbids inserting a negative count, even where it would conflict) is
    # updated, and deleted once empty. A loss for a bucket that is not there (or has
    # fewer wins) is drift: nothing is updated, and the nightly rebuild repairs it.
    table = CycleBucket._meta.db_table
    columns = "period_kind, period_start, scope_kind, scope_id, bucket"

    def key_values(k: _BucketKey) -> list[Any]:
        kind, start, scope_kind, scope_id, bucket = k
        return [kind, connection.ops.adapt_datefield_value(start), scope_kind, scope_id, bucket]

    gains = [(k, d) for k, d in deltas.items() if d[0] > 0]
    losses = [(k, d) for k, d in deltas.items() if d[0] <= 0]
    emptied = []
    with connection.cursor() as cursor:
        if gains:
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(gains))
            cursor.execute(
                f"INSERT INTO {table} ({columns}, deals, cycle_us) VALUES {values}"
                f" ON CONFLICT ({columns}) DO UPDATE SET deals = {table}.deals + excluded.deals,"
                f" cycle_us = {table}.cycle_us + excluded.cycle_us",
                [v for k, (n, us) in gains for v in (*key_values(k), n, us)],
            )
        for k, (n, us) in losses:
            cursor.execute(
                f"UPDATE {table} SET deals = deals + %s, cycle_us = cycle_us + %s"
                " WHERE period_kind = %s AND period_start = %s AND scope_kind = %s"
                " AND scope_id = %s AND bucket = %s AND deals + %s >= 0 RETURNING id, deals",
                [n, us, *key_values(k), n],
            )
            emptied += [pk for pk, left in cursor.fetchall() if left == 0]
        if emptied:
            cursor.execute(
                f"DELETE FROM {table} WHERE id IN ({', '.join(['%s'] * len(emptied))})", emptied
            )
    _update_cycle_figures(changed, chains)


def _stored_cycles() -> dict[_BucketKey, list[int]]:
    return {
        (k, s, sk, si, b): [n, us]
        for k, s, sk, si, b, n, us in CycleBucket.objects.values_list(
            "period_kind", "period_start", "scope_kind", "scope_id", "bucket", "deals", "cycle_us"
        ).iterator(chunk_size=10000)
    }


def _rebuild_cycles(fresh_won: dict[int, dict[str, Any]], chains) -> int:
    fresh = _cycle_buckets(fresh_won.values(), chains)
    differing = _differing(_stored_cycles(), fresh)
    if differing:
        rows = [
            CycleBucket(
                period_kind=k,
                period_start=s,
                scope_kind=sk,
                scope_id=si,
                bucket=b,
                deals=n,
                cycle_us=us,
            )
            # In key order: a period's buckets then sit on few pages.
            for (k, s, sk, si, b), (n, us) in sorted(fresh.items())
        ]
        _replace(CycleBucket, None, rows, 5000)
    return differing


# --- Cycle figures: each scope's cycle mean and median per whole period --------------------

_FigureKey = tuple[str, dt.date, str, int]  # period kind, start, scope kind, id


def _cycle_figures(rows: Iterable[dict[str, Any]], chains) -> dict[_FigureKey, tuple]:
    """(wins, mean, median) per period and scope of the won deals `rows`: the numbers
    metrics.cycles reads from the buckets (the same floats sorted, the same middle and
    the same microsecond sum), here from every win at once."""
    cycles: dict[_FigureKey, list[float]] = defaultdict(list)
    for row in rows:
        day, cycle = local_day(row["closed_at"]), row["cycle_days"]
        starts = [(kind, period_start(day, kind)) for kind in PeriodKind]
        for scope in _scopes_of(row["owner_id"], row["team_id"], chains):
            for kind, start in starts:
                cycles[(kind, start, *scope)].append(cycle)
    figures = {}
    for key, values in cycles.items():
        values.sort()
        n = len(values)
        low, high = values[(n - 1) // 2], values[n // 2]
        mean = sum(cycle_us(value) for value in values) / (n * US_PER_DAY)
        figures[key] = (n, mean, low if low == high else middle_of(low, high))
    return figures


def _update_cycle_figures(keys: set[_FigureKey], chains) -> None:
    """Recompute the cycle figures of `keys` from the buckets just moved (metrics.cycles),
    under the drain's lock: a period's scopes in two queries. Buckets that disagree with
    the wins they count (drift) leave the figures to a rebuild at the next read."""
    trees: dict[int, list[int]] = defaultdict(list)
    for team_id, chain in chains.items():
        for ancestor in chain:
            trees[ancestor].append(team_id)
    by_period: dict[tuple[str, dt.date], set[_Scope]] = defaultdict(set)
    for kind, start, scope_kind, scope_id in keys:
        by_period[(kind, start)].add((scope_kind, scope_id))
    fresh: list[CycleFigures] = []
    for (kind, start), scopes in sorted(by_period.items()):
        bounds = day_bounds(start, period_end(start, kind))
        found = cycles_of_period(scopes, kind, start, bounds, trees)
        if found is None:
            request_rebuild()
            return
        fresh += [
            _figure_row((kind, start, *scope, f.deals, f.mean_days, f.median_days))
            for scope, f in found.items()
        ]
    in_keys = _any_of(
        keys,
        lambda kind, start, scope_kind, scope_id: Q(
            period_kind=kind, period_start=start, scope_kind=scope_kind, scope_id=scope_id
        ),
    )
    _replace(CycleFigures, in_keys, fresh)


_FIGURE_FIELDS = (
    "period_kind",
    "period_start",
    "scope_kind",
    "scope_id",
    "deals",
    "mean_days",
    "median_days",
)


def _figure_row(values: tuple) -> CycleFigures:
    return CycleFigures(**dict(zip(_FIGURE_FIELDS, values, strict=True)))


def _stored_cycle_figures() -> dict[_FigureKey, tuple]:
    rows = CycleFigures.objects.values_list(*_FIGURE_FIELDS).iterator(chunk_size=10000)
    return {row[:4]: row[4:] for row in rows}


def _rebuild_cycle_figures(fresh_won: dict[int, dict[str, Any]], chains) -> int:
    fresh = _cycle_figures(fresh_won.values(), chains)
    differing = _differing(_stored_cycle_figures(), fresh)
    if differing:
        rows = [_figure_row((*key, *values)) for key, values in sorted(fresh.items())]
        _replace(CycleFigures, None, rows, 5000)
    return differing


def rebuild_customers() -> int:
    """Recompute the tables whose scopes follow the team tree (a team's figures are its
    sub-teams' too): customers, cycle buckets and figures. Returns the rows that differed."""
    with transaction.atomic():
        _lock()
        fresh_won, chains = _won_rows(None), _team_chains()
        return (
            _rebuild_customers(fresh_won, chains)
            + _rebuild_cycles(fresh_won, chains)
            + _rebuild_cycle_figures(fresh_won, chains)
        )


def _rebuild_customers(fresh_won: dict[int, dict[str, Any]], chains) -> int:
    fresh_firsts = _first_wins(fresh_won.values(), chains)
    fresh_totals = _scope_totals(fresh_won.values(), chains)
    stored_firsts, stored_totals = _stored_customers()
    differing = _differing(stored_firsts, fresh_firsts)
    if differing:
        _write_firsts(fresh_firsts, None)
    fresh_totals = {scope: t for scope, t in fresh_totals.items() if any(t)}
    differing_totals = _differing(stored_totals, fresh_totals)
    if differing_totals:
        _write_totals(fresh_totals)
    return differing + differing_totals


def remember_team_parent(sender: Any, instance: Team, **kwargs: Any) -> None:
    """pre_save of a team: note its parent, to know after the save if the tree moved."""
    instance._summary_parent = (  # type: ignore[attr-defined]
        Team.objects.filter(pk=instance.pk).values_list("parent_id", flat=True).first()
        if instance.pk
        else None
    )


def schedule_customers_rebuild(sender: Any, instance: Team, **kwargs: Any) -> None:
    """post_save / post_delete of a team: a team's customers are its sub-teams' too, so a
    moved or deleted team rebuilds the customer tables on commit (a new one has no deals)."""
    if kwargs.get("signal") is post_save and (
        kwargs.get("created") or getattr(instance, "_summary_parent", None) == instance.parent_id
    ):
        return
    transaction.on_commit(rebuild_customers)


# --- Drain, rebuild, check ----------------------------------------------------------------


@dataclass(frozen=True)
class Drift:
    """Rows a rebuild found different from a fresh computation, per table."""

    day_figures: int
    open_deals: int
    won_deals: int
    funnel_days: int = 0
    customers: int = 0
    open_deal_dates: int = 0
    cycle_buckets: int = 0
    month_figures: int = 0
    funnel_months: int = 0
    cycle_figures: int = 0

    @property
    def total(self) -> int:
        return (
            self.day_figures
            + self.open_deals
            + self.won_deals
            + self.funnel_days
            + self.customers
            + self.open_deal_dates
            + self.cycle_buckets
            + self.month_figures
            + self.funnel_months
            + self.cycle_figures
        )


def _lock(*, wait: bool = True, draining: bool = False) -> bool:
    """Take the drain's lock for this transaction; without `wait`, only if it is free
    (returns whether it was taken). `draining`: the transaction's commit need not wait for
    the disk: a drain commits with the changes it consumed, so a commit lost in a crash
    brings those changes back for the next drain (no drift), where waiting cost every
    write's drain an fsync."""
    if connection.vendor != "postgresql":
        return True
    also = ", set_config('synchronous_commit', 'off', true)" if draining else ""
    with connection.cursor() as cursor:
        if wait:
            cursor.execute(f"SELECT pg_advisory_xact_lock(%s){also}", [_LOCK_ID])
            return True
        cursor.execute(f"SELECT pg_try_advisory_xact_lock(%s){also}", [_LOCK_ID])
        return bool(cursor.fetchone()[0])


def _take_changes() -> list[tuple]:
    # The DELETE first: on SQLite it takes the write lock before anything is read.
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM metrics_summarychange RETURNING deal_id, lead_id, owner_id, team_id, "
            "stage_id, created_at, closed_at"
        )
        return cursor.fetchall()


def _moment(value) -> dt.datetime | None:
    # A raw cursor gives PostgreSQL's aware datetimes, SQLite's naive UTC ones (or text).
    if value is None:
        return None
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def drain(*, wait: bool = True) -> int:
    """Recompute the summary rows that the pending changes touch; returns how many changes
    were applied. Safe to call any time, from any process, any number of times. Without
    `wait`, a drain already running elsewhere means this one returns at once: that drain
    or the next one takes these changes (every summary read drains, waiting, first)."""
    # Inside a caller's transaction the commit is the caller's: it must wait for the disk.
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if not _lock(wait=wait, draining=outermost):
            return 0
        changes = _take_changes()
        if not changes:
            return 0
        if len(changes) > REBUILD_ABOVE:
            _rebuild()
            return len(changes)
        day_keys: set[_DayKey] = set()
        open_keys: set[_CellStage] = set()
        deal_ids: set[int] = set()
        won_ids: set[int] = set()  # deals that are or were closed (won or lost)
        lead_ids: set[int] = set()
        changed_leads: set[int] = set()
        if any(deal_id is None and lead_id is None for deal_id, lead_id, *_ in changes):
            _rebuild()  # the marker of a rebuild (a migration, a load with triggers off)
            return len(changes)
        for deal_id, lead_id, owner_id, team_id, stage_id, created_raw, closed_raw in changes:
            created, closed = _moment(created_raw), _moment(closed_raw)
            assert created is not None  # a deal's and a lead's created_at are NOT NULL
            if deal_id is None:  # a lead
                changed_leads.add(lead_id)
                day_keys.add((local_day(created), owner_id, team_id))
                continue
            deal_ids.add(deal_id)
            day_keys.add((local_day(created), owner_id, team_id))
            if closed is None:
                open_keys.add((owner_id, team_id, stage_id))
            else:
                # Only a deal closed before or after the change can have had or have a
                # WonDeal row: a change between open stages (most writes) reads none.
                won_ids.add(deal_id)
                day_keys.add((local_day(closed), owner_id, team_id))
            if lead_id is not None:
                lead_ids.add(lead_id)
        # A deal won or unwon changes its lead's cohort (leads_won); a lead's creation time
        # is its deals' first contact (their cycle).
        if lead_ids:
            for created, owner_id, team_id in Lead.all_objects.filter(pk__in=lead_ids).values_list(
                "created_at", "owner_id", "team_id"
            ):
                day_keys.add((local_day(created), owner_id, team_id))
        if changed_leads:
            won_ids |= set(
                Deal.all_objects.filter(lead_id__in=changed_leads).values_list("pk", flat=True)
            )
        days, cells, ids = sorted(day_keys, key=str), sorted(open_keys, key=str), sorted(won_ids)
        deal_ids |= won_ids
        # The keys' rows afresh by a few hand-written statements (metrics.drain_sql): the
        # same definitions as the rebuild's ORM queries, at a fifth of their Python.
        from .kpis import default_stages  # kpis reads this module

        drain_sql.write_days(days)
        months = _month_keys(days)
        drain_sql.write_months(months)
        drain_sql.write_funnel(days, default_stages(), timezone.now())
        drain_sql.write_funnel_months(months)
        drain_sql.write_open(cells)
        old_won, new_won = [], {}
        if ids:
            old_won = list(WonDeal.objects.filter(pk__in=ids).values(*_WON_COLUMNS, "cycle_days"))
            new_won = _won_rows(ids)
            _write_won(new_won, ids)
        drain_sql.write_dates(sorted(deal_ids))
        if old_won or new_won:  # a won deal touched (most writes touch none)
            chains = _team_chains()
            _update_customers(old_won, list(new_won.values()), chains)
            _update_cycles(old_won, list(new_won.values()), chains)
        return len(changes)


def readable(as_of: dt.datetime) -> bool:
    """Before a summary read as of now: apply the changes still pending (a write whose
    on-commit drain has not run yet, a bulk write that sends no signal), and say whether the
    summary gives the figures as of `as_of`: not when rows are dated after its day (a clock
    set back, data imported with future dates), whose events the summary would count. One
    query when nothing is pending."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT MAX(day) FROM metrics_dayfigures),"
            " EXISTS (SELECT 1 FROM metrics_summarychange)"
        )
        last_day, pending = cursor.fetchone()
    if pending:
        drain()
        last_day = DayFigures.objects.aggregate(last=Max("day"))["last"]
    if isinstance(last_day, str):  # SQLite's raw cursor
        last_day = dt.date.fromisoformat(last_day)
    return last_day is None or last_day <= local_day(as_of)


def _stored_funnel() -> dict[_FunnelKey, int]:
    return {
        (r[0], r[1], r[2], r[3]): r[4]
        for r in FunnelDay.objects.values_list("day", "owner_id", "team_id", "furthest", "deals")
    }


def _stored() -> tuple[dict, dict, dict]:
    days = {
        (r["day"], r["owner_id"], r["team_id"]): {p: r[p] for p in DAY_PARTS}
        for r in DayFigures.objects.values("day", "owner_id", "team_id", *DAY_PARTS)
    }
    open_ = {
        (r[0], r[1], r[2]): (r[3], r[4])
        for r in OpenDeals.objects.values_list(
            "owner_id", "team_id", "stage_id", "open_deals", "pipeline_cents"
        )
    }
    won: dict[int, dict[str, Any]] = {
        r.pop("deal_id"): r  # type: ignore[misc]
        for r in WonDeal.objects.values(
            "deal_id",
            "owner_id",
            "team_id",
            "company_id",
            "closed_at",
            "cycle_days",
            "amount_cents",
        )
    }
    return days, open_, won


def _differing(stored: dict, fresh: dict) -> int:
    return sum(1 for key in stored.keys() | fresh.keys() if stored.get(key) != fresh.get(key))


def _rebuild() -> Drift:
    fresh_days = _day_rows()
    fresh_open, fresh_won = _open_rows(), _won_rows(None)
    stored_days, stored_open, stored_won = _stored()
    fresh_funnel, stored_funnel = _funnel_rows(), _stored_funnel()
    fresh_funnel_months = {k: n for k, n in _funnel_months_of(fresh_funnel).items() if n}
    fresh_dates = _dates_rows()
    stored_dates = {
        r[0]: r[1:]
        for r in OpenDealDates.objects.values_list(
            "deal_id", "owner_id", "team_id", "expected_close_date", "last_move"
        )
    }
    fresh_months = {
        key: parts for key, parts in _months_of(fresh_days).items() if any(parts.values())
    }
    drift = Drift(
        _differing(stored_days, fresh_days),
        _differing(stored_open, fresh_open),
        _differing(stored_won, fresh_won),
        _differing(stored_funnel, fresh_funnel),
        open_deal_dates=_differing(stored_dates, fresh_dates),
        month_figures=_differing(_stored_months(), fresh_months),
        funnel_months=_differing(_stored_funnel_months(), fresh_funnel_months),
    )
    if drift.day_figures:
        _write_days(fresh_days)
    if drift.month_figures:
        _write_months(fresh_months)
    if drift.funnel_months:
        _write_funnel_months(fresh_funnel_months)
    if drift.open_deals:
        _write_open(fresh_open)
    if drift.won_deals:
        _write_won(fresh_won, None)
    if drift.funnel_days:
        _write_funnel(fresh_funnel)
    if drift.open_deal_dates:
        _write_dates(fresh_dates)
    chains = _team_chains()
    return replace(
        drift,
        customers=_rebuild_customers(fresh_won, chains),
        cycle_buckets=_rebuild_cycles(fresh_won, chains),
        cycle_figures=_rebuild_cycle_figures(fresh_won, chains),
    )


_TABLES = [
    CycleBucket,
    CycleFigures,
    DayFigures,
    MonthFigures,
    FunnelMonth,
    OpenDeals,
    WonDeal,
    FunnelDay,
    CustomerFirstWin,
    ScopeCustomers,
    OpenDealDates,
]


def rebuild() -> Drift:
    """Recompute every summary row from the raw rows, rewrite what differs and say how many
    rows did (0 everywhere: the maintenance held). Pending changes are consumed."""
    with transaction.atomic():
        _lock()
        _take_changes()
        drift = _rebuild()
        if drift.total and connection.vendor == "postgresql":
            # Fresh statistics for the planner after rewriting whole tables.
            with connection.cursor() as cursor:
                for model in _TABLES:
                    cursor.execute(f"ANALYZE {model._meta.db_table}")
    if drift.total:
        logger.warning("summary drift repaired: %s", drift)
    return drift


def _drain_on_commit() -> None:
    # Not waiting: under many concurrent writes, requests queued on the lock behind each
    # other's drains (p95 of a deal create at 16 clients 368 → 136 ms without the wait,
    # tests/benchmarks/writes.py).
    try:
        drain(wait=False)
    except Exception:  # the next read or the nightly rebuild applies the changes
        logger.exception("summary drain failed; the changes stay pending")


# In a web request, the drain a write schedules runs after its response is sent
# (request_finished): the writer does not wait for it, and every read drains first anyway.
_in_request: ContextVar[bool] = ContextVar("summary_in_request", default=False)
_drain_after_response: ContextVar[bool] = ContextVar("summary_drain_after", default=False)


def request_started(**kwargs: Any) -> None:
    _in_request.set(True)
    _drain_after_response.set(False)


def request_finished(**kwargs: Any) -> None:
    drain_now = _drain_after_response.get()
    _in_request.set(False)
    _drain_after_response.set(False)
    if drain_now:
        _drain_on_commit()


def _drain_once_committed() -> None:
    if _in_request.get():
        # With a drainer process (SUMMARY_DRAINER), a web worker leaves the drain to it.
        if not settings.SUMMARY_DRAINER:
            _drain_after_response.set(True)
    else:
        _drain_on_commit()


def pending() -> bool:
    """Whether changes wait for a drain (one query)."""
    return SummaryChange.objects.exists()


def schedule_drain(**kwargs: Any) -> None:
    """post_save / post_delete of a deal or lead: drain once the transaction commits (in
    a web request: once its response is sent). A transaction that saves many rows drains
    once in effect: the first drain applies every change, the others find none."""
    transaction.on_commit(_drain_once_committed)


def rebuild_funnel() -> int:
    """Recompute the FunnelDay and FunnelMonth tables: how far a deal got depends on the stages'
    order and kind and on which pipeline is the default. Returns the rows that differed."""
    with transaction.atomic():
        _lock()
        fresh, stored = _funnel_rows(), _stored_funnel()
        differing = _differing(stored, fresh)
        if differing:
            _write_funnel(fresh)
        months = {k: n for k, n in _funnel_months_of(fresh).items() if n}
        differing_months = _differing(_stored_funnel_months(), months)
        if differing_months:
            _write_funnel_months(months)
    return differing + differing_months


def schedule_funnel_rebuild(**kwargs: Any) -> None:
    """post_save / post_delete of a stage or a pipeline: rebuild the funnel on commit."""
    transaction.on_commit(rebuild_funnel)


def request_rebuild() -> None:
    """Mark the summary for a full rebuild at the next drain or read: after rows were
    written with the triggers off (a bulk load), or when TIME_ZONE changed."""
    SummaryChange.objects.create()
