"""Loading millions of generated rows fast: COPY on PostgreSQL, executemany on SQLite.

Rows arrive as tuples of strings (None, or the loader's `null`, for NULL) in the columns'
order given, with explicit ids. Every row is written and checked inside the caller's
transaction, so a failed load leaves nothing behind.

On PostgreSQL the tables' secondary indexes and foreign keys are dropped before the load
and rebuilt after it: building a B-tree once from sorted data, and checking a foreign key
with one join, is several times cheaper than maintaining them row by row (PostgreSQL's own
advice for bulk loading, "Populating a Database"). The COPYs run on a thread of their own,
so the caller generates the next chunk while the server stores the last. The user trigger
of pipeline_deal (closed_at matches the stage, pipeline/db_rules.py) is disabled for the
load and its rule checked afterwards with one set-based query, which refuses the whole load
if a row breaks it. CHECK constraints, primary keys and unique constraints stay in place and
check every row as it arrives; the dropped unique indexes and the foreign keys are rebuilt,
checking every row, before the caller commits (but see `defer_indexes`). ALTER TABLE locks
the tables until the transaction ends: this is for a scratch or empty database, not a live
one.

With `defer_indexes` (seed_scale outside a transaction) the transaction commits the rows
with every rule in force for new writes (triggers on, unique indexes built, the deal rule
checked, foreign keys added NOT VALID) and, as PendingLoadStep rows, what it did not do: the
other indexes, which only make reads fast, the foreign keys' check of the loaded rows
(VALIDATE CONSTRAINT) and the ANALYZEs. After the commit `run_pending_load_steps` runs them
on several connections at once (one per core: a trigram index builds on one core only, and
at 1M deals the index builds were two thirds of the load). Each runs in the transaction
that deletes its row, so a kill leaves exactly the rows of what is missing: a database with
every row and trigger in place whose lists are slower, which `seed_scale --finish` (or any
later `seed_scale`) completes, and `manage.py migrate` refuses (demo/checks.py) until then.
"""

import queue
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.management.color import no_style
from django.db import connection, connections, transaction
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


class _Copier:
    """Sends COPYs from a thread of its own, so that the caller generates the next chunk
    while PostgreSQL parses and stores the last one (on the other core). The caller must
    not use the connection until `wait()` returned; the first error is raised there or at
    the next `put()`."""

    def __init__(self, raw_connection: Any) -> None:
        self.raw_connection = raw_connection
        # Two chunks in flight at most: memory stays that of a few chunks' text.
        self.queue: queue.Queue[tuple[str, str, str] | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.seconds = 0.0
        self.thread = threading.Thread(target=self._run, name="bulk-load-copy", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is None:  # after a failure, drain what is queued; the caller raises
                table, columns, text = item
                started = time.perf_counter()
                try:
                    with self.raw_connection.cursor() as cursor:
                        with cursor.copy(f'COPY "{table}" ({columns}) FROM STDIN') as copy:
                            copy.write(text)
                except BaseException as error:  # handed to the caller's thread
                    self.error = error
                self.seconds += time.perf_counter() - started
            self.queue.task_done()
        self.queue.task_done()

    def _raise(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def put(self, table: str, columns: str, text: str) -> None:
        self._raise()
        self.queue.put((table, columns, text))

    def wait(self) -> None:
        """Block until every queued COPY is done."""
        self.queue.join()
        self._raise()

    def close(self) -> None:
        """Wait, and end the thread."""
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()
        self._raise()


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

    def wait(self) -> None:
        """Block until every row written so far is in the database (the caller may use the
        connection again); raise the load's first error."""

    def stop(self) -> None:
        """After a failure of the caller: end the load's work, raising nothing."""

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

    def __init__(self, models: Sequence[type[Model]], *, defer_indexes: bool = False) -> None:
        super().__init__(models)
        self.defer_indexes = defer_indexes
        # (table, name, definition, unique) of every dropped index.
        self.indexes: list[tuple[str, str, str, bool]] = []
        self.foreign_keys: list[tuple[str, str, str]] = []
        self.index_seconds: dict[str, float] = {}
        self._copier: _Copier | None = None

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
                SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text,
                       pg_get_indexdef(i.indexrelid), i.indisunique
                FROM pg_index i
                WHERE i.indrelid::regclass::text = ANY(%s)
                  AND NOT EXISTS (
                      SELECT 1 FROM pg_constraint c
                      WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x')
                  )
                ORDER BY 2
                """,
                [tables],
            )
            self.indexes = list(cursor.fetchall())
            for table, name, _ in self.foreign_keys:
                cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            for _, name, _, _ in self.indexes:
                cursor.execute(f"DROP INDEX {name}")
            if "pipeline_deal" in tables:
                cursor.execute("ALTER TABLE pipeline_deal DISABLE TRIGGER USER")
            for table in _SUMMARY_ONLY_TRIGGERS & set(tables):
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        self._copier = _Copier(connection.connection)
        self._timed("drop indexes", started)

    def write(self, model: type[Model], columns: Sequence[str], rows: Iterable[Row]) -> None:
        assert self._copier is not None, "prepare() first"
        started = time.perf_counter()
        text = "".join(["\t".join(row) + "\n" for row in rows])  # type: ignore[arg-type]
        self._timed("copy text", started)
        if text:
            started = time.perf_counter()
            self._copier.put(model._meta.db_table, ", ".join(columns), text)
            self._timed("copy wait", started)

    def wait(self) -> None:
        if self._copier is not None:
            started = time.perf_counter()
            self._copier.wait()
            self._timed("copy wait", started)
            self.timings["copy"] = self._copier.seconds

    def stop(self) -> None:
        if self._copier is not None:
            try:
                self._copier.close()
            except Exception:  # the caller's own error is the one to report
                pass

    def finish(self) -> None:
        self.wait()
        assert self._copier is not None
        self._copier.close()
        tables = self._tables()
        # Unique indexes are rules, not speed: built before the rows are committed.
        inline = [index for index in self.indexes if index[3] or not self.defer_indexes]
        with connection.cursor() as cursor:
            started = time.perf_counter()
            for _, name, definition, _ in inline:
                one = time.perf_counter()
                cursor.execute(definition)
                self.index_seconds[name] = time.perf_counter() - one
            self._timed("indexes" if not self.defer_indexes else "unique indexes", started)
            started = time.perf_counter()
            # Deferred: NOT VALID, which enforces every new write at once; the loaded rows'
            # check (a join per key, ~9 s at 1M deals on one core) waits for the commit.
            not_valid = " NOT VALID" if self.defer_indexes else ""
            for table, name, definition in self.foreign_keys:
                cursor.execute(
                    f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}{not_valid}'
                )
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
        if self.defer_indexes:
            self._record_pending_steps([index for index in self.indexes if not index[3]])
            return
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"ANALYZE {table}")
        self._timed("analyze", started)

    def _record_pending_steps(self, indexes: list[tuple[str, str, str, bool]]) -> None:
        """The speed indexes, the foreign keys' check of the loaded rows and the ANALYZEs,
        as PendingLoadStep rows committed with the rows: the trigram (GIN) indexes first, as
        PostgreSQL builds each on one core only, then the largest tables' B-trees, so that
        the connections finish together; a VALIDATE or ANALYZE waits for the builds on its
        table (their locks conflict)."""
        from .models import PendingLoadStep

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT relname, pg_relation_size(oid) FROM pg_class WHERE relname = ANY(%s)",
                [self._tables()],
            )
            size = dict(cursor.fetchall())
        order = sorted(
            indexes, key=lambda index: (" USING gin " not in index[2], -size.get(index[0], 0))
        )
        steps = [
            PendingLoadStep(table=table, index=name, statement=definition)
            for table, name, definition, _ in order
        ]
        steps += [
            PendingLoadStep(
                table=table, statement=f'ALTER TABLE {table} VALIDATE CONSTRAINT "{name}"'
            )
            for table, name, _ in self.foreign_keys
        ]
        steps += [
            PendingLoadStep(table=table, statement=f"ANALYZE {table}") for table in self._tables()
        ]
        PendingLoadStep.objects.bulk_create(steps)


def pending_load_steps() -> int:
    """How many statements committed bulk loads still owe (0 when every load finished)."""
    from .models import PendingLoadStep

    return PendingLoadStep.objects.count()


def run_pending_load_steps(*, connection_count: int) -> dict[str, float]:
    """Run what committed bulk loads still owe (PendingLoadStep), on `connection_count`
    connections at once, each step in its own transaction with its row's deletion; returns
    seconds per step. Outside any transaction. Safe to run twice at once (a step is taken
    with SKIP LOCKED) and after a kill (a step's index is built and its row deleted in one
    transaction, so a killed step left neither). The first error stops every connection
    after its current step and is raised."""
    if connection.in_atomic_block:
        raise RuntimeError("run_pending_load_steps needs its own transactions")
    seconds: dict[str, float] = {}
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while not errors and (step := _run_one_step()) is not None:
                seconds[step[0]] = step[1]
        except BaseException as error:  # raised by the calling thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(max(1, connection_count))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return seconds


def _run_one_step() -> tuple[str, float] | None:
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT id, "index", statement FROM demo_pendingloadstep
            ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
            """
        )
        row = cursor.fetchone()
        if row is None:
            return None
        step_id, index, statement = row
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        # The connections are the parallelism: one backend per core sorts alone, which
        # measured faster than each B-tree build also starting parallel workers (2 cores:
        # 103 s against 110-125 s for the whole set at 1M deals).
        cursor.execute("SET LOCAL max_parallel_maintenance_workers = 0")
        # A crash may lose the last steps' commits, and so both their index and the
        # deletion of their row: what is left is still listed.
        cursor.execute("SET LOCAL synchronous_commit = off")
        exists = False
        if index:
            # An index that exists already (built by hand, say) is not built twice.
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [index])
            exists = cursor.fetchone()[0]
        if not exists:
            cursor.execute(statement)
        cursor.execute("DELETE FROM demo_pendingloadstep WHERE id = %s", [step_id])
    return index or statement, time.perf_counter() - started


def loader_for_connection(
    models: Sequence[type[Model]], *, defer_indexes: bool = False
) -> BulkLoader:
    """The loader of the default connection's database. `defer_indexes` (PostgreSQL): leave
    the secondary non-unique indexes and the ANALYZEs to `run_pending_load_steps`, after
    the caller committed."""
    if connection.vendor == "postgresql":
        return PostgresLoader(models, defer_indexes=defer_indexes)
    if connection.vendor == "sqlite":
        return SqliteLoader(models)
    raise NotImplementedError(f"no bulk loader for the {connection.vendor} backend")
