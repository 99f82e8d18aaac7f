from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from .choices import PeriodKind, TargetMetric
from .periods import is_period_start, period_end


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
