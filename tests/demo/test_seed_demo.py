"""seed_demo: a believable demo organisation, the same for a seed, loaded at most once."""

import datetime as dt
import hashlib
import io
from collections import defaultdict
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone

from accounts.choices import Role
from accounts.models import Team, User
from demo.builder import AMOUNT_RANGE, LOST_REASONS, DemoAlreadyLoaded, build_demo_organisation
from demo.management.commands.seed_demo import login_url
from metrics.choices import PeriodKind, TargetMetric
from metrics.models import Target
from periods.calendar import period_end, period_start
from pipeline.choices import LeadStatus, StageKind
from pipeline.models import Company, Deal, Lead, LeadSource, StageChange
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 15)
# About 450 leads and 180 deals: every kind of row appears, and a build takes well under 1 s.
SCALE = 0.08


def build(seed: int = 7, scale: float = SCALE):
    return build_demo_organisation(password="pw-demo", seed=seed, today=TODAY, scale=scale)


def digest() -> str:
    """A fingerprint of every demo row that does not depend on primary keys."""
    tables = [
        User.objects.values_list("username", "first_name", "last_name", "role", "team__name"),
        Team.objects.values_list("name", "parent__name", "manager__username"),
        Company.objects.values_list("name", "industry", "segment", "icp_fit", "created_at"),
        Lead.objects.values_list(
            "company__name",
            "contact_name",
            "source__name",
            "owner__username",
            "status",
            "disqualified_reason",
            "created_at",
            "converted_at",
        ),
        Deal.objects.values_list(
            "name",
            "lead__contact_name",
            "owner__username",
            "team__name",
            "stage__name",
            "amount",
            "created_at",
            "closed_at",
            "expected_close_date",
            "lost_reason",
        ),
        StageChange.objects.values_list(
            "deal__name", "from_stage__name", "to_stage__name", "changed_at", "changed_by__username"
        ),
        Target.objects.values_list(
            "user__username", "team__name", "period_start", "value", "set_by__username"
        ),
    ]
    text = "\n".join(repr(sorted(map(repr, rows))) for rows in tables)
    return hashlib.sha256(text.encode()).hexdigest()


def row_counts() -> dict[str, int]:
    models = [User, Team, Company, LeadSource, Lead, Deal, StageChange, Target]
    return {model.__name__: model.objects.count() for model in models}


def seed_demo(*args: str, snapshots: bool = False) -> str:
    """The command at a small scale; freezing two years of KPI history takes most of a
    run's time, so only the test of that history asks for it."""
    out = io.StringIO()
    extra = [] if snapshots else ["--no-snapshots"]
    call_command("seed_demo", "--scale", "0.05", *extra, *args, stdout=out)
    return out.getvalue()


# --- Determinism ----------------------------------------------------------------------------


def test_same_seed_builds_the_same_rows():
    with transaction.atomic():
        build(seed=7)
        first = digest()
        transaction.set_rollback(True)
    assert not Deal.objects.exists()

    build(seed=7)

    assert digest() == first


def test_another_seed_builds_other_rows():
    with transaction.atomic():
        build(seed=7)
        first = digest()
        transaction.set_rollback(True)

    build(seed=8)

    assert digest() != first


# --- Structure ------------------------------------------------------------------------------


def test_two_regions_of_two_teams_each_with_a_manager():
    build()

    regions = Team.objects.filter(parent=None)
    assert sorted(regions.values_list("name", flat=True)) == ["Americas", "EMEA"]
    for region in regions:
        assert region.children.count() == 2
    for team in Team.objects.all():
        assert team.manager is not None
        assert team.manager.role == Role.MANAGER
        assert team.manager.team == team
    admin = User.objects.get(username="admin")
    assert (admin.role, admin.is_staff, admin.is_superuser) == (Role.ADMIN, True, True)


def test_sixteen_reps_four_per_team_with_distinct_names():
    build()

    reps = User.objects.filter(role=Role.REP)
    assert reps.count() == 16
    per_team = defaultdict(int)
    for rep in reps.select_related("team"):
        per_team[rep.team.name] += 1
        assert rep.team.parent is not None
        assert rep.username == f"{rep.first_name}.{rep.last_name}".lower()
        assert rep.email == f"{rep.username}@demo.salesperf.example"
    assert sorted(per_team.values()) == [4, 4, 4, 4]
    names = [user.get_full_name() for user in User.objects.all()]
    assert len(set(names)) == len(names)


def test_leads_come_from_five_sources_and_every_status():
    build()

    assert sorted(LeadSource.objects.values_list("name", flat=True)) == [
        "Event",
        "Outbound",
        "Partner",
        "Referral",
        "Web",
    ]
    assert Lead.objects.values("source").distinct().count() == 5
    assert set(Lead.objects.values_list("status", flat=True)) == set(LeadStatus.values)
    assert not Lead.objects.filter(status=LeadStatus.DISQUALIFIED, disqualified_reason="").exists()
    for lead in Lead.objects.select_related("owner"):
        assert lead.team_id == lead.owner.team_id


# --- Deals and their history ----------------------------------------------------------------


def test_there_are_open_won_and_lost_deals_with_reasons():
    build()

    assert Deal.objects.open().exists()
    assert Deal.objects.won().exists()
    assert Deal.objects.lost().exists()
    assert set(Deal.objects.lost().values_list("lost_reason", flat=True)) <= set(LOST_REASONS)
    assert not Deal.objects.won().exclude(lost_reason="").exists()
    assert not Deal.objects.open().exclude(lost_reason="").exists()
    assert Deal.objects.filter(lead=None).exists(), "expansion deals come without a lead"


def test_deals_from_leads_start_when_the_lead_converted():
    build()

    for deal in Deal.objects.exclude(lead=None).select_related("lead", "company", "owner"):
        assert deal.created_at == deal.lead.converted_at
        assert deal.company_id == deal.lead.company_id
        assert deal.team_id == deal.owner.team_id
        assert deal.expected_close_date is not None
        low, high = AMOUNT_RANGE[deal.company.segment]
        assert Decimal(low) <= deal.amount <= Decimal(high)
        assert deal.amount == deal.amount.quantize(Decimal("0.01"))


def test_every_deal_walks_the_stages_in_order_and_closes_with_its_last_move():
    build()
    cutoff = dt.datetime.combine(TODAY, dt.time.min, tzinfo=timezone.get_current_timezone())
    moves = defaultdict(list)
    for change in StageChange.objects.select_related("from_stage", "to_stage").order_by(
        "changed_at", "id"
    ):
        moves[change.deal_id].append(change)

    for deal in Deal.objects.select_related("stage"):
        history = moves[deal.pk]
        stage = "Prospecting"
        at = deal.created_at
        for number, change in enumerate(history, start=1):
            assert change.from_stage.name == stage
            assert change.changed_at > at
            assert change.changed_by_id == deal.owner_id
            if change.to_stage.kind == StageKind.OPEN:
                assert change.to_stage.order == change.from_stage.order + 1
            else:
                assert number == len(history), "won or lost is the final move"
            stage, at = change.to_stage.name, change.changed_at
        assert stage == deal.stage.name
        assert at < cutoff
        if deal.stage.kind == StageKind.OPEN:
            assert deal.closed_at is None
        else:
            assert deal.closed_at == history[-1].changed_at
            assert deal.closed_at >= deal.created_at


# --- Targets --------------------------------------------------------------------------------


def test_every_rep_and_team_has_a_target_for_the_current_and_next_quarter():
    build()
    current = period_start(TODAY, PeriodKind.QUARTER)
    following = period_end(current, PeriodKind.QUARTER) + dt.timedelta(days=1)

    for quarter in (current, following):
        targets = Target.objects.filter(
            metric=TargetMetric.REVENUE, period_kind=PeriodKind.QUARTER, period_start=quarter
        )
        assert set(targets.exclude(user=None).values_list("user__role", flat=True)) == {Role.REP}
        assert targets.exclude(user=None).count() == 16
        assert targets.exclude(team=None).count() == Team.objects.count() == 6
    first = period_start(TODAY - dt.timedelta(days=730), PeriodKind.QUARTER)
    assert Target.objects.order_by("period_start").first().period_start == first


def test_team_targets_add_up_their_reps_and_regions_their_teams():
    build()

    for target in Target.objects.exclude(team=None).select_related("team", "set_by"):
        team = target.team
        assert target.value % 1000 == 0
        parts = Target.objects.filter(period_start=target.period_start)
        if team.parent is None:
            parts = parts.filter(team__parent=team)
            assert target.set_by.username == "admin"
        else:
            parts = parts.filter(user__team=team)
            assert target.set_by == team.manager
        total = sum(part.value for part in parts)
        assert total <= target.value <= total * Decimal("1.05") + 1000


# --- The command ----------------------------------------------------------------------------


def test_command_prints_the_logins_and_their_password(monkeypatch):
    # `make run PORT=8123` seeds, then bin/run-embedded serves on that port.
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.delenv("HOST", raising=False)
    output = seed_demo("--password", "open-sesame")

    assert "Log in at http://127.0.0.1:8123/ with" in output
    assert "open-sesame" in output
    for user in User.objects.all():
        assert user.username in output
    # They share one hash; checking it is slow on purpose, so check it once.
    assert User.objects.values("password").distinct().count() == 1
    assert User.objects.get(username="admin").check_password("open-sesame")
    assert "deals won" in output and "stage changes" in output


@pytest.mark.parametrize(
    ("environ", "url"),
    [
        ({}, "http://127.0.0.1:8000/"),
        ({"PORT": "9000"}, "http://127.0.0.1:9000/"),
        ({"HOST": "0.0.0.0", "PORT": "8080"}, "http://127.0.0.1:8080/"),
        ({"HOST": "192.168.1.20"}, "http://192.168.1.20:8000/"),
        ({"HOST": "::1", "PORT": "8001"}, "http://[::1]:8001/"),
    ],
)
def test_login_address_is_where_run_embedded_serves(environ, url):
    assert login_url(environ) == url


def test_second_run_refuses_and_changes_nothing():
    seed_demo()
    before = row_counts()

    with pytest.raises(CommandError, match="already loaded"):
        seed_demo("--seed", "99")

    assert row_counts() == before


def test_generator_refuses_when_a_demo_username_is_taken():
    with transaction.atomic():
        build()
        taken = User.objects.filter(role=Role.REP).first().username
        transaction.set_rollback(True)
    UserFactory(username=taken, team=None)

    with pytest.raises(DemoAlreadyLoaded, match=taken):
        build()

    assert not Team.objects.exists()


def test_if_empty_leaves_a_populated_database_alone():
    seed_demo()
    before = row_counts()

    output = seed_demo("--if-empty")

    assert "Database already has data; demo data not loaded." in output
    assert row_counts() == before


def test_if_empty_does_not_load_next_to_other_users():
    UserFactory(username="someone", team=None)

    output = seed_demo("--if-empty")

    assert "demo data not loaded" in output
    assert User.objects.count() == 1


def test_if_empty_loads_into_an_empty_database():
    output = seed_demo("--if-empty")

    assert "Log in at" in output
    assert User.objects.filter(role=Role.REP).count() == 16


def test_full_size_has_the_volumes_of_the_issue():
    result = build(seed=42, scale=1.0)

    assert 4_000 <= result.leads <= 6_000
    assert 2_000 <= result.deals <= 3_000
    assert 200 <= result.companies <= 1_000
    assert result.deals_open > 50
    assert result.deals_won > 300 and result.deals_lost > 300


def test_command_freezes_the_kpi_history_it_made():
    from metrics.models import KPISnapshot

    out = seed_demo(snapshots=True)
    dates = sorted(set(KPISnapshot.objects.values_list("date", flat=True)))
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    # one month-end per month of the history, and yesterday
    assert dates[-1] == yesterday
    assert all(d.month != (d + dt.timedelta(days=1)).month for d in dates[:-1])
    assert len(dates) >= 24
    assert "KPI snapshots:" in out
    org_year = KPISnapshot.objects.get(
        date=yesterday, scope_kind="org", scope_id=0, period_kind="year"
    )
    won_this_year = Deal.objects.filter(
        stage__kind="won", closed_at__year=yesterday.year, closed_at__date__lte=yesterday
    ).count()
    assert org_year.deals_won == won_this_year


def test_every_demo_row_starts_its_audit_trail():
    build()
    for model in (Deal, Lead, Target):
        recorded = model.history.filter(history_type="+")
        assert recorded.count() == model.objects.count() > 0
        assert set(recorded.values_list("history_user__username", flat=True)) == {"admin"}
