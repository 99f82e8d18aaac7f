"""The Maven "CRM Sales Opportunities" export (a real CRM's data no one here wrote, see
tests/data/maven_crm/README.md), converted to the two import_csv formats with its gaps as
they are, imports cleanly through the command, and the KPIs of the imported data match the
figures computed independently from the CSV (tests/metrics/test_public_dataset.py)."""

import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import Team, User
from metrics.kpis import kpis_by_user, kpis_for_scope
from pipeline.imports import import_deals, import_reps
from pipeline.models import Deal
from tests.metrics.test_public_dataset import (
    AS_OF,
    FIRST_DAY,
    KEPT,
    LAST_DAY,
    TEAMS,
    differences,
    expected,
    rows_of,
)
from tests.public_dataset import write_import_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def files(tmp_path):
    return write_import_files(tmp_path)


# A zone with daylight saving, one without and one half an hour off UTC: cycles count
# wall-clock days (docs/kpis.md), so every figure is the same in each.
@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_the_export_imports_cleanly_and_its_kpis_match_the_csv(files, settings, zone):
    settings.TIME_ZONE = zone
    people, deals = files
    reps = import_reps(people)
    assert (reps.errors, reps.written, reps.rows) == ([], True, 6 + 35)
    assert Team.objects.filter(parent__isnull=True).count() == 3  # the regional offices
    assert Team.objects.filter(manager__isnull=False).count() == 6  # a team per manager

    result = import_deals(deals)
    assert result.errors == []
    assert (result.written, result.rows, result.created) == (True, 8800, 8800)
    # The usual gaps came through: open deals without an account, value or close date.
    imported = Deal.objects.all()
    assert Counter(imported.values_list("stage__name", flat=True)) == {
        "Won": 4238,
        "Lost": 2473,
        "Qualification": 1589,
        "Prospecting": 500,
    }
    assert imported.filter(company__isnull=True).count() == sum(1 for r in KEPT if not r["account"])
    assert imported.filter(stage__name="Lost", amount=0).count() == 2473
    # Each date became midnight in this zone, so the zone really differs between the runs.
    assert timezone.get_current_timezone_name() == zone
    assert {timezone.localtime(d.created_at).time() for d in imported[:50]} == {dt.time(0)}

    org = kpis_for_scope(kind="org", scope_id=None, start=FIRST_DAY, end=LAST_DAY, as_of=AS_OF)
    problems = differences("organisation", expected(KEPT, FIRST_DAY, LAST_DAY), org)
    assert org.revenue == Decimal("10005534.00")
    ids = dict(User.objects.values_list("username", "pk"))
    agents = {row["sales_agent"]: ids[slugify(row["sales_agent"])] for row in TEAMS}
    per_rep = kpis_by_user(user_ids=agents.values(), start=FIRST_DAY, end=LAST_DAY, as_of=AS_OF)
    for agent, user_id in sorted(agents.items()):
        problems += differences(
            agent, expected(rows_of({agent}), FIRST_DAY, LAST_DAY), per_rep[user_id]
        )
    assert not problems, "\n".join(problems)


def test_importing_the_same_files_again_changes_nothing(files, capsys):
    people, deals = files
    call_command("import_csv", "reps", str(people))
    call_command("import_csv", "deals", str(deals))
    before = list(Deal.objects.order_by("external_id").values())
    again = import_deals(deals)
    assert (again.created, again.updated, again.unchanged, again.errors) == (0, 0, 8800, [])
    assert list(Deal.objects.order_by("external_id").values()) == before
