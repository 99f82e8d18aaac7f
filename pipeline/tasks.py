"""Celery tasks of the pipeline app: thin wrappers around services."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from .import_jobs import import_job_run, import_jobs_requeue
from .submissions import form_submissions_prune


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


@shared_task
def requeue_waiting_imports_task() -> int:
    """Send again the uploads the broker could not take when they were made (Redis was
    down). Run every minute by beat (CELERY_BEAT_SCHEDULE); does nothing when none wait."""
    return import_jobs_requeue()


@shared_task
def prune_form_submissions_task() -> int:
    """Forget the one-time form tokens that have expired (CELERY_BEAT_SCHEDULE, daily)."""
    return form_submissions_prune()
