from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper
from django.utils import timezone
from simple_history.models import HistoricalRecords

from .choices import IcpFit, LeadStatus, Segment, StageKind
from .constraints import ChecksInOneQuery
from .indexes import group_indexes, sort_indexes
from .querysets import DealManager, DealQuerySet, LeadManager, LeadQuerySet
from .validators import (
    validate_day_in_bounds,
    validate_external_id,
    validate_moment_in_bounds,
    validate_not_in_future,
)

if TYPE_CHECKING:
    from accounts.models import User


class Company(models.Model):
    """A customer organisation."""

    name = models.CharField(max_length=200, unique=True)
    industry = models.CharField(max_length=100, blank=True)
    segment = models.CharField(max_length=16, choices=Segment.choices, blank=True)
    icp_fit = models.CharField(
        "ICP fit",
        max_length=8,
        choices=IcpFit.choices,
        blank=True,
        help_text="How well the company matches the ideal customer profile.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "companies"
        # Names are matched without regard to case (company_name_taken: name__iexact, which
        # PostgreSQL runs as UPPER(name) = UPPER(%s)): a probe, not a walk of every company.
        indexes = [models.Index(Upper("name"), name="company_name_upper")]

    def __str__(self) -> str:
        return self.name


class LeadSource(models.Model):
    """Where a lead came from: web, referral, event, outbound, partner…"""

    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    """What a deal sells; the list price is a hint, the deal's amount is what counts."""

    name = models.CharField(max_length=200, unique=True)
    list_price = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(list_price__gte=0) | Q(list_price__isnull=True),
                name="%(app_label)s_%(class)s_list_price_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Lead(ChecksInOneQuery, models.Model):
    """A prospect at a company, before (and after) it becomes a deal."""

    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="leads")
    contact_name = models.CharField(max_length=200, blank=True)
    contact_email = models.EmailField(blank=True)
    source = models.ForeignKey(
        LeadSource, null=True, blank=True, on_delete=models.PROTECT, related_name="leads"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="leads"
    )
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="leads",
        help_text="The owner's team when the lead came in; team figures count it there.",
    )
    status = models.CharField(max_length=16, choices=LeadStatus.choices, default=LeadStatus.NEW)
    disqualified_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(
        default=timezone.now, db_index=True, validators=[validate_moment_in_bounds]
    )
    converted_at = models.DateTimeField(
        null=True, blank=True, validators=[validate_moment_in_bounds]
    )
    deleted_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="Set when soft-deleted; hidden then."
    )
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    # `objects`, the default manager, hides soft-deleted rows from every page, list, export,
    # KPI and reverse relation; `all_objects` sees them (admin, imports, restore). The base
    # manager stays Django's plain one, so a deal's forward link to a deleted lead resolves.
    objects = LeadManager()
    all_objects = LeadQuerySet.as_manager()
    history = HistoricalRecords()
    # Who the next history row names, when a service knows it (django-simple-history's hook).
    _history_user: "User | None"

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "created_at"]),
            models.Index(fields=["team", "created_at"]),
            models.Index(fields=["source", "created_at"]),
            # The list's sorts (LEAD_COLUMNS): a page of an admin's or a manager's list is a
            # walk of one of these, not a sort of every lead; a rep's (or a list filtered
            # by owner) walks an owner's one. Without those, PostgreSQL walks the global
            # index looking for the owner's rows, all of the index when the owner's values
            # sit at its far end (a small-deal rep sorted by amount: 1.8 s at 1M deals).
            models.Index(fields=["owner", "status"], name="lead_owner_status"),
            models.Index(fields=["owner", "contact_name"], name="lead_owner_contact"),
            models.Index(fields=["owner", "converted_at"], name="lead_owner_converted"),
            *sort_indexes(
                "lead",
                {
                    "status": "status",
                    "created_at": "created",
                    "converted_at": "converted",
                    "contact_name": "contact",
                },
            ),
            # Sorts by the source's and the owner's name, as for deals; the owner and team
            # one also finds a manager's people's leads counted elsewhere in the index alone.
            *group_indexes(
                "lead", {"source": "source"}, leading={"": "", "team": "team", "owner": "owner"}
            ),
            *group_indexes("lead", {"owner": "owner"}, leading={"": ""}),
            models.Index(fields=["owner", "team", "id"], name="lead_owner_team"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=LeadStatus.values),
                name="%(app_label)s_%(class)s_status_valid",
            ),
            models.CheckConstraint(
                condition=(Q(status=LeadStatus.CONVERTED) & Q(converted_at__isnull=False))
                | (~Q(status=LeadStatus.CONVERTED) & Q(converted_at__isnull=True)),
                name="%(app_label)s_%(class)s_converted_at_iff_converted",
                violation_error_message="A converted lead needs a conversion time, and only it.",
            ),
            models.CheckConstraint(
                condition=Q(converted_at__isnull=True) | Q(converted_at__gte=F("created_at")),
                name="%(app_label)s_%(class)s_converted_after_created",
                violation_error_message="A lead cannot be converted before it was created.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact_name or 'Lead'} at {self.company}"

    def clean(self) -> None:
        if self.status == LeadStatus.CONVERTED and self.converted_at is None:
            raise ValidationError({"converted_at": "A converted lead needs a conversion time."})
        if self.status != LeadStatus.CONVERTED and self.converted_at is not None:
            raise ValidationError({"converted_at": "Only a converted lead has a conversion time."})
        if self.converted_at and self.created_at and self.converted_at < self.created_at:
            raise ValidationError({"converted_at": "Cannot be before the lead was created."})


class Pipeline(models.Model):
    """An ordered set of stages a deal moves through."""

    name = models.CharField(max_length=100, unique=True)
    is_default = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="%(app_label)s_%(class)s_one_default",
                violation_error_message="Only one pipeline can be the default.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Stage(models.Model):
    """A step of a pipeline, with the chance that a deal in it is won."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="stages")
    name = models.CharField(max_length=100)
    order = models.PositiveSmallIntegerField()
    probability = models.PositiveSmallIntegerField(
        help_text="Chance, 0–100, that a deal in this stage is won.",
        validators=[MaxValueValidator(100)],
    )
    kind = models.CharField(max_length=8, choices=StageKind.choices, default=StageKind.OPEN)

    class Meta:
        ordering = ["pipeline", "order"]
        constraints = [
            models.UniqueConstraint(
                fields=["pipeline", "order"], name="%(app_label)s_%(class)s_order_unique"
            ),
            models.UniqueConstraint(
                fields=["pipeline", "name"], name="%(app_label)s_%(class)s_name_unique"
            ),
            models.CheckConstraint(
                condition=Q(probability__gte=0) & Q(probability__lte=100),
                name="%(app_label)s_%(class)s_probability_range",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=StageKind.values), name="%(app_label)s_%(class)s_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_closed(self) -> bool:
        return self.kind != StageKind.OPEN


# The deal list's sortable columns of the deal's own (field: its short name in the names of
# the sort indexes, pipeline.indexes).
DEAL_SORT_INDEXES = {
    "name": "name",
    "amount": "amount",
    "expected_close_date": "closing",
    "closed_at": "closed",
    "created_at": "created",
}


class Deal(ChecksInOneQuery, models.Model):
    """An opportunity to sell to a company; its stage history lives in StageChange.

    closed_at is set exactly when the stage is won or lost. The database enforces it with
    a trigger (pipeline/db_rules.py), since the stage's kind lives in another table.
    """

    name = models.CharField(max_length=200)
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.PROTECT, related_name="deals"
    )
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="deals"
    )
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="deals"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="deals"
    )
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deals",
        help_text="The owner's team; frozen when the deal closes.",
    )
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="deals")
    amount = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    expected_close_date = models.DateField(
        null=True, blank=True, validators=[validate_day_in_bounds]
    )
    created_at = models.DateTimeField(default=timezone.now, validators=[validate_moment_in_bounds])
    closed_at = models.DateTimeField(
        null=True, blank=True, validators=[validate_moment_in_bounds, validate_not_in_future]
    )
    lost_reason = models.CharField(max_length=200, blank=True)
    # NULL, not "", when absent: the unique constraint must ignore deals without one.
    external_id = models.CharField(  # noqa: DJ001
        max_length=100,
        null=True,
        blank=True,
        validators=[validate_external_id],
        help_text="The id in the system the deal was imported from; unique when present.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(
        default=1, help_text="Raised by every save; an edit made from an older one is refused."
    )
    deleted_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="Set when soft-deleted; hidden then."
    )
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    # See Lead: `objects` hides soft-deleted deals, `all_objects` does not.
    objects = DealManager()
    all_objects = DealQuerySet.as_manager()
    history = HistoricalRecords(excluded_fields=["updated_at"])
    _history_user: "User | None"  # see Lead

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "closed_at"]),
            models.Index(fields=["owner", "created_at"]),
            models.Index(fields=["team", "closed_at"]),
            models.Index(fields=["team", "created_at"]),
            models.Index(fields=["stage", "closed_at"]),
            models.Index(fields=["created_at"]),
            models.Index(fields=["closed_at"]),
            # The list's sorts (DEAL_COLUMNS), as for leads, with the owner's ones.
            models.Index(fields=["owner", "name"], name="deal_owner_name"),
            models.Index(fields=["owner", "amount"], name="deal_owner_amount"),
            models.Index(fields=["owner", "expected_close_date"], name="deal_owner_closing"),
            *sort_indexes("deal", DEAL_SORT_INDEXES),
            # A manager's list, walked team by team (pipeline.pagination.MergedWalks), and
            # their people's deals counted elsewhere, found in the index alone.
            *sort_indexes("deal", DEAL_SORT_INDEXES, leading="team"),
            models.Index(fields=["owner", "team", "id"], name="deal_owner_team"),
            # Sorts by the company's name, the stage's order and the owner's name: one walk
            # per company, stage or owner, for the admin, a team or a rep.
            *group_indexes(
                "deal",
                {"company": "company", "stage": "stage"},
                leading={"": "", "team": "team", "owner": "owner"},
            ),
            *group_indexes("deal", {"owner": "owner"}, leading={"": ""}),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=0),
                name="%(app_label)s_%(class)s_amount_not_negative",
                violation_error_message="The amount cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(closed_at__isnull=True) | Q(closed_at__gte=F("created_at")),
                name="%(app_label)s_%(class)s_closed_after_created",
                violation_error_message="A deal cannot close before it was created.",
            ),
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False),
                name="%(app_label)s_%(class)s_external_id_unique",
                violation_error_message="Another deal already has this external id.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # Mirrors the database rules so forms show them next to the field.
        errors: dict[str, str] = {}
        if self.external_id == "":
            self.external_id = None
        if self.stage_id is not None:
            closed = self.stage.kind != StageKind.OPEN
            if closed and self.closed_at is None:
                kind = self.stage.get_kind_display().lower()
                errors["closed_at"] = f"A {kind} deal needs a close date."
            if not closed and self.closed_at is not None:
                errors["closed_at"] = "An open deal has no close date; move it to Won or Lost."
        if self.closed_at and self.created_at and self.closed_at < self.created_at:
            errors["closed_at"] = "A deal cannot close before it was created."
        if errors:
            raise ValidationError(errors)


class StageChange(models.Model):
    """One move of a deal from a stage to another: who, when, from where."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.ForeignKey(
        Stage, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["deal", "changed_at", "id"]
        indexes = [
            models.Index(fields=["deal", "changed_at"]),
            models.Index(fields=["to_stage", "changed_at"]),
            models.Index(fields=["changed_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(from_stage__isnull=True) | ~Q(from_stage=F("to_stage")),
                name="%(app_label)s_%(class)s_moves",
                violation_error_message="A stage change must move to another stage.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.deal}: {self.from_stage or '—'} → {self.to_stage}"


class ImportJob(models.Model):
    """One CSV upload and its outcome. The file's bytes live here until the import has run,
    so the web and the worker need no shared disk; live progress goes through the cache."""

    class Kind(models.TextChoices):
        REPS = "reps", "Reps and teams"
        DEALS = "deals", "Deals"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        REJECTED = "rejected", "Rejected"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    file_name = models.CharField(max_length=255)
    file_size = models.PositiveBigIntegerField()
    content = models.BinaryField(editable=False, help_text="Cleared once the import has run.")
    skip_invalid = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="import_jobs"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(
        null=True, blank=True, help_text="Counts and every bad row, as the import reported."
    )
    message = models.TextField(blank=True, help_text="Why the whole file was refused.")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_by", "created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} from {self.file_name}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.REJECTED, self.Status.FAILED)


class FormSubmission(models.Model):
    """A create form's one-time token, claimed by the submission that saved its row.

    The unique token makes a double submit (two clicks, a retried request, two web
    processes at once) save one row: the second insert waits for the first transaction and
    then fails, and the second answer shows the row the first one made."""

    class Kind(models.TextChoices):
        DEAL = "deal", "Deal"
        LEAD = "lead", "Lead"

    token = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="form_submissions"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} form of {self.user_id}: {self.object_id}"
