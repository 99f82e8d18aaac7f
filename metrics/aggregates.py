"""SQL building blocks the KPIs need that Django lacks, on PostgreSQL and SQLite alike."""

import math
import statistics

from django.db.backends.signals import connection_created
from django.db.models import Aggregate, BigIntegerField, FloatField, Func


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


class Mean(Aggregate):
    """The mean, the same whatever order the rows are summed in: over exact numerics on
    PostgreSQL, with a correctly rounded sum (math.fsum) on SQLite. A float AVG differs in
    its last bits between plans (a parallel scan, another index), and a figure computed
    from the summary must equal the one computed from the raw rows."""

    name = "Mean"
    function = "AVG"
    template = "%(function)s(CAST(%(expressions)s AS numeric))"
    output_field = FloatField()
    allow_distinct = False
    empty_result_set_value = None

    def as_sqlite(self, compiler, connection, **extra_context):
        clone = self.copy()
        clone.function = "SALESPERF_MEAN"
        clone.template = "%(function)s(%(expressions)s)"
        return super(Mean, clone).as_sql(compiler, connection, **extra_context)


class Cents(Func):
    """An amount (2 decimals) as a whole number of cents, so that sums and products of money
    are exact integers on every database: SQLite keeps a decimal as a float (or an integer
    when whole, where integer division drops the cents), PostgreSQL as a numeric. ROUND
    only removes a float's last-bit error; an amount has no fraction of a cent to round."""

    arity = 1
    output_field = BigIntegerField()

    def as_sql(self, compiler, connection, **extra_context):
        return super().as_sql(
            compiler, connection, template="CAST(ROUND(%(expressions)s * 100) AS BIGINT)"
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(
            compiler, connection, template="CAST(ROUND(%(expressions)s * 100) AS INTEGER)"
        )


class _SQLiteMedian:
    def __init__(self) -> None:
        self.values: list[float] = []

    def step(self, value) -> None:
        if value is not None:
            self.values.append(value)

    def finalize(self) -> float | None:
        return statistics.median(self.values) if self.values else None


class _SQLiteMean(_SQLiteMedian):
    def finalize(self) -> float | None:
        return math.fsum(self.values) / len(self.values) if self.values else None


def register_sqlite(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate("SALESPERF_MEDIAN", 1, _SQLiteMedian)
        connection.connection.create_aggregate("SALESPERF_MEAN", 1, _SQLiteMean)


connection_created.connect(register_sqlite, dispatch_uid="metrics.register_sqlite")
