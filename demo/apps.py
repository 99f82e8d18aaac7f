from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo organisation (`seed_demo`): builds rows of every app, owned by none."""

    name = "demo"
    verbose_name = "Demo data"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the check
