"""Benchmark: every figure of the scale table, each beside its SQL floor, in one command.

    DATABASE_URL=postgres://…/bench python -m tests.benchmarks.scale --reuse --repeat 10
    DATABASE_URL=postgres://…/scratch python -m tests.benchmarks.scale --generator scale \
        --deals 1000000
    DATABASE_URL=sqlite:////tmp/bench100k.sqlite3 python -m tests.benchmarks.scale \
        --generator scale --deals 100000 --repeat 5

A report, not a test: it exits 0 whatever the figures (1 only when a request did not
answer 200). Migrates first (the summary tables are built by a migration: a minute on the
first run at 1M), builds the organisation the arguments ask for (tests/benchmarks/data.py)
into an EMPTY database, or with --reuse measures whatever is there, then prints the
database's size and one markdown table:

- the pages, each as the persona who uses it, through Django's test client (middleware,
  view, template; no network), as tests/benchmarks/pages.py does: one warm-up request,
  then p50 and p95 of --repeat requests and the queries of one;
- `GET /api/v1/kpis/` for the organisation, year to date, as the admin;
- the nightly snapshot of yesterday (every scope × month/quarter/year, kpi_snapshot_create)
  --repeat times;
- `snapshot_kpis --backfill` of the 36 month-ends up to last month's, once (--skip-backfill
  to leave it out).

The snapshot and the backfill write snapshot rows (upserts, as the nightly job does), and
a page's previous period reads its pipeline from the snapshot of that period's end when
there is one: the header says how many snapshot dates the database held before the run.

**SQL** is the request's own database time: every statement of one measured request,
recorded with a connection execute_wrapper (SQL and parameters exactly as Django sent them),
is run again on the backend's cursor and fetched, in a transaction rolled back afterwards
(so writes, the summary drain's included, leave nothing), and timed; the median of 3
replays (1 for the backfill). p50 / SQL is what the request costs beyond its SQL: Python,
ORM, templates, serialisation. **floor** is a hand-written floor where there is one: for
the snapshot tests/benchmarks/floor.py (the same figures in GROUP BYs over the raw rows,
checked equal to the app's first; PostgreSQL only), for the lists their page query alone
as tests/benchmarks/lists.py times it. For the dashboards and the API the page's own SQL is
its floor.

**Memory** is the worker's resident set (RSS: what a container or a worker's memory limit
counts, including libpq's and SQLite's result buffers, which tracemalloc does not see;
tracemalloc would also slow the timed requests several-fold). Before each row the
process is settled (gc, malloc_trim) and the kernel's high-water mark is reset to the
current RSS (`echo 5 > /proc/self/clear_refs`, Linux ≥ 4.0), so `peak RSS` is the highest
RSS while that row's measured requests ran and `+MB` its growth over the RSS before them:
what the request needs on top of a warm worker, whatever ran before it. Where the reset is
not available, peak RSS is getrusage's ru_maxrss (the process's peak so far: it only grows,
so a row shows growth only when it raised the peak).
"""

import argparse
import ctypes
import datetime as dt
import gc
import io
import logging
import os
import re
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesperf.settings")
# Keep the one connection for the whole run: a reconnect every minute (the default 60 s)
# would land in some request's time.
os.environ.setdefault("CONN_MAX_AGE", "3600")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import DatabaseError, connection, connections, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Team, User  # noqa: E402
from metrics.choices import PeriodKind  # noqa: E402
from metrics.models import KPISnapshot  # noqa: E402
from metrics.services import backfill_dates, kpi_snapshot_create  # noqa: E402
from periods.calendar import period_start  # noqa: E402
from pipeline.models import Deal, Lead, StageChange  # noqa: E402
from tests.benchmarks import data  # noqa: E402
from tests.benchmarks.floor import check_floor, snapshot_floor  # noqa: E402
from tests.benchmarks.lists import floor_ms as list_floor_ms  # noqa: E402
from tests.benchmarks.lists import p95  # noqa: E402

BACKFILL_MONTHS = 36
REPLAYS = 3
FLOOR_RUNS = 5
# The request's own transaction statements (SQLite's BEGIN IMMEDIATE, savepoints): the
# replay runs inside a transaction of its own.
TRANSACTION_CONTROL = re.compile(r"\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.I)


class NotOK(Exception):
    """A request answered something else than 200."""


# --- Statements of a request, and their replay ----------------------------------------------


@dataclass
class Statement:
    alias: str
    sql: str
    params: Any
    many: bool


@contextmanager
def recording() -> Iterator[list[Statement]]:
    """Record every statement sent on any database connection inside the block."""
    statements: list[Statement] = []

    def wrapper_for(alias: str) -> Callable:
        def wrapper(execute, sql, params, many, context):
            if many:
                params = list(params)  # executemany may get a generator: keep what it sent
            statements.append(Statement(alias, sql, params, many))
            return execute(sql, params, many, context)

        return wrapper

    with ExitStack() as stack:
        for alias in settings.DATABASES:
            stack.enter_context(connections[alias].execute_wrapper(wrapper_for(alias)))
        yield statements


def replay_ms(statements: list[Statement], rounds: int) -> tuple[float | None, str]:
    """The statements' own time: run again on the backend's cursor (no Django logging) and
    fetched, inside a transaction rolled back afterwards. The median of `rounds` replays."""
    aliases = sorted({s.alias for s in statements})
    errors = (DatabaseError, *{connections[alias].Database.Error for alias in aliases})
    totals = []
    try:
        for _ in range(rounds):
            total = 0.0
            with ExitStack() as stack:
                for alias in aliases:
                    stack.enter_context(transaction.atomic(using=alias))
                try:
                    for statement in statements:
                        if TRANSACTION_CONTROL.match(statement.sql):
                            continue  # ours is the transaction now
                        with connections[statement.alias].cursor() as wrapper:
                            raw = wrapper.cursor
                            started = time.perf_counter()
                            if statement.many:
                                raw.executemany(statement.sql, statement.params)
                            else:
                                raw.execute(statement.sql, statement.params)
                            if raw.description is not None:
                                raw.fetchall()
                            total += time.perf_counter() - started
                finally:
                    for alias in aliases:
                        transaction.set_rollback(True, using=alias)
            totals.append(total * 1000)
    except errors as error:
        return None, f"replay failed: {str(error).splitlines()[0]}"
    return statistics.median(totals), ""


# --- Memory ----------------------------------------------------------------------------------

try:
    _malloc_trim = ctypes.CDLL(None).malloc_trim
except (AttributeError, OSError):
    _malloc_trim = None


def _status_kb(name: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _maxrss_kb() -> int:
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value // 1024 if sys.platform == "darwin" else value  # bytes on macOS


def memory_start() -> tuple[int, bool]:
    """Settle the heap, reset the high-water mark; returns (RSS now in KB, reset worked)."""
    gc.collect()
    if _malloc_trim is not None:
        _malloc_trim(0)
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        reset = True
    except OSError:
        reset = False
    return _status_kb("VmRSS") or _maxrss_kb(), reset


def memory_peak(reset: bool) -> int:
    return (_status_kb("VmHWM") if reset else None) or _maxrss_kb()


# --- Rows ------------------------------------------------------------------------------------


@dataclass
class Row:
    what: str
    who: str = ""
    timings: list[float] = field(default_factory=list)
    queries: int | None = None
    sql: float | None = None
    floor: float | None = None
    peak_kb: int | None = None
    growth_kb: int | None = None
    notes: list[str] = field(default_factory=list)
    failed: bool = False


def measure(
    row: Row, action: Callable[[], None], repeat: int, *, warm: bool = True, replays: int = REPLAYS
) -> Row:
    """Time `action` `repeat` times, keep one run's statements, replay them, and track RSS."""
    try:
        if warm:
            action()
        before, reset = memory_start()
        for _ in range(repeat):
            with recording() as statements:
                started = time.perf_counter()
                action()
                row.timings.append((time.perf_counter() - started) * 1000)
        peak = memory_peak(reset)
    except NotOK as error:
        row.failed = True
        row.notes.append(str(error))
        print(f"  {row.what:<48} {row.who:<14} {error}", flush=True)
        return row
    row.peak_kb, row.growth_kb = peak, max(0, peak - before)
    row.queries = len(statements)  # the last run's
    row.sql, note = replay_ms(statements, replays)
    if note:
        row.notes.append(note)
    print(
        f"  {row.what:<48} {row.who:<14} p50 {statistics.median(row.timings):9.1f} ms  "
        f"{row.queries:5d} q  SQL {fmt(row.sql):>9} ms",
        flush=True,
    )
    return row


def get(client: Client, url: str) -> Callable[[], None]:
    def action() -> None:
        response = client.get(url)
        if response.status_code != 200:
            raise NotOK(f"{url}: HTTP {response.status_code}")

    return action


def client_for(user: User) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def median_ms(action: Callable[[], Any], runs: int) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def month_ends(today: dt.date, count: int) -> list[dt.date]:
    """The `count` month-ends up to the last one before today, as the backfill picks them."""
    last = period_start(today, PeriodKind.MONTH) - dt.timedelta(days=1)
    first = last.replace(day=1)
    for _ in range(count - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    dates = backfill_dates(first=first, last=last)
    assert len(dates) == count, dates
    return dates


# --- Output ----------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or not denominator:
        return "—"
    return f"{numerator / denominator:,.1f}×"


def print_table(rows: list[Row]) -> None:
    header = [
        "what",
        "as",
        "p50 ms",
        "p95 ms",
        "queries",
        "SQL ms",
        "p50/SQL",
        "floor ms",
        "p50/floor",
        "peak RSS MB",
        "+MB",
    ]
    lines = []
    for row in rows:
        p50 = statistics.median(row.timings) if row.timings else None
        lines.append(
            [
                row.what,
                row.who,
                fmt(p50),
                fmt(p95(row.timings) if row.timings else None),
                "—" if row.queries is None else f"{row.queries:,}",
                fmt(row.sql),
                ratio(p50, row.sql),
                fmt(row.floor),
                ratio(p50, row.floor),
                fmt(row.peak_kb / 1024 if row.peak_kb else None),
                fmt(row.growth_kb / 1024 if row.growth_kb is not None else None),
            ]
        )
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        padded = [
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    print(render(header))
    print(
        "|"
        + "|".join(("-" * (w + 1) + ":") if i >= 2 else "-" * (w + 2) for i, w in enumerate(widths))
        + "|"
    )
    for cells in lines:
        print(render(cells))
    for row in rows:
        for note in row.notes:
            print(f"note: {row.what}: {note}")


# --- Main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=30, help="Requests per row (default 30).")
    parser.add_argument("--reuse", action="store_true", help="Measure the data already there.")
    parser.add_argument(
        "--skip-backfill", action="store_true", help=f"Leave out the {BACKFILL_MONTHS} month-ends."
    )
    data.add_arguments(parser, scale_default=48)
    args = parser.parse_args()
    logging.getLogger("axes").setLevel(logging.WARNING)  # a line per force_login otherwise
    repeat = max(1, args.repeat)

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"migrate: {time.perf_counter() - started:.1f} s")
    if Deal.objects.exists() and not args.reuse:
        sys.exit("The database has data: point DATABASE_URL at a scratch database or --reuse.")
    if not Deal.objects.exists():
        data.load(args)

    manager, leaf, rep = data.personas()
    region = leaf.parent if leaf.parent is not None and leaf.parent.manager else None
    region = (
        region
        or Team.objects.filter(parent__isnull=True, manager__isnull=False).order_by("pk").first()
    )
    assert region is not None, "no region team with a manager"
    admin = (
        User.objects.filter(username="admin").first()
        or User.objects.filter(role="admin").order_by("pk").first()
    )
    assert admin is not None, "no admin"

    today = timezone.localdate()
    yesterday = today - dt.timedelta(days=1)
    year = period_start(today, PeriodKind.YEAR)
    teams, users = Team.objects.count(), User.objects.count()
    snapshot_dates = KPISnapshot.objects.values("date").distinct().count()
    print(
        f"{connection.vendor} {settings.DATABASES['default']['NAME']}: "
        f"{Deal.objects.count():,} deals, {Lead.objects.count():,} leads, "
        f"{StageChange.objects.count():,} stage changes, "
        f"{User.objects.filter(role='rep').count():,} reps ({users:,} users), {teams:,} teams; "
        f"{snapshot_dates} snapshot dates before this run; --repeat {repeat}; "
        f"personas: admin {admin.username}, region {region.manager.username} ({region}), "
        f"leaf {manager.username} ({leaf}), rep {rep.username}",
        flush=True,
    )

    rows: list[Row] = []
    pages = [
        ("`/org/` (quarter)", admin, reverse("metrics:org-dashboard"), None),
        ("`/org/?period=year`", admin, reverse("metrics:org-dashboard") + "?period=year", None),
        (
            f"`/teams/{region.pk}/` (region)",
            region.manager,
            reverse("metrics:team-dashboard", kwargs={"team_id": region.pk}),
            None,
        ),
        (
            f"`/teams/{leaf.pk}/?period=year` (leaf)",
            manager,
            reverse("metrics:team-dashboard", kwargs={"team_id": leaf.pk}) + "?period=year",
            None,
        ),
        ("`/me/` (quarter)", rep, reverse("metrics:my-performance"), None),
        (
            "`/deals/?sort=-amount`",
            manager,
            reverse("pipeline:deal-list") + "?sort=-amount",
            ("deals", {"sort": "-amount"}),
        ),
        ("`/leads/`", manager, reverse("pipeline:lead-list"), ("leads", {})),
        (
            "`GET /api/v1/kpis/` org, year to date",
            admin,
            f"/api/v1/kpis/?scope=org&start={year}&end={today}",
            None,
        ),
    ]
    for what, user, url, list_floor in pages:
        row = measure(Row(what, user.username), get(client_for(user), url), repeat)
        if list_floor is not None and not row.failed:
            kind, params = list_floor
            row.floor = list_floor_ms(kind, user, params, repeat)
        rows.append(row)

    row = measure(
        Row(f"snapshot of {yesterday} ({1 + teams + users} scopes × M/Q/Y)", "(job)"),
        lambda: kpi_snapshot_create(day=yesterday),
        repeat,
    )
    if connection.vendor == "postgresql":
        try:
            compared = check_floor(yesterday)
            row.notes.append(f"floor.py checked equal to the app on {compared} rows")
        except AssertionError as error:
            row.notes.append(f"floor.py differs from the app: {error}")
        row.floor = median_ms(lambda: snapshot_floor(yesterday), min(repeat, FLOOR_RUNS))
    else:
        row.notes.append("floor.py is PostgreSQL SQL: no floor on this database")
    rows.append(row)

    if not args.skip_backfill:
        dates = month_ends(today, BACKFILL_MONTHS)
        out = io.StringIO()

        def backfill() -> None:
            call_command(
                "snapshot_kpis",
                "--backfill",
                dates[0].isoformat(),
                "--date",
                dates[-1].isoformat(),
                stdout=out,
                stderr=io.StringIO(),
            )

        row = measure(
            Row(f"backfill of {len(dates)} month-ends ({dates[0]} … {dates[-1]})", "(command)"),
            backfill,
            1,
            warm=False,
            replays=1,
        )
        row.notes.append(out.getvalue().strip())
        rows.append(row)

    print()
    print_table(rows)
    failed = [row for row in rows if row.failed]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
