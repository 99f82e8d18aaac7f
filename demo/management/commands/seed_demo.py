import datetime as dt
import os
from collections.abc import Mapping

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from demo.builder import (
    DEFAULT_PASSWORD,
    DEFAULT_SEED,
    DemoError,
    DemoResult,
    build_demo_organisation,
    database_is_empty,
)
from metrics.services import backfill_dates, kpi_snapshot_backfill

# Hosts that mean "every interface": a browser reaches them on the loopback address.
ANY_HOST = {"", "0.0.0.0", "::", "[::]"}


def login_url(environ: Mapping[str, str] | None = None) -> str:
    """Where the server of `make run` answers: bin/run-embedded serves on $HOST:$PORT
    (default 127.0.0.1:8000), and `make run` seeds just before it with the same environment."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    host = env.get("HOST", "").strip() or "127.0.0.1"
    port = env.get("PORT", "").strip() or "8000"
    if host in ANY_HOST:
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"http://{host}:{port}/"


def positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError as error:
        raise CommandError(f"{value!r} is not a number") from error
    if number <= 0:
        raise CommandError("--scale must be above 0")
    return number


class Command(BaseCommand):
    help = (
        "Load a demo sales organisation with two years of history: 2 regions, 4 teams, 16 reps, "
        "leads, deals with their stage history, and quarterly targets. Deterministic for a seed; "
        "refuses to load twice."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--password",
            default=DEFAULT_PASSWORD,
            help=f"Password of every demo user (default: {DEFAULT_PASSWORD}).",
        )
        parser.add_argument(
            "--seed", type=int, default=DEFAULT_SEED, help=f"Random seed (default: {DEFAULT_SEED})."
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Load only into a database without users and deals; otherwise do nothing.",
        )
        parser.add_argument(
            "--scale",
            type=positive_float,
            default=1.0,
            help="Multiply the number of companies and leads (default: 1; tests use less).",
        )
        parser.add_argument(
            "--no-snapshots",
            action="store_true",
            help="Skip freezing the KPI history (month-ends and yesterday) after loading.",
        )

    def handle(
        self,
        *args,
        password: str,
        seed: int,
        if_empty: bool,
        scale: float,
        no_snapshots: bool,
        **kw,
    ):
        if if_empty and not database_is_empty():
            self.stdout.write("Database already has data; demo data not loaded.")
            return
        if not password:
            raise CommandError("--password cannot be empty.")
        try:
            result = build_demo_organisation(
                password=password,
                seed=seed,
                today=timezone.localdate(),
                scale=scale,
                stdout=self.stdout,
            )
        except DemoError as error:
            raise CommandError(str(error)) from error
        if not no_snapshots:
            yesterday = timezone.localdate() - dt.timedelta(days=1)
            dates = backfill_dates(first=result.first_day, last=yesterday)
            rows = kpi_snapshot_backfill(dates=dates)
            self.stdout.write(f"KPI snapshots: {rows:,} rows for {len(dates)} dates.")
        self.print_summary(result, password)

    def print_summary(self, result: DemoResult, password: str) -> None:
        out = self.stdout
        out.write(
            self.style.SUCCESS(
                f"Demo organisation loaded: history {result.first_day} to {result.last_day}."
            )
        )
        counts = [
            ("teams", result.teams),
            ("users", result.users),
            ("companies", result.companies),
            ("lead sources", result.lead_sources),
            ("products", result.products),
            ("leads", result.leads),
            ("deals won", result.deals_won),
            ("deals lost", result.deals_lost),
            ("deals open", result.deals_open),
            ("stage changes", result.stage_changes),
            ("targets", result.targets),
        ]
        for label, count in counts:
            out.write(f"  {label:<14}{count:>7,}")
        out.write("")
        width = max(len(login.username) for login in result.logins) + 2
        out.write(f"  {'username':<{width}}{'role':<9}{'team':<21}name")
        for login in result.logins:
            team = login.team or "(organisation)"
            out.write(f"  {login.username:<{width}}{login.role:<9}{team:<21}{login.name}")
        out.write("")
        out.write(f"Log in at {login_url()} with any of these; password: {password}")
