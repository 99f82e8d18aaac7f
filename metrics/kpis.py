"""Every KPI of docs/kpis.md, computed by the database for a scope and a date range.

The one place KPI math lives: the API, the pages and the nightly snapshot all call
`kpis_for_scope` or `kpis_by_user` / `kpis_by_team`. Each is a fixed handful of set-based
queries (aggregates with GROUP BY), whatever the number of deals, users or teams.

Periods are calendar days `start`..`end`, both inclusive, in settings.TIME_ZONE. Figures are
taken "as of" a moment (`as_of`): events after it are ignored, the pipeline is the one open
at the end of the period (or at `as_of` if earlier), and the cohort rates (close_rate,
opportunity_close_rate) count deals won by `as_of`. Callers pass `as_of` explicitly (the
API: now; a snapshot of day D: the end of D), the functions never read the clock.
"""

import datetime as dt
import functools
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import reduce
from typing import Any, Literal

from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from accounts.models import Team
from accounts.selectors import team_tree_ids
from metrics import summary
from metrics.aggregates import Cents, Mean, Median
from metrics.choices import PeriodKind, TargetMetric
from metrics.choices import ScopeKind as SnapshotScope
from metrics.models import (
    CustomerFirstWin,
    CycleFigures,
    DayFigures,
    FunnelDay,
    FunnelMonth,
    KPISnapshot,
    MonthFigures,
    OpenDeals,
    ScopeCustomers,
    Target,
    WonDeal,
)
from metrics.target_ranges import RangeTarget, target_for_range, to_money
from periods import calendar as periods
from periods.durations import WallClockDays
from pipeline.choices import StageKind
from pipeline.models import Deal, Lead, Stage, StageChange

ScopeKind = Literal["org", "team", "user"]
CENT = Decimal("0.01")


@dataclass(frozen=True)
class KPIs:
    """Every KPI of one scope and period. Money is Decimal (2 places), rates 0..1, days
    are decimal days; None where a KPI is undefined (a zero denominator)."""

    leads_created: int
    opportunities_created: int
    deals_won: int
    deals_lost: int
    revenue: Decimal
    win_rate: float | None
    close_rate: float | None
    opportunity_close_rate: float | None
    avg_deal_size: Decimal | None
    sales_cycle_days_mean: float | None
    sales_cycle_days_median: float | None
    open_deals: int
    pipeline_value: Decimal
    weighted_pipeline: Decimal
    sales_velocity: Decimal | None
    clv: Decimal | None
    target: Decimal | None
    attainment: float | None
    # Not a KPI (not stored, not in the API): where a derived target comes from, in the
    # goal card's words ("from the quarter's target"); "" for a target set for the period.
    target_basis: str = field(default="", compare=False, metadata={"kpi": False})

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if key in KPI_KEYS}


KPI_KEYS = [f.name for f in fields(KPIs) if f.metadata.get("kpi", True)]


# The calendar's: the instants of days start..end, and the as_of of a day's snapshot.
period_bounds = periods.day_bounds
end_of_day = periods.end_of_day


# --- Scopes and groupings ------------------------------------------------------------------


@dataclass(frozen=True)
class _Grouping:
    """How to cut deals and leads into scopes: a filter, and an expression whose value is
    the scope's key (None: the whole filtered set is one scope)."""

    deal_filter: Q
    lead_filter: Q
    key: Any = None


def _scope_grouping(kind: ScopeKind, scope_id: int | None) -> _Grouping:
    if kind == "org":
        return _Grouping(Q(), Q())
    if kind == "user":
        return _Grouping(Q(owner_id=scope_id), Q(owner_id=scope_id))
    team_ids = team_tree_ids(root_ids=[scope_id])
    return _Grouping(Q(team_id__in=team_ids), Q(team_id__in=team_ids))


def team_chains(parent: dict[int, int | None]) -> dict[int, list[int]]:
    """Each team's ancestors, from its root down to the team itself."""
    chains: dict[int, list[int]] = {}
    for team_id in parent:
        chain, node, seen = [], team_id, set()
        while node is not None and node not in seen:
            seen.add(node)
            chain.append(node)
            node = parent.get(node)
        chains[team_id] = list(reversed(chain))
    return chains


def _team_level_groupings(parent: dict[int, int | None]) -> list[_Grouping]:
    """One grouping per depth of the team tree. At depth k every team maps to its ancestor
    at depth k, so GROUP BY that ancestor gives each depth-k team its whole sub-tree:
    medians and distinct counts roll up exactly, in (depth) queries per KPI family."""
    chains = team_chains(parent)
    depth = max((len(chain) for chain in chains.values()), default=0)
    groupings = []
    for level in range(depth):
        members: dict[int, list[int]] = defaultdict(list)
        for team_id, chain in chains.items():
            if len(chain) > level:
                members[chain[level]].append(team_id)
        key = Case(
            *[When(team_id__in=ids, then=Value(ancestor)) for ancestor, ids in members.items()],
            default=None,
            output_field=IntegerField(),
        )
        in_level = Q(team_id__in=[t for ids in members.values() for t in ids])
        groupings.append(_Grouping(in_level, in_level, key))
    return groupings


@dataclass(frozen=True)
class _ScopeSet:
    """Scopes computed together. The additive KPI parts (counts and sums) are read once per
    (owner, team) cell for every scope set at once, and each cell is added to the scopes it
    belongs to (`keys_of`); the parts that do not add up (medians, distinct customers) are
    one query per grouping."""

    groupings: list[_Grouping]
    base: Q
    keys_of: Callable[[int | None, int | None], Iterable[Any]]
    few: bool = False  # a few reps' rows: probe indexes row by row rather than hash all
    # Each key's scope in KPISnapshot, for the pipeline the nightly job froze.
    snapshot_scopes: dict[Any, tuple[str, int]] = field(default_factory=dict)


CELL = ("owner_id", "team_id")
FEW_REPS = 10  # a leaf team's reps; the organisation's leaderboard reads every rep


def _grouped(queryset, key, **aggregates) -> dict[Any, dict[str, Any]]:
    if key is None:
        return {None: queryset.aggregate(**aggregates)}
    if key == CELL:
        rows = queryset.values(*CELL).annotate(**aggregates).order_by()
        return {(row.pop("owner_id"), row.pop("team_id")): row for row in rows}
    rows = queryset.annotate(_scope=key).values("_scope").annotate(**aggregates).order_by()
    return {row.pop("_scope"): row for row in rows if row["_scope"] is not None}


# --- The queries ---------------------------------------------------------------------------


def _since(field: str, firsts: list[dt.datetime]) -> list[Q | None]:
    """Per period start, the extra filter that cuts the earliest start's rows down to it
    (None for the earliest itself): one scan serves the month, quarter and year alike."""
    earliest = min(firsts)
    return [None if first == earliest else Q(**{f"{field}__gte": first}) for first in firsts]


def _and(condition: Q | None, extra: Q | None) -> Q | None:
    if extra is None:
        return condition
    return extra if condition is None else condition & extra


def _closed_in_period(grouping: _Grouping, firsts: list[dt.datetime], until: dt.datetime) -> dict:
    won, lost = Q(stage__kind=StageKind.WON), Q(stage__kind=StageKind.LOST)
    deals = Deal.objects.filter(
        grouping.deal_filter, closed_at__gte=min(firsts), closed_at__lt=until
    )
    aggregates = {}
    for i, since in enumerate(_since("closed_at", firsts)):
        aggregates |= {
            f"deals_won__{i}": Count("id", filter=_and(won, since)),
            f"deals_lost__{i}": Count("id", filter=_and(lost, since)),
            f"revenue_cents__{i}": Sum(Cents("amount"), filter=_and(won, since)),
        }
    return _grouped(deals, grouping.key, **aggregates)


def _cycle_of_wins(grouping: _Grouping, firsts: list[dt.datetime], until: dt.datetime) -> dict:
    # Its own query over won deals only: the join to leads for the first contact is then
    # a few index probes instead of a hash of every lead (measured 2x faster at 100k).
    cycle = WallClockDays(Coalesce("lead__created_at", "created_at"), "closed_at")
    deals = Deal.objects.filter(
        grouping.deal_filter,
        stage__kind=StageKind.WON,
        closed_at__gte=min(firsts),
        closed_at__lt=until,
    )
    return _grouped(deals, grouping.key, **_cycle_aggregates(cycle, firsts))


def _cycle_aggregates(cycle, firsts: list[dt.datetime]) -> dict[str, Any]:
    """Mean and median of `cycle` over the wins closed since each period's start."""
    aggregates = {}
    for i, since in enumerate(_since("closed_at", firsts)):
        aggregates |= {
            f"sales_cycle_days_mean__{i}": Mean(cycle, filter=since),
            f"sales_cycle_days_median__{i}": Median(cycle, filter=since),
        }
    return aggregates


def _created_in_period(
    grouping: _Grouping, firsts: list[dt.datetime], until: dt.datetime, as_of: dt.datetime
) -> dict:
    won = Q(stage__kind=StageKind.WON, closed_at__lt=as_of)
    deals = Deal.objects.filter(
        grouping.deal_filter, created_at__gte=min(firsts), created_at__lt=until
    )
    aggregates = {}
    for i, since in enumerate(_since("created_at", firsts)):
        aggregates |= {
            f"opportunities_created__{i}": Count("id", filter=since),
            f"opportunities_won__{i}": Count("id", filter=_and(won, since)),
        }
    return _grouped(deals, grouping.key, **aggregates)


def _open_at(grouping: _Grouping, moment: dt.datetime) -> dict:
    probability_then = _probability_then(moment)
    deals = Deal.objects.filter(grouping.deal_filter, created_at__lt=moment).filter(
        Q(closed_at__isnull=True) | Q(closed_at__gte=moment)
    )
    return _grouped(
        deals,
        grouping.key,
        open_deals=Count("id"),
        pipeline_value_cents=Sum(Cents("amount")),
        weighted_pipeline_cent_percent=Sum(_cent_percent(probability_then)),
    )


def _won_to_date(grouping: _Grouping, until: dt.datetime) -> dict:
    deals = Deal.objects.filter(
        grouping.deal_filter,
        stage__kind=StageKind.WON,
        closed_at__lt=until,
        company__isnull=False,
    )
    return _grouped(
        deals,
        grouping.key,
        customer_revenue_cents=Sum(Cents("amount")),
        customers=Count("company_id", distinct=True),
    )


def _leads_created(
    grouping: _Grouping,
    firsts: list[dt.datetime],
    until: dt.datetime,
    as_of: dt.datetime,
    probe: bool = False,
) -> dict:
    # For many leads, IN (the won deals' lead ids): PostgreSQL hashes the won deals once
    # (the snapshot: 1.8 s against 3.3 s with EXISTS at 100k deals). For a few reps'
    # leads (`probe`), EXISTS: a probe of the deals' lead index per lead instead of a
    # hash of every won deal of the organisation (275 ms against 4 ms at 1M).
    won_deals = Deal.objects.filter(stage__kind=StageKind.WON, closed_at__lt=as_of)
    if probe:
        is_won = Q(Exists(won_deals.filter(lead_id=OuterRef("pk"))))
    else:
        is_won = Q(id__in=won_deals.filter(lead_id__isnull=False).values("lead_id"))
    leads = Lead.objects.filter(
        grouping.lead_filter, created_at__gte=min(firsts), created_at__lt=until
    )
    aggregates = {}
    for i, since in enumerate(_since("created_at", firsts)):
        aggregates |= {
            f"leads_created__{i}": Count("id", filter=since),
            f"leads_won__{i}": Count("id", filter=_and(is_won, since)),
        }
    return _grouped(leads, grouping.key, **aggregates)


# --- The same families from the summary tables (metrics/summary.py), as of now ------------


def _last_day(until: dt.datetime) -> dt.date:
    return summary.local_day(until - dt.timedelta(microseconds=1))


def _whole_months_to(start: dt.date, last: dt.date) -> dt.date:
    """The first day after the whole calendar months from `start` that end by `last`
    (`start` itself when none does, or when `start` is not a month's first day): the
    months' rows cover start up to it, the day rows the rest."""
    if start.day != 1:
        return start
    months_to = start
    while (end := periods.period_end(months_to, PeriodKind.MONTH)) <= last:
        months_to = end + dt.timedelta(days=1)
    return months_to


def _days_in_period(base: Q, firsts: list[dt.datetime], until: dt.datetime) -> dict:
    """The day parts from each period start to `until`, per (owner, team) cell: whole
    calendar months from MonthFigures when every start is a month's first day (a year is
    12 rows a cell), the days after the last whole month from DayFigures."""
    days = [summary.local_day(first) for first in firsts]
    start, last = min(days), _last_day(until)
    # Month rows only when every start is a month's: a later start filters them by month.
    months_to = _whole_months_to(start, last) if all(d.day == 1 for d in days) else start

    def parts(rows, field: str) -> dict:
        aggregates = {}
        for i, first in enumerate(days):
            since = None if first == start else Q(**{f"{field}__gte": first})
            aggregates |= {f"{p}__{i}": Sum(p, filter=since) for p in summary.DAY_PARTS}
        return _grouped(rows, CELL, **aggregates)

    found = []
    if months_to > start:
        found.append(
            parts(MonthFigures.objects.filter(base, month__gte=start, month__lt=months_to), "month")
        )
    if months_to <= last:
        found.append(
            parts(DayFigures.objects.filter(base, day__gte=months_to, day__lte=last), "day")
        )
    if len(found) == 1:
        return found[0]
    merged: dict = defaultdict(dict)
    for family in found:
        for cell, values in family.items():
            for name, value in values.items():
                merged[cell][name] = (merged[cell].get(name) or 0) + (value or 0)
    return merged


def _open_now(base: Q) -> dict:
    return _grouped(
        OpenDeals.objects.filter(base),
        CELL,
        open_deals=Sum("open_deals"),
        pipeline_value_cents=Sum("pipeline_cents"),
        weighted_pipeline_cent_percent=Sum(
            ExpressionWrapper(
                F("pipeline_cents") * F("stage__probability"), output_field=BigIntegerField()
            )
        ),
    )


def _probability_then(moment: dt.datetime):
    # The stage a deal was in at `moment` is where its first later move started from; a
    # deal that has not moved since is still in its current stage.
    return Coalesce(
        Subquery(
            StageChange.objects.filter(deal=OuterRef("pk"), changed_at__gte=moment)
            .order_by("changed_at", "id")
            .values("from_stage__probability")[:1]
        ),
        F("stage__probability"),
    )


def _pipeline_since(base: Q, moment: dt.datetime) -> list[dict]:
    """What turns the open pipeline now (_open_now) into the one open at `moment`, from
    the deals with an event since: less the deals created since and open now; plus those
    created before and closed since (weighted by their stage then); and, for the deals
    open at both moments that moved since, their weight then instead of now. Every other
    deal was open at both or at neither, in the same stage."""
    created_since = Deal.objects.filter(base, created_at__gte=moment, closed_at__isnull=True)
    closed_since = Deal.objects.filter(base, created_at__lt=moment, closed_at__gte=moment)
    moved = StageChange.objects.filter(changed_at__gte=moment).values("deal_id")
    moved_since = Deal.objects.filter(
        base, created_at__lt=moment, closed_at__isnull=True, pk__in=moved
    )
    now_weight = _cent_percent(F("stage__probability"))
    then_weight = _cent_percent(_probability_then(moment))
    return [
        _grouped(
            created_since,
            CELL,
            open_deals=-Count("id"),
            pipeline_value_cents=-Sum(Cents("amount")),
            weighted_pipeline_cent_percent=-Sum(now_weight),
        ),
        _grouped(
            closed_since,
            CELL,
            open_deals=Count("id"),
            pipeline_value_cents=Sum(Cents("amount")),
            weighted_pipeline_cent_percent=Sum(then_weight),
        ),
        _grouped(
            moved_since, CELL, weighted_pipeline_cent_percent=Sum(then_weight) - Sum(now_weight)
        ),
    ]


def _won_after(
    base: Q, firsts: list[dt.datetime], until: dt.datetime, as_of: dt.datetime
) -> list[dict]:
    """The cohort parts the summary counts as won now but were not won by `as_of`: the
    deals created in the period won after it, and the leads whose only wins came after."""
    # The won stages' ids, read first: through a join on the stage's kind PostgreSQL
    # guesses a few won deals and hashes them all (2.5 s against 0.4 s at 1M deals).
    won = list(Stage.objects.filter(kind=StageKind.WON).values_list("pk", flat=True))
    won_after = Deal.objects.filter(stage_id__in=won, closed_at__gte=as_of)
    deals = won_after.filter(base, created_at__gte=min(firsts), created_at__lt=until)
    won_before = Deal.objects.filter(stage_id__in=won, closed_at__lt=as_of, lead_id=OuterRef("pk"))
    leads = Lead.objects.filter(
        base,
        created_at__gte=min(firsts),
        created_at__lt=until,
        pk__in=won_after.filter(lead_id__isnull=False).values("lead_id"),
    ).exclude(Exists(won_before))
    since = _since("created_at", firsts)
    return [
        _grouped(
            deals,
            CELL,
            **{f"opportunities_won__{i}": -Count("id", filter=q) for i, q in enumerate(since)},
        ),
        _grouped(
            leads, CELL, **{f"leads_won__{i}": -Count("id", filter=q) for i, q in enumerate(since)}
        ),
    ]


def _cycle_of_wins_now(grouping: _Grouping, firsts: list[dt.datetime], until: dt.datetime):
    wins = WonDeal.objects.filter(
        grouping.deal_filter, closed_at__gte=min(firsts), closed_at__lt=until
    )
    return _grouped(wins, grouping.key, **_cycle_aggregates(F("cycle_days"), firsts))


def _customers_now(
    scope_sets: list[_ScopeSet], base: Q, until: dt.datetime
) -> list[dict[Any, dict]]:
    """Each key's customers and their revenue to `until`: the scope's totals to now
    (ScopeCustomers) less the first wins and the won cents from `until` on, so only the
    rows after the moment are read (none for a period to today)."""
    # Both read every scope (a row per rep and team, whatever the number of deals): the
    # planner cannot tell how many first wins a scope has, and the moment bounds the rest.
    totals = {
        (k, i): [n, cents]
        for k, i, n, cents in ScopeCustomers.objects.values_list(
            "scope_kind", "scope_id", "customers", "revenue_cents"
        )
    }
    later = (
        CustomerFirstWin.objects.filter(first_won_at__gte=until)
        .values("scope_kind", "scope_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("scope_kind", "scope_id", "n")
    )
    for kind, scope_id, n in later:
        totals.setdefault((kind, scope_id), [0, 0])[0] -= n
    # The won cents from `until` on, per (owner, team) cell, added to each cell's scopes
    # like every additive part: one query for every scope set and team level.
    wins = WonDeal.objects.filter(base, closed_at__gte=until, company_id__isnull=False)
    later = _grouped(wins, CELL, cents=Sum("amount_cents"))
    result = []
    for scope_set in scope_sets:
        cents_later: dict[Any, int] = defaultdict(int)
        for (owner_id, team_id), values in later.items():
            for key in scope_set.keys_of(owner_id, team_id):
                cents_later[key] += values["cents"] or 0
        parts = {}
        for key, scope in scope_set.snapshot_scopes.items():
            customers, cents = totals.get(scope, (0, 0))
            parts[key] = {
                "customers": customers,
                "customer_revenue_cents": cents - cents_later.get(key, 0),
            }
        result.append(parts)
    return result


def _revenue_targets(
    owner_field: str, start: dt.date, end: dt.date, restrict: Q, period: str | None = None
) -> dict[Any, RangeTarget]:
    """Revenue target per owner (user or team) for start..end, by metrics.target_ranges:
    one query, for the targets of the periods that overlap the range, the only ones the
    rule reads (the parts of a period lie inside it, a share is of an enclosing period):
    a quarter's page reads its months, the quarter and its year, not the year's 16."""
    first, last = start, end
    if period is not None:
        first = periods.period_start(start, period)
        last = periods.period_end(first, period)
    overlapping = reduce(
        operator.or_,
        (
            Q(period_kind=kind, period_start__range=(periods.period_start(first, kind), last))
            for kind in PeriodKind.values
        ),
    )
    rows = Target.objects.filter(restrict, overlapping, metric=TargetMetric.REVENUE).values_list(
        owner_field, "period_kind", "period_start", "value"
    )
    by_owner: dict[Any, dict[tuple[str, dt.date], Decimal]] = defaultdict(dict)
    for owner, kind, period_start, value in rows:
        by_owner[owner][(kind, period_start)] = Decimal(value)
    result = {}
    for owner, plan in by_owner.items():
        found = target_for_range(plan, start, end, period)
        if found is not None:
            result[owner] = found
    return result


# --- Putting it together ------------------------------------------------------------------


def _money(value) -> Decimal:
    return Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP)


def _cent_percent(probability) -> ExpressionWrapper:
    """amount × probability as a whole number of cent-percent (1/10,000 of a currency unit):
    an exact integer on both databases, summed exactly, divided only in Python."""
    return ExpressionWrapper(Cents("amount") * probability, output_field=BigIntegerField())


def _from_cents(value) -> Decimal:
    return _money(Decimal(value or 0) / 100)


def _from_cent_percent(value) -> Decimal:
    """A sum of cent-percent as money: exact, then rounded half up to the cent, once."""
    return _money(Decimal(value or 0) / 10000)


def _days(value) -> float | None:
    # Rounded to ~0.1 s: a parallel float sum differs in its last bits from run to run, and
    # a snapshot must equal the live figure exactly.
    return None if value is None else round(float(value), 6)


def _ratio(numerator, denominator) -> float | None:
    return None if not denominator else float(numerator) / float(denominator)


def _combine(parts: dict[str, Any], found: RangeTarget | None) -> KPIs:
    won, lost = parts.get("deals_won") or 0, parts.get("deals_lost") or 0
    revenue = _from_cents(parts.get("revenue_cents"))
    avg_deal_size = _money(revenue / won) if won else None
    win_rate = _ratio(won, won + lost)
    cycle_mean = _days(parts.get("sales_cycle_days_mean"))
    open_deals = parts.get("open_deals") or 0
    velocity = None
    if win_rate is not None and avg_deal_size is not None and cycle_mean:
        velocity = _money(
            Decimal(open_deals) * Decimal(win_rate) * avg_deal_size / Decimal(cycle_mean)
        )
    customers = parts.get("customers") or 0
    # Attainment is against the target as shown: rounded once, to the cent.
    target = None if found is None else to_money(found.value)
    return KPIs(
        leads_created=parts.get("leads_created") or 0,
        opportunities_created=parts.get("opportunities_created") or 0,
        deals_won=won,
        deals_lost=lost,
        revenue=revenue,
        win_rate=win_rate,
        close_rate=_ratio(parts.get("leads_won") or 0, parts.get("leads_created")),
        opportunity_close_rate=_ratio(
            parts.get("opportunities_won") or 0, parts.get("opportunities_created")
        ),
        avg_deal_size=avg_deal_size,
        sales_cycle_days_mean=cycle_mean,
        sales_cycle_days_median=_days(parts.get("sales_cycle_days_median")),
        open_deals=open_deals,
        pipeline_value=_from_cents(parts.get("pipeline_value_cents")),
        weighted_pipeline=_from_cent_percent(parts.get("weighted_pipeline_cent_percent")),
        sales_velocity=velocity,
        clv=parts["clv"]
        if "clv" in parts  # frozen by that night's snapshot (_frozen_pipeline)
        else _money(Decimal(parts["customer_revenue_cents"]) / 100 / customers)
        if customers
        else None,
        target=target,
        attainment=_ratio(revenue, target) if target else None,
        target_basis=found.basis if found is not None else "",
    )


def _compute_periods(
    scope_sets: list[_ScopeSet],
    starts: list[dt.date],
    end: dt.date,
    as_of: dt.datetime,
    live: bool = False,
    settled: bool = False,
) -> list[list[dict[Any, dict[str, Any]]]]:
    """The parts of the KPIs of start..end for each of `starts` (one end), per scope set:
    result[set][start][scope key]. Each family is one query for all the starts; the
    families of a moment (the open pipeline, the won-to-date customers), which depend on
    the end only, are computed once. `live`: as_of is now, so the summary tables give the
    same parts (the open pipeline of a moment before now still comes from the history).
    `settled`: any as_of (the nightly snapshot of a day): the summary's figures, less what
    happened after as_of, read from the few rows changed since; as exact as the raw rows.
    """
    after = period_bounds(end, end)[1]
    until = min(after, as_of)
    firsts = [period_bounds(start, end)[0] for start in starts]
    merged = [[defaultdict(dict) for _ in starts] for _ in scope_sets]

    every_start = tuple(range(len(starts)))

    @functools.cache
    def part_of(name: str) -> tuple[str, tuple[int, ...]]:
        # "revenue_cents__1" is the second start's part; a name without a suffix, every start's.
        part, i = name.rsplit("__", 1) if "__" in name else (name, None)
        return part, (every_start if i is None else (int(i),))

    def periods_of(result: list[dict[Any, dict[str, Any]]], name: str):
        part, indexes = part_of(name)
        return part, [result[i] for i in indexes]

    base = Q()
    if all(scope_set.base != Q() for scope_set in scope_sets):
        base = reduce(operator.or_, (scope_set.base for scope_set in scope_sets))
    cells = _Grouping(base, base, CELL)
    now = timezone.now()
    if settled:
        # The summary is as of now: a past as_of needs the day totals to end at a day's
        # end (or now), and the events after as_of taken back (_since_moment, _won_after).
        settled = summary.readable(now) and (until >= now or until == end_of_day(_last_day(until)))
    live = (live and summary.readable(as_of)) or settled
    frozen = None
    snapshots: dict = {}  # a closed day's snapshot rows, read once
    if live:
        families = [_days_in_period(base, firsts, until)]
        if until == as_of and (not settled or until >= now):
            families.append(_open_now(base))
        elif settled:
            families += [_open_now(base), *_pipeline_since(base, until)]
        elif (frozen := _frozen_pipeline(scope_sets, until, snapshots)) is None:
            families.append(_open_at(cells, until))
        if settled and as_of < now:
            families += _won_after(base, firsts, until, as_of)
    else:
        families = [
            _closed_in_period(cells, firsts, until),
            _created_in_period(cells, firsts, until, as_of),
            _leads_created(cells, firsts, until, as_of, probe=all(s.few for s in scope_sets)),
            _open_at(cells, until),
        ]
    # Each cell's parts added to every scope it belongs to: a page of 236 people adds each
    # of their cells' parts to four scope levels, so the names are parsed once (part_of).
    for family in families:
        for (owner_id, team_id), values in family.items():
            parts = [(*part_of(name), value or 0) for name, value in values.items()]
            for scope_set, result in zip(scope_sets, merged, strict=True):
                for key in scope_set.keys_of(owner_id, team_id):
                    for part, indexes, value in parts:
                        for i in indexes:
                            scope = result[i][key]
                            scope[part] = scope.get(part, 0) + value
    for pipelines, result in zip(frozen or [{} for _ in merged], merged, strict=True):
        for key, values in pipelines.items():
            for name, value in values.items():
                part, indexes = part_of(name)
                for i in indexes:
                    scope = result[i][key]
                    scope[part] = scope.get(part, 0) + (value or 0)
    # A past moment's customers come with its frozen pipeline (the CLV is a moment's
    # figure too); computed, they read every first win and won cent since the moment.
    customers = _customers_now(scope_sets, base, until) if live and frozen is None else None
    # Not for the snapshot job itself (settled): it is what freezes them.
    cycles = _bucketed_cycles(scope_sets, firsts, until) if live and not settled else None
    for i, (scope_set, result) in enumerate(zip(scope_sets, merged, strict=True)):
        families = [customers[i]] if customers is not None else []
        if cycles is not None:
            families.append(cycles[i])
        for grouping in scope_set.groupings:
            if cycles is None:
                families.append(
                    (_cycle_of_wins_now if live else _cycle_of_wins)(grouping, firsts, until)
                )
            if not live:
                families.append(_won_to_date(grouping, until))
        for family in families:
            for key, values in family.items():
                for name, value in values.items():
                    part, periods = periods_of(result, name)
                    for period in periods:
                        period[key][part] = value
    return merged


def _frozen_pipeline(
    scope_sets: list[_ScopeSet], moment: dt.datetime, snapshots: dict
) -> list[dict[Any, dict[str, Any]]] | None:
    """The open pipeline and the CLV at `moment`, a day's end before now, as the nightly
    snapshot of that day froze them, per scope set and key; None unless every key has its
    snapshot.

    A closed period's pipeline is a moment's figure: the nightly job freezes it, and the
    pages read it back rather than replay every deal's stage history (0.5 s at 1M deals).
    So is the CLV at the period's end: computed, it reads every first win and won cent
    since then (70 ms for the previous year at 1M deals, growing with the time since).
    Edits made later to the deals of that moment do not rewrite it; a re-snapshot of the
    day (snapshot_kpis --date) does (docs/performance.md, "The summary layer")."""
    day = _last_day(moment)
    if end_of_day(day) != moment:
        return None
    frozen = _snapshot_rows(scope_sets, day, PeriodKind.MONTH, snapshots)
    if frozen is None:
        return None
    return [
        {
            key: {
                "open_deals": row["open_deals"],
                "pipeline_value_cents": int(row["pipeline_value"] * 100),
                "weighted_pipeline_cent_percent": int(row["weighted_pipeline"] * 10000),
            }
            | ({} if row["clv"] is None else {"clv": row["clv"]})
            for key, row in rows.items()
        }
        for rows in frozen
    ]


def _bucketed_cycles(
    scope_sets: list[_ScopeSet], firsts: list[dt.datetime], until: dt.datetime
) -> list[dict[Any, dict[str, Any]]] | None:
    """The cycle mean and median of every key for each period start, from the cycle
    figures the drain keeps per whole calendar month, quarter and year (CycleFigures, from
    the cycle buckets: metrics.cycles), when each range first..until holds every win of
    the period that begins at `first` (the period to date, none won after `until`, or the
    whole period); None otherwise, and the wins are read afresh.

    Medians do not add up from day rows: computed afresh, each team level reads every won
    deal of the period, 170-280 ms a query for a year at 1M deals."""
    if any(not s.snapshot_scopes for s in scope_sets):
        return None
    last = _last_day(until)
    periods_read = []
    for first in firsts:
        enclosing = periods.enclosing_period(summary.local_day(first), last)
        if enclosing is None:
            return None
        kind, start = enclosing
        bounds = periods.day_bounds(start, periods.period_end(start, kind))
        if (
            until < bounds[1]
            and WonDeal.objects.filter(closed_at__gte=until, closed_at__lt=bounds[1]).exists()
        ):
            return None  # a period cut short by as_of, or wins dated after now
        periods_read.append((kind, start))
    by_kind: dict[str, set[int]] = defaultdict(set)
    for s in scope_sets:
        for scope_kind, scope_id in s.snapshot_scopes.values():
            by_kind[scope_kind].add(scope_id)
    rows = CycleFigures.objects.filter(
        reduce(operator.or_, (Q(period_kind=k, period_start=d) for k, d in set(periods_read))),
        reduce(operator.or_, (Q(scope_kind=k, scope_id__in=ids) for k, ids in by_kind.items())),
    ).values_list(
        "period_kind", "period_start", "scope_kind", "scope_id", "mean_days", "median_days"
    )
    found = {(k, d, sk, si): (mean, median) for k, d, sk, si, mean, median in rows}
    none = (None, None)  # no win in the period
    return [
        {
            key: {
                f"{name}__{i}": value
                for i, period in enumerate(periods_read)
                for name, value in zip(
                    ("sales_cycle_days_mean", "sales_cycle_days_median"),
                    found.get((*period, *scope), none),
                    strict=True,
                )
            }
            for key, scope in s.snapshot_scopes.items()
        }
        for s in scope_sets
    ]


_FROZEN_COLUMNS = ["open_deals", "pipeline_value", "weighted_pipeline", "clv"]


def _snapshot_rows(
    scope_sets: list[_ScopeSet], day: dt.date, kind: str, snapshots: dict
) -> list[dict[Any, dict[str, Any]]] | None:
    """The frozen columns of the snapshots of `day` and period `kind` for every key of the
    scope sets; None unless every key has one. Every period kind of the day is read in one
    query, kept in `snapshots` for the other frozen figures of the same computation."""
    wanted = {scope for s in scope_sets for scope in s.snapshot_scopes.values()}
    if not wanted or any(not s.snapshot_scopes for s in scope_sets):
        return None
    if day not in snapshots:
        by_kind: dict[str, list[int]] = defaultdict(list)
        for scope_kind, scope_id in wanted:
            by_kind[scope_kind].append(scope_id)
        rows = KPISnapshot.objects.filter(
            reduce(
                operator.or_,
                (Q(scope_kind=k, scope_id__in=ids) for k, ids in by_kind.items()),
            ),
            date=day,
        ).values("period_kind", "scope_kind", "scope_id", *_FROZEN_COLUMNS)
        snapshots[day] = {
            (r.pop("period_kind"), r.pop("scope_kind"), r.pop("scope_id")): r for r in rows
        }
    found = snapshots[day]
    if any((kind, *scope) not in found for scope in wanted):
        return None
    return [
        {key: found[(kind, *scope)] for key, scope in s.snapshot_scopes.items()} for s in scope_sets
    ]


def _scope_set(kind: ScopeKind, scope_id: int | None) -> _ScopeSet:
    if kind == "org":
        return _ScopeSet(
            [_Grouping(Q(), Q())],
            Q(),
            lambda owner, team: (None,),
            snapshot_scopes={None: (SnapshotScope.ORG, 0)},
        )
    assert scope_id is not None
    if kind == "user":
        return _ScopeSet(
            [_scope_grouping(kind, scope_id)],
            Q(owner_id=scope_id),
            lambda owner, team: (None,) if owner == scope_id else (),
            few=True,
            snapshot_scopes={None: (SnapshotScope.USER, scope_id)},
        )
    tree = team_tree_ids(root_ids=[scope_id])
    return _ScopeSet(
        [_Grouping(Q(team_id__in=tree), Q(team_id__in=tree))],
        Q(team_id__in=tree),
        lambda owner, team: (None,) if team in tree else (),
        snapshot_scopes={None: (SnapshotScope.TEAM, scope_id)},
    )


def _users_set(user_ids: list[int]) -> _ScopeSet:
    ids = set(user_ids)
    return _ScopeSet(
        [_Grouping(Q(owner_id__in=user_ids), Q(owner_id__in=user_ids), F("owner_id"))],
        Q(owner_id__in=user_ids),
        lambda owner, team: (owner,) if owner in ids else (),
        few=len(ids) <= FEW_REPS,
        snapshot_scopes={uid: (SnapshotScope.USER, uid) for uid in ids},
    )


def _subtree_parents(
    parent: dict[int, int | None], root_ids: Iterable[int]
) -> dict[int, int | None]:
    """The parent of each team in the roots' trees, the roots made top-level."""
    tree = team_tree_ids(root_ids=root_ids, parents=parent)
    return {tid: (pid if pid in tree else None) for tid, pid in parent.items() if tid in tree}


def _teams_set(parent: dict[int, int | None]) -> _ScopeSet:
    chains = team_chains(parent)
    return _ScopeSet(
        _team_level_groupings(parent),
        Q(team_id__in=list(parent)),
        lambda owner, team: chains.get(team, ()) if team is not None else (),
        snapshot_scopes={tid: (SnapshotScope.TEAM, tid) for tid in parent},
    )


def kpis_for_scope(
    *,
    kind: ScopeKind,
    scope_id: int | None,
    start: dt.date,
    end: dt.date,
    as_of: dt.datetime,
    period: str | None = None,
    live: bool = False,
    settled: bool = False,
) -> KPIs:
    """Every KPI for one user, one team with all its sub-teams, or the organisation.
    `period` names the calendar period whose target applies (see target_for_range).
    `live=True` says as_of is now: the figures come from the summary tables (the same)."""
    return _scope_kpis(kind, scope_id, [(start, period)], end, as_of, live=live, settled=settled)[0]


def kpis_for_scope_to_date(
    *,
    kind: ScopeKind,
    scope_id: int | None,
    starts: Iterable[tuple[dt.date, str | None]],
    end: dt.date,
    as_of: dt.datetime,
    live: bool = False,
) -> list[KPIs]:
    """kpis_for_scope(start=s, period=p) for each (s, p) of `starts`, all ending on `end`
    (the month and the quarter to date of a trend's live point), in the queries of one:
    each family is one query for every start."""
    return _scope_kpis(kind, scope_id, list(starts), end, as_of, live=live)


def kpis_by_user(
    *,
    user_ids: Iterable[int],
    start: dt.date,
    end: dt.date,
    as_of: dt.datetime,
    period: str | None = None,
    live: bool = False,
    settled: bool = False,
) -> dict[int, KPIs]:
    """KPIs of every given user (zeros and nulls for users with no activity)."""
    return _user_kpis(list(user_ids), [(start, period)], end, as_of, live=live, settled=settled)[0]


def kpis_by_team(
    *,
    start: dt.date,
    end: dt.date,
    as_of: dt.datetime,
    period: str | None = None,
    root_ids: Iterable[int] | None = None,
    live: bool = False,
    settled: bool = False,
) -> dict[int, KPIs]:
    """KPIs of every team, each including all its sub-teams; with `root_ids`, only of those
    teams and the teams below them (a region's page reads its own tree, not the org's)."""
    return _team_kpis([(start, period)], end, as_of, root_ids, live=live, settled=settled)[0]


@dataclass(frozen=True)
class ScopesKPIs:
    """One range's KPIs of the organisation, of teams (each with its sub-teams) and of
    users, computed together: what a team or organisation page shows side by side."""

    org: KPIs | None
    teams: dict[int, KPIs]
    users: dict[int, KPIs]
    # The `also` ranges' figures of the organisation, or else of the teams.
    also_org: list[KPIs] = field(default_factory=list)
    also_teams: list[dict[int, KPIs]] = field(default_factory=list)


def kpis_of_scopes(
    *,
    start: dt.date,
    end: dt.date,
    as_of: dt.datetime,
    period: str | None = None,
    org: bool = False,
    team_root_ids: Iterable[int] | None = None,
    user_ids: Iterable[int] = (),
    live: bool = False,
    also: Iterable[tuple[dt.date, str | None]] = (),
) -> ScopesKPIs:
    """The figures of kpis_for_scope("org"), kpis_by_team(root_ids=team_root_ids) (no teams
    when None) and kpis_by_user(user_ids), in the queries of one of them: every scope is a
    sum of the same (owner, team) cells, so the cells are read once for all three, and the
    cycle medians of every scope in one pass over the buckets. A page of 30 teams and 200
    reps read them three times (docs/performance.md).

    `also`: more (start, period) ranges to the same end for the organisation (with `org`),
    else for the teams, computed in the same queries (a family's starts are columns of one
    query; each range adds only its targets' query): a trend's live month and quarter to
    date."""
    ranges: list[tuple[dt.date, str | None]] = [(start, period), *also]
    user_ids = list(user_ids)
    scope_sets = []
    if org:
        scope_sets.append(_scope_set("org", None))
    parent: dict[int, int | None] | None = None
    if team_root_ids is not None:
        parent = dict(Team.objects.values_list("id", "parent_id"))
        parent = _subtree_parents(parent, team_root_ids)
        scope_sets.append(_teams_set(parent))
    if user_ids:
        scope_sets.append(_users_set(user_ids))
    starts = [range_start for range_start, _ in ranges]
    parts = iter(_compute_periods(scope_sets, starts, end, as_of, live=live) if scope_sets else [])
    org_kpis = _scope_kpis("org", None, ranges, end, as_of, next(parts)) if org else [None]
    team_ranges = ranges[:1] if org else ranges
    team_kpis = (
        _team_kpis(team_ranges, end, as_of, parts=next(parts)[: len(team_ranges)], parent=parent)
        if parent is not None
        else [{}]
    )
    users = _user_kpis(user_ids, ranges[:1], end, as_of, next(parts)[:1]) if user_ids else [{}]
    return ScopesKPIs(
        org=org_kpis[0],
        teams=team_kpis[0],
        users=users[0],
        also_org=[k for k in org_kpis[1:] if k is not None],
        also_teams=team_kpis[1:],
    )


@dataclass(frozen=True)
class PeriodsToDate:
    """The KPIs of every scope for the month, quarter and year to date of one day, as the
    nightly snapshot freezes them: per period kind, the organisation's, each team's (with
    its sub-teams) and each given user's."""

    org: dict[str, KPIs]
    teams: dict[str, dict[int, KPIs]]
    users: dict[str, dict[int, KPIs]]


def kpis_to_date(
    *, day: dt.date, user_ids: Iterable[int], as_of: dt.datetime, settled: bool = False
) -> PeriodsToDate:
    """Every scope's KPIs for each period kind to `day`: the same figures as kpis_for_scope,
    kpis_by_team and kpis_by_user called per kind (with period=kind), in a third of the
    queries: the kinds share one end, so each family is one query for all of them."""
    kinds = list(PeriodKind.values)
    ranges = [(periods.period_start(day, kind), kind) for kind in kinds]
    user_ids = list(user_ids)
    parent: dict[int, int | None] = dict(Team.objects.values_list("id", "parent_id"))
    org_parts, team_parts, user_parts = _compute_periods(
        [_scope_set("org", None), _teams_set(parent), _users_set(user_ids)],
        [start for start, _ in ranges],
        day,
        as_of,
        settled=settled,
    )
    org = _scope_kpis("org", None, ranges, day, as_of, org_parts)
    teams = _team_kpis(ranges, day, as_of, parts=team_parts, parent=parent)
    users = _user_kpis(user_ids, ranges, day, as_of, user_parts)
    return PeriodsToDate(
        org=dict(zip(kinds, org, strict=True)),
        teams=dict(zip(kinds, teams, strict=True)),
        users=dict(zip(kinds, users, strict=True)),
    )


_Ranges = list[tuple[dt.date, str | None]]


_Parts = list[dict[Any, dict[str, Any]]]


def _scope_kpis(
    kind: ScopeKind,
    scope_id: int | None,
    ranges: _Ranges,
    end: dt.date,
    as_of: dt.datetime,
    parts: _Parts | None = None,
    live: bool = False,
    settled: bool = False,
) -> list[KPIs]:
    if parts is None:
        starts = [start for start, _ in ranges]
        parts = _compute_periods([_scope_set(kind, scope_id)], starts, end, as_of, live, settled)[0]
    result = []
    for (start, period), merged in zip(ranges, parts, strict=True):
        if kind == "user":
            target = _revenue_targets("user_id", start, end, Q(user_id=scope_id), period)
        elif kind == "team":
            target = _revenue_targets("team_id", start, end, Q(team_id=scope_id), period)
        else:
            target = _org_target(start, end, period)
        key = scope_id if kind != "org" else None
        result.append(_combine(merged.get(None, {}), target.get(key)))
    return result


def _org_target(start: dt.date, end: dt.date, period: str | None) -> dict[Any, RangeTarget]:
    """The organisation's target: the sum of its top-level teams' targets (exact, rounded
    once), each by the range rule; its basis theirs when they agree."""
    per_team = _revenue_targets(
        "team_id", start, end, Q(team__isnull=False, team__parent__isnull=True), period
    )
    if not per_team:
        return {}
    bases = {found.basis for found in per_team.values()}
    basis = bases.pop() if len(bases) == 1 else "sum of the top-level teams' targets"
    total = sum((found.value for found in per_team.values()), Fraction(0))
    return {None: RangeTarget(total, basis)}


def _user_kpis(
    user_ids: list[int],
    ranges: _Ranges,
    end: dt.date,
    as_of: dt.datetime,
    parts: _Parts | None = None,
    live: bool = False,
    settled: bool = False,
) -> list[dict[int, KPIs]]:
    if parts is None:
        starts = [start for start, _ in ranges]
        parts = _compute_periods([_users_set(user_ids)], starts, end, as_of, live, settled)[0]
    result = []
    for (start, period), merged in zip(ranges, parts, strict=True):
        targets = _revenue_targets("user_id", start, end, Q(user_id__in=user_ids), period)
        result.append({uid: _combine(merged.get(uid, {}), targets.get(uid)) for uid in user_ids})
    return result


def _team_kpis(
    ranges: _Ranges,
    end: dt.date,
    as_of: dt.datetime,
    root_ids: Iterable[int] | None = None,
    parts: _Parts | None = None,
    parent: dict[int, int | None] | None = None,
    live: bool = False,
    settled: bool = False,
) -> list[dict[int, KPIs]]:
    if parent is None:
        parent = dict(Team.objects.values_list("id", "parent_id"))
    if root_ids is not None:
        parent = _subtree_parents(parent, root_ids)
    if parts is None:
        starts = [start for start, _ in ranges]
        parts = _compute_periods([_teams_set(parent)], starts, end, as_of, live, settled)[0]
    result = []
    for (start, period), merged in zip(ranges, parts, strict=True):
        targets = _revenue_targets("team_id", start, end, Q(team_id__in=list(parent)), period)
        result.append({tid: _combine(merged.get(tid, {}), targets.get(tid)) for tid in parent})
    return result


# --- Funnel and pipeline by stage ---------------------------------------------------------


@dataclass(frozen=True)
class FunnelStep:
    """One step of the funnel: an open stage or the won stage, how many of the period's new
    deals reached it, and the share of the previous step's deals that did (the first step:
    of the deals created; None when the previous step is empty)."""

    stage_id: int
    name: str
    kind: str
    deals: int
    conversion: float | None


@dataclass(frozen=True)
class Funnel:
    """The deals created in a period (`created`) and how far they got (`steps`)."""

    created: int
    steps: list[FunnelStep]


def default_stages() -> list[Stage]:
    """The stages of the default pipeline, in order: the funnel's steps."""
    return list(Stage.objects.filter(pipeline__is_default=True).order_by("order"))


def past_every_stage(stages: list[Stage]) -> int:
    """The `furthest` of a won deal: after every stage's order."""
    return max((stage.order for stage in stages), default=0) + 1


def furthest_reached(stages: list[Stage], as_of: dt.datetime) -> Case:
    """How far a deal got by `as_of`, as the funnel counts it: past_every_stage when won by
    then (in the won stage, closed before as_of, as in opportunity_close_rate), else the
    order of its furthest open stage (moved from or to in its stage history before as_of,
    or the stage it was in at as_of), and at least the first open stage's (a deal closed
    with no recorded move still started there). Shared by the funnel and the summary
    table of the live funnel (metrics.summary), so both count a deal the same way."""
    zero = Value(0)

    def open_order(prefix: str):
        return Case(
            When(**{f"{prefix}kind": StageKind.OPEN}, then=F(f"{prefix}order")),
            default=zero,
            output_field=IntegerField(),
        )

    # The furthest open stage a deal moved from or to before as_of: one probe of the
    # (deal, changed_at) index per deal.
    furthest_in_history = Coalesce(
        Subquery(
            StageChange.objects.filter(deal=OuterRef("pk"), changed_at__lt=as_of)
            .values("deal")
            .annotate(
                furthest=Greatest(Max(open_order("from_stage__")), Max(open_order("to_stage__")))
            )
            .values("furthest")[:1]
        ),
        zero,
    )
    # The stage a deal was in at as_of: where its first later move started from, or else
    # its current stage (as in _open_at); it counts only if it is an open stage.
    order_then = Coalesce(
        Subquery(
            StageChange.objects.filter(deal=OuterRef("pk"), changed_at__gte=as_of)
            .order_by("changed_at", "id")
            .annotate(open_order=open_order("from_stage__"))
            .values("open_order")[:1]
        ),
        open_order("stage__"),
    )
    first_open = min((s.order for s in stages if s.kind == StageKind.OPEN), default=0)
    return Case(
        When(
            Q(stage__kind=StageKind.WON, closed_at__lt=as_of),
            then=Value(past_every_stage(stages)),
        ),
        default=Greatest(furthest_in_history, order_then, Value(first_open)),
        output_field=IntegerField(),
    )


def funnel_for_scope(
    *,
    kind: ScopeKind,
    scope_id: int | None,
    start: dt.date,
    end: dt.date,
    as_of: dt.datetime,
    live: bool = False,
) -> Funnel:
    """Of the deals of the default pipeline created in start..end, how many reached each
    open stage, and how many were won, by `as_of`; counts, and stage-to-stage conversion
    as rates 0..1 (the first stage's: of the deals created; None after an empty step). No
    deals: every count 0, every conversion None.

    A deal reached a stage when it was ever in it or in a later one (furthest_reached), so
    a deal that skipped a stage counts for it and the funnel never widens, and a won deal
    reached every stage. The last step ÷ created is opportunity_close_rate. One query for
    the counts, one for the stages (and the team tree for a team), whatever the number of
    deals. `live=True` says as_of is now: the counts come from the FunnelDay summary.
    """
    stages = default_stages()
    first, after = period_bounds(start, end)
    until = min(after, as_of)
    grouping = _scope_grouping(kind, scope_id)
    if live and summary.readable(as_of):
        start, last = summary.local_day(first), _last_day(until)
        months_to = _whole_months_to(start, last)
        by_furthest: dict[int, int] = defaultdict(int)
        sources = []
        if months_to > start:
            sources.append(FunnelMonth.objects.filter(month__gte=start, month__lt=months_to))
        if months_to <= last:
            sources.append(FunnelDay.objects.filter(day__gte=months_to, day__lte=last))
        for rows in sources:
            counts = (
                rows.filter(grouping.deal_filter)
                .order_by()
                .values("furthest")
                .annotate(count=Sum("deals"))
                .values_list("furthest", "count")
            )
            for furthest, count in counts:
                by_furthest[furthest] += count
    else:
        deals = Deal.objects.filter(
            grouping.deal_filter,
            stage__pipeline__is_default=True,
            created_at__gte=first,
            created_at__lt=until,
        ).annotate(furthest=furthest_reached(stages, as_of))
        # GROUP BY the furthest stage once (a handful of rows), then count in Python: one
        # filtered COUNT per stage made PostgreSQL evaluate the subqueries once per stage
        # (3.1 s against 0.79 s for /org/'s funnel at 1M deals).
        by_furthest = dict(
            deals.order_by()
            .values("furthest")
            .annotate(count=Count("id"))
            .values_list("furthest", "count")
        )
    return _funnel(stages, by_furthest)


def _funnel(stages: list[Stage], by_furthest: dict[int, int]) -> Funnel:
    created = sum(by_furthest.values())
    won = by_furthest.get(past_every_stage(stages), 0)
    open_stages = [stage for stage in stages if stage.kind == StageKind.OPEN]
    reached = [
        (stage, sum(n for order, n in by_furthest.items() if order >= stage.order))
        for stage in open_stages
    ]
    reached += [(stage, won) for stage in stages if stage.kind == StageKind.WON][:1]
    steps, previous = [], created
    for stage, count in reached:
        steps.append(FunnelStep(stage.pk, stage.name, stage.kind, count, _ratio(count, previous)))
        previous = count
    return Funnel(created=created, steps=steps)


@dataclass(frozen=True)
class StagePipeline:
    """The open deals that were in one stage at a moment: how many, their amount and their
    amount weighted by the stage's win probability (Decimal, 2 places)."""

    stage_id: int
    name: str
    probability: int
    open_deals: int
    pipeline_value: Decimal
    weighted_pipeline: Decimal


def pipeline_by_stage(
    *,
    kind: ScopeKind,
    scope_id: int | None,
    start: dt.date,
    end: dt.date,
    as_of: dt.datetime,
    live: bool = False,
) -> list[StagePipeline]:
    """The open deals at the end of start..end (or at `as_of`, if earlier) by the stage
    each was in at that moment, in pipeline order; every open stage of the default
    pipeline is listed, with zeros when empty. The rows add up to open_deals and
    pipeline_value of the same scope and period, and to its weighted_pipeline within half a
    cent per stage (each row is rounded on its own). Two queries (three for a team),
    whatever the number of deals."""
    moment = min(period_bounds(start, end)[1], as_of)
    if live and moment == as_of and summary.readable(as_of):
        by_stage = {
            row.pop("stage_id"): row
            for row in OpenDeals.objects.filter(_scope_grouping(kind, scope_id).deal_filter)
            .values("stage_id")
            .annotate(
                open_deals=Sum("open_deals"),
                pipeline_value_cents=Sum("pipeline_cents"),
                weighted_pipeline_cent_percent=Sum(
                    ExpressionWrapper(
                        F("pipeline_cents") * F("stage__probability"),
                        output_field=BigIntegerField(),
                    )
                ),
            )
            .order_by()
        }
        return _stage_rows(by_stage)
    later_move = StageChange.objects.filter(deal=OuterRef("pk"), changed_at__gte=moment).order_by(
        "changed_at", "id"
    )
    stage_then = Coalesce(
        Subquery(later_move.values("from_stage_id")[:1]), F("stage_id"), output_field=IntegerField()
    )
    probability_then = Coalesce(
        Subquery(later_move.values("from_stage__probability")[:1]), F("stage__probability")
    )
    rows = (
        Deal.objects.filter(_scope_grouping(kind, scope_id).deal_filter, created_at__lt=moment)
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=moment))
        .annotate(stage_then=stage_then)
        .values("stage_then")
        .annotate(
            open_deals=Count("id"),
            pipeline_value_cents=Sum(Cents("amount")),
            weighted_pipeline_cent_percent=Sum(_cent_percent(probability_then)),
        )
        .order_by()
    )
    return _stage_rows({row.pop("stage_then"): row for row in rows})


def _stage_rows(by_stage: dict[int, dict[str, Any]]) -> list[StagePipeline]:
    stages = Stage.objects.filter(
        Q(pk__in=list(by_stage)) | Q(pipeline__is_default=True, kind=StageKind.OPEN)
    ).order_by("-pipeline__is_default", "pipeline__name", "order")
    result = []
    for stage in stages:
        row = by_stage.get(stage.pk, {})
        result.append(
            StagePipeline(
                stage_id=stage.pk,
                name=stage.name,
                probability=stage.probability,
                open_deals=row.get("open_deals") or 0,
                pipeline_value=_from_cents(row.get("pipeline_value_cents")),
                weighted_pipeline=_from_cent_percent(row.get("weighted_pipeline_cent_percent")),
            )
        )
    return result
