import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from pipeline.exports import deal_csv_lines, rep_csv_lines
from pipeline.models import Deal


class Command(BaseCommand):
    help = (
        "Write every rep and manager (reps) or every deal (deals) as CSV, in the columns "
        "import_csv reads: export from one instance, import into another."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("kind", choices=["reps", "deals"])
        parser.add_argument("file", help="Where to write; - for standard output.")

    def handle(self, *args, kind: str, file: str, **options) -> None:
        lines = (
            rep_csv_lines(User.objects.all())
            if kind == "reps"
            else deal_csv_lines(Deal.objects.all())
        )
        if file == "-":
            self._write(sys.stdout, lines)
            return
        path = Path(file)
        try:
            with path.open("w", encoding="utf-8", newline="") as handle:
                count = self._write(handle, lines)
        except OSError as error:
            raise CommandError(f"Cannot write {file}: {error.strerror}") from error
        self.stderr.write(f"Wrote {count} {kind} to {path}.")

    @staticmethod
    def _write(handle, lines) -> int:
        count = -1  # the header is not a row
        for line in lines:
            handle.write(line)
            count += 1
        return count
