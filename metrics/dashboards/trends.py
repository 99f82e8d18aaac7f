"""Trends read from the snapshot tables (metrics.models.KPISnapshot)."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Q

from metrics.choices import PeriodKind
from metrics.models import KPISnapshot
from periods import calendar as periods

TREND_MONTHS = 12


@dataclass(frozen=True)
class TrendMonth:
    month: dt.date
    revenue: Decimal | None = None
    target: Decimal | None = None
    win_rate: float | None = None
    deals_won: int | None = None
    deals_lost: int | None = None
    quarter_revenue: Decimal | None = None
    quarter_target: Decimal | None = None
    quarter_attainment: float | None = None

    @property
    def label(self) -> str:
        return self.month.strftime("%b %Y")


@dataclass(frozen=True)
class Trend:
    """Twelve months of frozen figures for a scope: each month's revenue, target and win
    rate (the month's own snapshot) and the quarter to date at its end (the quarter's)."""

    months: list[TrendMonth]

    @property
    def has_rows(self) -> bool:
        """Any month frozen at all (a new scope has none until the nightly snapshot)."""
        return any(m.revenue is not None or m.quarter_revenue is not None for m in self.months)

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

    def revenue_chart(self) -> dict[str, list]:
        """For json_script: labels and one list per series, null where there is no row."""
        return {
            "labels": [m.label for m in self.months],
            "revenue": [_number(m.revenue) for m in self.months],
            "target": [_number(m.target) for m in self.months],
            "quarter_revenue": [_number(m.quarter_revenue) for m in self.months],
            "quarter_target": [_number(m.quarter_target) for m in self.months],
            # The quarter-to-date line starts again at each quarter: no segment across.
            "quarter_start": [m.month.month % 3 == 1 for m in self.months],
        }

    def win_rate_chart(self) -> dict[str, list]:
        return {
            "labels": [m.label for m in self.months],
            "win_rate": [m.win_rate for m in self.months],
        }


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


TREND_COLUMNS = [
    "date",
    "period_kind",
    "revenue",
    "target",
    "attainment",
    "win_rate",
    "deals_won",
    "deals_lost",
]


def monthly_trend(
    *, scope_kind: str, scope_id: int, last_day: dt.date, months: int = TREND_MONTHS
) -> Trend:
    """The `months` months up to the one containing `last_day`, from KPISnapshot: the
    month-end rows (period month and quarter) of each month, and the latest row of the
    last month when its end has not come yet. One query."""
    last_month = periods.period_start(last_day, PeriodKind.MONTH)
    month_starts = [periods.add_months(last_month, -n) for n in reversed(range(months))]
    month_ends = [periods.period_end(month, PeriodKind.MONTH) for month in month_starts]
    rows = (
        KPISnapshot.objects.filter(
            Q(date__in=month_ends) | Q(date__gte=last_month, date__lte=month_ends[-1]),
            scope_kind=scope_kind,
            scope_id=scope_id,
            period_kind__in=[PeriodKind.MONTH, PeriodKind.QUARTER],
        )
        .order_by("date")
        .values_list(*TREND_COLUMNS)
    )
    latest: dict[tuple[dt.date, str], tuple] = {}
    for row in rows:  # ordered by date: a later row of the same month wins
        latest[(row[0].replace(day=1), row[1])] = row
    result = []
    for month in month_starts:
        fields: dict[str, Any] = {}
        if (row := latest.get((month, PeriodKind.MONTH))) is not None:
            fields.update(
                revenue=row[2], target=row[3], win_rate=row[5], deals_won=row[6], deals_lost=row[7]
            )
        if (row := latest.get((month, PeriodKind.QUARTER))) is not None:
            fields.update(quarter_revenue=row[2], quarter_target=row[3], quarter_attainment=row[4])
        result.append(TrendMonth(month=month, **fields))
    return Trend(result)
