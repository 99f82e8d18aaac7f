"""Redis down: pages still answer (no progress bar instead of a 500), an upload whose task
the broker will not take stays queued as "Waiting for a worker", and the beat task sends
it again once Redis is back. Against a real, closed Redis port; the real outage with
gunicorn and a worker is tests/faults/redis_outage.py."""

import socket

import kombu
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from pipeline.import_jobs import WAITING_FOR_BROKER, import_jobs_requeue
from pipeline.models import ImportJob
from pipeline.tasks import import_csv_task, requeue_waiting_imports_task

pytestmark = [pytest.mark.fault, pytest.mark.django_db]

HEADER = (
    "external_id,name,company,owner,stage,amount,created_at,closed_at,"
    "expected_close_date,lead_source,product\n"
)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_down(settings, monkeypatch):
    """The cache and the broker point at a Redis that is not running."""
    url = f"redis://127.0.0.1:{closed_port()}/0"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    }

    def publish_to_dead_broker(*args, **kwargs):
        # What Celery's publish raises when its broker refuses connections.
        with kombu.Connection(url, connect_timeout=1) as connection:
            connection.ensure_connection(max_retries=1)

    monkeypatch.setattr(import_csv_task, "apply_async", publish_to_dead_broker)
    return url


@pytest.fixture
def upload_big_file(client, admin_user, rep, settings, django_capture_on_commit_callbacks):
    settings.IMPORT_INLINE_MAX_BYTES = 10  # every file goes to a worker
    client.force_login(admin_user)

    def upload():
        row = "R-1,Acme deal,Acme,rep,Won,1500,2026-01-05,2026-02-01,,Web,\n"
        file = SimpleUploadedFile("deals.csv", (HEADER + row).encode(), "text/csv")
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(reverse("pipeline:import"), {"kind": "deals", "file": file})

    return upload


def test_an_upload_with_redis_down_waits_instead_of_failing(client, redis_down, upload_big_file):
    response = upload_big_file()
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.QUEUED
    assert job.message == WAITING_FOR_BROKER
    # The job page reads the progress from the (dead) cache: it answers, without a bar.
    page = client.get(reverse("pipeline:import-job", args=[job.pk]))
    assert page.status_code == 200
    assert "Waiting for a worker" in page.content.decode()
    # Still down: the requeue leaves it waiting, marked.
    assert import_jobs_requeue() == 0
    job.refresh_from_db()
    assert job.message == WAITING_FOR_BROKER


def test_waiting_uploads_are_sent_again_when_redis_is_back(
    client, redis_down, upload_big_file, monkeypatch
):
    upload_big_file()
    job = ImportJob.objects.get()
    sent = []
    monkeypatch.setattr(import_csv_task, "apply_async", lambda **kw: sent.append(kw["args"]))

    assert requeue_waiting_imports_task() == 1
    assert sent == [[job.pk]]
    job.refresh_from_db()
    assert job.status == ImportJob.Status.QUEUED and job.message == ""
    # Sent once: a second run finds nothing marked.
    assert requeue_waiting_imports_task() == 0


def test_a_worker_import_with_the_cache_down_still_imports(redis_down, admin_user, rep):
    from pipeline.import_jobs import import_job_create, import_job_run

    row = "R-2,Acme deal,Acme,rep,Won,1500,2026-01-05,2026-02-01,,Web,\n"
    job = import_job_create(
        kind="deals",
        name="d.csv",
        content=(HEADER + row).encode(),
        skip_invalid=False,
        by=admin_user,
    )
    assert import_job_run(job.pk).status == ImportJob.Status.DONE
