"""backup_data then restore_data into an emptied database gives back every row and every
KPI; a damaged file or a database that is not empty is refused and nothing is written."""

import datetime as dt
import gzip
from dataclasses import asdict

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.authtoken.models import Token

from accounts.models import Team, User
from metrics.kpis import funnel_for_scope, kpis_for_scope
from metrics.models import KPISnapshot, Target
from metrics.services import kpi_snapshot_create
from pipeline.models import Company, Deal, Lead, Stage, StageChange
from tests.factories import CompanyFactory, UserFactory

AS_OF = dt.datetime(2026, 4, 15, tzinfo=dt.UTC)
PERIODS = [
    (dt.date(2026, 1, 1), dt.date(2026, 1, 31)),
    (dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
    (dt.date(2026, 1, 1), dt.date(2026, 3, 31)),
    (dt.date(2025, 1, 1), dt.date(2026, 12, 31)),
]
COUNTED = [User, Team, Company, Lead, Deal, StageChange, Stage, Target, KPISnapshot, Token]


def every_figure() -> dict:
    """Every KPI and the funnel of the organisation, each team and each user, per period."""
    scopes = [("org", None)]
    scopes += [("team", pk) for pk in Team.objects.order_by("pk").values_list("pk", flat=True)]
    scopes += [("user", pk) for pk in User.objects.order_by("pk").values_list("pk", flat=True)]
    figures = {}
    for kind, scope_id in scopes:
        for start, end in PERIODS:
            window = {"kind": kind, "scope_id": scope_id, "start": start, "end": end}
            figures[(kind, scope_id, start, end)] = (
                kpis_for_scope(**window, as_of=AS_OF).as_dict(),
                asdict(funnel_for_scope(**window, as_of=AS_OF)),
            )
    return figures


def every_row() -> dict:
    return {
        "counts": {model.__name__: model._base_manager.count() for model in COUNTED},
        "history": list(
            StageChange.objects.order_by("pk").values(
                "pk", "deal_id", "from_stage_id", "to_stage_id", "changed_at", "changed_by_id"
            )
        ),
        "snapshots": list(KPISnapshot.objects.order_by("pk").values()),
        "deals": list(Deal._base_manager.order_by("pk").values()),
    }


@pytest.mark.django_db(transaction=True)
def test_restore_into_an_emptied_database_gives_the_same_kpis(org, tmp_path):
    kpi_snapshot_create(day=dt.date(2026, 3, 31))
    Token.objects.create(user=org.a1)
    before_figures, before_rows = every_figure(), every_row()
    assert before_rows["counts"]["StageChange"] > 0 and before_rows["counts"]["Target"] > 0
    backup = tmp_path / "backup.jsonl.gz"

    call_command("backup_data", str(backup))
    call_command("flush", interactive=False)
    assert not Deal._base_manager.exists()
    call_command("restore_data", str(backup))

    assert every_row() == before_rows
    assert every_figure() == before_figures
    # Sequences follow the restored keys: a new row gets a fresh id (PostgreSQL).
    assert CompanyFactory().pk > max(row["company_id"] or 0 for row in before_rows["deals"])


@pytest.mark.django_db
def test_restore_refuses_a_database_that_is_not_empty(tmp_path):
    backup = tmp_path / "backup.jsonl"
    call_command("backup_data", str(backup))
    UserFactory(username="someone")
    with pytest.raises(CommandError, match="not empty"):
        call_command("restore_data", str(backup))


@pytest.fixture
def small_backup(db, tmp_path):
    """A backup holding a user and a company, then a database emptied of them again."""
    UserFactory(username="kept", team=None)
    CompanyFactory(name="Kept Co")
    backup = tmp_path / "backup.jsonl"
    call_command("backup_data", str(backup))
    User.objects.all().delete()
    Company.objects.all().delete()
    return backup


def assert_nothing_written(stages_before: int) -> None:
    assert not User.objects.exists()
    assert not Company.objects.exists()
    # The rows migrate wrote are still there: the restore's deletes were rolled back.
    assert Stage.objects.count() == stages_before


def test_a_truncated_backup_is_refused_and_writes_nothing(small_backup):
    stages = Stage.objects.count()
    lines = small_backup.read_text().splitlines(keepends=True)
    small_backup.write_text("".join(lines[:-3]))  # cut at a line boundary: no end line
    with pytest.raises(CommandError, match="truncated"):
        call_command("restore_data", str(small_backup))
    assert_nothing_written(stages)


def test_a_truncated_gzip_backup_is_refused_and_writes_nothing(small_backup, tmp_path):
    stages = Stage.objects.count()
    packed = gzip.compress(small_backup.read_bytes())
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(CommandError, match="not a complete salesperf backup"):
        call_command("restore_data", str(broken))
    assert_nothing_written(stages)


def test_a_file_that_is_not_a_backup_is_refused(small_backup, tmp_path):
    stages = Stage.objects.count()
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("hello\nworld\n")
    with pytest.raises(CommandError, match="not a salesperf backup"):
        call_command("restore_data", str(garbage))
    damaged = tmp_path / "damaged.jsonl"
    lines = small_backup.read_text().splitlines(keepends=True)
    damaged.write_text("".join([lines[0], '{"model": "accounts.user", "pk": 1, "fie', *lines[-1:]]))
    with pytest.raises(CommandError):
        call_command("restore_data", str(damaged))
    assert_nothing_written(stages)
