from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Metrics and targets"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from pipeline.models import Deal, Lead, Pipeline, Stage

        from . import aggregates  # noqa: F401  registers the SQLite median on connect
        from .summary import schedule_drain, schedule_funnel_rebuild

        # The triggers record every change; an ORM write also drains it on commit.
        for model in (Deal, Lead):
            post_save.connect(schedule_drain, sender=model, dispatch_uid=f"summary-{model}")
            post_delete.connect(schedule_drain, sender=model, dispatch_uid=f"summary-{model}-d")
        # How far a deal got depends on the stages' order and kind, and the default pipeline.
        for model in (Stage, Pipeline):
            uid = f"summary-funnel-{model}"
            post_save.connect(schedule_funnel_rebuild, sender=model, dispatch_uid=uid)
            post_delete.connect(schedule_funnel_rebuild, sender=model, dispatch_uid=f"{uid}-d")
