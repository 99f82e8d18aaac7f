"""`manage.py restore_data FILE`: load a backup_data file into an empty, migrated
database, in one transaction: either every row is in, or none."""

import json
import zlib
from collections.abc import Iterator
from pathlib import Path

from django.core import serializers
from django.core.management.base import BaseCommand, CommandError
from django.core.management.color import no_style
from django.core.serializers.base import DeserializationError
from django.db import DatabaseError, connection, transaction

from accounts.models import User
from pipeline.models import Company, Deal, Lead

from .backup_data import FORMAT_VERSION, backup_models, open_backup


class Command(BaseCommand):
    help = (
        "Load a file written by backup_data into an empty database (run migrate first). "
        "Refuses a database that already holds people or deals. All or nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="A file written by backup_data.")

    def handle(self, *args, file: Path, **options) -> None:
        if not file.is_file():
            raise CommandError(f"{file} does not exist.")
        for model in (User, Company, Lead, Deal):
            if model._base_manager.exists():
                raise CommandError(
                    "The database is not empty (it holds "
                    f"{model._meta.verbose_name_plural}); restore only into a fresh, "
                    "migrated database."
                )
        try:
            with transaction.atomic():
                count = self._load(file)
        except (DeserializationError, EOFError, OSError, zlib.error, UnicodeDecodeError) as error:
            raise CommandError(f"{file} is not a complete salesperf backup: {error}") from error
        except DatabaseError as error:
            message = f"{file} could not be loaded; nothing was written: {error}"
            raise CommandError(message) from error
        self.stdout.write(f"Restored {count} objects from {file}.")

    def _load(self, file: Path) -> int:
        models = backup_models()
        # migrate wrote a few rows (the default pipeline, the nightly schedule): the backup
        # holds their current versions, with the same keys.
        for model in reversed(models):
            model._base_manager.all().delete()
        end: dict = {}
        count = 0
        with open_backup(file, "r") as lines:
            objects = serializers.deserialize(
                "jsonl", _object_lines(lines, end), handle_forward_references=True
            )
            deferred = []
            for obj in objects:
                # raw: no signals' side effects (history rows, on-commit tasks) on load.
                obj.save()
                count += 1
                if obj.deferred_fields:
                    deferred.append(obj)
            for obj in deferred:
                obj.save_deferred_fields()
        if end.get("objects") != count:
            raise CommandError(
                f"{file} is truncated: it ends before its end line "
                f"({count} objects read); nothing was written."
            )
        # Foreign keys are checked at commit on both engines (deferred constraints); ask
        # now, so an error names the table.
        connection.check_constraints(table_names=[m._meta.db_table for m in models])
        statements = connection.ops.sequence_reset_sql(no_style(), models)
        if statements:
            with connection.cursor() as cursor:
                for sql in statements:
                    cursor.execute(sql)
        return count


def _object_lines(lines, end: dict) -> Iterator[str]:
    """The object lines of a backup; checks the header, records the end line."""
    header = next(iter(lines), "")
    try:
        version = json.loads(header).get("salesperf_backup")
    except (ValueError, AttributeError):
        version = None
    if version != FORMAT_VERSION:
        raise CommandError("This file is not a salesperf backup (no backup_data header).")
    for line in lines:
        if end:
            if line.strip():
                raise CommandError("Data after the end line: the file is damaged.")
            continue
        if line.startswith('{"salesperf_backup_end"'):
            end.update(json.loads(line)["salesperf_backup_end"])
            continue
        yield line
