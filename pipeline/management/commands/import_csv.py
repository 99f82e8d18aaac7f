import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import pluralize
from tqdm import tqdm

from pipeline.imports import ImportFileError, ImportResult, import_deals, import_reps

SHOWN_ERRORS = 200


class Command(BaseCommand):
    help = (
        "Import reps and teams (reps) or deals (deals) from a CSV file; docs/import.md has "
        "the formats. Nothing is written when a row is bad, unless --skip-invalid."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("kind", choices=["reps", "deals"])
        parser.add_argument("file", help="The CSV file; - for standard input.")
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Write the good rows and report the bad ones (default: write nothing).",
        )
        parser.add_argument(
            "--by", metavar="USERNAME", help="Who the stage changes are recorded as made by."
        )

    def handle(self, *args, kind: str, file: str, skip_invalid: bool, by: str | None, **kw):
        user = None
        if by:
            user = get_user_model().objects.filter(username=by).first()
            if user is None:
                raise CommandError(f"--by: there is no user '{by}'.")
        source = sys.stdin.buffer if file == "-" else file
        with tqdm(total=0, unit="row", file=self.stderr, disable=None, leave=False) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            try:
                if kind == "deals":
                    result = import_deals(
                        source, skip_invalid=skip_invalid, by=user, progress=progress
                    )
                else:
                    result = import_reps(
                        source, skip_invalid=skip_invalid, by=user, progress=progress
                    )
            except ImportFileError as error:
                raise CommandError(f"{file}: {error}") from error
        self.report(result)
        if not result.written:
            problems = len(result.errors)
            raise CommandError(
                f"Nothing was written: {problems} problem{pluralize(problems)} in "
                f"{result.bad_rows} of {result.rows} row{pluralize(result.rows)}. Fix them, "
                "or import the good rows with --skip-invalid."
            )

    def report(self, result: ImportResult) -> None:
        self.stdout.write(
            f"{result.rows} rows: {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged, {result.skipped} skipped."
        )
        also = ", ".join(
            f"{name.replace('_', ' ')}: {count}"
            for name, count in result.also_created.items()
            if count
        )
        if also:
            self.stdout.write(f"Also created: {also}.")
        if result.skipped:
            self.stdout.write(f"{result.skipped} bad rows skipped; the others were written.")
        for error in result.errors[:SHOWN_ERRORS]:
            self.stdout.write(str(error))
        if len(result.errors) > SHOWN_ERRORS:
            self.stdout.write(f"… and {len(result.errors) - SHOWN_ERRORS} more errors.")
