"""The nightly snapshot's parts on a real replica: their KPI reads go to the replica, their
writes to the primary, and the figures are those of the single-process run on the primary."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from metrics import summary
from metrics.kpis import KPI_KEYS
from metrics.models import KPISnapshot
from metrics.services import kpi_snapshot_create
from metrics.tasks import snapshot_kpis_part_task, snapshot_kpis_task
from salesperf.db_router import primary
from tests.factories import DealFactory, default_stage
from tests.replica.conftest import pause_replay, resume_replay, wait_for_replica

pytestmark = [
    pytest.mark.replica,
    pytest.mark.django_db(transaction=True, databases=["default", "replica"]),
]
MARCH_31 = dt.date(2026, 3, 31)
KEY = ["scope_kind", "scope_id", "period_kind", "period_start"]


def rows_on_primary() -> dict[tuple, dict]:
    rows = KPISnapshot.objects.using("default").filter(date=MARCH_31).values(*KEY, *KPI_KEYS)
    return {tuple(row[k] for k in KEY): {k: row[k] for k in KPI_KEYS} for row in rows}


def sql_of(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries]


def test_the_parts_read_the_replica_write_the_primary_and_match_the_single_run(
    wide_org, monkeypatch
):
    with primary():
        kpi_snapshot_create(day=MARCH_31)
    single = rows_on_primary()
    KPISnapshot.objects.all().delete()
    # The nightly task first rebuilds the summary tables: one transaction on the primary
    # (it reads the raw rows it rewrites). Done here, so that the capture below holds the
    # parts alone, and the replica has the summary rows they read.
    summary.rebuild()
    rebuilds = []
    monkeypatch.setattr(summary, "rebuild", lambda: rebuilds.append(1))
    wait_for_replica()

    with (
        CaptureQueriesContext(connections["replica"]) as on_replica,
        CaptureQueriesContext(connections["default"]) as on_primary,
    ):
        # Run here, in the test's context, which has written (the fixtures): each task
        # starts afresh all the same and reads the replica.
        parts = snapshot_kpis_task.apply(args=["2026-03-31"]).get()

    assert parts == 3
    assert rebuilds == [1]
    assert rows_on_primary() == single
    replica_sql, primary_sql = sql_of(on_replica), sql_of(on_primary)
    assert any('FROM "pipeline_deal"' in sql for sql in replica_sql)
    assert not any(sql.startswith("INSERT") for sql in replica_sql)
    assert not any('FROM "pipeline_deal"' in sql for sql in primary_sql)
    assert any(sql.startswith('INSERT INTO "metrics_kpisnapshot"') for sql in primary_sql)


def test_a_part_on_a_stale_replica_misses_what_it_has_not_replayed_and_a_rerun_catches_up(
    wide_org,
):
    wait_for_replica()
    teamless = ["2026-03-31", None]
    snapshot_kpis_part_task.apply(args=teamless).get()

    def n1_quarter() -> tuple[int, Decimal]:
        row = KPISnapshot.objects.using("default").get(
            date=MARCH_31, scope_kind="user", scope_id=wide_org.n1.pk, period_kind="quarter"
        )
        return row.deals_won, row.revenue

    assert n1_quarter() == (1, Decimal("2500.00"))
    pause_replay()
    DealFactory(
        owner=wide_org.n1,
        stage=default_stage("Won"),
        amount=Decimal(1000),
        created_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        closed_at=dt.datetime(2026, 3, 15, tzinfo=dt.UTC),
    )
    snapshot_kpis_part_task.apply(args=teamless).get()
    assert n1_quarter() == (1, Decimal("2500.00"))  # the replica has not seen the deal

    resume_replay()
    wait_for_replica()
    written = snapshot_kpis_part_task.apply(args=teamless).get()
    assert n1_quarter() == (2, Decimal("3500.00"))
    assert written == KPISnapshot.objects.filter(date=MARCH_31).count() == 3 * 3
