"""SQL building blocks the KPIs need that Django lacks, on PostgreSQL and SQLite alike."""

import statistics

from django.db.backends.signals import connection_created
from django.db.models import Aggregate, FloatField, Func


class Median(Aggregate):
    """The median (percentile_cont 0.5: the mean of the two middle values when even)."""

    name = "Median"
    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()
    allow_distinct = False
    empty_result_set_value = None

    def as_sqlite(self, compiler, connection, **extra_context):
        # A Python aggregate registered on every SQLite connection (see register_sqlite).
        clone = self.copy()
        clone.function = "SALESPERF_MEDIAN"
        clone.template = "%(function)s(%(distinct)s%(expressions)s)"
        return super(Median, clone).as_sql(compiler, connection, **extra_context)


class DaysBetween(Func):
    """Days from `start` to `end` as a decimal number (fractions of a day kept)."""

    arity = 2
    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra_context):
        template = "CAST(EXTRACT(EPOCH FROM (%(expressions)s)) AS double precision) / 86400.0"
        return self.as_sql(
            compiler,
            connection,
            template=template,
            arg_joiner=" - ",
            **extra_context,
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        # SQLite keeps datetimes as ISO text; julianday() turns them into day numbers.
        return self.as_sql(
            compiler,
            connection,
            template="(JULIANDAY(%(expressions)s))",
            arg_joiner=") - JULIANDAY(",
            **extra_context,
        )

    def as_sql(self, compiler, connection, **extra_context):
        # PostgreSQL and SQLite want end - start; the arguments come as (start, end).
        start, end = self.get_source_expressions()
        clone = self.copy()
        clone.set_source_expressions([end, start])
        return Func.as_sql(clone, compiler, connection, **extra_context)


class _SQLiteMedian:
    def __init__(self) -> None:
        self.values: list[float] = []

    def step(self, value) -> None:
        if value is not None:
            self.values.append(value)

    def finalize(self) -> float | None:
        return statistics.median(self.values) if self.values else None


def register_sqlite(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate("SALESPERF_MEDIAN", 1, _SQLiteMedian)


connection_created.connect(register_sqlite, dispatch_uid="metrics.register_sqlite")
