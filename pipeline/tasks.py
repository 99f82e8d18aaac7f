"""Celery tasks of the pipeline app: thin wrappers around services."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from .import_jobs import import_job_run


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def import_csv_task(job_id: int) -> str | None:
    """Run an uploaded import. Redelivered after a worker died, it runs again: the import
    wrote nothing unless it finished, and a finished job is not run twice."""
    job = import_job_run(job_id)
    return job.status if job else None
