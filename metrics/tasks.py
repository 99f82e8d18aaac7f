"""Celery tasks of the metrics app: thin wrappers that take ISO dates and call a service."""

import datetime as dt

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from . import summary
from .services import kpi_snapshot_create


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=6,
)
def snapshot_kpis_task(day: str | None = None) -> int:
    """Snapshot every KPI as of the end of `day` (ISO date; default: yesterday).

    Safe to retry and to run twice: the service upserts one set of rows per date. Retries
    only database connection errors, with exponential backoff.
    """
    date = dt.date.fromisoformat(day) if day else timezone.localdate() - dt.timedelta(days=1)
    # First repair any drift of the summary the pages read (logged when found).
    summary.rebuild()
    return kpi_snapshot_create(day=date)
