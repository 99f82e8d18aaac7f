import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from metrics.services import backfill_dates, kpi_snapshot_backfill, kpi_snapshot_create


def iso_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD)") from error


class Command(BaseCommand):
    help = (
        "Freeze every KPI (organisation, each team, each user; month, quarter and year to "
        "date) as of the end of a day. With --backfill FROM, also every month-end since FROM."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--date", type=iso_date, help="The day to snapshot (default: today).")
        parser.add_argument(
            "--backfill",
            type=iso_date,
            metavar="FROM",
            help="Also snapshot every month-end from FROM up to --date.",
        )
        parser.add_argument(
            "--daily", action="store_true", help="With --backfill: every day, not month-ends."
        )
        parser.add_argument(
            "--resume",
            action="store_true",
            help="With --backfill: skip the dates that already hold a whole set of rows "
            "(to finish a run that was killed).",
        )

    def handle(
        self,
        *args,
        date: dt.date | None,
        backfill: dt.date | None,
        daily: bool,
        resume: bool,
        **kw,
    ):
        day = date or timezone.localdate()
        if backfill is None:
            written = kpi_snapshot_create(day=day)
            self.stdout.write(f"Snapshot of {day}: {written} rows.")
            return
        if backfill > day:
            raise CommandError(f"--backfill {backfill} is after --date {day}.")
        dates = backfill_dates(first=backfill, last=day, daily=daily)
        with tqdm(total=len(dates), unit="date", file=self.stderr, disable=None) as bar:

            def progress(done: dt.date, written: int) -> None:
                bar.set_postfix_str(f"{done} ({written} rows)")
                bar.update(1)

            total = kpi_snapshot_backfill(dates=dates, on_progress=progress, resume=resume)
        self.stdout.write(f"Backfilled {len(dates)} dates from {dates[0]} to {day}: {total} rows.")
