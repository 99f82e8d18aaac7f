"""seed_scale: a large organisation, the same rows for a seed, every row valid."""

import datetime as dt
import hashlib
import io
from collections import defaultdict
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.db import connection, transaction
from django.utils import timezone

from accounts.choices import Role
from accounts.models import Team, User
from demo import bulk_load
from demo.models import PendingLoadStep
from demo.scale import ScaleOptions, _ScaleBuilder, build_scale_organisation, region_count
from metrics.choices import PeriodKind
from metrics.kpis import kpis_for_scope
from metrics.models import Target
from periods.calendar import day_bounds, end_of_day, period_end
from pipeline.choices import LeadStatus, StageKind
from pipeline.models import Company, Deal, Lead, Stage, StageChange
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 15)
DEALS = 300


def build(seed: int = 3, deals: int = DEALS, reps: int = 10, teams: int = 4):
    options = ScaleOptions.with_defaults(
        deals=deals,
        reps=reps,
        teams=teams,
        seed=seed,
        first_day=dt.date(2025, 3, 1),
        password="pw-scale",
        today=TODAY,
    )
    return build_scale_organisation(options=options, today=TODAY)


def digest() -> str:
    """Every generated value, ids included (they are explicit); the catalogue by name, as
    its ids come from sequences, which a rolled-back test does not rewind on PostgreSQL."""
    tables = [
        User.objects.values_list("id", "username", "first_name", "role", "team_id", "password"),
        Team.objects.values_list("id", "name", "parent_id", "manager_id", "created_at"),
        Company.objects.values_list("id", "name", "industry", "segment", "icp_fit", "created_at"),
        Lead.objects.values_list(
            "id",
            "company_id",
            "contact_name",
            "contact_email",
            "source__name",
            "owner_id",
            "team_id",
            "status",
            "disqualified_reason",
            "created_at",
            "converted_at",
        ),
        Deal.objects.values_list(
            "id",
            "name",
            "company_id",
            "lead_id",
            "product__name",
            "owner_id",
            "team_id",
            "stage__name",
            "amount",
            "expected_close_date",
            "created_at",
            "closed_at",
            "lost_reason",
            "updated_at",
            "version",
        ),
        StageChange.objects.values_list(
            "id", "deal_id", "from_stage__name", "to_stage__name", "changed_at", "changed_by_id"
        ),
        Target.objects.values_list(
            "id", "user_id", "team_id", "period_kind", "period_start", "value", "set_by_id"
        ),
    ]
    text = "\n".join(repr(list(rows.order_by("id"))) for rows in tables)
    return hashlib.sha256(text.encode()).hexdigest()


def test_builds_the_counts_asked_for():
    result = build()

    leaf_teams = Team.objects.filter(parent__isnull=False)
    assert Deal.objects.count() == DEALS == result.rows["deal"]
    # About 2.5 leads per deal, exactly: the lead count is fixed, conversions vary.
    assert Lead.objects.count() == 750
    assert leaf_teams.count() == 4
    assert Team.objects.filter(parent__isnull=True).count() == region_count(4) == 2
    assert User.objects.filter(role=Role.REP).count() == 10
    assert set(User.objects.filter(role=Role.REP).values_list("team__parent", flat=True)) <= set(
        Team.objects.filter(parent__isnull=True).values_list("pk", flat=True)
    )
    assert StageChange.objects.count() == result.rows["stage change"]
    assert result.deals_won + result.deals_lost + result.deals_open == DEALS
    assert result.deals_won and result.deals_lost and result.deals_open


def test_every_team_has_a_manager_who_is_a_member():
    build()

    for team in Team.objects.select_related("manager"):
        assert team.manager is not None
        assert team.manager.role == Role.MANAGER
        assert team.manager.team_id == team.pk
    assert User.objects.filter(username="admin", role=Role.ADMIN, is_superuser=True).exists()


def test_same_seed_builds_the_same_rows():
    with transaction.atomic():
        build(seed=3)
        first = digest()
        transaction.set_rollback(True)
    assert not Deal.objects.exists()

    build(seed=3)

    assert digest() == first


def test_another_seed_builds_other_rows():
    with transaction.atomic():
        build(seed=3)
        first = digest()
        transaction.set_rollback(True)

    build(seed=4)

    assert digest() != first


def test_every_deal_has_a_history_that_ends_in_its_stage():
    build()
    open_stages = list(
        Stage.objects.filter(pipeline__is_default=True, kind=StageKind.OPEN).order_by("order")
    )
    changes = defaultdict(list)
    for change in StageChange.objects.order_by("id"):
        changes[change.deal_id].append(change)
    now = timezone.now()

    for deal in Deal.objects.select_related("stage", "owner"):
        moves = changes[deal.pk]
        stage = open_stages[0].pk
        moment = deal.created_at
        for move in moves:
            # Each move starts where the last one ended, later, by the owner.
            assert move.from_stage_id == stage
            assert move.changed_at > moment
            assert move.changed_by_id == deal.owner_id
            stage, moment = move.to_stage_id, move.changed_at
        assert deal.stage_id == stage
        assert deal.version == 1 + len(moves)
        assert deal.team_id == deal.owner.team_id
        if deal.stage.kind == StageKind.OPEN:
            assert deal.closed_at is None
            assert deal.expected_close_date is not None
        else:
            assert deal.closed_at == moves[-1].changed_at
            assert deal.created_at <= deal.closed_at < now
        assert (deal.stage.kind == StageKind.LOST) == bool(deal.lost_reason)
    # Every value rule of the model's fields and clean(), on a sample (each costs queries).
    for deal in Deal.objects.order_by("pk")[::25]:
        deal.full_clean()


def test_amounts_are_in_cents_and_leads_convert_into_their_deals():
    build()

    amounts = list(Deal.objects.values_list("amount", flat=True))
    assert all(amount > 0 for amount in amounts)
    assert sum(1 for amount in amounts if amount % 1) > len(amounts) / 2
    converted = Lead.objects.filter(status=LeadStatus.CONVERTED)
    assert not Lead.objects.exclude(status=LeadStatus.CONVERTED).exclude(converted_at=None)
    assert converted.count() == Deal.objects.exclude(lead=None).count()
    for deal in Deal.objects.exclude(lead=None).select_related("lead"):
        assert deal.lead.status == LeadStatus.CONVERTED
        assert deal.created_at == deal.lead.converted_at
        assert deal.company_id == deal.lead.company_id and deal.owner_id == deal.lead.owner_id
    assert Lead.objects.values("source").distinct().count() == 5
    for company in Company.objects.prefetch_related("leads"):
        assert all(lead.created_at >= company.created_at for lead in company.leads.all())


def test_every_rep_and_team_has_monthly_and_quarterly_revenue_targets():
    build()

    for user in User.objects.filter(role=Role.REP):
        kinds = set(Target.objects.filter(user=user).values_list("period_kind", flat=True))
        assert kinds == {PeriodKind.MONTH, PeriodKind.QUARTER}
    for team in Team.objects.all():
        assert Target.objects.filter(team=team, period_kind=PeriodKind.QUARTER).exists()
        assert Target.objects.filter(team=team, period_kind=PeriodKind.MONTH).exists()
    # The next quarter is planned already.
    assert Target.objects.filter(period_kind=PeriodKind.QUARTER, period_start=dt.date(2026, 4, 1))


def test_kpis_of_a_reps_quarter_match_a_count_of_its_deals():
    build()
    quarter = dt.date(2025, 10, 1)
    last = period_end(quarter, PeriodKind.QUARTER)
    first_moment, after = day_bounds(quarter, last)
    rep = (
        User.objects.filter(role=Role.REP, deals__stage__kind=StageKind.WON).order_by("pk").first()
    )
    # By hand: the rep's deals that closed won inside the quarter's days, and their amounts.
    won = [
        deal.amount
        for deal in Deal.objects.filter(owner=rep).select_related("stage")
        if deal.stage.kind == StageKind.WON and first_moment <= deal.closed_at < after
    ]
    target = Target.objects.get(user=rep, period_kind=PeriodKind.QUARTER, period_start=quarter)

    kpis = kpis_for_scope(
        kind="user", scope_id=rep.pk, start=quarter, end=last, as_of=end_of_day(last)
    )

    assert kpis.deals_won == len(won) > 0
    assert kpis.revenue == sum(won, Decimal("0"))
    assert kpis.target == target.value
    org = kpis_for_scope(kind="org", scope_id=None, start=quarter, end=last, as_of=end_of_day(last))
    assert org.deals_won >= kpis.deals_won and org.leads_created > 0


def seed_scale(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_scale", "--deals", "60", "--reps", "4", *args, stdout=out)
    return out.getvalue()


def test_command_loads_and_reports_the_rows():
    out = seed_scale("--start", "2025-06-01")

    assert Deal.objects.count() == 60
    assert "deal" in out and "60" in out


def test_command_refuses_a_database_with_data_unless_forced():
    UserFactory(username="someone")

    with pytest.raises(CommandError, match="--force"):
        seed_scale()
    assert "nothing loaded" in seed_scale("--if-empty")
    assert not Deal.objects.exists()

    seed_scale("--force")

    assert Deal.objects.count() == 60


def test_an_end_today_or_later_is_refused():
    with pytest.raises(CommandError, match="before today"):
        seed_scale("--end", str(timezone.localdate()))


def test_the_summary_the_pages_read_covers_the_loaded_rows():
    # The loader writes with the summary triggers off on PostgreSQL: it marks a rebuild.
    from metrics import summary
    from metrics.models import OpenDeals, WonDeal

    result = build()
    summary.drain()
    assert WonDeal.objects.count() == result.deals_won
    assert sum(OpenDeals.objects.values_list("open_deals", flat=True)) == result.deals_open
    assert summary.rebuild().total == 0


# --- The load's guarantees: all or nothing before the commit, every index after it ---------

LOADED_TABLES = ["pipeline_company", "pipeline_lead", "pipeline_deal", "pipeline_stagechange"]
LOADED_TABLES += ["metrics_target"]
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="indexes are dropped and rebuilt on PostgreSQL"
)


def schema() -> dict[str, set]:
    """The loaded tables' indexes, constraints (validated or not) and trigger states."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s)",
            [LOADED_TABLES],
        )
        indexes = set(cursor.fetchall())
        cursor.execute(
            """
            SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint
            WHERE conrelid::regclass::text = ANY(%s)
            """,
            [LOADED_TABLES],
        )
        constraints = set(cursor.fetchall())
        cursor.execute(
            """
            SELECT tgname, tgenabled FROM pg_trigger
            WHERE tgrelid::regclass::text = ANY(%s) AND NOT tgisinternal
            """,
            [LOADED_TABLES],
        )
        triggers = set(cursor.fetchall())
    return {"indexes": indexes, "constraints": constraints, "triggers": triggers}


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_load_ends_with_the_schema_of_a_migrated_database():
    migrated = schema()

    result = build()

    assert schema() == migrated
    assert not PendingLoadStep.objects.exists()
    # The indexes left for after the commit were built there, each timed.
    assert "pipeline_lead_contact_email_trgm" in result.step_seconds
    assert f"ANALYZE {Deal._meta.db_table}" in result.step_seconds


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_an_interrupted_index_build_leaves_valid_rows_and_a_list_of_what_is_left(monkeypatch):
    migrated = schema()
    run_one_step = bulk_load._run_one_step
    steps = []

    def run_three_then_fail():
        if len(steps) == 3:
            raise RuntimeError("killed")
        steps.append(run_one_step())
        return steps[-1]

    monkeypatch.setattr(bulk_load, "_run_one_step", run_three_then_fail)

    with pytest.raises(RuntimeError, match="killed"):
        build()

    # Every row is committed, every rule in force for new writes: the triggers on, every
    # constraint there (the foreign keys maybe NOT VALID: the loaded rows' check is left).
    assert Deal.objects.count() == DEALS
    now = schema()
    assert now["triggers"] == migrated["triggers"]
    valid_or_not = {(name, text.removesuffix(" NOT VALID")) for name, text, _ in now["constraints"]}
    assert valid_or_not == {c[:2] for c in migrated["constraints"]}
    # What is missing is exactly what the marker lists: speed indexes, not rules.
    missing = {name for name, _ in migrated["indexes"] - now["indexes"]}
    pending = set(PendingLoadStep.objects.exclude(index="").values_list("index", flat=True))
    assert missing == pending and len(pending) > 40
    unvalidated = {name for name, _, valid in now["constraints"] if not valid}
    validations = " ".join(PendingLoadStep.objects.values_list("statement", flat=True))
    assert unvalidated and all(
        f'VALIDATE CONSTRAINT "{name}"' in validations for name in unvalidated
    )
    assert not any("UNIQUE" in definition for _, definition in migrated["indexes"] - now["indexes"])
    # `migrate` runs the database checks: it refuses until the load is finished.
    with pytest.raises(SystemCheckError, match="seed_scale --finish"):
        call_command("check", "--database", "default")
    monkeypatch.setattr(bulk_load, "_run_one_step", run_one_step)

    out = io.StringIO()
    call_command("seed_scale", "--finish", stdout=out)

    assert "Finishing an interrupted load" in out.getvalue()
    assert schema() == migrated
    assert not PendingLoadStep.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_failure_before_the_commit_leaves_nothing(monkeypatch):
    migrated = schema() if connection.vendor == "postgresql" else None

    def fail(self):
        raise RuntimeError("failed while writing targets")

    monkeypatch.setattr(_ScaleBuilder, "write_targets", fail)

    with pytest.raises(RuntimeError, match="targets"):
        build()

    assert not Deal.objects.exists() and not Lead.objects.exists()
    assert not Company.objects.exists() and not User.objects.exists()
    assert not PendingLoadStep.objects.exists()
    if migrated is not None:
        assert schema() == migrated


def test_finish_with_nothing_left_says_so():
    out = io.StringIO()

    call_command("seed_scale", "--finish", stdout=out)

    assert "nothing to finish" in out.getvalue()
    assert not Deal.objects.exists()
