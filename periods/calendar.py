"""Calendar periods (month, quarter, year) as inclusive date ranges, and the days the
product accepts at all."""

import datetime as dt

from django.utils import timezone

from .choices import PeriodKind

# Every date a person or a client may enter, on pages, in the API and in imports: far enough
# for any sales history or plan, and clear of the calendar's ends, where a period's end or
# a midnight in another time zone does not exist.
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2200, 12, 31)


# What a page says when a date falls outside them.
BOUNDS_MESSAGE = (
    f"Dates run from {FIRST_DAY.day} {FIRST_DAY:%b %Y} to {LAST_DAY.day} {LAST_DAY:%b %Y}."
)


def in_bounds(day: dt.date) -> bool:
    return FIRST_DAY <= day <= LAST_DAY


def day_start(day: dt.date) -> dt.datetime:
    """Midnight at the start of `day` in the project's TIME_ZONE (an aware datetime)."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_default_timezone())


def day_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[first instant of `start`, first instant after `end`) in the project's TIME_ZONE:
    the instants of the calendar days start..end, both inclusive."""
    return day_start(start), day_start(end + dt.timedelta(days=1))


def end_of_day(day: dt.date) -> dt.datetime:
    """The first instant after `day`: the as_of of a snapshot taken for that day."""
    return day_start(day + dt.timedelta(days=1))


def add_months(day: dt.date, months: int) -> dt.date:
    """The first of the month `months` after (or before, when negative) the month of `day`."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


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
    return add_months(start, months) - dt.timedelta(days=1)


def is_period_start(day: dt.date, kind: str) -> bool:
    return period_start(day, kind) == day


KINDS_FINEST_FIRST = [PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR]
CHILD_KIND = {PeriodKind.YEAR: PeriodKind.QUARTER, PeriodKind.QUARTER: PeriodKind.MONTH}


def enclosing_period(start: dt.date, end: dt.date) -> tuple[str, dt.date] | None:
    """The smallest calendar period that begins on `start` and contains `end`, if any:
    Nov 1..Nov 23 is November, Oct 1..Nov 23 the fourth quarter, Jan 1..Nov 23 the year."""
    for kind in KINDS_FINEST_FIRST:
        if is_period_start(start, kind) and end <= period_end(start, kind):
            return kind, start
    return None


def child_periods(kind: str, start: dt.date) -> list[tuple[str, dt.date]]:
    """The quarters of a year or the months of a quarter; nothing for a month."""
    child = CHILD_KIND.get(PeriodKind(kind))
    if child is None:
        return []
    periods: list[tuple[str, dt.date]] = []
    day, end = start, period_end(start, kind)
    while day <= end:
        periods.append((child, day))
        day = period_end(day, child) + dt.timedelta(days=1)
    return periods


PARENT_KIND = {PeriodKind.MONTH: PeriodKind.QUARTER, PeriodKind.QUARTER: PeriodKind.YEAR}


def parent_period(kind: str, start: dt.date) -> tuple[str, dt.date] | None:
    """The quarter of a month or the year of a quarter; nothing for a year."""
    parent = PARENT_KIND.get(PeriodKind(kind))
    return None if parent is None else (parent, period_start(start, parent))


def period_days(kind: str, start: dt.date) -> int:
    return (period_end(start, kind) - start).days + 1


def range_pieces(start: dt.date, end: dt.date) -> list[tuple[str, dt.date, int]]:
    """start..end cut into the largest whole calendar periods it holds and, at its edges,
    parts of months: (kind, first day of the period, days of it inside the range).
    1 Jan..30 Jun is Q1 and Q2; 15 Jan..10 Feb is 17 days of January and 10 of February."""
    pieces: list[tuple[str, dt.date, int]] = []
    day = start
    while day <= end:
        for kind in reversed(KINDS_FINEST_FIRST):
            if is_period_start(day, kind) and period_end(day, kind) <= end:
                pieces.append((kind, day, period_days(kind, day)))
                day = period_end(day, kind) + dt.timedelta(days=1)
                break
        else:
            last = min(end, period_end(period_start(day, PeriodKind.MONTH), PeriodKind.MONTH))
            pieces.append(
                (PeriodKind.MONTH, period_start(day, PeriodKind.MONTH), (last - day).days + 1)
            )
            day = last + dt.timedelta(days=1)
    return pieces


# Periods named relative to today, as list filters offer them ("closing next quarter").
NAMED_PERIODS = {
    "this_month": (PeriodKind.MONTH, 0),
    "last_month": (PeriodKind.MONTH, -1),
    "next_month": (PeriodKind.MONTH, 1),
    "this_quarter": (PeriodKind.QUARTER, 0),
    "last_quarter": (PeriodKind.QUARTER, -1),
    "next_quarter": (PeriodKind.QUARTER, 1),
    "this_year": (PeriodKind.YEAR, 0),
    "last_year": (PeriodKind.YEAR, -1),
}
_MONTHS = {PeriodKind.MONTH: 1, PeriodKind.QUARTER: 3, PeriodKind.YEAR: 12}


def named_period(key: str, *, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """The calendar days, first and last inclusive, of a named period around `today`
    ("last_quarter"); None for a name not in NAMED_PERIODS."""
    if key not in NAMED_PERIODS:
        return None
    kind, offset = NAMED_PERIODS[key]
    start = add_months(period_start(today, kind), offset * _MONTHS[kind])
    return start, period_end(start, kind)
