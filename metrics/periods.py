"""Calendar periods (month, quarter, year) as inclusive date ranges."""

import datetime as dt

from .choices import PeriodKind


def period_start(day: dt.date, kind: str) -> dt.date:
    """The first day of the month, quarter or year that contains `day`."""
    if kind == PeriodKind.MONTH:
        return day.replace(day=1)
    if kind == PeriodKind.QUARTER:
        return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    if kind == PeriodKind.YEAR:
        return dt.date(day.year, 1, 1)
    raise ValueError(f"unknown period kind {kind!r}")


def period_end(start: dt.date, kind: str) -> dt.date:
    """The last day (inclusive) of the period that begins on `start`."""
    months = {PeriodKind.MONTH: 1, PeriodKind.QUARTER: 3, PeriodKind.YEAR: 12}[PeriodKind(kind)]
    month_index = start.year * 12 + (start.month - 1) + months
    next_start = dt.date(month_index // 12, month_index % 12 + 1, 1)
    return next_start - dt.timedelta(days=1)


def is_period_start(day: dt.date, kind: str) -> bool:
    return period_start(day, kind) == day
