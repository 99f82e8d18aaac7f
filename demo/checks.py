"""A database check: no bulk load is left unfinished (demo.bulk_load)."""

from django.core.checks import Error, Tags, register
from django.db import DatabaseError, connections


@register(Tags.database)
def unfinished_bulk_load(app_configs, databases=None, **kwargs) -> list[Error]:
    """An interrupted `seed_scale` owes indexes whose definitions it kept: a migration run
    before they are built could change an index they would then bring back."""
    from .models import PendingLoadStep

    errors: list[Error] = []
    for alias in databases or []:
        try:
            left = PendingLoadStep.objects.using(alias).count()
        except DatabaseError:  # not migrated yet
            connections[alias].close_if_unusable_or_obsolete()
            continue
        if left:
            errors.append(
                Error(
                    f"A bulk load (seed_scale) was interrupted: {left} index builds or "
                    "ANALYZEs are left.",
                    hint="Run `manage.py seed_scale --finish` first.",
                    id="demo.E001",
                )
            )
    return errors
