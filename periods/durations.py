"""Durations as wall-clock days in the project's TIME_ZONE, in Python and in SQL.

The rule (docs/kpis.md): the days from one moment to another are the difference of the two
local date-times, read off a clock on the wall in TIME_ZONE. 4 March 10:00 to 19 September
10:00 is 199 days in every zone, although in New York only 198 days and 23 hours elapse (the
clocks went forward in between). A sales manager counts days on a calendar, not hours.
"""

import datetime as dt
import zoneinfo
from typing import Any

from django.db.backends.signals import connection_created
from django.db.models import FloatField, Func, Value
from django.utils import timezone

SECONDS_PER_DAY = 86400


def wall_clock_days(start: dt.datetime, end: dt.datetime, tz: dt.tzinfo | None = None) -> float:
    """Days from `start` to `end` (aware datetimes) as the difference of their local
    date-times in `tz` (default: TIME_ZONE), fractions of a day kept."""
    tz = tz or timezone.get_default_timezone()
    local_start = start.astimezone(tz).replace(tzinfo=None)
    local_end = end.astimezone(tz).replace(tzinfo=None)
    return (local_end - local_start).total_seconds() / SECONDS_PER_DAY


class WallClockDays(Func):
    """SQL for wall_clock_days(start, end) in TIME_ZONE; the same double on PostgreSQL and
    SQLite (both take the exact microsecond difference and divide it by 86400 once)."""

    arity = 2
    output_field = FloatField()

    def as_postgresql(
        self, compiler: Any, connection: Any, **extra_context: Any
    ) -> tuple[str, tuple[Any, ...]]:
        # timestamptz AT TIME ZONE zone is the local date-time (a timestamp without zone);
        # the difference of two is an interval of whole days plus a clock time, and EXTRACT
        # counts its day as 86400 s, whatever the zone did that day.
        start_sql, start_params = compiler.compile(self.get_source_expressions()[0])
        end_sql, end_params = compiler.compile(self.get_source_expressions()[1])
        zone = timezone.get_default_timezone_name()
        local_end = f"(({end_sql}) AT TIME ZONE %s)"
        local_start = f"(({start_sql}) AT TIME ZONE %s)"
        seconds = f"EXTRACT(EPOCH FROM {local_end} - {local_start})"
        sql = f"(CAST({seconds} AS double precision) / 86400.0)"
        return sql, (*end_params, zone, *start_params, zone)

    def as_sql(  # type: ignore[override]
        self, compiler: Any, connection: Any, **extra_context: Any
    ) -> tuple[str, Any]:
        # SQLite (and the default): a Python function registered on every connection.
        start, end = self.get_source_expressions()
        clone = self.copy()
        clone.set_source_expressions(
            [
                start,
                end,
                Value(timezone.get_default_timezone_name()),
                Value(connection.timezone_name or "UTC"),
            ]
        )
        return Func.as_sql(
            clone, compiler, connection, function="SALESPERF_WALL_CLOCK_DAYS", **extra_context
        )


def _sqlite_wall_clock_days(
    start: str | None, end: str | None, tzname: str, conn_tzname: str
) -> float | None:
    """SQLite keeps datetimes as ISO text in the connection's zone (UTC)."""
    if start is None or end is None:
        return None
    conn_tz = zoneinfo.ZoneInfo(conn_tzname)
    return wall_clock_days(
        dt.datetime.fromisoformat(start).replace(tzinfo=conn_tz),
        dt.datetime.fromisoformat(end).replace(tzinfo=conn_tz),
        zoneinfo.ZoneInfo(tzname),
    )


def register_sqlite(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function(
            "SALESPERF_WALL_CLOCK_DAYS", 4, _sqlite_wall_clock_days, deterministic=True
        )


connection_created.connect(register_sqlite, dispatch_uid="periods.register_sqlite")
