"""Loading millions of generated rows fast: COPY on PostgreSQL, executemany on SQLite.

Rows arrive as tuples of strings (None, or the loader's `null`, for NULL) in the columns'
order given, with explicit ids. Everything happens inside the caller's transaction, so a
failed load leaves nothing behind.

On PostgreSQL the tables' secondary indexes and foreign keys are dropped before the load
and rebuilt after it: building a B-tree once from sorted data, and checking a foreign key
with one join, is several times cheaper than maintaining them row by row (PostgreSQL's own
advice for bulk loading, "Populating a Database"). The user trigger of pipeline_deal
(closed_at matches the stage, pipeline/db_rules.py) is disabled for the load and its rule
checked afterwards with one set-based query, which refuses the whole load if a row breaks
it. CHECK constraints, primary keys and unique constraints stay in place and check every
row as it arrives. ALTER TABLE locks the tables until the transaction ends: this is for a
scratch or empty database, not a live one.
"""

import time
from collections.abc import Iterable, Sequence

from django.core.management.color import no_style
from django.db import connection
from django.db.models import Model

from metrics import summary

Row = Sequence[str | None]

# Tables whose only triggers record summary changes (the load requests a rebuild instead).
_SUMMARY_ONLY_TRIGGERS = {"pipeline_lead", "pipeline_stagechange"}

# The rule of pipeline_deal's trigger, for the whole table at once.
_DEAL_RULE_BROKEN = """
    SELECT d.id FROM pipeline_deal d JOIN pipeline_stage s ON s.id = d.stage_id
    WHERE (s.kind IN ('won', 'lost')) IS DISTINCT FROM (d.closed_at IS NOT NULL)
    LIMIT 1
"""


class BulkLoadError(Exception):
    """The loaded rows break a rule the database checks; the transaction must roll back."""


class BulkLoader:
    """Writes rows of several tables; `prepare` before the first row, `finish` after the
    last. Timings of each step are kept in `timings` (seconds)."""

    null: str | None = None

    def __init__(self, models: Sequence[type[Model]]) -> None:
        self.models = list(models)
        self.timings: dict[str, float] = {}

    def _timed(self, label: str, started: float) -> None:
        self.timings[label] = self.timings.get(label, 0.0) + time.perf_counter() - started

    def prepare(self) -> None:
        pass

    def write(self, model: type[Model], columns: Sequence[str], rows: Iterable[Row]) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        started = time.perf_counter()
        if {"pipeline_deal", "pipeline_lead"} & {m._meta.db_table for m in self.models}:
            # Written with the summary triggers off (PostgreSQL) or too many to drain one by
            # one: the next read rebuilds the summary once.
            summary.request_rebuild()
        statements = connection.ops.sequence_reset_sql(no_style(), self.models)
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        self._timed("sequences", started)


class SqliteLoader(BulkLoader):
    """executemany in batches; foreign keys are checked at commit (they are deferred)."""

    BATCH = 5_000

    def write(self, model: type[Model], columns: Sequence[str], rows: Iterable[Row]) -> None:
        started = time.perf_counter()
        table = model._meta.db_table
        marks = ", ".join("?" for _ in columns)
        sql = f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({marks})'
        connection.ensure_connection()
        cursor = connection.connection.cursor()
        batch: list[Row] = []
        for row in rows:
            batch.append(row)
            if len(batch) == self.BATCH:
                cursor.executemany(sql, batch)
                batch.clear()
        if batch:
            cursor.executemany(sql, batch)
        cursor.close()
        self._timed("insert", started)


class PostgresLoader(BulkLoader):
    """COPY … FROM STDIN in text format, with indexes and foreign keys rebuilt after."""

    null = "\\N"

    def __init__(self, models: Sequence[type[Model]]) -> None:
        super().__init__(models)
        self.indexes: list[str] = []
        self.foreign_keys: list[tuple[str, str, str]] = []

    def _tables(self) -> list[str]:
        return [model._meta.db_table for model in self.models]

    def prepare(self) -> None:
        started = time.perf_counter()
        tables = self._tables()
        with connection.cursor() as cursor:
            # Django's sessions are in UTC already; the rows' timestamps are UTC text.
            cursor.execute("SET LOCAL TIME ZONE 'UTC'")
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            cursor.execute("SET LOCAL synchronous_commit = off")
            # Check the deferred foreign keys of rows written so far (the people) now: a
            # table with pending trigger events cannot be altered.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(
                """
                SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
                FROM pg_constraint c
                WHERE c.contype = 'f' AND c.conrelid::regclass::text = ANY(%s)
                ORDER BY 1, 2
                """,
                [tables],
            )
            self.foreign_keys = list(cursor.fetchall())
            # Indexes that back no primary key or unique constraint (those stay).
            cursor.execute(
                """
                SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
                FROM pg_index i
                WHERE i.indrelid::regclass::text = ANY(%s)
                  AND NOT EXISTS (
                      SELECT 1 FROM pg_constraint c
                      WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x')
                  )
                ORDER BY 1
                """,
                [tables],
            )
            indexes = list(cursor.fetchall())
            self.indexes = [definition for _, definition in indexes]
            for table, name, _ in self.foreign_keys:
                cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            for name, _ in indexes:
                cursor.execute(f"DROP INDEX {name}")
            if "pipeline_deal" in tables:
                cursor.execute("ALTER TABLE pipeline_deal DISABLE TRIGGER USER")
            for table in _SUMMARY_ONLY_TRIGGERS & set(tables):
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        self._timed("drop indexes", started)

    def write(self, model: type[Model], columns: Sequence[str], rows: Iterable[Row]) -> None:
        started = time.perf_counter()
        table = model._meta.db_table
        text = "".join(["\t".join(row) + "\n" for row in rows])  # type: ignore[arg-type]
        if not text:
            return
        connection.ensure_connection()
        with connection.connection.cursor() as cursor:
            with cursor.copy(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN') as copy:
                copy.write(text)
        self._timed("copy", started)

    def finish(self) -> None:
        tables = self._tables()
        with connection.cursor() as cursor:
            started = time.perf_counter()
            for definition in self.indexes:
                cursor.execute(definition)
            self._timed("indexes", started)
            started = time.perf_counter()
            for table, name, definition in self.foreign_keys:
                cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            self._timed("foreign keys", started)
            broken = None
            if "pipeline_deal" in tables:
                started = time.perf_counter()
                cursor.execute(_DEAL_RULE_BROKEN)
                broken = cursor.fetchone()
                cursor.execute("ALTER TABLE pipeline_deal ENABLE TRIGGER USER")
                self._timed("deal rule", started)
            for table in _SUMMARY_ONLY_TRIGGERS & set(tables):
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            if broken is not None:
                raise BulkLoadError(
                    f"deal {broken[0]}: closed_at must be set exactly when the stage is won or lost"
                )
        super().finish()
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"ANALYZE {table}")
        self._timed("analyze", started)


def loader_for_connection(models: Sequence[type[Model]]) -> BulkLoader:
    if connection.vendor == "postgresql":
        return PostgresLoader(models)
    if connection.vendor == "sqlite":
        return SqliteLoader(models)
    raise NotImplementedError(f"no bulk loader for the {connection.vendor} backend")
