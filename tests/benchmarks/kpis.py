"""Benchmark: the nightly snapshot of one date and `kpis` calls, with their query counts.

    DATABASE_URL=postgres://…/scratch python -m tests.benchmarks.kpis --scale 48
    DATABASE_URL=postgres://…/scratch python -m tests.benchmarks.kpis --generator scale \
        --deals 1000000

Builds the demo organisation at the given scale (1 ≈ 2,000 deals, 48 ≈ 100,000), or with
--generator scale seed_scale's --deals, into an EMPTY database (it refuses one with data
unless --reuse), then prints wall time and SQL queries for each operation: best of
--repeat runs. A script, not a test: figures go to docs/performance.md.
"""

import argparse
import datetime as dt
import os
import statistics
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesperf.settings")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Team, User  # noqa: E402
from metrics.choices import PeriodKind  # noqa: E402
from metrics.kpis import end_of_day, kpis_by_team, kpis_by_user, kpis_for_scope  # noqa: E402
from metrics.services import kpi_snapshot_create  # noqa: E402
from periods.calendar import period_start  # noqa: E402
from pipeline.models import Deal, StageChange  # noqa: E402
from tests.benchmarks import data  # noqa: E402
from tests.benchmarks.floor import check_floor, snapshot_floor  # noqa: E402


def measure(label: str, action, repeat: int) -> float:
    timings, queries = [], 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            action()
            timings.append(time.perf_counter() - started)
        queries = len(captured)
    print(
        f"  {label:<46} best {min(timings) * 1000:8.1f} ms   "
        f"median {statistics.median(timings) * 1000:8.1f} ms   {queries:3d} queries"
    )
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="Use the data already there.")
    data.add_arguments(parser)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    if Deal.objects.exists() and not args.reuse:
        sys.exit("The database has data: point DATABASE_URL at a scratch database or --reuse.")
    if not Deal.objects.exists():
        data.load(args)

    today = timezone.localdate()
    yesterday = today - dt.timedelta(days=1)
    quarter = period_start(today, PeriodKind.QUARTER)
    year = period_start(today, PeriodKind.YEAR)
    as_of = timezone.now()
    team = Team.objects.filter(parent__isnull=True).first()
    rep = User.objects.filter(role="rep").first()
    admin = User.objects.filter(role="admin").order_by("pk").first()
    print(
        f"{connection.vendor}: {Deal.objects.count():,} deals, "
        f"{StageChange.objects.count():,} stage changes, {User.objects.count()} users, "
        f"{Team.objects.count()} teams"
    )

    app = measure(
        "snapshot of one date (all scopes, M/Q/Y)",
        lambda: kpi_snapshot_create(day=yesterday),
        max(1, args.repeat // 2),
    )
    if connection.vendor == "postgresql":
        compared = check_floor(yesterday)
        floor = measure(
            f"  its SQL floor (same figures, {compared} rows)",
            lambda: snapshot_floor(yesterday),
            max(1, args.repeat // 2),
        )
        print(f"  {'snapshot / floor':<46} {app / floor:8.2f}x")
    for label, start in [("quarter to date", quarter), ("year to date", year)]:
        measure(
            f"kpis org, {label}",
            lambda start=start: kpis_for_scope(
                kind="org", scope_id=None, start=start, end=today, as_of=as_of
            ),
            args.repeat,
        )
    measure(
        "kpis region team (with sub-teams), QTD",
        lambda: kpis_for_scope(
            kind="team", scope_id=team.pk, start=quarter, end=today, as_of=as_of
        ),
        args.repeat,
    )
    measure(
        "kpis one rep, QTD",
        lambda: kpis_for_scope(kind="user", scope_id=rep.pk, start=quarter, end=today, as_of=as_of),
        args.repeat,
    )
    user_ids = list(User.objects.values_list("pk", flat=True))
    measure(
        "kpis_by_user (every user), YTD",
        lambda: kpis_by_user(user_ids=user_ids, start=year, end=today, as_of=as_of),
        args.repeat,
    )
    measure(
        "kpis_by_team (every team), YTD",
        lambda: kpis_by_team(start=year, end=today, as_of=as_of),
        args.repeat,
    )
    measure(
        "kpis org, one past quarter as of its end",
        lambda: kpis_for_scope(
            kind="org",
            scope_id=None,
            start=dt.date(year.year - 1, 4, 1),
            end=dt.date(year.year - 1, 6, 30),
            as_of=end_of_day(dt.date(year.year - 1, 6, 30)),
        ),
        args.repeat,
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin)
    url = f"/api/v1/kpis/?scope=org&start={quarter}&end={today}"

    def api_call() -> None:
        response = client.get(url)
        assert response.status_code == 200, response.status_code

    measure("GET /api/v1/kpis/ org QTD (whole request)", api_call, args.repeat)


if __name__ == "__main__":
    main()
