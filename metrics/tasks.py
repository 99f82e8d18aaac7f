"""Celery tasks of the metrics app: thin wrappers that take ISO dates and call a service."""

import datetime as dt

from celery import group, shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from . import summary
from .services import kpi_snapshot_create_part, snapshot_part_roots

# Only connection errors are worth a retry: the database restarting, a failover.
RETRY = {
    "acks_late": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 6,
}


@shared_task(bind=True, **RETRY)
def snapshot_kpis_task(self, day: str | None = None) -> int:
    """Snapshot every KPI as of the end of `day` (ISO date; default: yesterday), split
    into one snapshot_kpis_part_task per top-level team plus one for the organisation, so
    that several workers share the work. Returns the number of parts.

    The parts go to the queue this task came from. Run eagerly (`.apply()`), the parts run
    here, one after the other. Safe to retry and to run twice: every part is idempotent.
    """
    date = dt.date.fromisoformat(day) if day else timezone.localdate() - dt.timedelta(days=1)
    # First repair any drift of the summary the pages read (logged when found), once.
    summary.rebuild()
    roots = snapshot_part_roots()
    parts = [snapshot_kpis_part_task.si(date.isoformat(), root_id) for root_id in roots]
    if self.request.is_eager:
        for part in parts:
            part.apply(throw=True)
    else:
        queue = (self.request.delivery_info or {}).get("routing_key")
        # No chord: the parts need nothing after them, and a chord needs a result backend.
        group(parts).apply_async(queue=queue)
    return len(parts)


@shared_task(**RETRY)
def snapshot_kpis_part_task(day: str, root_id: int | None) -> int:
    """Snapshot one part of `day` (ISO date): a top-level team's tree and its members, or
    (root_id None) the organisation and the users without a team. Returns rows written.

    Idempotent: the service rewrites the part's rows of the date in one transaction.
    """
    return kpi_snapshot_create_part(day=dt.date.fromisoformat(day), root_id=root_id)
