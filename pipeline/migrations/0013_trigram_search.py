"""Trigram indexes for the lists' text searches (PostgreSQL only: pg_trgm ships with it and
is a trusted extension, which the database's owner may create; SQLite searches by scan).

Each index is on the expression Django's `icontains` compares, UPPER(column::text), so a
search for part of a name reads the index instead of every row (docs/performance.md,
"Lists at 1M deals"). At 1M deals and 2.5M leads the four take about a minute to build and
lock writes to their table meanwhile: on a live database create them CONCURRENTLY by hand
first (the IF NOT EXISTS below then skips them)."""

from django.db import migrations

INDEXES = [
    ("pipeline_company", "name", "pipeline_company_name_trgm"),
    ("pipeline_deal", "name", "pipeline_deal_name_trgm"),
    ("pipeline_lead", "contact_name", "pipeline_lead_contact_name_trgm"),
    ("pipeline_lead", "contact_email", "pipeline_lead_contact_email_trgm"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, column, name in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table}"
            f" USING gin (UPPER({column}::text) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for _, _, name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("pipeline", "0012_team_sort_indexes")]

    operations = [migrations.RunPython(create, drop)]
