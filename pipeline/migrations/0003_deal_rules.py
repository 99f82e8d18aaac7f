from django.db import migrations

from pipeline import db_rules


def install(apps, schema_editor):
    db_rules.install(schema_editor.connection)


def uninstall(apps, schema_editor):
    db_rules.uninstall(schema_editor.connection)


class Migration(migrations.Migration):
    """Triggers for the rules a CHECK constraint cannot express (see pipeline/db_rules.py)."""

    dependencies = [("pipeline", "0002_default_pipeline")]
    operations = [migrations.RunPython(install, uninstall)]
