"""Monthly trends: closed months as the nightly snapshot froze them at their end
(metrics.models.KPISnapshot), the current month live to today from the summary layer (the
same computation as the tiles, metrics.kpis), so the chart's last point and the tiles agree.
"""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from metrics.choices import PeriodKind, ScopeKind
from metrics.kpis import KPI_KEYS, KPIs, kpis_for_scope_to_date
from metrics.models import KPISnapshot
from periods import calendar as periods

TREND_MONTHS = 12
# The API's cap: three years of month-end rows is one small query; more is a report.
MAX_TREND_MONTHS = 36

# A point's state: frozen by the nightly snapshot, live to today, or not frozen at all (a
# month before the scope's first snapshot, or one the nightly job missed).
FROZEN, LIVE, MISSING = "frozen", "live", "missing"


@dataclass(frozen=True)
class TrendMonth:
    """One month of a trend: its own figures (`figures`, every KPI of the month to `as_of`)
    and the quarter to date at `as_of` (`quarter`), frozen, live or missing."""

    month: dt.date
    state: str = MISSING
    as_of: dt.date | None = None
    figures: Mapping[str, Any] = field(default_factory=dict)
    quarter: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.month.strftime("%b %Y")

    @property
    def live(self) -> bool:
        return self.state == LIVE

    @property
    def frozen(self) -> bool:
        return self.state == FROZEN

    @property
    def month_end(self) -> bool:
        """Frozen at the month's last day (else at the latest night before it)."""
        return self.as_of == periods.period_end(self.month, PeriodKind.MONTH)

    @property
    def revenue(self) -> Decimal | None:
        return self.figures.get("revenue")

    @property
    def target(self) -> Decimal | None:
        return self.figures.get("target")

    @property
    def win_rate(self) -> float | None:
        return self.figures.get("win_rate")

    @property
    def deals_won(self) -> int | None:
        return self.figures.get("deals_won")

    @property
    def deals_lost(self) -> int | None:
        return self.figures.get("deals_lost")

    @property
    def decided(self) -> int | None:
        """Deals won or lost in the month: 0 makes the win rate undefined, not 0 %."""
        if self.state == MISSING:
            return None
        return (self.deals_won or 0) + (self.deals_lost or 0)

    @property
    def quarter_revenue(self) -> Decimal | None:
        return self.quarter.get("revenue")

    @property
    def quarter_target(self) -> Decimal | None:
        return self.quarter.get("target")

    @property
    def quarter_attainment(self) -> float | None:
        return self.quarter.get("attainment")


@dataclass(frozen=True)
class Trend:
    """Months of figures for a scope: each closed month as frozen at its end, the current
    month live to today."""

    months: list[TrendMonth]

    @property
    def has_rows(self) -> bool:
        """Any month frozen at all (a new scope has none until the nightly snapshot)."""
        return any(m.frozen for m in self.months)

    @property
    def has_revenue(self) -> bool:
        """Anything to draw: some revenue won or some target set."""
        return any(
            m.revenue or m.quarter_revenue or m.target or m.quarter_target for m in self.months
        )

    @property
    def has_month_target(self) -> bool:
        return any(m.target is not None for m in self.months)

    @property
    def has_quarter_target(self) -> bool:
        return any(m.quarter_target is not None for m in self.months)

    @property
    def has_win_rate(self) -> bool:
        return any(m.win_rate is not None for m in self.months)

    @property
    def frozen_months(self) -> list[TrendMonth]:
        return [m for m in self.months if m.frozen]

    @property
    def live_month(self) -> TrendMonth | None:
        return next((m for m in self.months if m.live), None)

    @property
    def frozen_early(self) -> list[TrendMonth]:
        """Frozen months whose month-end row is not there yet (read at an earlier night)."""
        return [m for m in self.frozen_months if not m.month_end]

    def _points(self) -> dict[str, list]:
        return {
            "labels": [m.label for m in self.months],
            "state": [m.state for m in self.months],
            "as_of": [m.as_of.isoformat() if m.as_of else None for m in self.months],
        }

    def revenue_chart(self) -> dict[str, Any]:
        """For json_script: labels and one list per series, null where there is no figure;
        each point's state (frozen, live, missing) and date; the money axis's currency."""
        return {
            **self._points(),
            "currency": settings.ORGANISATION_CURRENCY,
            "revenue": [_number(m.revenue) for m in self.months],
            "target": [_number(m.target) for m in self.months],
            "quarter_revenue": [_number(m.quarter_revenue) for m in self.months],
            "quarter_target": [_number(m.quarter_target) for m in self.months],
            # The quarter-to-date line starts again at each quarter: no segment across.
            "quarter_start": [m.month.month % 3 == 1 for m in self.months],
        }

    def win_rate_chart(self) -> dict[str, Any]:
        """The win rate is null (a gap, not 0 %) where no deal was decided."""
        return {
            **self._points(),
            "win_rate": [m.win_rate for m in self.months],
            "decided": [m.decided for m in self.months],
        }


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _scope_of(scope_kind: str, scope_id: int) -> tuple[Any, int | None]:
    """The snapshot's scope (the organisation is id 0) as metrics.kpis names it."""
    return (scope_kind, None) if scope_kind == ScopeKind.ORG else (scope_kind, scope_id)


def live_ranges(last_day: dt.date, as_of: dt.datetime) -> list[tuple[dt.date, str]]:
    """The ranges of a trend's live point, (start, period kind), month then quarter to
    today; none when the trend ends before today's month. A page asks for them in its own
    KPI computation (kpis_of_scopes(also=...)) and hands the figures to monthly_trend."""
    today = timezone.localdate(as_of)
    if periods.period_start(min(last_day, today), PeriodKind.MONTH) != today.replace(day=1):
        return []
    return [
        (today.replace(day=1), PeriodKind.MONTH),
        (periods.period_start(today, PeriodKind.QUARTER), PeriodKind.QUARTER),
    ]


def monthly_trend(
    *,
    scope_kind: str,
    scope_id: int,
    last_day: dt.date,
    as_of: dt.datetime,
    months: int = TREND_MONTHS,
    quarters: bool = True,
    live_figures: list[KPIs] | None = None,
) -> Trend:
    """The `months` months up to the one containing `last_day`. A closed month: its
    month-end snapshot rows (the month's and, with `quarters`, the quarter to date), or the
    latest night's of that month when the nightly job has not frozen its end yet. The month
    of today (as_of's day): live, month and quarter to today, from the summary tables like
    the tiles; `live_figures`: those figures (of live_ranges) already computed by the page.
    Two queries for the snapshots and the live figures' few, whatever `months`."""
    today = timezone.localdate(as_of)
    last_month = periods.period_start(min(last_day, today), PeriodKind.MONTH)
    month_starts = [periods.add_months(last_month, -n) for n in reversed(range(months))]
    ranges = live_ranges(last_day, as_of)
    live_month = ranges[0][0] if ranges else None
    closed = [m for m in month_starts if m != live_month]
    result: dict[dt.date, TrendMonth] = {m: TrendMonth(month=m) for m in month_starts}
    if closed:
        ends = [periods.period_end(m, PeriodKind.MONTH) for m in closed]
        kinds = [PeriodKind.MONTH, PeriodKind.QUARTER] if quarters else [PeriodKind.MONTH]
        rows = (
            KPISnapshot.objects.filter(
                # Month ends, and any night of the last closed month (its end may be due).
                Q(date__in=ends) | Q(date__gte=closed[-1], date__lte=ends[-1]),
                scope_kind=scope_kind,
                scope_id=scope_id,
                period_kind__in=kinds,
            )
            .order_by("date")
            .values("date", "period_kind", *KPI_KEYS)
        )
        latest: dict[tuple[dt.date, str], dict[str, Any]] = {}
        for row in rows:  # ordered by date: a later row of the same month wins
            latest[(row["date"].replace(day=1), row["period_kind"])] = row
        for month in closed:
            own = latest.get((month, PeriodKind.MONTH))
            quarter = latest.get((month, PeriodKind.QUARTER))
            if own is None and quarter is None:
                continue
            day = max(r["date"] for r in (own, quarter) if r is not None)
            result[month] = TrendMonth(
                month=month, state=FROZEN, as_of=day, figures=own or {}, quarter=quarter or {}
            )
    if live_month is not None:
        kind, kpis_id = _scope_of(scope_kind, scope_id)
        live = live_figures or kpis_for_scope_to_date(
            kind=kind,
            scope_id=kpis_id,
            starts=ranges if quarters else ranges[:1],
            end=today,
            as_of=as_of,
            live=True,
        )
        result[live_month] = TrendMonth(
            month=live_month,
            state=LIVE,
            as_of=today,
            figures=live[0].as_dict(),
            quarter=live[1].as_dict() if quarters else {},
        )
    return Trend([result[m] for m in month_starts])
