from django.apps import AppConfig


class BackupsConfig(AppConfig):
    """Whole-project backups (`backup_data`, `restore_data`): read and write every app."""

    name = "backups"
    verbose_name = "Backups"
