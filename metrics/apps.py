from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Metrics and targets"

    def ready(self) -> None:
        from django.core.signals import request_finished, request_started
        from django.db.models.signals import post_delete, post_save, pre_save

        from accounts.models import Team
        from pipeline.models import Deal, Lead, Pipeline, Stage

        from . import (
            aggregates,  # noqa: F401  registers the SQLite median on connect
            summary,
        )
        from .summary import (
            remember_team_parent,
            schedule_customers_rebuild,
            schedule_drain,
            schedule_funnel_rebuild,
        )

        # The triggers record every change; an ORM write also drains it on commit.
        for model in (Deal, Lead):
            post_save.connect(schedule_drain, sender=model, dispatch_uid=f"summary-{model}")
            post_delete.connect(schedule_drain, sender=model, dispatch_uid=f"summary-{model}-d")
        # How far a deal got depends on the stages' order and kind, and the default pipeline.
        for stages in (Stage, Pipeline):
            uid = f"summary-funnel-{stages}"
            post_save.connect(schedule_funnel_rebuild, sender=stages, dispatch_uid=uid)
            post_delete.connect(schedule_funnel_rebuild, sender=stages, dispatch_uid=f"{uid}-d")
        # A team's customers are its sub-teams' too: a moved team rebuilds them.
        pre_save.connect(remember_team_parent, sender=Team, dispatch_uid="summary-team-parent")
        post_save.connect(schedule_customers_rebuild, sender=Team, dispatch_uid="summary-team")
        post_delete.connect(schedule_customers_rebuild, sender=Team, dispatch_uid="summary-team-d")
        request_started.connect(summary.request_started, dispatch_uid="summary-request")
        request_finished.connect(summary.request_finished, dispatch_uid="summary-request-end")
