"""Benchmark: import_csv of a generated deals file, first into an empty database, then the
same file again (nothing changes), with a tenth of the deals moved on, and with every
amount changed.

    DATABASE_URL=postgres://…/scratch python -m tests.benchmarks.imports --rows 100000

Writes a reps file and a deals file into a temporary directory, imports the reps, then
times each deals import and counts its SQL queries. Needs an EMPTY database (it refuses
one with deals). A script, not a test: figures go to docs/import.md.
"""

import argparse
import csv
import datetime as dt
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesperf.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from pipeline.exports import DEAL_COLUMNS  # noqa: E402
from pipeline.imports import import_deals, import_reps  # noqa: E402
from pipeline.models import Deal, StageChange  # noqa: E402

OPEN_STAGES = ["Prospecting", "Qualification", "Proposal", "Negotiation"]
PRODUCTS = ["Starter", "Team", "Business", "Enterprise", "Services", ""]
SOURCES = ["Web", "Referral", "Event", "Outbound", "Partner", ""]
START = dt.date(2024, 1, 1)


def write_reps(path: Path, reps: int) -> list[str]:
    usernames = []
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["username", "full_name", "email", "role", "team", "parent_team"])
        writer.writerow(["head", "Head Of Sales", "head@example.com", "manager", "Sales", ""])
        for number in range(reps):
            team = f"Team {number % 5 + 1}"
            role = "manager" if number < 5 else "rep"
            username = f"rep{number:03d}"
            usernames.append(username)
            writer.writerow(
                [username, f"Rep {number}", f"{username}@example.com", role, team, "Sales"]
            )
    return usernames


def deal_row(number: int, owners: list[str], rng: random.Random) -> list[str]:
    created = START + dt.timedelta(days=rng.randrange(700))
    outcome = rng.random()
    if outcome < 0.25:
        stage, closed = "Won", created + dt.timedelta(days=rng.randrange(1, 120))
    elif outcome < 0.45:
        stage, closed = "Lost", created + dt.timedelta(days=rng.randrange(0, 120))
    else:
        stage, closed = rng.choice(OPEN_STAGES), None
    amount = "0" if stage == "Lost" and rng.random() < 0.3 else f"{rng.randrange(500, 90000)}.00"
    return [
        f"CRM-{number:07d}",
        f"Deal {number}",
        f"Company {rng.randrange(5000)}" if rng.random() < 0.9 else "",
        rng.choice(owners),
        stage,
        amount,
        f"{created.isoformat()}T{rng.randrange(8, 18):02d}:{rng.randrange(60):02d}:00",
        closed.isoformat() if closed else "",
        (created + dt.timedelta(days=90)).isoformat() if rng.random() < 0.7 else "",
        rng.choice(SOURCES),
        rng.choice(PRODUCTS),
    ]


def write_deals(path: Path, rows: int, owners: list[str], *, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    data = [deal_row(number, owners, rng) for number in range(rows)]
    save(path, data)
    return data


def save(path: Path, data: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(DEAL_COLUMNS)
        writer.writerows(data)


def move_a_tenth(data: list[list[str]], rng: random.Random) -> list[list[str]]:
    """A tenth of the open deals move one stage on (or win): updates with stage changes."""
    moved = [list(row) for row in data]
    for row in moved:
        if row[4] in OPEN_STAGES and rng.random() < 0.2:
            position = OPEN_STAGES.index(row[4])
            if position + 1 < len(OPEN_STAGES):
                row[4] = OPEN_STAGES[position + 1]
            else:
                row[4], row[7] = "Won", "2026-01-15"
    return moved


def raise_every_amount(data: list[list[str]]) -> list[list[str]]:
    """Every deal's amount goes up by one: an update of every row."""
    return [[*row[:5], f"{float(row[5]) + 1:.2f}", *row[6:]] for row in data]


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def timed(label: str, action) -> None:
    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        result = action()
        seconds = time.perf_counter() - started
    assert result.written and not result.errors, result.errors[:5]
    print(
        f"  {label:<34} {seconds:7.1f} s  {result.rows / seconds:9,.0f} rows/s  "
        f"{counter.count:6,d} queries   created {result.created:,}, updated "
        f"{result.updated:,}, unchanged {result.unchanged:,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    # As in production: with DEBUG on (the development .env), Django also formats and keeps
    # the SQL of every query, which costs 10-25 % more on a bulk import.
    settings.DEBUG = False

    call_command("migrate", verbosity=0)
    if Deal.objects.exists():
        sys.exit("The database has deals: point DATABASE_URL at an empty scratch database.")
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        owners = write_reps(folder / "reps.csv", args.reps)
        reps = import_reps(folder / "reps.csv")
        assert reps.written and not reps.errors, reps.errors[:5]
        data = write_deals(folder / "deals.csv", args.rows, owners, seed=args.seed)
        moved = move_a_tenth(data, random.Random(args.seed))
        save(folder / "moved.csv", moved)
        save(folder / "raised.csv", raise_every_amount(moved))
        size = (folder / "deals.csv").stat().st_size
        print(
            f"{connection.vendor}: {args.rows:,} deal rows ({size / 1e6:.1f} MB), "
            f"{args.reps + 1} people"
        )
        timed("import into an empty database", lambda: import_deals(folder / "deals.csv"))
        timed("the same file again (unchanged)", lambda: import_deals(folder / "deals.csv"))
        timed("a tenth of the deals moved on", lambda: import_deals(folder / "moved.csv"))
        timed("every amount changed", lambda: import_deals(folder / "raised.csv"))
    print(f"  {Deal.objects.count():,} deals, {StageChange.objects.count():,} stage changes")


if __name__ == "__main__":
    main()
