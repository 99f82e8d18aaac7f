"""The real thing: a Celery worker process, on the configured broker (Redis when REDIS_URL
is set, else the file-system broker of the embedded default), runs the snapshot task
against the test database."""

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from metrics.models import KPISnapshot
from metrics.tasks import snapshot_kpis_task
from pipeline.import_jobs import import_job_create
from pipeline.models import Deal, ImportJob
from pipeline.tasks import import_csv_task

ROOT = Path(__file__).resolve().parents[2]


def worker_database_url() -> str:
    """A DATABASE_URL pointing the worker at the database this test run writes to."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return (
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    )


def start_worker() -> tuple[subprocess.Popen, str]:
    """A solo worker on a queue of its own (apart from any other worker) against the
    test database."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": worker_database_url()}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "salesperf",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "-Q",
            queue,
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return worker, queue


def wait_until(done, worker: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and worker.poll() is None and not done():
        time.sleep(0.5)


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_snapshot_task(org):
    broker = "redis" if settings.REDIS_URL else "filesystem"
    worker, queue = start_worker()
    try:
        snapshot_kpis_task.apply_async(args=["2026-03-31"], queue=queue)
        wait_until(
            lambda: KPISnapshot.objects.filter(date=dt.date(2026, 3, 31)).count() == 21, worker
        )
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0]
    rows = KPISnapshot.objects.filter(date=dt.date(2026, 3, 31))
    assert rows.count() == 21, f"no snapshot from the {broker} worker:\n{output[-3000:]}"
    assert "succeeded" in output
    assert rows.get(scope_kind="org", period_kind="quarter").deals_won == 4


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_an_uploaded_import(rep, admin_user):
    header = (
        "external_id,name,company,owner,stage,amount,created_at,closed_at,"
        "expected_close_date,lead_source,product\n"
    )
    rows = "".join(
        f"W-{n},Deal {n},Company {n % 50},rep,Won,{n},2026-01-05,2026-02-01,,,\n"
        for n in range(3000)
    )
    job = import_job_create(
        kind="deals",
        name="big.csv",
        content=(header + rows).encode(),
        skip_invalid=False,
        by=admin_user,
    )

    def finished() -> bool:
        job.refresh_from_db()
        return job.is_finished

    worker, queue = start_worker()
    try:
        import_csv_task.apply_async(args=[job.pk], queue=queue)
        wait_until(finished, worker)
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0]
    assert job.status == ImportJob.Status.DONE, f"{job.message}\nworker output:\n{output[-3000:]}"
    assert job.result["created"] == 3000
    assert Deal.objects.filter(external_id__startswith="W-").count() == 3000
    assert sum(Deal.objects.values_list("amount", flat=True)) == sum(range(3000))
