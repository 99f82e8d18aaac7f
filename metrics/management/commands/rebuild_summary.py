"""`python manage.py rebuild_summary`: recompute the summary tables from the raw rows."""

from django.core.management.base import BaseCommand, CommandError

from metrics import summary


class Command(BaseCommand):
    help = (
        "Recompute the summary tables (day figures, open pipeline, won deals) from the deals "
        "and leads, repair what differs and report it. --check exits 1 when anything did."
    )

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Exit 1 on any drift.")

    def handle(self, *args, check: bool = False, **options):
        drift = summary.rebuild()
        self.stdout.write(
            f"summary drift: {drift.day_figures} day rows, {drift.open_deals} open-pipeline "
            f"rows, {drift.won_deals} won deals, {drift.funnel_days} funnel rows, "
            f"{drift.customers} customer rows, {drift.open_deal_dates} open-deal dates, "
            f"{drift.cycle_buckets} cycle buckets, {drift.month_figures} month rows, "
            f"{drift.funnel_months} funnel month rows, {drift.cycle_figures} cycle figures "
            f"({'repaired' if drift.total else 'none'})"
        )
        if check and drift.total:
            raise CommandError("the summary had drifted from the raw rows (repaired)")
