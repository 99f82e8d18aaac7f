"""Round trip: export every person and deal, empty the database, import the two files,
and every KPI of every scope and period comes out the same.

The CSV formats carry people, teams and deals; not leads, targets or stage history. So the
organisation built here has none of those (with them, leads_created, close_rate, target and
the weighted pipeline of past dates could not survive a CSV; a backup keeps them)."""

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.core.management import call_command

from accounts.choices import Role
from accounts.models import Team, User
from metrics.kpis import KPI_KEYS, kpis_by_team, kpis_by_user, kpis_for_scope
from pipeline.models import Company, Deal, LeadSource, Product
from tests.factories import (
    CompanyFactory,
    DealFactory,
    ProductFactory,
    TeamFactory,
    UserFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db
AS_OF = dt.datetime(2026, 5, 20, 12, tzinfo=dt.UTC)
PERIODS = [
    (dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
    (dt.date(2025, 10, 1), dt.date(2025, 12, 31)),
    (dt.date(2026, 1, 1), dt.date(2026, 3, 31)),
    (dt.date(2026, 4, 1), dt.date(2026, 5, 20)),
    (dt.date(2026, 1, 1), dt.date(2026, 12, 31)),
]
STAGES = ["Prospecting", "Qualification", "Proposal", "Negotiation", "Won", "Won", "Lost"]


def build_organisation(seed: int = 7) -> None:
    rng = random.Random(seed)
    region = TeamFactory(name="EMEA")
    teams = [TeamFactory(name=name, parent=region) for name in ("Paris", "Berlin")]
    reps = []
    for team in teams:
        boss = UserFactory(username=f"boss-{team.name.lower()}", team=team, role=Role.MANAGER)
        team.manager = boss
        team.save()
        reps += [
            UserFactory(username=f"{team.name.lower()}-{n}", team=team, role=Role.REP)
            for n in range(3)
        ]
    companies = [CompanyFactory(name=f"Customer {n}") for n in range(8)]
    products = [ProductFactory(name=name) for name in ("Core", "Add-on")]
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    for _ in range(90):
        stage = default_stage(rng.choice(STAGES))
        created_at = start + dt.timedelta(days=rng.randint(0, 480), hours=rng.randint(0, 23))
        closed_at = None
        if stage.kind != "open":
            closed_at = created_at + dt.timedelta(
                days=rng.randint(0, 90), minutes=rng.randint(0, 600)
            )
            if closed_at > AS_OF:
                closed_at = AS_OF - dt.timedelta(hours=1)
                created_at = min(created_at, closed_at)
        DealFactory(
            owner=rng.choice(reps),
            company=rng.choice([*companies, None]),
            product=rng.choice([*products, None]),
            stage=stage,
            amount=Decimal(rng.choice([0, rng.randint(1, 900_000)])) / 100,
            created_at=created_at,
            closed_at=closed_at,
            expected_close_date=(created_at + dt.timedelta(days=60)).date()
            if rng.random() < 0.7
            else None,
        )


def every_kpi() -> dict[tuple, dict]:
    """Every KPI of the organisation, each team and each person for each period, keyed by
    names (primary keys change in a new database)."""
    teams = dict(Team.objects.values_list("pk", "name"))
    users = dict(User.objects.values_list("pk", "username"))
    figures = {}
    for start, end in PERIODS:
        window = {"start": start, "end": end, "as_of": AS_OF}
        figures[("org", start, end)] = kpis_for_scope(kind="org", scope_id=None, **window).as_dict()
        for pk, kpis in kpis_by_team(**window).items():
            figures[("team", teams[pk], start, end)] = kpis.as_dict()
        for pk, kpis in kpis_by_user(user_ids=users, **window).items():
            figures[("user", users[pk], start, end)] = kpis.as_dict()
    return figures


def test_export_then_import_into_an_empty_database_gives_the_same_kpis(tmp_path):
    build_organisation()
    before = every_kpi()
    assert before[("org", *PERIODS[0])]["deals_won"] > 5  # the data is not trivial
    people, deals = tmp_path / "people.csv", tmp_path / "deals.csv"
    call_command("export_csv", "reps", str(people))
    call_command("export_csv", "deals", str(deals))

    Deal.objects.all().delete()
    for model in (Company, Product, LeadSource):
        model.objects.all().delete()
    Team.objects.update(manager=None, parent=None)
    User.objects.all().delete()
    Team.objects.all().delete()

    call_command("import_csv", "reps", str(people))
    call_command("import_csv", "deals", str(deals))
    after = every_kpi()
    assert after.keys() == before.keys()
    differences = [
        f"{scope} {key}: {before[scope][key]!r} -> {after[scope][key]!r}"
        for scope in before
        for key in KPI_KEYS
        if before[scope][key] != after[scope][key]
    ]
    assert not differences, "\n".join(differences)
    assert Deal.objects.count() == 90


TRICKY = ["=SUM(A1)", "'=x", "''+1", "-2+3", "@cmd", "\t=1", "'", "'plain", "-5", "Plain"]


def test_names_a_spreadsheet_would_evaluate_come_back_exactly(tmp_path):
    """The export writes `'=SUM(A1)` (no formula runs in a spreadsheet) and the import
    takes the quote off again: deal, company, team and people names survive unchanged."""
    team = TeamFactory(name="=Team")
    rep = UserFactory(username="rep-1", first_name="@First", last_name="-Last", team=team)
    for n, name in enumerate(TRICKY):
        company = CompanyFactory(name=f"{name} co" if name.strip() == name else f"co {n}")
        DealFactory(owner=rep, name=name, company=company, stage=default_stage("Proposal"))
    names = sorted(Deal.objects.values_list("name", "company__name"))
    people, deals = tmp_path / "people.csv", tmp_path / "deals.csv"
    call_command("export_csv", "reps", str(people))
    call_command("export_csv", "deals", str(deals))
    assert "'=SUM(A1)" in deals.read_text()

    Deal.objects.all().delete()
    Company.objects.all().delete()
    User.objects.all().delete()
    Team.objects.all().delete()
    call_command("import_csv", "reps", str(people))
    call_command("import_csv", "deals", str(deals))
    assert sorted(Deal.objects.values_list("name", "company__name")) == names
    user = User.objects.get(username="rep-1")
    assert (user.first_name, user.last_name, user.team.name) == ("@First", "-Last", "=Team")
