from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Metrics and targets"

    def ready(self) -> None:
        from . import aggregates  # noqa: F401  registers the SQLite median on connect
