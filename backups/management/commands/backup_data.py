"""`manage.py backup_data FILE`: every row of the application, streamed to a file that
restore_data loads into an empty database of either engine (SQLite or PostgreSQL).

The format is Django's JSON Lines serialization (one object a line; gzip'ed when FILE
ends with .gz) between a header line and an end line. The end line carries the object
count, so a truncated file is refused at restore instead of half-loaded.
"""

import datetime as dt
import gzip
import json
import os
from pathlib import Path
from typing import IO

from django.apps import apps
from django.core import serializers
from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.serializers.jsonl import Serializer
from django.db import connection, transaction

FORMAT_VERSION = 1
# The application's data. Not sessions, content types, permissions, django-axes attempts
# or the admin log: they are rebuilt (content types, permissions by migrate) or
# disposable, and leaving them out keeps the file portable between databases.
BACKUP_APPS = ["accounts", "pipeline", "metrics", "authtoken", "django_celery_beat"]
CHUNK_SIZE = 2000


class ExactJSONEncoder(DjangoJSONEncoder):
    """Django's encoder cuts times to milliseconds; a backup keeps every microsecond (the
    order of stage changes and the KPIs' day boundaries depend on them)."""

    def default(self, o):
        if isinstance(o, dt.datetime | dt.time):
            return o.isoformat()
        return super().default(o)


def backup_models() -> list:
    """Every concrete model of BACKUP_APPS (history tables included), parents first."""
    app_list = [(apps.get_app_config(label), None) for label in BACKUP_APPS]
    return [
        model
        for model in serializers.sort_dependencies(app_list)
        if model._meta.managed and not model._meta.proxy
    ]


def open_backup(path: Path, mode: str, *, compressed: bool | None = None) -> IO[str]:
    """Text stream of a backup file; gzip'ed when the name ends with .gz."""
    if path.suffix == ".gz" if compressed is None else compressed:
        return gzip.open(path, mode + "t", encoding="utf-8")  # type: ignore[return-value]
    return path.open(mode, encoding="utf-8")


class Command(BaseCommand):
    help = (
        "Write every row of the application (people, teams, pipeline, deals and their "
        "history, targets, snapshots, API tokens, the job schedule) to FILE as JSON Lines, "
        "gzip'ed when FILE ends with .gz. Load it with restore_data. For PostgreSQL in "
        "production prefer pg_dump -Fc (docs/operations.md)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="Where to write, e.g. backup.jsonl.gz")

    def handle(self, *args, file: Path, **options) -> None:
        partial = file.with_name(file.name + ".partial")
        count = 0
        try:
            with open_backup(partial, "w", compressed=file.suffix == ".gz") as out:
                header = {
                    "salesperf_backup": FORMAT_VERSION,
                    "created_at": dt.datetime.now(dt.UTC).isoformat(),
                    "source": connection.vendor,
                }
                out.write(json.dumps(header) + "\n")
                # One snapshot of the whole database: REPEATABLE READ on PostgreSQL keeps
                # rows written during the dump out of it; SQLite's read transaction does it.
                outermost = not connection.in_atomic_block
                with transaction.atomic():
                    if outermost and connection.vendor == "postgresql":
                        with connection.cursor() as cursor:
                            cursor.execute(
                                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"
                            )
                    for model in backup_models():
                        # The base manager: soft-deleted rows are data too.
                        rows = model._base_manager.order_by("pk").iterator(chunk_size=CHUNK_SIZE)
                        counter = _Counter(rows)
                        Serializer().serialize(counter, stream=out, cls=ExactJSONEncoder)
                        count += counter.count
                        if options["verbosity"] > 1:
                            self.stdout.write(f"{model._meta.label}: {counter.count}")
                out.write(json.dumps({"salesperf_backup_end": {"objects": count}}) + "\n")
            os.replace(partial, file)
        except OSError as error:
            partial.unlink(missing_ok=True)
            raise CommandError(f"Could not write {file}: {error}") from error
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        self.stdout.write(f"Backed up {count} objects to {file}.")


class _Counter:
    """Passes rows through and counts them (the serializer streams, it never lists)."""

    def __init__(self, rows) -> None:
        self.rows = rows
        self.count = 0

    def __iter__(self):
        for row in self.rows:
            self.count += 1
            yield row
