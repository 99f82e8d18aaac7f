from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Metrics and targets"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from pipeline.models import Deal, Lead

        from . import aggregates  # noqa: F401  registers the SQLite median on connect
        from .summary import schedule_drain

        # The triggers record every change; an ORM write also drains it on commit.
        for model in (Deal, Lead):
            post_save.connect(schedule_drain, sender=model, dispatch_uid=f"summary-{model}")
            post_delete.connect(schedule_drain, sender=model, dispatch_uid=f"summary-{model}-d")
