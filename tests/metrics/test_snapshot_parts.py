"""The nightly snapshot split into parts (one per top-level team, one for the organisation
and the people without a team) writes exactly the rows of the single-process run, and each
part is idempotent."""

import datetime as dt

import pytest

from accounts.models import Team, User
from metrics.kpis import KPI_KEYS
from metrics.models import KPISnapshot
from metrics.services import kpi_snapshot_create, kpi_snapshot_create_part, snapshot_part_roots
from metrics.tasks import snapshot_kpis_part_task, snapshot_kpis_task
from tests.factories import KPISnapshotFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db
MARCH_31 = dt.date(2026, 3, 31)
KEY = ["scope_kind", "scope_id", "period_kind", "period_start"]


def rows_of(day: dt.date) -> dict[tuple, dict]:
    """The date's rows by (scope kind, scope id, period kind, period start)."""
    return {
        tuple(row[k] for k in KEY): {k: row[k] for k in KPI_KEYS}
        for row in KPISnapshot.objects.filter(date=day).values(*KEY, *KPI_KEYS)
    }


def run_parts(day: dt.date) -> int:
    return sum(kpi_snapshot_create_part(day=day, root_id=root) for root in snapshot_part_roots())


def expected_row_count() -> int:
    return 3 * (1 + Team.objects.count() + User.objects.count())


def test_the_parts_are_the_organisation_then_each_top_level_team(wide_org):
    assert snapshot_part_roots() == [None, wide_org.region.pk, wide_org.region_w.pk]


@pytest.mark.parametrize("day", [MARCH_31, dt.date(2026, 2, 20), dt.date(2026, 1, 31)])
def test_the_parts_write_the_figures_of_the_single_process_run(wide_org, day):
    kpi_snapshot_create(day=day)
    single = rows_of(day)
    KPISnapshot.objects.all().delete()

    written = run_parts(day)

    # org + 6 teams (R, A, B, W, W1, W1a) + 7 people (a1, a2, b1, w1, w1a, n1, n2), x 3 kinds
    assert written == len(single) == expected_row_count() == 3 * (1 + 6 + 7)
    assert rows_of(day) == single
    # Not all zeros: the second region's tree and the people without a team have figures.
    q1 = dt.date(2026, 1, 1)
    assert single[("team", wide_org.region_w.pk, "quarter", q1)]["opportunities_created"] > 0
    assert single[("user", wide_org.n1.pk, "year", q1)]["opportunities_created"] > 0


def test_the_hand_computed_rows_of_the_second_region_and_the_teamless(wide_org):
    run_parts(MARCH_31)
    rows = rows_of(MARCH_31)
    q1 = dt.date(2026, 1, 1)
    w = rows[("team", wide_org.region_w.pk, "quarter", q1)]
    # W's tree: w1 won 9,000 (Feb 2) and lost 1,500; w1a won 4,500 (Mar 30 23:00).
    assert (w["deals_won"], w["deals_lost"], str(w["revenue"])) == (2, 1, "13500.00")
    assert str(w["target"]) == "30000.00" and w["attainment"] == pytest.approx(0.45)
    w1a = rows[("team", wide_org.team_w1a.pk, "quarter", q1)]
    assert (w1a["deals_won"], str(w1a["revenue"]), str(w1a["pipeline_value"])) == (
        1,
        "4500.00",
        "7000.00",
    )
    n1 = rows[("user", wide_org.n1.pk, "quarter", q1)]
    assert (n1["deals_won"], str(n1["revenue"]), str(n1["pipeline_value"])) == (
        1,
        "2500.00",
        "3000.00",
    )
    # The organisation counts everyone: region R's 4 wins in Q1 (D1, D3, D5, D8), W's 2, n1's 1.
    org = rows[("org", 0, "quarter", q1)]
    assert org["deals_won"] == 7


def test_a_part_run_twice_leaves_one_set_of_rows(wide_org):
    first = kpi_snapshot_create_part(day=MARCH_31, root_id=wide_org.region_w.pk)
    before = rows_of(MARCH_31)
    again = kpi_snapshot_create_part(day=MARCH_31, root_id=wide_org.region_w.pk)
    # W, W1, W1a and their reps w1 and w1a, x 3 kinds
    assert first == again == 3 * (3 + 2)
    assert KPISnapshot.objects.filter(date=MARCH_31).count() == 15
    assert rows_of(MARCH_31) == before


def test_a_duplicate_delivery_of_every_part_changes_nothing(wide_org):
    run_parts(MARCH_31)
    once = rows_of(MARCH_31)
    run_parts(MARCH_31)
    assert rows_of(MARCH_31) == once
    assert KPISnapshot.objects.filter(date=MARCH_31).count() == expected_row_count()


def test_the_organisation_part_drops_rows_of_scopes_that_no_longer_exist(wide_org):
    gone_team = TeamFactory(name="Gone")
    gone_user = UserFactory(username="gone", team=None)
    for scope_kind, scope_id in [("team", gone_team.pk), ("user", gone_user.pk)]:
        KPISnapshotFactory(date=MARCH_31, scope_kind=scope_kind, scope_id=scope_id)
    gone_user.delete()
    gone_team.delete()

    run_parts(MARCH_31)

    assert not KPISnapshot.objects.filter(scope_kind="team", scope_id=gone_team.pk).exists()
    assert not KPISnapshot.objects.filter(scope_kind="user", scope_id=gone_user.pk).exists()
    assert KPISnapshot.objects.filter(date=MARCH_31).count() == expected_row_count()


def test_a_team_part_keeps_the_row_of_someone_who_moved_to_another_region(wide_org):
    run_parts(MARCH_31)
    b1 = User.objects.get(username="b1")
    b1.team = wide_org.team_w1
    b1.save()
    # Region R's part no longer covers b1, and must not drop the row W's part now owns.
    kpi_snapshot_create_part(day=MARCH_31, root_id=wide_org.region.pk)
    assert KPISnapshot.objects.filter(date=MARCH_31, scope_kind="user", scope_id=b1.pk).count() == 3


def test_the_nightly_task_run_eagerly_runs_every_part(wide_org):
    kpi_snapshot_create(day=MARCH_31)
    single = rows_of(MARCH_31)
    KPISnapshot.objects.all().delete()

    parts = snapshot_kpis_task.apply(args=["2026-03-31"]).get()

    assert parts == 3
    assert rows_of(MARCH_31) == single


def test_the_part_task_takes_an_iso_date_and_a_root_id(wide_org):
    written = snapshot_kpis_part_task.apply(args=["2026-03-31", None]).get()
    # org + n1 + n2, x 3 kinds
    assert written == 3 * 3
    assert snapshot_kpis_part_task.acks_late is True
