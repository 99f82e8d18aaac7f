"""Uploads from the import page: store the file as a job, run it (in the request for a
small file, in a Celery worker for a large one) and report its progress and outcome.

The import itself (pipeline.imports) is all-or-nothing in one transaction, so its live
progress cannot be written to the job row (no one else would see it before the commit):
it goes to the cache, which the web and the worker share (Redis, or files under var/).

Redis down degrades, it does not break: a cache error only hides the progress bar, and a
job the broker would not take stays queued ("Waiting for a worker") with WAITING_FOR_BROKER
in its message; requeue_waiting_imports_task, run by beat every minute, sends it again
once Redis is back (docs/reliability.md).
"""

import logging

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.access import VIEW, Capability, can, restrict

from .imports import ImportFileError, import_deals, import_reps
from .models import ImportJob

logger = logging.getLogger(__name__)
PROGRESS_TIMEOUT = 24 * 3600
STORED_ERRORS = 1000  # the page lists the first ones; the count is kept whole
WAITING_FOR_BROKER = "Waiting for a worker: the job queue was unreachable when this was uploaded."
# Fail fast when the broker is away (the upload request waits for this), instead of
# Celery's default of retrying the publish.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}

try:
    from redis.exceptions import RedisError
except ImportError:  # the embedded default may run without the redis client
    RedisError = OSError  # type: ignore[misc, assignment]

# What a cache or broker that is away raises: the redis client's errors, kombu's
# OperationalError (a failed publish), and plain socket errors.
try:
    from kombu.exceptions import OperationalError as BrokerError
except ImportError:  # pragma: no cover
    BrokerError = OSError  # type: ignore[misc, assignment]
UNREACHABLE = (RedisError, BrokerError, OSError)


# Admins import people and deals; managers import deals for their team tree.
IMPORT_CAPABILITY = {
    ImportJob.Kind.REPS: Capability.IMPORT_PEOPLE,
    ImportJob.Kind.DEALS: Capability.IMPORT_DEALS,
}


def can_import(user, kind: str) -> bool:
    return can(user, IMPORT_CAPABILITY[ImportJob.Kind(kind)])


def import_jobs_for(*, user) -> QuerySet[ImportJob]:
    """The uploads a user may look at: their own; an admin's, everyone's."""
    jobs = ImportJob.objects.select_related("created_by").defer("content")
    return restrict(jobs, user, VIEW)


def _progress_key(job_id: int) -> str:
    return f"import-job:{job_id}:progress"


def import_job_progress(job: ImportJob) -> tuple[int, int] | None:
    """(rows done, rows in all) of a running job, or None before the first report."""
    try:
        value = cache.get(_progress_key(job.pk))
    except UNREACHABLE as error:
        logger.warning("Import progress unavailable (cache unreachable): %s", error)
        return None
    return tuple(value) if value else None


def import_job_create(*, kind: str, name: str, content: bytes, skip_invalid: bool, by):
    return ImportJob.objects.create(
        kind=kind,
        file_name=name[:255],
        file_size=len(content),
        content=content,
        skip_invalid=skip_invalid,
        created_by=by,
    )


def import_job_enqueue(job: ImportJob) -> None:
    """Hand the job to a worker once the job row is committed (so the worker finds it).
    With the broker away the job stays queued, marked to be sent again later."""
    transaction.on_commit(lambda: _send(job.pk))


def _send(job_id: int) -> bool:
    from .tasks import import_csv_task  # tasks import this module

    try:
        import_csv_task.apply_async(args=[job_id], retry_policy=PUBLISH_RETRY_POLICY)
    except UNREACHABLE as error:
        logger.warning("Import job %s waits: the broker is unreachable (%s)", job_id, error)
        ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
            message=WAITING_FOR_BROKER
        )
        return False
    return True


def import_jobs_requeue() -> int:
    """Send again the jobs the broker would not take. Returns how many were sent.

    Only jobs marked WAITING_FOR_BROKER: a queued job without the mark is already in the
    queue, and sending it twice would run it twice. The mark is cleared before sending
    (and set again if that fails), so two requeues at once do not both send it."""
    waiting = ImportJob.objects.filter(status=ImportJob.Status.QUEUED, message=WAITING_FOR_BROKER)
    sent = 0
    for job_id in waiting.values_list("pk", flat=True):
        claimed = ImportJob.objects.filter(pk=job_id, message=WAITING_FOR_BROKER).update(message="")
        if claimed and _send(job_id):
            sent += 1
    return sent


def import_job_run(job_id: int) -> ImportJob | None:
    """Run a stored upload. Safe to call twice: a finished job is left as it is, and an
    import interrupted half-way wrote nothing, so running it again is the recovery."""
    job = ImportJob.objects.select_related("created_by").filter(pk=job_id).first()
    if job is None or job.is_finished:
        return job
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.RUNNING, started_at=timezone.now(), message=""
    )
    user = job.created_by
    key = _progress_key(job.pk)

    def progress(done: int, total: int) -> None:
        try:
            cache.set(key, (done, total), PROGRESS_TIMEOUT)
        except UNREACHABLE:
            pass  # only the progress bar misses it; the import goes on

    fields = {"finished_at": None, "content": b""}
    try:
        if not can_import(user, job.kind):
            raise ImportFileError("You may not import this kind of file.")
        source = bytes(job.content)
        if job.kind == ImportJob.Kind.REPS:
            result = import_reps(source, skip_invalid=job.skip_invalid, by=user, progress=progress)
        else:
            allowed = None
            if not can(user, Capability.SEE_ORG):
                people = restrict(get_user_model().objects.all(), user)
                allowed = set(people.values_list("pk", flat=True))
            result = import_deals(
                source,
                skip_invalid=job.skip_invalid,
                by=user,
                allowed_owner_ids=allowed,
                progress=progress,
            )
    except ImportFileError as error:
        fields |= {"status": ImportJob.Status.REJECTED, "message": str(error)}
    except (OperationalError, InterfaceError):
        raise  # the database is away: the task retries with backoff
    except Exception:
        # Keep the file: the job can be run again once the cause is fixed.
        logger.exception("Import job %s failed", job.pk)
        fields = {
            "status": ImportJob.Status.FAILED,
            "message": "The import stopped on an unexpected error and wrote nothing. "
            "The file is kept; an administrator can run it again.",
        }
    else:
        status = ImportJob.Status.DONE if result.written else ImportJob.Status.REJECTED
        summary = result.as_dict()
        summary["error_count"] = len(summary["errors"])
        summary["bad_rows"] = result.bad_rows
        summary["errors"] = summary["errors"][:STORED_ERRORS]
        fields |= {"status": status, "result": summary}
    fields["finished_at"] = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(**fields)
    try:
        cache.delete(key)
    except UNREACHABLE:
        pass  # expires by itself (PROGRESS_TIMEOUT)
    job.refresh_from_db()
    return job
