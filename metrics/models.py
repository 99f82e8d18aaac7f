from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from periods.calendar import is_period_start, period_end

from .choices import PeriodKind, ScopeKind, TargetMetric

if TYPE_CHECKING:
    from accounts.models import User


class Target(models.Model):
    """A goal for one user or one team over a calendar month, quarter or year."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="targets",
    )
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="targets"
    )
    metric = models.CharField(
        max_length=32, choices=TargetMetric.choices, default=TargetMetric.REVENUE
    )
    period_kind = models.CharField(max_length=8, choices=PeriodKind.choices)
    period_start = models.DateField(help_text="First day of the month, quarter or year.")
    value = models.DecimalField(
        max_digits=14, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])
    # Who the next history row names, when a service knows it (django-simple-history's hook).
    _history_user: "User | None"

    class Meta:
        ordering = ["-period_start", "period_kind"]
        indexes = [models.Index(fields=["period_kind", "period_start"])]
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(team__isnull=True))
                | (Q(user__isnull=True) & Q(team__isnull=False)),
                name="%(app_label)s_%(class)s_user_xor_team",
                violation_error_message="A target is for a user or for a team, not both.",
            ),
            models.CheckConstraint(
                condition=Q(value__gte=0),
                name="%(app_label)s_%(class)s_value_not_negative",
                violation_error_message="A target cannot be negative.",
            ),
            models.UniqueConstraint(
                fields=["user", "metric", "period_kind", "period_start"],
                condition=Q(user__isnull=False),
                name="%(app_label)s_%(class)s_unique_user_period",
                violation_error_message="This user already has this target for the period.",
            ),
            models.UniqueConstraint(
                fields=["team", "metric", "period_kind", "period_start"],
                condition=Q(team__isnull=False),
                name="%(app_label)s_%(class)s_unique_team_period",
                violation_error_message="This team already has this target for the period.",
            ),
        ]

    def __str__(self) -> str:
        who = self.user or self.team
        return f"{who} {self.get_metric_display()} {self.period_kind} {self.period_start}"

    @property
    def period_end(self):
        return period_end(self.period_start, self.period_kind)

    def clean(self) -> None:
        if (self.user_id is None) == (self.team_id is None):
            raise ValidationError("Choose a user or a team, not both.")
        if (
            self.period_start
            and self.period_kind
            and not is_period_start(self.period_start, self.period_kind)
        ):
            raise ValidationError(
                {"period_start": f"Must be the first day of a {self.period_kind}."}
            )


def _money(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=16, decimal_places=2, **kwargs)


class KPISnapshot(models.Model):
    """Every KPI of one scope for one period-to-date, frozen as of the end of `date`.

    Written by the nightly job (metrics.services.kpi_snapshot_create), one row per
    (date, scope, period kind); re-running a date rewrites the same rows. Numbers only.
    """

    date = models.DateField(help_text="The day the figures are as of (end of that day).")
    scope_kind = models.CharField(max_length=8, choices=ScopeKind.choices)
    scope_id = models.PositiveBigIntegerField(
        help_text="The user's or team's id; 0 for the organisation."
    )
    period_kind = models.CharField(max_length=8, choices=PeriodKind.choices)
    period_start = models.DateField()
    leads_created = models.PositiveIntegerField()
    opportunities_created = models.PositiveIntegerField()
    deals_won = models.PositiveIntegerField()
    deals_lost = models.PositiveIntegerField()
    revenue = _money()
    win_rate = models.FloatField(null=True)
    close_rate = models.FloatField(null=True)
    opportunity_close_rate = models.FloatField(null=True)
    avg_deal_size = _money(null=True)
    sales_cycle_days_mean = models.FloatField(null=True)
    sales_cycle_days_median = models.FloatField(null=True)
    open_deals = models.PositiveIntegerField()
    pipeline_value = _money()
    weighted_pipeline = _money()
    sales_velocity = _money(null=True)
    clv = _money(null=True)
    target = _money(null=True)
    attainment = models.FloatField(null=True)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["-date", "scope_kind", "scope_id", "period_kind"]
        indexes = [
            models.Index(fields=["scope_kind", "scope_id", "period_kind", "date"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["date", "scope_kind", "scope_id", "period_kind", "period_start"],
                name="%(app_label)s_%(class)s_one_row_per_scope_period",
            ),
            models.CheckConstraint(
                condition=Q(period_start__lte=models.F("date")),
                name="%(app_label)s_%(class)s_period_starts_by_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope_kind} {self.scope_id} {self.period_kind} to {self.date}"


# --- The summary layer (metrics/summary.py keeps it equal to the raw rows) -----------------


class _DayParts(models.Model):
    """The additive KPI parts of an (owner, team) cell's deals and leads: created, won,
    lost, revenue. Cohort parts (leads_won, opportunities_won) are as of now: a lead or
    deal created then that is won today. Ids are plain integers: a summary row holds no
    reference that could block a delete, and is rebuilt from the raw rows at any time."""

    owner_id = models.IntegerField()
    team_id = models.IntegerField(null=True)
    leads_created = models.PositiveIntegerField(default=0)
    leads_won = models.PositiveIntegerField(default=0)
    opportunities_created = models.PositiveIntegerField(default=0)
    opportunities_won = models.PositiveIntegerField(default=0)
    deals_won = models.PositiveIntegerField(default=0)
    deals_lost = models.PositiveIntegerField(default=0)
    revenue_cents = models.BigIntegerField(default=0)

    class Meta:
        abstract = True


# The additive parts of a day or month row, in the order the summary writes them.
DAY_PARTS = [
    "leads_created",
    "leads_won",
    "opportunities_created",
    "opportunities_won",
    "deals_won",
    "deals_lost",
    "revenue_cents",
]


class DayFigures(_DayParts):
    """The parts of one cell for one local day (TIME_ZONE): the live pages add these up
    instead of scanning the period's raw rows."""

    day = models.DateField()

    class Meta:
        indexes = [models.Index(fields=["day", "owner_id", "team_id"])]

    def __str__(self) -> str:
        return f"{self.day} owner {self.owner_id} team {self.team_id}"


class MonthFigures(_DayParts):
    """The day rows of one cell added up by calendar month (`month`: its first day): a
    year's figures are 12 rows a cell, not 365 (80,000 rows for the organisation at 236
    people, 25-45 ms a query). The drain recomputes a month's row from its day rows
    whenever one of them changes."""

    month = models.DateField()

    class Meta:
        indexes = [models.Index(fields=["month", "owner_id", "team_id"])]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} owner {self.owner_id} team {self.team_id}"


class OpenDeals(models.Model):
    """The deals open now of one (owner, team) cell in one stage: count and amount. The
    weighted pipeline multiplies by the stage's probability when read, so a changed
    probability needs no rebuild."""

    owner_id = models.IntegerField()
    team_id = models.IntegerField(null=True)
    stage = models.ForeignKey(
        "pipeline.Stage", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    open_deals = models.PositiveIntegerField(default=0)
    pipeline_cents = models.BigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["owner_id", "team_id", "stage"])]

    def __str__(self) -> str:
        return f"owner {self.owner_id} team {self.team_id} stage {self.stage_id}"


class WonDeal(models.Model):
    """One won deal, narrowed to what the medians and the customer lifetime value read:
    the sales cycle (wall-clock days in TIME_ZONE, as docs/kpis.md counts them), the
    amount in cents and the company. Medians and distinct customers do not add up, so
    they read these rows rather than day totals."""

    deal_id = models.IntegerField(primary_key=True)
    owner_id = models.IntegerField()
    team_id = models.IntegerField(null=True)
    company_id = models.IntegerField(null=True)
    closed_at = models.DateTimeField()
    cycle_days = models.FloatField()
    amount_cents = models.BigIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["closed_at", "owner_id", "team_id"]),
            models.Index(fields=["company_id"]),
            # A cycle bucket's wins, for the organisation, a team's tree and an owner
            # (metrics.cycles: the median's middle values).
            models.Index(fields=["cycle_days", "closed_at"]),
            # With the close time, so the probes of a period's middle buckets read the
            # index alone (metrics.cycles._wins_in_ranges; PostgreSQL).
            models.Index(
                fields=["team_id", "cycle_days"],
                include=["closed_at"],
                name="metrics_won_team_cycle",
            ),
            models.Index(
                fields=["owner_id", "cycle_days"],
                include=["closed_at"],
                name="metrics_won_owner_cycle",
            ),
        ]

    def __str__(self) -> str:
        return f"deal {self.deal_id}"


class CycleBucket(models.Model):
    """The won deals of one scope (the organisation, a team with its sub-teams, an owner)
    and calendar period whose sales cycle falls in one whole day [bucket, bucket + 1): how
    many, and the sum of their cycles in microseconds. Counts add up where medians do not:
    a scope's median is the middle rank's bucket, found by a running sum over a few hundred
    rows, and the exact cycles of that bucket only (metrics.cycles), instead of every win
    of the period (110,000 for a year at 1M deals)."""

    period_kind = models.CharField(max_length=8)
    period_start = models.DateField()
    scope_kind = models.CharField(max_length=8)
    scope_id = models.PositiveBigIntegerField()
    bucket = models.IntegerField()  # floor(cycle days)
    deals = models.PositiveIntegerField(default=0)
    cycle_us = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["period_kind", "period_start", "scope_kind", "scope_id", "bucket"],
                name="%(app_label)s_%(class)s_one_per_key",
            )
        ]
        indexes = [
            # The counts in an index too (PostgreSQL; SQLite has no covering indexes):
            # the running sums read one period's buckets in key order from the index
            # alone, no sort and no table pages.
            models.Index(
                fields=["period_kind", "period_start", "scope_kind", "scope_id", "bucket"],
                include=["deals", "cycle_us"],
                name="metrics_cyclebucket_sums",
            )
        ]

    def __str__(self) -> str:
        return f"{self.scope_kind} {self.scope_id} {self.period_kind} {self.period_start}"


class CycleFigures(models.Model):
    """The sales cycle's mean and median of one scope (the organisation, a team with its
    sub-teams, an owner) over one whole calendar month, quarter or year, as the cycle
    buckets give them (metrics.cycles): kept by the summary's drain for the periods and
    scopes a won deal touches, rebuilt from the won deals nightly. A page reads one row a
    scope instead of a running sum over every bucket of the period (17,000 rows for a
    quarter of 236 scopes at 1M deals, ~20 ms) and the middle buckets' wins."""

    period_kind = models.CharField(max_length=8)
    period_start = models.DateField()
    scope_kind = models.CharField(max_length=8)
    scope_id = models.PositiveBigIntegerField()
    deals = models.PositiveIntegerField()
    mean_days = models.FloatField()
    median_days = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["period_kind", "period_start", "scope_kind", "scope_id"],
                name="%(app_label)s_%(class)s_one_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.scope_kind} {self.scope_id} {self.period_kind} {self.period_start}"


class OpenDealDates(models.Model):
    """One open deal, narrowed to what the lists of deals needing attention count and sort
    by: its expected close date and its last stage move (else its creation). From the raw
    rows, a stale deal's last move is a look-up of its latest stage change, for every open
    deal of the scope (0.8 s for a region at 1M deals). `owner` and `team` as on the deal,
    so accounts.access restricts these rows as it does deals."""

    deal = models.OneToOneField(
        "pipeline.Deal",
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    expected_close_date = models.DateField(null=True)
    last_move = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["team", "expected_close_date"]),
            models.Index(fields=["owner", "expected_close_date"]),
            models.Index(fields=["last_move"]),
        ]

    def __str__(self) -> str:
        return f"deal {self.deal_id}"


class FunnelDay(models.Model):
    """How many of one (owner, team) cell's deals of the default pipeline created on one
    local day got how far by now: `furthest` is the funnel's measure of a deal (its
    furthest open stage's order, or past the last stage when won; metrics.kpis). The live
    funnel adds these up. A change to the stages (order, kind, the default pipeline)
    recomputes the table."""

    day = models.DateField()
    owner_id = models.IntegerField()
    team_id = models.IntegerField(null=True)
    furthest = models.IntegerField()
    deals = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["day", "owner_id", "team_id"])]

    def __str__(self) -> str:
        return f"{self.day} owner {self.owner_id} team {self.team_id} furthest {self.furthest}"


class FunnelMonth(models.Model):
    """FunnelDay added up by calendar month (`month`: its first day), for the whole months
    of a range: a year's funnel reads 12 rows a cell and stage, not 365. Recomputed by the
    drain from the month's day rows."""

    month = models.DateField()
    owner_id = models.IntegerField()
    team_id = models.IntegerField(null=True)
    furthest = models.IntegerField()
    deals = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["month", "owner_id", "team_id"])]

    def __str__(self) -> str:
        return (
            f"{self.month:%Y-%m} owner {self.owner_id} team {self.team_id} furthest {self.furthest}"
        )


class CustomerFirstWin(models.Model):
    """When a company first became a customer of a scope (a rep, a team with its
    sub-teams, the organisation: KPISnapshot's scope kinds): its first won deal there.
    Distinct customers to a moment do not add up across reps or days; counting these rows
    does, and only the rows after the moment need reading (ScopeCustomers holds the
    totals)."""

    scope_kind = models.CharField(max_length=8)
    scope_id = models.PositiveBigIntegerField()
    company_id = models.IntegerField()
    first_won_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope_kind", "scope_id", "company_id"],
                name="%(app_label)s_%(class)s_once_per_scope",
            )
        ]
        indexes = [
            models.Index(fields=["first_won_at", "scope_kind", "scope_id"]),
            models.Index(fields=["company_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.scope_kind} {self.scope_id} company {self.company_id}"


class ScopeCustomers(models.Model):
    """Each scope's customers and their won revenue (deals with a company) to now: the
    customer lifetime value's parts. A moment before now subtracts what came after it."""

    scope_kind = models.CharField(max_length=8)
    scope_id = models.PositiveBigIntegerField()
    customers = models.PositiveIntegerField(default=0)
    revenue_cents = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope_kind", "scope_id"], name="%(app_label)s_%(class)s_one_per_scope"
            )
        ]

    def __str__(self) -> str:
        return f"{self.scope_kind} {self.scope_id}"


class SummaryChange(models.Model):
    """A changed deal or lead, as it was before and after (one row each): written by
    database triggers on every insert, update and delete, whatever wrote it (the ORM, a
    bulk import, COPY, SQL by hand), and drained by metrics.summary, which recomputes the
    summary rows each image touches."""

    id = models.BigAutoField(primary_key=True)
    deal_id = models.IntegerField(null=True)
    lead_id = models.IntegerField(null=True)
    owner_id = models.IntegerField(null=True)
    team_id = models.IntegerField(null=True)
    stage_id = models.IntegerField(null=True)
    created_at = models.DateTimeField(null=True)
    closed_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"change {self.id}"
