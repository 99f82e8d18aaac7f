"""The nightly snapshot: the same numbers as the live KPIs, one row per scope and period,
idempotent, all-or-nothing per date, scheduled in the database."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.urls import reverse
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from metrics import services
from metrics.kpis import KPI_KEYS, end_of_day, kpis_for_scope
from metrics.models import KPISnapshot
from metrics.services import backfill_dates, kpi_snapshot_create
from metrics.tasks import snapshot_kpis_task
from pipeline.models import Deal
from tests.factories import DealFactory, default_stage

pytestmark = pytest.mark.django_db
MARCH_31 = dt.date(2026, 3, 31)


def row_values(row: KPISnapshot) -> dict:
    return {key: getattr(row, key) for key in KPI_KEYS}


# The month, quarter and year share one scan per KPI family (each with its own filter):
# days where the three starts coincide, where two do, and where all three differ, with
# deals closed and leads created after the day (which the day's rows must leave out).
@pytest.mark.parametrize(
    "day", [MARCH_31, dt.date(2026, 1, 1), dt.date(2026, 2, 20), dt.date(2026, 5, 10)]
)
def test_snapshot_rows_equal_the_live_kpis_for_every_scope_and_period(org, day):
    written = kpi_snapshot_create(day=day)
    rows = list(KPISnapshot.objects.filter(date=day))
    # org + 3 teams + 3 users, for month, quarter and year to date
    assert written == len(rows) == 3 * (1 + 3 + 3)
    for row in rows:
        kind = row.scope_kind
        live = kpis_for_scope(
            kind=kind,
            scope_id=None if kind == "org" else row.scope_id,
            start=row.period_start,
            end=day,
            as_of=end_of_day(day),
            period=row.period_kind,
        )
        assert row_values(row) == live.as_dict(), (kind, row.scope_id, row.period_kind)


def test_the_quarter_row_holds_the_hand_computed_figures(org):
    kpi_snapshot_create(day=MARCH_31)
    row = KPISnapshot.objects.get(
        date=MARCH_31, scope_kind="team", scope_id=org.team_a.pk, period_kind="quarter"
    )
    assert row.period_start == dt.date(2026, 1, 1)
    assert (row.revenue, row.deals_won, row.win_rate, row.target, row.attainment) == (
        Decimal("36000.00"),
        3,
        0.6,
        Decimal("40000.00"),
        0.9,
    )
    # As of Mar 31 night D7 is not won yet, so team A's figures are the same as on Apr 15
    assert row.sales_cycle_days_median == 35.5


def test_live_api_equals_the_snapshot_row_of_today(org, admin_user):
    with time_machine.travel(dt.datetime(2026, 3, 31, 22, tzinfo=dt.UTC), tick=False):
        call_command("snapshot_kpis", stdout=StringIO())
        api = APIClient()
        api.force_authenticate(admin_user)
        for scope, scope_id in [("org", None), ("team", org.team_b.pk), ("user", org.a1.pk)]:
            params = {"scope": scope, "start": "2026-01-01", "end": "2026-03-31"}
            if scope_id:
                params["id"] = scope_id
            live = api.get(reverse("api-kpis"), params).json()
            stored = api.get(
                reverse("snapshot-list"),
                {
                    "scope": scope,
                    "id": scope_id or 0,
                    "period": "quarter",
                    "date_after": "2026-03-31",
                    "date_before": "2026-03-31",
                },
            ).json()["results"]
            assert len(stored) == 1
            assert {k: stored[0][k] for k in KPI_KEYS} == {k: live[k] for k in KPI_KEYS}


def test_rerunning_a_date_rewrites_the_same_rows(org):
    kpi_snapshot_create(day=MARCH_31)
    first_ids = set(KPISnapshot.objects.values_list("id", flat=True))
    # A late correction: D13 (lost, 0) is now worth 500 — the rerun picks it up in place.
    Deal.objects.filter(amount=0).update(amount=Decimal("500"))
    kpi_snapshot_create(day=MARCH_31)
    assert set(KPISnapshot.objects.values_list("id", flat=True)) == first_ids


def test_a_crash_mid_run_leaves_the_previous_rows(org, monkeypatch):
    kpi_snapshot_create(day=MARCH_31)
    before = {r.pk: row_values(r) for r in KPISnapshot.objects.all()}
    DealFactory(
        owner=org.a1,
        stage=default_stage("Won"),
        created_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC),
        closed_at=dt.datetime(2026, 3, 3, tzinfo=dt.UTC),
    )

    def crash(*args, **kwargs):
        raise RuntimeError("worker killed")

    # Fail after the upsert, inside the transaction: nothing of the new run may remain.
    monkeypatch.setattr(services.KPISnapshot.objects, "filter", crash)
    with pytest.raises(RuntimeError):
        kpi_snapshot_create(day=MARCH_31)
    monkeypatch.undo()
    assert {r.pk: row_values(r) for r in KPISnapshot.objects.all()} == before
    kpi_snapshot_create(day=MARCH_31)
    assert (
        KPISnapshot.objects.get(date=MARCH_31, scope_kind="org", period_kind="month").deals_won == 3
    )  # D3, D5 and the new one


def test_backfill_writes_month_ends_and_the_last_day():
    assert backfill_dates(first=dt.date(2026, 1, 15), last=dt.date(2026, 4, 10)) == [
        dt.date(2026, 1, 31),
        dt.date(2026, 2, 28),
        dt.date(2026, 3, 31),
        dt.date(2026, 4, 10),
    ]
    assert backfill_dates(first=dt.date(2026, 3, 30), last=dt.date(2026, 3, 31)) == [
        dt.date(2026, 3, 31)
    ]
    assert (
        len(backfill_dates(first=dt.date(2026, 3, 1), last=dt.date(2026, 3, 31), daily=True)) == 31
    )


def test_backfill_command_fills_the_history(org):
    out = StringIO()
    call_command(
        "snapshot_kpis",
        "--date",
        "2026-03-31",
        "--backfill",
        "2026-01-01",
        stdout=out,
        stderr=StringIO(),
    )
    assert sorted(set(KPISnapshot.objects.values_list("date", flat=True))) == [
        dt.date(2026, 1, 31),
        dt.date(2026, 2, 28),
        MARCH_31,
    ]
    assert "Backfilled 3 dates" in out.getvalue()


def test_bad_dates_are_refused_with_a_message():
    with pytest.raises(CommandError, match="not a date"):
        call_command("snapshot_kpis", "--date", "31/03/2026")
    with pytest.raises(CommandError, match="after --date"):
        call_command("snapshot_kpis", "--date", "2026-01-01", "--backfill", "2026-02-01")


def test_the_task_defaults_to_yesterday(org):
    with time_machine.travel(dt.datetime(2026, 4, 1, 2, tzinfo=dt.UTC), tick=False):
        parts = snapshot_kpis_task.apply().get()
    assert parts == 2  # the organisation's, and region R's
    assert KPISnapshot.objects.count() == 21
    assert set(KPISnapshot.objects.values_list("date", flat=True)) == {MARCH_31}


def test_the_nightly_schedule_exists_after_migrate():
    task = PeriodicTask.objects.get(name="Nightly KPI snapshot")
    assert task.task == "metrics.tasks.snapshot_kpis_task"
    assert task.enabled
    assert (task.crontab.hour, task.crontab.minute) == ("2", "0")
    assert str(task.crontab.timezone) == "UTC"


def test_the_task_retries_database_outages_with_backoff():
    assert snapshot_kpis_task.acks_late is True
    assert snapshot_kpis_task.retry_backoff is True
    from django.db import OperationalError

    assert OperationalError in snapshot_kpis_task.autoretry_for


def test_reps_see_only_their_own_snapshot_rows(org):
    kpi_snapshot_create(day=MARCH_31)
    api = APIClient()
    api.force_authenticate(org.a1)
    rows = api.get(reverse("snapshot-list"), {"date_after": "2026-03-31"}).json()["results"]
    assert {(r["scope"], r["id"]) for r in rows} == {("user", org.a1.pk)}
    assert len(rows) == 3  # month, quarter and year to date
    other = KPISnapshot.objects.get(
        date=MARCH_31, scope_kind="user", scope_id=org.a2.pk, period_kind="quarter"
    )
    assert api.get(reverse("snapshot-detail", args=[other.pk])).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_two_runs_of_the_same_date_at_once_leave_one_set_of_rows(org):
    import threading

    from django.db import connection

    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run() -> None:
        try:
            start.wait()
            kpi_snapshot_create(day=MARCH_31)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert KPISnapshot.objects.filter(date=MARCH_31).count() == 21


def test_the_schedule_and_the_rows_are_visible_in_the_admin(client, admin_user):
    from tests.factories import KPISnapshotFactory

    KPISnapshotFactory(revenue=Decimal("1234.00"))
    client.force_login(admin_user)
    schedules = client.get(reverse("admin:django_celery_beat_periodictask_changelist"))
    assert "Nightly KPI snapshot" in schedules.content.decode()
    task = PeriodicTask.objects.get(name="Nightly KPI snapshot")
    edit = client.get(reverse("admin:django_celery_beat_periodictask_change", args=[task.pk]))
    assert edit.status_code == 200
    rows = client.get(reverse("admin:metrics_kpisnapshot_changelist"))
    assert "1234" in rows.content.decode()


def test_a_killed_backfill_resumes_where_it_stopped_without_duplicates_or_gaps(org, monkeypatch):
    dates = backfill_dates(first=dt.date(2026, 1, 1), last=MARCH_31)  # Jan 31, Feb 28, Mar 31
    real_create = services.kpi_snapshot_create
    written_days: list[dt.date] = []

    def dies_on_february(*, day):
        if day == dt.date(2026, 2, 28):
            raise KeyboardInterrupt  # the worker is killed mid-run
        written_days.append(day)
        return real_create(day=day)

    monkeypatch.setattr(services, "kpi_snapshot_create", dies_on_february)
    with pytest.raises(KeyboardInterrupt):
        services.kpi_snapshot_backfill(dates=dates)
    assert written_days == [dt.date(2026, 1, 31)]
    assert services.snapshot_dates_complete(dates) == {dt.date(2026, 1, 31)}

    monkeypatch.setattr(services, "kpi_snapshot_create", real_create)
    progress: list[tuple[dt.date, int]] = []
    services.kpi_snapshot_backfill(
        dates=dates, resume=True, on_progress=lambda day, rows: progress.append((day, rows))
    )
    # January is skipped (0 rows written), February and March are written: 21 rows each.
    assert progress == [(dt.date(2026, 1, 31), 0), (dt.date(2026, 2, 28), 21), (MARCH_31, 21)]
    assert services.snapshot_dates_complete(dates) == set(dates)
    assert KPISnapshot.objects.count() == 3 * 21
    resumed = {
        (r.date, r.scope_kind, r.scope_id, r.period_kind): row_values(r)
        for r in KPISnapshot.objects.all()
    }
    KPISnapshot.objects.all().delete()
    services.kpi_snapshot_backfill(dates=dates)
    fresh = {
        (r.date, r.scope_kind, r.scope_id, r.period_kind): row_values(r)
        for r in KPISnapshot.objects.all()
    }
    assert resumed == fresh


def test_the_backfill_command_resumes(org):
    args = ["snapshot_kpis", "--date", "2026-03-31", "--backfill", "2026-01-01"]
    call_command(*args, stdout=StringIO(), stderr=StringIO())
    before = dict(KPISnapshot.objects.values_list("id", "computed_at"))
    out = StringIO()
    call_command(*args, "--resume", stdout=out, stderr=StringIO())
    assert "0 rows" in out.getvalue()  # every date was whole: nothing rewritten
    assert dict(KPISnapshot.objects.values_list("id", "computed_at")) == before
