import os
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from demo.builder import DEFAULT_PASSWORD, DemoError, database_is_empty
from demo.bulk_load import BulkLoadError, pending_load_steps, run_pending_load_steps
from demo.scale import (
    DEFAULT_DEALS,
    DEFAULT_SEED,
    ScaleOptions,
    build_scale_organisation,
    iter_table_rows,
    region_count,
)
from metrics.management.commands.snapshot_kpis import iso_date


def positive_int(value: str) -> int:
    try:
        number = int(value.replace("_", "").replace(",", ""))
    except ValueError as error:
        raise CommandError(f"{value!r} is not a whole number") from error
    if number < 1:
        raise CommandError(f"{value!r} must be at least 1")
    return number


class Command(BaseCommand):
    help = (
        "Build a large sales organisation fast (COPY on PostgreSQL): N deals with their stage "
        "history, ~2.5 leads per deal, companies, and monthly and quarterly revenue targets for "
        "R reps in T leaf teams under regions. Deterministic for a seed and the same options. "
        "Refuses a database with users or deals unless --force. First finishes what an "
        "interrupted load left (its indexes), which --finish does alone."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--deals",
            type=positive_int,
            default=DEFAULT_DEALS,
            help=f"Deals to build (default: {DEFAULT_DEALS:,}).",
        )
        parser.add_argument(
            "--reps", type=positive_int, help="Reps (default: max(16, deals / 5,000))."
        )
        parser.add_argument(
            "--teams",
            type=positive_int,
            help="Leaf teams, under about √T regions (default: max(4, reps / 8)).",
        )
        parser.add_argument(
            "--seed", type=int, default=DEFAULT_SEED, help=f"Random seed (default: {DEFAULT_SEED})."
        )
        parser.add_argument(
            "--start", type=iso_date, help="First day of the history (default: 3 years back)."
        )
        parser.add_argument(
            "--end", type=iso_date, help="Last day of the history (default: yesterday)."
        )
        parser.add_argument(
            "--password",
            default=DEFAULT_PASSWORD,
            help=f"Password of every user it creates (default: {DEFAULT_PASSWORD}).",
        )
        parser.add_argument(
            "--index-connections",
            type=positive_int,
            default=max(2, os.cpu_count() or 1),
            help="PostgreSQL: connections building the indexes at once after the rows are "
            "committed (default: the number of cores, at least 2).",
        )
        group = parser.add_mutually_exclusive_group()
        group.add_argument(
            "--finish",
            action="store_true",
            help="Only finish what an interrupted load left undone (its indexes, ANALYZE).",
        )
        group.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing (and succeed) when the database has users or deals.",
        )
        group.add_argument(
            "--force",
            action="store_true",
            help="Load even when the database has data (new rows get ids after the existing).",
        )

    def handle(self, *args, **options) -> None:
        finished = self.finish_pending(options["index_connections"], options["verbosity"])
        if options["finish"]:
            if not finished:
                self.stdout.write("No interrupted load: nothing to finish.")
            return
        if not database_is_empty():
            if options["if_empty"]:
                self.stdout.write("Database already has data; nothing loaded.")
                return
            if not options["force"]:
                raise CommandError(
                    "The database has users or deals; seed_scale loads into an empty one "
                    "(`manage.py flush`, then `migrate`), or pass --force to add to it."
                )
        today = timezone.localdate()
        scale = ScaleOptions.with_defaults(
            deals=options["deals"],
            reps=options["reps"],
            teams=options["teams"],
            seed=options["seed"],
            first_day=options["start"],
            last_day=options["end"],
            password=options["password"],
            today=today,
        )
        self.stdout.write(
            f"Building {scale.deals:,} deals for {scale.reps:,} reps in {scale.teams} teams "
            f"({region_count(scale.teams)} regions), {scale.first_day} to {scale.last_day}, "
            f"seed {scale.seed}"
        )
        started = time.perf_counter()
        try:
            result = build_scale_organisation(
                options=scale,
                today=today,
                stdout=self.stdout,
                index_connections=options["index_connections"],
            )
        except (DemoError, BulkLoadError) as error:
            raise CommandError(str(error)) from error
        except Exception as error:
            left = pending_load_steps()
            if left:
                raise CommandError(
                    f"{error}\nThe rows are loaded and committed, but {left} index builds or "
                    "ANALYZEs are left: run `manage.py seed_scale --finish`."
                ) from error
            raise
        elapsed = time.perf_counter() - started
        out = self.stdout
        out.write(self.style.SUCCESS(f"Loaded in {elapsed:.1f} s:"))
        for label, count in iter_table_rows(result):
            out.write(f"  {label:<15}{count:>12,}")
        out.write(
            f"  deals won {result.deals_won:,}, lost {result.deals_lost:,}, "
            f"open {result.deals_open:,}"
        )
        out.write("  seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items()))
        if options["verbosity"] >= 2:
            self.write_step_seconds(result.step_seconds)
        out.write(f"Log in as 'admin' (or any manager or rep); password: {scale.password}")

    def finish_pending(self, connection_count: int, verbosity: int) -> bool:
        """Build what an interrupted load left (PendingLoadStep rows); whether there was any."""
        left = pending_load_steps()
        if not left:
            return False
        self.stdout.write(f"Finishing an interrupted load: {left} index builds or ANALYZEs")
        started = time.perf_counter()
        seconds = run_pending_load_steps(connection_count=connection_count)
        self.stdout.write(self.style.SUCCESS(f"Finished in {time.perf_counter() - started:.1f} s."))
        if verbosity >= 2:
            self.write_step_seconds(seconds)
        return True

    def write_step_seconds(self, seconds: dict[str, float]) -> None:
        for name, value in sorted(seconds.items(), key=lambda item: -item[1]):
            self.stdout.write(f"  {value:7.2f} s  {name}")
