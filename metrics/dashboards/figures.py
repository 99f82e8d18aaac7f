"""Figures as the pages show them: compared with the previous period and the team's
median, against a target, ranked."""

import datetime as dt
import statistics
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Sum

from metrics.choices import PeriodKind, ScopeKind
from metrics.definitions import DEFINITIONS, Definition
from metrics.kpis import KPI_KEYS, KPIs
from metrics.models import CycleBucket
from periods import calendar as periods

from .period_picker import Period

# Columns a leaderboard can be sorted by ("name" sorts by the rep's or team's name).
SORT_KEYS = [
    "revenue",
    "target",
    "attainment",
    "deals_won",
    "win_rate",
    "close_rate",
    "avg_deal_size",
    "sales_cycle_days_mean",
    "pipeline_value",
    "weighted_pipeline",
]
DEFAULT_SORT = "-revenue"

# A comparison figure (the team median on a rep's page) shown to someone who may not see
# each rep behind it needs at least this many reps with a defined value: over two reps,
# 2 x median - own is the teammate's exact figure, and small groups leak alike.
MIN_PEERS = 5
WITHHELD_REASON = f"Team median needs at least {MIN_PEERS} reps with this figure"

# Rates of a cohort (docs/kpis.md, "Cohort rates mature"): the share of the leads or
# deals created in the period that is won by now, which grows as the cohort ages.
COHORT_KEYS = frozenset({"close_rate", "opportunity_close_rate"})
# The window of the organisation's median sales cycle: whole months before this one.
MEDIAN_CYCLE_MONTHS = 12


@dataclass(frozen=True)
class Figure:
    """One KPI on a page, with what it is compared to: the previous period and, on a
    rep's page, the team median (`has_median`: a team exists to compare with;
    `median_withheld`: too few reps have the figure for the viewer to see their median)."""

    key: str
    value: Any
    previous: Any = None
    median: Any = None
    has_median: bool = False
    median_withheld: bool = False
    # A cohort rate younger than the organisation's median cycle: the cohort's age in days.
    maturing_age: int | None = None
    median_cycle: int | None = None

    @property
    def maturing(self) -> bool:
        return self.maturing_age is not None

    @property
    def maturing_note(self) -> str:
        return (
            f"Cohort {self.maturing_age} days old, younger than the organisation's median "
            f"sales cycle ({self.median_cycle} days): more of it may still be won, so it is "
            "not compared with the previous period."
        )

    @property
    def median_note(self) -> str:
        return WITHHELD_REASON if self.median_withheld else ""

    @property
    def definition(self) -> Definition:
        return DEFINITIONS[self.key]

    @property
    def change(self) -> float | None:
        """Against the previous period: rates in points (0.05 = 5 points), days in days,
        money and counts as a share of the previous figure. None when not comparable: a
        maturing cohort rate against an older, more mature one is not a drop."""
        if self.value is None or self.previous is None or self.maturing:
            return None
        unit = self.definition.unit
        if unit in ("rate", "days"):
            return float(self.value) - float(self.previous)
        if self.previous == 0:
            return 0.0 if self.value == 0 else None
        return (float(self.value) - float(self.previous)) / float(self.previous)

    @property
    def direction(self) -> str:
        change = self.change
        if change is None:
            return ""
        if abs(change) < 1e-9:
            return "flat"
        return "up" if change > 0 else "down"

    @property
    def tone(self) -> str:
        """The delta's colour class: "up" when the change is good, "down" when bad."""
        better, direction = self.definition.better, self.direction
        if not better or direction not in ("up", "down"):
            return ""
        return "up" if direction == better else "down"


def figures(
    keys: Iterable[str],
    kpis: KPIs,
    previous: KPIs | None = None,
    median: Mapping[str, Any] | None = None,
    withheld: Collection[str] = (),
    maturity: "Maturity | None" = None,
) -> list[Figure]:
    maturing_age = maturity.maturing_age if maturity is not None else None
    return [
        Figure(
            key=key,
            value=getattr(kpis, key),
            previous=getattr(previous, key) if previous is not None else None,
            median=(median or {}).get(key),
            has_median=median is not None,
            median_withheld=key in withheld,
            # An undefined rate (no leads yet) has nothing to mature: just "—".
            maturing_age=maturing_age
            if key in COHORT_KEYS and getattr(kpis, key) is not None
            else None,
            median_cycle=maturity.median_cycle if maturity is not None else None,
        )
        for key in keys
    ]


def cohort_age_days(start: dt.date, end: dt.date, *, today: dt.date) -> int | None:
    """Whole days from the middle day of the period's days so far (start..min(end, today))
    to today: the age of its typical lead or deal, if they came in evenly. None for a
    period that has not begun."""
    if start > today:
        return None
    middle = start + dt.timedelta(days=(min(end, today) - start).days // 2)
    return (today - middle).days


def org_median_cycle_days(*, today: dt.date) -> int | None:
    """The organisation's median sales cycle in whole days: over the deals won in the
    MEDIAN_CYCLE_MONTHS whole months before today's month, the whole-day cycle bucket of
    the middle win (of the two middle wins, their mean, rounded down). None without a win.
    One query over the monthly cycle buckets (metrics.cycles): a few hundred rows."""
    this_month = today.replace(day=1)
    rows = list(
        CycleBucket.objects.filter(
            period_kind=PeriodKind.MONTH,
            # Each month named: the index leads with the month, so the organisation's rows
            # are one index range per month, not every scope's rows of a year (41 -> 11 ms
            # at 10M deals).
            period_start__in=[
                periods.add_months(this_month, -n) for n in range(1, MEDIAN_CYCLE_MONTHS + 1)
            ],
            scope_kind=ScopeKind.ORG,
            scope_id=0,
        )
        .values("bucket")
        .annotate(wins=Sum("deals"))
        .order_by("bucket")
        .values_list("bucket", "wins")
    )
    total = sum(wins for _, wins in rows)
    if not total:
        return None
    ranks = {(total - 1) // 2, total // 2}
    middle: list[int] = []
    seen = 0
    for bucket, wins in rows:
        middle += [bucket] * len([r for r in ranks if seen <= r < seen + wins])
        seen += wins
    return sum(middle) // len(middle)


@dataclass(frozen=True)
class Maturity:
    """Whether a period's cohort rates are still maturing: its cohort age against the
    organisation's median sales cycle."""

    age: int | None
    median_cycle: int | None

    @property
    def maturing_age(self) -> int | None:
        """The cohort's age when younger than the median cycle, else None (mature, or
        nothing to compare with: no win in the window)."""
        if self.age is None or self.median_cycle is None or self.age >= self.median_cycle:
            return None
        return self.age


def maturity(start: dt.date, end: dt.date, *, today: dt.date) -> Maturity:
    return Maturity(cohort_age_days(start, end, today=today), org_median_cycle_days(today=today))


def _defined(rows: list[KPIs], key: str) -> list[Any]:
    return [getattr(row, key) for row in rows if getattr(row, key) is not None]


def withheld_kpis(all_kpis: Iterable[KPIs], *, min_values: int) -> frozenset[str]:
    """The KPIs that some, but fewer than `min_values`, of the scopes define: their median
    is withheld (a median of one or two values gives those values away)."""
    rows = list(all_kpis)
    return frozenset(key for key in KPI_KEYS if 0 < len(_defined(rows, key)) < min_values)


def median_kpis(all_kpis: Iterable[KPIs], *, min_values: int = 1) -> dict[str, Any]:
    """The median of every KPI over the given scopes, leaving out undefined values (None
    when fewer than `min_values` are defined, see withheld_kpis). Money stays Decimal to
    the cent, counts may become halves."""
    rows = list(all_kpis)
    result: dict[str, Any] = {}
    for key in KPI_KEYS:
        values = _defined(rows, key)
        if not values or len(values) < min_values:
            result[key] = None
            continue
        middle = statistics.median(values)
        if isinstance(middle, Decimal):
            middle = middle.quantize(Decimal("0.01"))
        result[key] = middle
    return result


@dataclass(frozen=True)
class Goal:
    """Revenue against the target of the period, and how far into the period we are."""

    revenue: Decimal
    target: Decimal | None
    attainment: float | None
    days_elapsed: int | None
    days_total: int
    target_basis: str = ""  # where a derived target comes from ("from the quarter's target")

    @property
    def percent(self) -> int:
        """For the progress bar: 0..100."""
        if self.attainment is None:
            return 0
        return max(0, min(100, round(self.attainment * 100)))

    @property
    def done(self) -> bool:
        return self.attainment is not None and self.attainment >= 1

    @property
    def remaining(self) -> Decimal | None:
        if self.target is None or self.revenue >= self.target:
            return None
        return self.target - self.revenue

    @property
    def pace(self) -> str:
        """ "ahead" or "behind" the share of the period gone by; "" when not applicable."""
        if self.attainment is None or self.days_elapsed is None or self.done:
            return ""
        return "ahead" if self.attainment >= self.days_elapsed / self.days_total else "behind"


def goal(kpis: KPIs, period: Period, *, today: dt.date) -> Goal:
    elapsed = None
    if period.start <= today <= period.end:
        elapsed = (today - period.start).days + 1
    return Goal(kpis.revenue, kpis.target, kpis.attainment, elapsed, period.days, kpis.target_basis)


@dataclass(frozen=True)
class Ranked:
    """A rep or a team in a leaderboard, with its KPIs; `depth` indents a team tree."""

    obj: Any
    name: str
    kpis: KPIs
    goal: Goal
    depth: int = 0
    rank: int = 0


def parse_sort(value: str | None) -> str:
    key = (value or "").removeprefix("-")
    if key == "name" or key in SORT_KEYS:
        return value or DEFAULT_SORT
    return DEFAULT_SORT


def sort_ranked(rows: list[Ranked], sort: str) -> list[Ranked]:
    """Sorted by a KPI (or "name"), "-" first for descending; undefined values always
    last. Ranks follow the order."""
    descending, key = sort.startswith("-"), sort.removeprefix("-")
    if key == "name":
        ordered = sorted(rows, key=lambda r: r.name.lower(), reverse=descending)
    else:
        defined = [r for r in rows if getattr(r.kpis, key) is not None]
        undefined = [r for r in rows if getattr(r.kpis, key) is None]
        defined.sort(key=lambda r: (getattr(r.kpis, key), r.name.lower()), reverse=descending)
        ordered = defined + sorted(undefined, key=lambda r: r.name.lower())
    return [
        Ranked(r.obj, r.name, r.kpis, r.goal, r.depth, rank) for rank, r in enumerate(ordered, 1)
    ]
