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

ROOT = Path(__file__).resolve().parents[2]


def worker_database_url() -> str:
    """A DATABASE_URL pointing the worker at the database this test run writes to."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return (
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    )


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_snapshot_task(org):
    broker = "redis" if settings.REDIS_URL else "filesystem"
    queue = f"test-{uuid.uuid4().hex[:8]}"  # keeps this run apart from any other worker
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
    try:
        snapshot_kpis_task.apply_async(args=["2026-03-31"], queue=queue)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and worker.poll() is None:
            if KPISnapshot.objects.filter(date=dt.date(2026, 3, 31)).count() == 21:
                break
            time.sleep(0.5)
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0]
    rows = KPISnapshot.objects.filter(date=dt.date(2026, 3, 31))
    assert rows.count() == 21, f"no snapshot from the {broker} worker:\n{output[-3000:]}"
    assert "succeeded" in output
    assert rows.get(scope_kind="org", period_kind="quarter").deals_won == 4
