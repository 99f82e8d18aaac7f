"""Benchmark: the deal and lead lists at every offered sort and the main filters, per persona.

    DATABASE_URL=postgres://…/lists1m python -m tests.benchmarks.lists --reuse
    DATABASE_URL=postgres://…/scratch python -m tests.benchmarks.lists --generator scale \
        --deals 1000000

Requests /deals/ and /leads/ as a rep, a leaf team's manager, a region's manager and the
admin through Django's test client (middleware, view, template; no network), --repeat
times each, and prints p50 and p95, the query count, and the SQL floor: the page's own
query (the FilterSet's rows, sorted, one page of them) built from the same parameters and
timed alone on a cursor (its median). The budget is a p95 of 150 ms; the script exits 1
when a list is over it (--json FILE also writes every row, to compare two runs).
"""

import argparse
import json
import math
import os
import statistics
import sys
import time
from urllib.parse import urlencode

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesperf.settings")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, RequestFactory  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402

from accounts.models import Team, User  # noqa: E402
from pipeline.filters import DEAL_COLUMNS, LEAD_COLUMNS, DealFilter, LeadFilter  # noqa: E402
from pipeline.models import Company, Deal, Lead, LeadSource, Stage  # noqa: E402
from pipeline.selectors import deal_list_for, lead_list_for  # noqa: E402
from tests.benchmarks import data  # noqa: E402

BUDGET_MS = 150
PAGE_SIZE = 25  # pipeline.views.PAGE_SIZE


def personas() -> list[tuple[str, User]]:
    manager, team, rep = data.personas()
    region = (
        Team.objects.filter(parent__isnull=True, manager__isnull=False)
        .exclude(pk=team.parent_id or 0)
        .order_by("pk")
        .first()
        or team.parent
    )
    people = [("rep", rep), ("manager", manager)]
    if region is not None and region.manager is not None:
        people.append(("region", region.manager))
    people.append(("admin", User.objects.get(username="admin")))
    return people


def _sorts(columns) -> list[dict]:
    cases: list[dict] = [{}]
    for column in columns:
        cases += [{"sort": column.key}, {"sort": f"-{column.key}"}]
    return cases


def deal_cases(rep: User) -> list[dict]:
    stage = Stage.objects.filter(pipeline__is_default=True, kind="open").order_by("order").first()
    company = Company.objects.filter(deals__owner=rep).order_by("pk").first()
    fragment = company.name.split()[0][:5] if company else "a"
    return [
        *_sorts(DEAL_COLUMNS),
        {"status": "open"},
        {"status": "won", "sort": "-closed_at"},
        {"status": "lost", "sort": "-amount"},
        {"stage": stage.pk if stage else 1},
        {"owner": rep.pk},
        {"company_name": fragment},
        {"q": fragment},
        {"period": "this_quarter"},
        {"created_after": "2026-01-01", "created_before": "2026-03-31"},
        {"closed_after": "2026-06-01", "closed_before": "2026-06-30", "sort": "-amount"},
        {"page": 40},
        {"page": 400},
    ]


def lead_cases(rep: User) -> list[dict]:
    source = LeadSource.objects.order_by("pk").first()
    lead = Lead.objects.filter(owner=rep).select_related("company").order_by("pk").first()
    fragment = lead.company.name.split()[0][:5] if lead else "a"
    return [
        *_sorts(LEAD_COLUMNS),
        {"status": "working"},
        {"status": "converted", "sort": "-converted_at"},
        {"source": source.pk if source else 1},
        {"owner": rep.pk},
        {"company_name": fragment},
        {"q": fragment},
        {"created_after": "2026-01-01", "created_before": "2026-03-31"},
        {"page": 40},
        {"page": 400},
    ]


def floor_ms(kind: str, user: User, params: dict, repeat: int) -> float:
    """The page's rows alone: the FilterSet's query, one page, on a cursor."""
    request = RequestFactory().get("/", params)
    request.user = user
    if kind == "deals":
        rows = DealFilter(request.GET, queryset=deal_list_for(user=user), request=request).qs
    else:
        rows = LeadFilter(request.GET, queryset=lead_list_for(user=user), request=request).qs
    start = (int(params.get("page", 1)) - 1) * PAGE_SIZE
    sql, sql_params = rows[start : start + PAGE_SIZE].query.sql_with_params()
    timings = []
    with connection.cursor() as cursor:
        for _ in range(max(3, repeat // 3)):
            started = time.perf_counter()
            cursor.execute(sql, sql_params)
            cursor.fetchall()
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def p95(timings: list[float]) -> float:
    ordered = sorted(timings)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--only", choices=["deals", "leads"], help="one list only")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument(
        "--match",
        action="append",
        default=[],
        metavar="TEXT",
        help="only the queries containing TEXT (repeatable: any of them), e.g. sort=-owner",
    )
    data.add_arguments(parser)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    if Deal.objects.exists() and not args.reuse:
        sys.exit("The database has data: point DATABASE_URL at a scratch database or --reuse.")
    if not Deal.objects.exists():
        data.load(args)
    people = personas()
    rep = people[0][1]
    print(f"{connection.vendor}: {Deal.objects.count():,} deals, {Lead.objects.count():,} leads")
    print("personas: " + ", ".join(f"{label} {user.username}" for label, user in people))
    lists = [("deals", "pipeline:deal-list", deal_cases(rep))]
    lists.append(("leads", "pipeline:lead-list", lead_cases(rep)))
    rows, over = [], 0
    for kind, name, cases in lists:
        if args.only and kind != args.only:
            continue
        for label, user in people:
            client = Client(HTTP_HOST="localhost")
            client.force_login(user)
            for params in cases:
                query = urlencode(params)
                if args.match and not any(text in (query or "(default)") for text in args.match):
                    continue
                url = reverse(name) + (f"?{query}" if query else "")
                client.get(url)  # warm: the first request of a user pays its session
                timings = []
                for _ in range(args.repeat):
                    with CaptureQueriesContext(connection) as captured:
                        started = time.perf_counter()
                        response = client.get(url)
                        timings.append((time.perf_counter() - started) * 1000)
                    if response.status_code != 200:
                        sys.exit(f"{url} as {user.username}: HTTP {response.status_code}")
                row = {
                    "list": kind,
                    "persona": label,
                    "query": query or "(default)",
                    "p50": statistics.median(timings),
                    "p95": p95(timings),
                    "queries": len(captured),
                    "floor": floor_ms(kind, user, params, args.repeat),
                }
                rows.append(row)
                over += row["p95"] > BUDGET_MS
                flag = "  OVER" if row["p95"] > BUDGET_MS else ""
                print(
                    f"  {kind:<5} {label:<7} {row['query']:<52} p50 {row['p50']:7.1f}  "
                    f"p95 {row['p95']:7.1f} ms  {row['queries']:2d} q  "
                    f"floor {row['floor']:7.1f} ms{flag}",
                    flush=True,
                )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=1)
    print(f"lists over a p95 of {BUDGET_MS} ms: {over} of {len(rows)}")
    sys.exit(1 if over else 0)


if __name__ == "__main__":
    main()
