"""Benchmark: server time and SQL queries of every page, on the demo data.

    DATABASE_URL=sqlite:////tmp/pages.sqlite3 python -m tests.benchmarks.pages
    DATABASE_URL=postgres://…/scratch python -m tests.benchmarks.pages --generator scale \
        --deals 1000000

Loads the demo organisation (or, with --generator scale, seed_scale's --deals) into an
EMPTY database (or --reuse one), then requests each
page as the persona who uses it through Django's test client (the whole middleware stack,
templates included; no network), --repeat times, and prints the best and median time and
the query count. The budget is 200 ms a page.
"""

import argparse
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
from django.urls import NoReverseMatch, reverse  # noqa: E402

from accounts.models import Team, User  # noqa: E402
from pipeline.models import Deal, Lead  # noqa: E402
from tests.benchmarks import data  # noqa: E402

BUDGET_MS = 200


def pages(rep: User, manager: User, team: Team) -> list[tuple[str, User, str, dict]]:
    deal = Deal.objects.filter(owner=rep).order_by("-created_at").first()
    lead = Lead.objects.filter(owner=rep).order_by("-created_at").first()
    admin = User.objects.get(username="admin")
    return [
        ("metrics:my-performance", rep, "", {}),
        ("metrics:my-performance", rep, "?period=year", {}),
        ("metrics:rep-performance", manager, "", {"user_id": rep.pk}),
        ("metrics:team-dashboard", manager, "", {"team_id": team.pk}),
        ("metrics:team-dashboard", manager, "?period=year", {"team_id": team.pk}),
        ("metrics:org-dashboard", admin, "", {}),
        ("metrics:glossary", rep, "", {}),
        ("metrics:targets", manager, "", {}),
        ("metrics:target-history", manager, "", {}),
        ("pipeline:deal-list", rep, "", {}),
        ("pipeline:deal-list", manager, "?sort=-amount", {}),
        ("pipeline:deal-board", rep, "", {}),
        ("pipeline:deal-board", manager, "", {}),
        ("pipeline:deal-detail", rep, "", {"pk": deal.pk}),
        ("pipeline:deal-create", rep, "", {}),
        ("pipeline:lead-list", rep, "", {}),
        ("pipeline:lead-convert", rep, "", {"pk": lead.pk}),
        ("admin:pipeline_deal_changelist", admin, "", {}),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--reuse", action="store_true")
    data.add_arguments(parser)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    if Deal.objects.exists() and not args.reuse:
        sys.exit("The database has data: point DATABASE_URL at a scratch database or --reuse.")
    if not Deal.objects.exists():
        data.load(args)
    manager, team, rep = data.personas()
    print(f"{connection.vendor}: {Deal.objects.count():,} deals, {Lead.objects.count():,} leads")
    over = 0
    for name, user, query, kwargs in pages(rep, manager, team):
        try:
            url = reverse(name, kwargs=kwargs) + query
        except NoReverseMatch:
            print(f"  {name:<34} (no such page yet)")
            continue
        client = Client(HTTP_HOST="localhost")
        client.force_login(user)
        timings = []
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url)
                timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                sys.exit(f"{url} as {user.username}: HTTP {response.status_code}")
        best = min(timings)
        over += best > BUDGET_MS
        print(
            f"  {url:<46} {user.username:<13} best {best:7.1f} ms  "
            f"median {statistics.median(timings):7.1f} ms  {len(captured):3d} queries"
        )
    print(f"pages over {BUDGET_MS} ms: {over}")
    sys.exit(1 if over else 0)


if __name__ == "__main__":
    main()
