"""The snapshot job killed (SIGKILL) half-way, after writing its new rows but before its
commit: the previous rows of that date are intact, and the next run completes."""

import datetime as dt
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from metrics.models import KPISnapshot
from metrics.services import kpi_snapshot_create
from tests.factories import DealFactory, default_stage
from tests.metrics.conftest import org  # noqa: F401  (the fixture)
from tests.metrics.test_worker import worker_database_url

pytestmark = pytest.mark.fault

ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 3, 31)


def snapshot_values() -> list[dict]:
    return list(KPISnapshot.objects.filter(date=DAY).order_by("pk").values())


@pytest.mark.django_db(transaction=True)
def test_a_snapshot_killed_mid_run_leaves_the_previous_one_and_the_next_run_completes(org):  # noqa: F811
    kpi_snapshot_create(day=DAY)
    previous = snapshot_values()
    assert len(previous) == 21
    # A new win in March: the next snapshot of that date differs from the previous one.
    DealFactory(
        owner=org.a1,
        stage=default_stage("Won"),
        amount=Decimal("5000"),
        created_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC),
        closed_at=dt.datetime(2026, 3, 20, tzinfo=dt.UTC),
    )

    child = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/faults/snapshot_child.py"), DAY.isoformat()],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": worker_database_url()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()  # blocks until the rows are written, uncommitted
        assert line.startswith("WROTE 21"), child.stderr.read()
        # Meanwhile readers see the previous rows, not the half-done run.
        assert snapshot_values() == previous
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL

    assert snapshot_values() == previous  # same rows, same values, same computed_at

    assert kpi_snapshot_create(day=DAY) == 21
    org_quarter = KPISnapshot.objects.get(
        date=DAY, scope_kind="org", period_kind="quarter", scope_id=0
    )
    before = next(
        row for row in previous if row["scope_kind"] == "org" and row["period_kind"] == "quarter"
    )
    assert org_quarter.deals_won == before["deals_won"] + 1
    assert org_quarter.revenue == before["revenue"] + Decimal("5000")
