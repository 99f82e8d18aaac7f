"""The calendar module: named periods, month stepping and day bounds in TIME_ZONE, and the
rule that it is the one place calendar maths lives (callers import it)."""

import ast
import datetime as dt
from pathlib import Path

import pytest

from periods import calendar

ROOT = Path(__file__).resolve().parents[2]
D = dt.date


@pytest.mark.parametrize(
    ("key", "first", "last"),
    [
        ("this_month", D(2026, 2, 1), D(2026, 2, 28)),
        ("last_month", D(2026, 1, 1), D(2026, 1, 31)),
        ("next_month", D(2026, 3, 1), D(2026, 3, 31)),
        ("this_quarter", D(2026, 1, 1), D(2026, 3, 31)),
        ("last_quarter", D(2025, 10, 1), D(2025, 12, 31)),
        ("next_quarter", D(2026, 4, 1), D(2026, 6, 30)),
        ("this_year", D(2026, 1, 1), D(2026, 12, 31)),
        ("last_year", D(2025, 1, 1), D(2025, 12, 31)),
    ],
)
def test_named_periods_around_today(key, first, last):
    assert calendar.named_period(key, today=D(2026, 2, 14)) == (first, last)


def test_an_unknown_name_is_no_period():
    assert calendar.named_period("next_century", today=D(2026, 2, 14)) is None


def test_months_step_across_years():
    assert calendar.add_months(D(2026, 1, 31), -1) == D(2025, 12, 1)
    assert calendar.add_months(D(2026, 11, 15), 14) == D(2028, 1, 1)


def test_the_bounds_and_their_message():
    assert (calendar.FIRST_DAY, calendar.LAST_DAY) == (D(1900, 1, 1), D(2200, 12, 31))
    assert calendar.BOUNDS_MESSAGE == "Dates run from 1 Jan 1900 to 31 Dec 2200."
    assert calendar.in_bounds(D(2200, 12, 31)) and not calendar.in_bounds(D(2201, 1, 1))


def test_days_begin_at_local_midnight(settings):
    settings.TIME_ZONE = "America/New_York"
    # 8 March 2026 is 23 hours long in New York: midnight EST (05:00 UTC) to midnight EDT.
    first, after = calendar.day_bounds(D(2026, 3, 8), D(2026, 3, 8))
    utc = dt.UTC
    assert first.astimezone(utc) == dt.datetime(2026, 3, 8, 5, tzinfo=utc)
    assert after.astimezone(utc) == dt.datetime(2026, 3, 9, 4, tzinfo=utc)
    assert calendar.end_of_day(D(2026, 3, 8)) == after


# Calendar maths that once lived in several modules; only periods/ may define them now.
CALENDAR_FUNCTIONS = {
    "add_months",
    "day_start",
    "day_bounds",
    "end_of_day",
    "period_start",
    "period_end",
    "period_range",
    "period_bounds",
    "quarter_start",
    "named_period",
}
APPS = ["accounts", "pipeline", "metrics", "salesperf", "api"]


def test_only_the_calendar_defines_calendar_maths():
    defined = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            for node in ast.parse(path.read_text()).body:  # module functions, not methods
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    if node.name.lstrip("_") in CALENDAR_FUNCTIONS:
                        defined.append(f"{path.relative_to(ROOT)}:{node.name}")
    assert defined == []


@pytest.mark.parametrize(
    "module",
    [
        "pipeline/filters.py",
        "metrics/kpis.py",
        "metrics/api.py",
        "metrics/targets.py",
        "metrics/dashboards/period_picker.py",
        "metrics/dashboards/trends.py",
    ],
)
def test_callers_import_the_calendar(module):
    tree = ast.parse((ROOT / module).read_text())
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported & {"periods", "periods.calendar"}


def test_a_range_is_cut_into_whole_periods_and_parts_of_months():
    # H1 is two quarters; 15 Jan..10 Feb 17 days of January and 10 of February;
    # 3 Nov 2025..10 Feb 2027: 28 days of Nov, December, the year 2026, January, 10 days
    assert calendar.range_pieces(D(2026, 1, 1), D(2026, 6, 30)) == [
        ("quarter", D(2026, 1, 1), 90),
        ("quarter", D(2026, 4, 1), 91),
    ]
    assert calendar.range_pieces(D(2026, 1, 15), D(2026, 2, 10)) == [
        ("month", D(2026, 1, 1), 17),
        ("month", D(2026, 2, 1), 10),
    ]
    assert calendar.range_pieces(D(2025, 11, 3), D(2027, 2, 10)) == [
        ("month", D(2025, 11, 1), 28),
        ("month", D(2025, 12, 1), 31),
        ("year", D(2026, 1, 1), 365),
        ("month", D(2027, 1, 1), 31),
        ("month", D(2027, 2, 1), 10),
    ]
