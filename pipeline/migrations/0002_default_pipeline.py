from django.db import migrations

DEFAULT_STAGES = [
    # (order, name, probability, kind)
    (1, "Prospecting", 10, "open"),
    (2, "Qualification", 25, "open"),
    (3, "Proposal", 50, "open"),
    (4, "Negotiation", 75, "open"),
    (5, "Won", 100, "won"),
    (6, "Lost", 0, "lost"),
]


def create_default_pipeline(apps, schema_editor):
    Pipeline = apps.get_model("pipeline", "Pipeline")
    Stage = apps.get_model("pipeline", "Stage")
    pipeline, _ = Pipeline.objects.get_or_create(name="Default", defaults={"is_default": True})
    for order, name, probability, kind in DEFAULT_STAGES:
        Stage.objects.get_or_create(
            pipeline=pipeline,
            name=name,
            defaults={"order": order, "probability": probability, "kind": kind},
        )


def remove_default_pipeline(apps, schema_editor):
    Pipeline = apps.get_model("pipeline", "Pipeline")
    Stage = apps.get_model("pipeline", "Stage")
    Stage.objects.filter(pipeline__name="Default").delete()
    Pipeline.objects.filter(name="Default").delete()


class Migration(migrations.Migration):
    dependencies = [("pipeline", "0001_initial")]
    operations = [migrations.RunPython(create_default_pipeline, remove_default_pipeline)]
